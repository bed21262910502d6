// permessage-deflate compression (RFC 7692 §7.2): the codec alone, then inside the
// session: the RFC's own examples, round trips in both roles, limits on inflated size,
// corrupt data, RSV1 rules.
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "protocol/deflate_codec.hpp"
#include "protocol/session.hpp"
#include "wire.hpp"

namespace sockeye::protocol {
namespace {

using test::bytes;
using test::recorder;
using test::to_bytes;

class collect_sink : public deflate_sink {
  public:
    bytes out;
    int pieces = 0;
    int lasts = 0;
    std::size_t stop_after = 0;  // 0 = never stop
    bool on_piece(std::span<const std::uint8_t> p, bool last) override {
        out.insert(out.end(), p.begin(), p.end());
        ++pieces;
        if (last) ++lasts;
        return stop_after == 0 || out.size() < stop_after;
    }
};

// Inflates a permessage-deflate payload with zlib directly, independently of the codec.
bytes reference_inflate(bytes payload) {
    payload.insert(payload.end(), {0x00, 0x00, 0xff, 0xff});
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, -15), Z_OK);
    bytes out(1 << 20);
    bytes result;
    z.next_in = payload.data();
    z.avail_in = static_cast<uInt>(payload.size());
    do {
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END) << rc;
        result.insert(result.end(), out.data(), out.data() + (out.size() - z.avail_out));
        if (rc == Z_BUF_ERROR) break;
    } while (z.avail_in != 0 || z.avail_out == 0);
    inflateEnd(&z);
    return result;
}

// Words in random order: text-like, compressible, but not one repeated block.
bytes sample_text(std::size_t n) {
    static const char* const words[] = {"the ",  "quick ",   "brown ",  "fox ",     "jumps ",
                                        "over ", "lazy ",    "dog ",    "socket ",  "frame ",
                                        "echo ", "message ", "stream ", "deflate ", "salmon "};
    bytes b;
    std::mt19937 rng(7);
    while (b.size() < n) {
        for (const char* w = words[rng() % 15]; *w && b.size() < n; ++w) {
            b.push_back(static_cast<std::uint8_t>(*w));
        }
    }
    return b;
}

bytes random_bytes(std::size_t n) {
    std::mt19937 rng(9);
    bytes b(n);
    for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    return b;
}

bytes compress_in_pieces(deflate_codec& c, const bytes& msg, std::size_t piece) {
    collect_sink sink;
    std::size_t at = 0;
    do {
        const std::size_t n = std::min(piece, msg.size() - at);
        EXPECT_TRUE(c.compress({msg.data() + at, n}, at + n == msg.size(), sink));
        at += n;
    } while (at < msg.size());
    EXPECT_EQ(sink.lasts, 1);
    return sink.out;
}

TEST(DeflateCodec, RoundTripsAnySizeAndPiecing) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{70000},
                          std::size_t{1} << 20}) {
        for (const bytes& msg : {sample_text(n), random_bytes(n)}) {
            for (std::size_t piece : {std::size_t{1} << 30, std::size_t{4096}, std::size_t{777}}) {
                if (n > 100000 && piece == 777) continue;  // slow and adds nothing
                deflate_codec tx(deflate_settings{});
                const bytes wire = compress_in_pieces(tx, msg, piece);
                // The sync tail is not on the wire (§7.2.1).
                if (wire.size() >= 4) {
                    EXPECT_FALSE(wire[wire.size() - 4] == 0 && wire[wire.size() - 3] == 0 &&
                                 wire[wire.size() - 2] == 0xff && wire[wire.size() - 1] == 0xff);
                }
                EXPECT_EQ(reference_inflate(wire), msg) << n << "/" << piece;
                deflate_codec rx(deflate_settings{});
                collect_sink got;
                std::size_t at = 0;
                do {
                    const std::size_t k = std::min<std::size_t>(1000, wire.size() - at);
                    ASSERT_EQ(rx.inflate({wire.data() + at, k}, at + k == wire.size(), got),
                              deflate_codec::inflate_status::ok);
                    at += k;
                } while (at < wire.size());
                EXPECT_EQ(got.out, msg);
                EXPECT_EQ(got.lasts, 1);
            }
        }
    }
}

TEST(DeflateCodec, TextCompresses) {
    deflate_codec tx(deflate_settings{});
    const bytes msg = sample_text(100000);
    EXPECT_LT(compress_in_pieces(tx, msg, 1 << 30).size(), msg.size() / 2);
}

