// Frame parser rules (RFC 6455 §5.2, §5.5, §5.7), fed raw bytes.
#include "protocol/frame_parser.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "wire.hpp"

namespace sockeye::protocol {
namespace {

using test::bytes;

struct parsed_frame {
    frame_header header;
    std::string payload;
    int payload_calls = 0;
    bool ended = false;
};

class collect : public frame_sink {
public:
    std::vector<parsed_frame> frames;
    bool on_frame_header(const frame_header& h, std::span<const std::uint8_t>) override {
        frames.push_back({h, {}, 0, false});
        return true;
    }
    bool on_frame_payload(std::span<std::uint8_t> data, bool frame_end) override {
        auto& f = frames.back();
        EXPECT_FALSE(f.ended) << "payload after frame end";
        f.payload.append(reinterpret_cast<const char*>(data.data()), data.size());
        ++f.payload_calls;
        f.ended = frame_end;
        return true;
    }
};

parse_result feed_all(frame_parser& p, bytes data, collect& sink) {
    return p.feed(data.data(), data.size(), sink);
}

parse_result feed_bytewise(frame_parser& p, bytes data, collect& sink) {
    parse_result total;
    for (std::size_t i = 0; i < data.size(); ++i) {
        auto r = p.feed(&data[i], 1, sink);
        total.consumed += r.consumed;
        if (r.err != error::none) {
            total.err = r.err;
            break;
        }
    }
    return total;
}

frame_parser server_parser() { return frame_parser(frame_parser_options{role::server, 0}); }
frame_parser client_parser() { return frame_parser(frame_parser_options{role::client, 0}); }

// §5.7: A single-frame unmasked text message.
TEST(FrameParser, Rfc5_7SingleUnmaskedText) {
    auto p = client_parser();
    collect c;
    auto r = feed_all(p, {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, c);
    ASSERT_EQ(r.err, error::none);
    EXPECT_EQ(r.consumed, 7u);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_TRUE(c.frames[0].header.fin);
    EXPECT_EQ(c.frames[0].header.op, opcode::text);
    EXPECT_EQ(c.frames[0].payload, "Hello");
    EXPECT_TRUE(c.frames[0].ended);
}

// §5.7: A single-frame masked text message.
TEST(FrameParser, Rfc5_7SingleMaskedText) {
    auto p = server_parser();
    collect c;
    auto r = feed_all(p, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, c);
    ASSERT_EQ(r.err, error::none);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_TRUE(c.frames[0].header.masked);
    EXPECT_EQ(c.frames[0].payload, "Hello");
}

// §5.7: A fragmented unmasked text message.
TEST(FrameParser, Rfc5_7FragmentedUnmasked) {
    auto p = client_parser();
    collect c;
    auto r = feed_all(p, {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}, c);
    ASSERT_EQ(r.err, error::none);
    ASSERT_EQ(c.frames.size(), 2u);
    EXPECT_FALSE(c.frames[0].header.fin);
    EXPECT_EQ(c.frames[0].header.op, opcode::text);
    EXPECT_EQ(c.frames[0].payload, "Hel");
    EXPECT_TRUE(c.frames[1].header.fin);
    EXPECT_EQ(c.frames[1].header.op, opcode::continuation);
    EXPECT_EQ(c.frames[1].payload, "lo");
}

// §5.7: Unmasked ping and masked pong.
TEST(FrameParser, Rfc5_7PingAndMaskedPong) {
    auto p = client_parser();
    collect c;
    ASSERT_EQ(feed_all(p, {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, c).err, error::none);
    EXPECT_EQ(c.frames[0].header.op, opcode::ping);
    EXPECT_EQ(c.frames[0].payload, "Hello");

    auto s = server_parser();
    collect d;
    ASSERT_EQ(feed_all(s, {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, d).err,
              error::none);
    EXPECT_EQ(d.frames[0].header.op, opcode::pong);
    EXPECT_EQ(d.frames[0].payload, "Hello");
}

// §5.7: 256 bytes with a 16-bit length, 64 KiB with a 64-bit length.
TEST(FrameParser, Rfc5_7ExtendedLengths) {
    for (std::size_t n : {std::size_t{256}, std::size_t{65536}}) {
        bytes wire = n == 256 ? bytes{0x82, 0x7E, 0x01, 0x00}
                              : bytes{0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
        for (std::size_t i = 0; i < n; ++i) wire.push_back(static_cast<std::uint8_t>(i * 7));
        auto p = client_parser();
        collect c;
        ASSERT_EQ(feed_all(p, wire, c).err, error::none);
        ASSERT_EQ(c.frames.size(), 1u);
        EXPECT_EQ(c.frames[0].header.payload_length, n);
        ASSERT_EQ(c.frames[0].payload.size(), n);
        EXPECT_EQ(static_cast<std::uint8_t>(c.frames[0].payload[255]), static_cast<std::uint8_t>(255 * 7));
    }
}

TEST(FrameParser, NonMinimalLengthFormsAreAccepted) {
    test::frame_spec f;
    f.length_form = 64;
    auto p = server_parser();
    collect c;
    ASSERT_EQ(feed_all(p, test::make_frame(f, test::to_bytes("abc")), c).err, error::none);
    EXPECT_EQ(c.frames[0].payload, "abc");
}

TEST(FrameParser, ZeroLengthFrameGetsOneEmptyEndCall) {
    auto p = server_parser();
    collect c;
    ASSERT_EQ(feed_all(p, test::make_frame(0x1, ""), c).err, error::none);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_EQ(c.frames[0].payload_calls, 1);
    EXPECT_TRUE(c.frames[0].ended);
}

TEST(FrameParser, ByteByByteMatchesWhole) {
    bytes wire = test::concat({test::make_frame(0x1, "Hel", false), test::make_frame(0x9, "p"),
                               test::make_frame(0x0, std::string(300, 'x'), true)});
    auto a = server_parser();
    auto b = server_parser();
    collect ca, cb;
    ASSERT_EQ(feed_all(a, wire, ca).err, error::none);
    ASSERT_EQ(feed_bytewise(b, wire, cb).err, error::none);
    ASSERT_EQ(ca.frames.size(), 3u);
    ASSERT_EQ(cb.frames.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(ca.frames[i].payload, cb.frames[i].payload);
        EXPECT_EQ(ca.frames[i].header.op, cb.frames[i].header.op);
    }
    EXPECT_TRUE(a.at_frame_boundary());
    EXPECT_TRUE(b.at_frame_boundary());
}

// Every possible first two bytes, in both roles, with and without RSV1 allowed: a frame
// whose header and payload arrive in one piece (the short-frame path) is parsed exactly as
// when its bytes come one at a time (the general path): the same header fields, payload,
// bytes consumed and error.
TEST(FrameParser, EveryFirstTwoBytesParseAlikeWholeAndSplit) {
    for (const role r : {role::server, role::client}) {
        for (const std::uint8_t rsv : {std::uint8_t{0}, std::uint8_t{4}}) {
            for (int b0 = 0; b0 < 256; ++b0) {
                for (int b1 = 0; b1 < 256; ++b1) {
                    bytes wire{static_cast<std::uint8_t>(b0), static_cast<std::uint8_t>(b1)};
                    // Enough bytes after them for any length form, a key and the payload
                    // of a short frame, and the start of a next frame.
                    for (int i = 0; i < 140; ++i) wire.push_back(static_cast<std::uint8_t>(i * 7 + 1));
                    frame_parser whole(frame_parser_options{r, rsv});
                    frame_parser split(frame_parser_options{r, rsv});
                    collect cw, cs;
                    const parse_result rw = feed_all(whole, wire, cw);
                    const parse_result rs = feed_bytewise(split, wire, cs);
                    SCOPED_TRACE(testing::Message() << "b0=" << b0 << " b1=" << b1 << " rsv="
                                                    << int{rsv} << " server=" << (r == role::server));
                    ASSERT_EQ(rw.err, rs.err);
                    if (rw.err != error::none) continue;
                    ASSERT_EQ(rw.consumed, rs.consumed);
                    ASSERT_FALSE(cw.frames.empty());
                    ASSERT_EQ(cw.frames.size(), cs.frames.size());
                    for (std::size_t f = 0; f < cw.frames.size(); ++f) {
                        const frame_header& a = cw.frames[f].header;
                        const frame_header& b = cs.frames[f].header;
                        ASSERT_EQ(a.fin, b.fin);
                        ASSERT_EQ(a.rsv1, b.rsv1);
                        ASSERT_EQ(a.rsv2, b.rsv2);
                        ASSERT_EQ(a.rsv3, b.rsv3);
                        ASSERT_EQ(a.op, b.op);
                        ASSERT_EQ(a.masked, b.masked);
                        ASSERT_EQ(a.payload_length, b.payload_length);
                        ASSERT_EQ(a.key, b.key);
                        ASSERT_EQ(cw.frames[f].payload, cs.frames[f].payload);
                    }
                }
            }
        }
    }
}

// A 4 GiB frame: the header is accepted and payload streams through a small buffer.
TEST(FrameParser, HugeFrameStreamsWithoutBuffering) {
    auto p = server_parser();
    collect c;
    const std::uint64_t n = (std::uint64_t{1} << 32) + 5;
    bytes head{0x82, 0xFF};
    for (int i = 7; i >= 0; --i) head.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    head.insert(head.end(), {0, 0, 0, 0});  // zero key: payload passes unchanged
    ASSERT_EQ(feed_all(p, head, c).err, error::none);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_EQ(c.frames[0].header.payload_length, n);
    bytes chunk(1 << 16, 'z');
    auto r = p.feed(chunk.data(), chunk.size(), c);
    EXPECT_EQ(r.consumed, chunk.size());
    EXPECT_FALSE(c.frames[0].ended);
    EXPECT_FALSE(p.at_frame_boundary());
}

struct error_case {
    const char* name;
    role r;
    bytes wire;
    error expected;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const error_case& c, std::ostream* os) { *os << c.name; }

class FrameParserErrors : public ::testing::TestWithParam<error_case> {};

TEST_P(FrameParserErrors, FailsWithTheRightError) {
    const auto& ec = GetParam();
    {
        frame_parser p(frame_parser_options{ec.r, 0});
        collect c;
        EXPECT_EQ(feed_all(p, ec.wire, c).err, ec.expected) << ec.name;
        EXPECT_TRUE(c.frames.empty()) << "no header may be reported for a bad frame";
    }
    {
        frame_parser p(frame_parser_options{ec.r, 0});
        collect c;
        EXPECT_EQ(feed_bytewise(p, ec.wire, c).err, ec.expected) << ec.name << " bytewise";
        // Once failed, the parser stays failed.
        std::uint8_t more[2] = {0x81, 0x80};
        EXPECT_EQ(p.feed(more, 2, c).err, ec.expected);
    }
}

std::string case_name(const ::testing::TestParamInfo<error_case>& param_info) {
    std::string n = param_info.param.name;
    for (auto& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return n;
}

bytes frame_with(std::uint8_t b0, std::uint8_t b1) {
    bytes w{b0, b1};
    if (b1 & 0x80) w.insert(w.end(), {1, 2, 3, 4});
    return w;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, FrameParserErrors,
    ::testing::Values(
        error_case{"unmasked client frame", role::server, frame_with(0x81, 0x00), error::unmasked_frame},
        error_case{"masked server frame", role::client, frame_with(0x81, 0x80), error::masked_frame},
        error_case{"rsv1", role::server, frame_with(0xC1, 0x80), error::reserved_bits},
        error_case{"rsv2", role::server, frame_with(0xA1, 0x80), error::reserved_bits},
        error_case{"rsv3", role::server, frame_with(0x91, 0x80), error::reserved_bits},
        error_case{"opcode 3", role::server, frame_with(0x83, 0x80), error::reserved_opcode},
        error_case{"opcode 7", role::server, frame_with(0x87, 0x80), error::reserved_opcode},
        error_case{"opcode 11", role::server, frame_with(0x8B, 0x80), error::reserved_opcode},
        error_case{"opcode 15", role::server, frame_with(0x8F, 0x80), error::reserved_opcode},
        error_case{"ping 126", role::server, bytes{0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4},
                   error::control_frame_too_long},
        error_case{"close 127 form", role::server, bytes{0x88, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x7E},
                   error::control_frame_too_long},
        error_case{"ping without fin", role::server, frame_with(0x09, 0x80),
                   error::fragmented_control_frame},
        error_case{"close without fin", role::server, frame_with(0x08, 0x80),
                   error::fragmented_control_frame},
        error_case{"64-bit top bit", role::server,
                   bytes{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, error::length_top_bit}),
    case_name);

TEST(FrameParser, AllowedRsvBitPasses) {
    frame_parser p(frame_parser_options{role::server, 0x4});
    collect c;
    test::frame_spec f;
    f.rsv = 0x4;
    ASSERT_EQ(feed_all(p, test::make_frame(f, test::to_bytes("x")), c).err, error::none);
    EXPECT_TRUE(c.frames[0].header.rsv1);
    // RSV2 is still not allowed.
    f.rsv = 0x2;
    EXPECT_EQ(feed_all(p, test::make_frame(f, test::to_bytes("x")), c).err, error::reserved_bits);
}

// Every byte position of a masked payload unmasks right, whatever the split.
TEST(FrameParser, MaskingAcrossEverySplit) {
    std::string text;
    for (int i = 0; i < 40; ++i) text.push_back(static_cast<char>('a' + i % 26));
    bytes wire = test::make_frame(0x2, text);
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        for (std::size_t cut2 = cut; cut2 <= wire.size(); cut2 += 3) {
            auto p = server_parser();
            collect c;
            bytes w = wire;
            ASSERT_EQ(p.feed(w.data(), cut, c).err, error::none);
            ASSERT_EQ(p.feed(w.data() + cut, cut2 - cut, c).err, error::none);
            ASSERT_EQ(p.feed(w.data() + cut2, w.size() - cut2, c).err, error::none);
            ASSERT_EQ(c.frames.size(), 1u);
            EXPECT_EQ(c.frames[0].payload, text) << cut << "/" << cut2;
            EXPECT_TRUE(c.frames[0].ended);
        }
    }
}

}  // namespace
}  // namespace sockeye::protocol