TEST(DeflateCodec, ContextTakeoverShrinksRepeatsAndNoTakeoverIsIndependent) {
    const bytes msg = sample_text(2000);
    deflate_codec keep(deflate_settings{});
    const bytes a1 = compress_in_pieces(keep, msg, 1 << 30);
    const bytes a2 = compress_in_pieces(keep, msg, 1 << 30);
    EXPECT_LT(a2.size(), a1.size() / 4);  // the second refers back to the first

    deflate_settings fresh;
    fresh.local_no_context_takeover = true;
    deflate_codec reset(fresh);
    const bytes b1 = compress_in_pieces(reset, msg, 1 << 30);
    const bytes b2 = compress_in_pieces(reset, msg, 1 << 30);
    EXPECT_EQ(b1, b2);
    EXPECT_EQ(reference_inflate(b2), msg);  // decodable with no history at all
}

TEST(DeflateCodec, CorruptDataIsReported) {
    deflate_codec rx(deflate_settings{});
    collect_sink got;
    const bytes junk = {0xff, 0xff, 0xff, 0xff, 0x00, 0x12};
    EXPECT_EQ(rx.inflate(junk, true, got), deflate_codec::inflate_status::corrupt);
}

TEST(DeflateCodec, InflateStopsWhenTheSinkSaysSo) {
    deflate_codec tx(deflate_settings{});
    const bytes bomb(10 << 20, 'a');  // 10 MiB of one byte: ~10 KiB compressed
    const bytes wire = compress_in_pieces(tx, bomb, 1 << 30);
    EXPECT_LT(wire.size(), 64u * 1024);
    deflate_codec rx(deflate_settings{});
    collect_sink got;
    got.stop_after = 100000;
    EXPECT_EQ(rx.inflate(wire, true, got), deflate_codec::inflate_status::stopped);
    EXPECT_LT(got.out.size(), 100000u + 64 * 1024);  // at most one scratch piece past the stop
}

// ---------------------------------------------------------------- in the session

struct peer {
    recorder rec;
    session s;
    peer(role r, bool deflate, std::uint64_t max = 0)
        : s(
              [&] {
                  session_options o;
                  o.local_role = r;
                  o.max_message_size = max;
                  return o;
              }(),
              rec) {
        if (deflate) s.enable_deflate(deflate_settings{});
    }
    std::size_t feed(bytes b) { return s.receive(b.data(), b.size()); }
};

// RFC 7692 §7.2.3.1-7.2.3.4: the RFC's example frames (unmasked: server to client).
TEST(DeflateSession, Rfc7692Examples) {
    {
        peer c(role::client, true);
        c.feed({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});  // §7.2.3.1
        EXPECT_EQ(c.rec.events.back(), "message Hello");
    }
    {
        peer c(role::client, true);  // §7.2.3.1 fragmented
        c.feed({0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00});
        EXPECT_EQ(c.rec.events.back(), "message Hello");
    }
    {
        peer c(role::client, true);  // §7.2.3.2: two messages sharing the context
        c.feed({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
        c.feed({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00});
        EXPECT_EQ(c.rec.events, (std::vector<std::string>{"begin text", "message Hello",
                                                          "begin text", "message Hello"}));
    }
    {
        peer c(role::client, true);  // §7.2.3.3: a stored (uncompressed) DEFLATE block
        c.feed({0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
        EXPECT_EQ(c.rec.events.back(), "message Hello");
    }
    {
        peer c(role::client, true);  // §7.2.3.4: BFINAL set
        c.feed({0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00});
        EXPECT_EQ(c.rec.events.back(), "message Hello");
    }
}

TEST(DeflateSession, ClientToServerRoundTripInBothDirections) {
    peer client(role::client, true);
    peer server(role::server, true);
    const bytes big = sample_text(300000);
    const std::string text(big.begin(), big.end());
    ASSERT_TRUE(client.s.send_text("hi"));  // under the threshold: sent plain
    ASSERT_TRUE(client.s.send_text(text));
    ASSERT_TRUE(client.s.begin_message(message_type::binary));
    ASSERT_TRUE(client.s.write_message(bytes(5000, 'x'), false));
    ASSERT_TRUE(client.s.send_ping(to_bytes("between")));
    ASSERT_TRUE(client.s.write_message(bytes(5000, 'y'), true));
    const auto frames = test::decode_frames(client.rec.wire);
    EXPECT_EQ(frames.front().rsv, 0);  // "hi"
    EXPECT_EQ(frames[1].rsv, 4);       // RSV1 on the first frame of a compressed message
    EXPECT_LT(client.rec.wire.size(), big.size() / 2);
    server.feed(client.rec.wire);
    ASSERT_EQ(server.rec.events.size(), 7u);
    EXPECT_EQ(server.rec.events[1], "message hi");
    EXPECT_EQ(server.rec.events[3], "message " + text);
    // zlib may hold the first piece back, so the ping can arrive before the message starts.
    EXPECT_TRUE(server.rec.events[4] == "ping between" || server.rec.events[5] == "ping between");
    EXPECT_EQ(server.rec.events[6], "message " + std::string(5000, 'x') + std::string(5000, 'y'));
    // And back: the server compresses, the client inflates.
    ASSERT_TRUE(server.s.send_text(text));
    client.feed(server.rec.wire);
    EXPECT_EQ(client.rec.events.back(), "message " + text);
}

// An echo compresses each inflated piece while the piece is still in the codec's inflate
// buffer: the two directions must not share scratch space.
class echo_handler : public recorder {
  public:
    session* self = nullptr;
    void on_message_begin(message_type type) override {
        recorder::on_message_begin(type);
        self->begin_message(type);
    }
    void on_message_data(std::span<const std::uint8_t> data, bool fin) override {
        recorder::on_message_data(data, fin);
        self->write_message(data, fin);
    }
};

TEST(DeflateSession, StreamedEchoOfCompressedMessages) {
    peer client(role::client, true);
    const bytes big = sample_text(200000);
    ASSERT_TRUE(client.s.send_text("short one"));
    ASSERT_TRUE(client.s.send_message(message_type::text, big));
    echo_handler h;
    session server(session_options{}, h);
    server.enable_deflate(deflate_settings{});
    h.self = &server;
    bytes wire = client.rec.wire;
    server.receive(wire.data(), wire.size());
    client.feed(h.wire);
    ASSERT_EQ(client.rec.events.size(), 4u);
    EXPECT_EQ(client.rec.events[1], "message short one");
    EXPECT_EQ(client.rec.events[3], "message " + std::string(big.begin(), big.end()));
}

TEST(DeflateSession, InflatedSizeCountsAgainstTheLimit) {
    peer client(role::client, true);
    ASSERT_TRUE(client.s.send_message(message_type::binary, bytes(10 << 20, 'a')));
    EXPECT_LT(client.rec.wire.size(), 64u * 1024);  // 10 MiB that compresses to ~10 KiB
    peer server(role::server, true, 1 << 20);
    server.feed(client.rec.wire);
    EXPECT_EQ(server.rec.events.back(), "error 1009");
    EXPECT_LE(server.rec.pending.size(), (1u << 20) + 64 * 1024);
}

TEST(DeflateSession, CorruptDataIs1007) {
    peer server(role::server, true);
    test::frame_spec f;
    f.rsv = 0x4;
    f.opcode = 0x2;
    server.feed(test::make_frame(f, {0xff, 0xff, 0xff, 0xff, 0x01}));
    EXPECT_EQ(server.rec.events.back(), "error 1007");
}

TEST(DeflateSession, Rsv1RulesAre1002) {
    {
        peer server(role::server, true);  // RSV1 on a continuation
        test::frame_spec first;
        first.fin = false;
        first.opcode = 0x2;
        test::frame_spec cont;
        cont.opcode = 0x0;
        cont.rsv = 0x4;
        server.feed(test::concat(
            {test::make_frame(first, to_bytes("a")), test::make_frame(cont, to_bytes("b"))}));
        EXPECT_EQ(server.rec.events.back(), "error 1002");
    }
    {
        peer server(role::server, true);  // RSV1 on a ping
        test::frame_spec ping;
        ping.opcode = 0x9;
        ping.rsv = 0x4;
        server.feed(test::make_frame(ping, to_bytes("p")));
        EXPECT_EQ(server.rec.events.back(), "error 1002");
    }
    {
        peer server(role::server, false);  // RSV1 without the extension
        test::frame_spec f;
        f.rsv = 0x4;
        server.feed(test::make_frame(f, to_bytes("x")));
        EXPECT_EQ(server.rec.events.back(), "error 1002");
    }
}

TEST(DeflateSession, AnyChunkingOfACompressedStreamGivesTheSameEvents) {
    peer client(role::client, true);
    const bytes big = sample_text(50000);
    ASSERT_TRUE(client.s.send_message(message_type::text, big));
    ASSERT_TRUE(client.s.send_message(message_type::binary, random_bytes(3000)));
    ASSERT_TRUE(client.s.close(1000));
    const bytes wire = client.rec.wire;
    peer whole(role::server, true);
    whole.feed(wire);
    ASSERT_EQ(whole.rec.events.size(), 5u);
    std::mt19937 rng(3);
    for (int round = 0; round < 30; ++round) {
        peer split(role::server, true);
        bytes w = wire;
        std::size_t at = 0;
        while (at < w.size()) {
            const std::size_t n = std::min<std::size_t>(1 + rng() % 700, w.size() - at);
            split.s.receive(w.data() + at, n);
            at += n;
        }
        EXPECT_EQ(split.rec.events, whole.rec.events) << round;
    }
}

}  // namespace
}  // namespace sockeye::protocol
