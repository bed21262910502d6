// Session rules that span frames: fragmentation, limits, UTF-8, control frames, closing
// handshake (RFC 6455 §5.4, §5.5, §7, §8.1), and the frames the session sends.
#include "protocol/session.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "wire.hpp"

namespace sockeye::protocol {
namespace {

using test::bytes;
using test::close_payload;
using test::concat;
using test::make_frame;
using test::recorder;
using test::to_bytes;

struct harness {
    recorder rec;
    session s;
    explicit harness(session_options o = {}) : s(o, rec) {}
    std::size_t feed(bytes b) { return s.receive(b.data(), b.size()); }
    std::vector<test::sent_frame> sent() const { return test::decode_frames(rec.wire); }
};

session_options client_options() {
    session_options o;
    o.local_role = role::client;
    return o;
}

bytes close_frame(std::uint16_t code, std::string_view reason = {}) {
    test::frame_spec f;
    f.opcode = 0x8;
    return test::make_frame(f, close_payload(code, reason));
}

// The session failed with `code`: its last frame out is a close carrying it.
void expect_failed_with(const harness& h, std::uint16_t code) {
    ASSERT_FALSE(h.rec.events.empty());
    EXPECT_EQ(h.rec.events.back(), "error " + std::to_string(code));
    auto frames = h.sent();
    ASSERT_FALSE(frames.empty());
    const auto& last = frames.back();
    EXPECT_EQ(last.opcode, 0x8);
    ASSERT_GE(last.payload.size(), 2u);
    EXPECT_EQ((last.payload[0] << 8) | last.payload[1], code);
    EXPECT_EQ(h.s.state(), session_state::closed);
}

TEST(Session, EchoesWholeMessagesAsEvents) {
    harness h;
    h.feed(concat({make_frame(0x1, "hello"), make_frame(0x2, std::string(200, 'b'))}));
    ASSERT_EQ(h.rec.events.size(), 4u);
    EXPECT_EQ(h.rec.events[0], "begin text");
    EXPECT_EQ(h.rec.events[1], "message hello");
    EXPECT_EQ(h.rec.events[2], "begin binary");
    EXPECT_EQ(h.rec.events[3], "message " + std::string(200, 'b'));
    EXPECT_EQ(h.s.state(), session_state::open);
}

// Receive state is kept between reads only while a frame or a message goes on: an idle
// session holds none, whatever came before; a frame, a fragmented message or a control
// frame split across reads is parsed across them all the same.
TEST(Session, KeepsReceiveStateOnlyWhileAFrameOrMessageGoesOn) {
    harness h;
    EXPECT_FALSE(h.s.holds_receive_state());
    h.feed(make_frame(0x2, "whole"));
    EXPECT_FALSE(h.s.holds_receive_state());
    EXPECT_FALSE(h.s.receiving_message());

    const bytes split = make_frame(0x1, "split in the payload");
    h.feed(bytes(split.begin(), split.begin() + 9));
    EXPECT_TRUE(h.s.holds_receive_state());
    EXPECT_TRUE(h.s.receiving_message());
    h.feed(bytes(split.begin() + 9, split.end()));
    EXPECT_FALSE(h.s.holds_receive_state());

    const bytes header_split = make_frame(0x2, std::string(300, 'h'));  // 16-bit length form
    h.feed(bytes(header_split.begin(), header_split.begin() + 3));
    EXPECT_TRUE(h.s.holds_receive_state());
    EXPECT_FALSE(h.s.receiving_message());  // only half a header so far
    h.feed(bytes(header_split.begin() + 3, header_split.end()));
    EXPECT_FALSE(h.s.holds_receive_state());

    h.feed(make_frame(0x1, "frag", false));  // whole frame, message still open
    EXPECT_TRUE(h.s.holds_receive_state());
    const bytes ping = make_frame(0x9, "ping across reads");
    h.feed(bytes(ping.begin(), ping.begin() + 10));
    EXPECT_TRUE(h.s.holds_receive_state());
    h.feed(concat({bytes(ping.begin() + 10, ping.end()), make_frame(0x0, "ment", true)}));
    EXPECT_FALSE(h.s.holds_receive_state());

    const std::vector<std::string> want{"begin binary", "message whole", "begin text",
                                        "message split in the payload", "begin binary",
                                        "message " + std::string(300, 'h'), "begin text",
                                        "ping ping across reads", "message fragment"};
    EXPECT_EQ(h.rec.events, want);
    const auto out = h.sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, 0xA);
    EXPECT_EQ(std::string(out[0].payload.begin(), out[0].payload.end()), "ping across reads");
    EXPECT_EQ(h.s.state(), session_state::open);
}

// A session that parses from inside another session's event on the same thread (not what
// a server does, but allowed) gets a state of its own, and neither disturbs the other.
TEST(Session, ParsesInsideAnotherSessionsEvent) {
    struct nesting : test::recorder {
        session* other = nullptr;
        bytes inner;
        void on_message_data(std::span<const std::uint8_t> data, bool fin) override {
            recorder::on_message_data(data, fin);
            if (other && !inner.empty()) {
                other->receive(inner.data(), inner.size());
                inner.clear();
            }
        }
    };
    nesting outer_rec;
    session outer({}, outer_rec);
    harness inner;
    outer_rec.other = &inner.s;
    const bytes half = make_frame(0x1, "inner message");
    outer_rec.inner = bytes(half.begin(), half.begin() + 8);
    const bytes two = concat({make_frame(0x2, "first"), make_frame(0x2, "second")});
    outer.receive(const_cast<std::uint8_t*>(two.data()), two.size());
    EXPECT_TRUE(inner.s.holds_receive_state());
    EXPECT_FALSE(outer.holds_receive_state());
    inner.feed(bytes(half.begin() + 8, half.end()));
    EXPECT_FALSE(inner.s.holds_receive_state());
    EXPECT_EQ(inner.rec.events, (std::vector<std::string>{"begin text", "message inner message"}));
    EXPECT_EQ(outer_rec.events,
              (std::vector<std::string>{"begin binary", "message first", "begin binary",
                                        "message second"}));
}

TEST(Session, EmptyMessageIsDelivered) {
    harness h;
    h.feed(make_frame(0x1, ""));
    EXPECT_EQ(h.rec.events, (std::vector<std::string>{"begin text", "message "}));
}

TEST(Session, ReassemblesFragmentsWithControlFramesBetween) {
    harness h;
    h.feed(concat({make_frame(0x1, "Hel", false), make_frame(0x9, "p1"), make_frame(0x0, "l", false),
                   make_frame(0xA, "q"), make_frame(0x0, "o", true)}));
    EXPECT_EQ(h.rec.events,
              (std::vector<std::string>{"begin text", "ping p1", "pong q", "message Hello"}));
    // The ping was answered with a pong carrying the same payload.
    auto out = h.sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, 0xA);
    EXPECT_EQ(out[0].payload, to_bytes("p1"));
    EXPECT_FALSE(out[0].masked);
}

TEST(Session, ContinuationWithoutMessageIs1002) {
    harness h;
    h.feed(make_frame(0x0, "x"));
    expect_failed_with(h, 1002);
}

TEST(Session, NewDataFrameInsideFragmentedMessageIs1002) {
    harness h;
    h.feed(concat({make_frame(0x1, "a", false), make_frame(0x2, "b")}));
    expect_failed_with(h, 1002);
}

TEST(Session, UnmaskedClientFrameIs1002) {
    harness h;
    h.feed(make_frame(0x1, "a", true, false));
    expect_failed_with(h, 1002);
}

TEST(Session, MaskedServerFrameIs1002InClientRole) {
    harness h(client_options());
    h.feed(make_frame(0x1, "a", true, true));
    expect_failed_with(h, 1002);
    // The client's own close is masked.
    EXPECT_TRUE(h.sent().back().masked);
}

TEST(Session, ReservedOpcodesAre1002) {
    for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        harness h;
        h.feed(make_frame(static_cast<std::uint8_t>(op), "x"));
        expect_failed_with(h, 1002);
    }
}

TEST(Session, RsvWithoutExtensionIs1002) {
    for (int rsv : {1, 2, 4}) {
        harness h;
        test::frame_spec f;
        f.rsv = static_cast<std::uint8_t>(rsv);
        h.feed(test::make_frame(f, to_bytes("x")));
        expect_failed_with(h, 1002);
    }
}

TEST(Session, ControlFrameRules) {
    {
        harness h;  // 126-byte ping
        test::frame_spec f;
        f.opcode = 0x9;
        h.feed(test::make_frame(f, bytes(126, 'p')));
        expect_failed_with(h, 1002);
    }
    {
        harness h;  // fragmented ping
        h.feed(make_frame(0x9, "x", false));
        expect_failed_with(h, 1002);
    }
    {
        harness h;  // 125 is fine
        test::frame_spec f;
        f.opcode = 0x9;
        h.feed(test::make_frame(f, bytes(125, 'p')));
        EXPECT_EQ(h.s.state(), session_state::open);
        EXPECT_EQ(h.sent().at(0).payload.size(), 125u);
    }
}

TEST(Session, LengthWithTopBitIs1002) {
    harness h;
    h.feed(bytes{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4});
    expect_failed_with(h, 1002);
}

TEST(Session, MessageOverLimitIs1009AtHeaderTime) {
    session_options o;
    o.max_message_size = 10;
    {
        harness h(o);  // exactly at the limit across fragments: fine
        h.feed(concat({make_frame(0x2, "12345", false), make_frame(0x0, "67890")}));
        EXPECT_EQ(h.rec.events.back(), "message 1234567890");
    }
    {
        harness h(o);  // one byte over across fragments
        h.feed(concat({make_frame(0x2, "12345", false), make_frame(0x0, "678901")}));
        expect_failed_with(h, 1009);
    }
    {
        harness h(o);  // a single huge frame fails on its header alone
        bytes head{0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
        h.feed(head);
        expect_failed_with(h, 1009);
    }
    {
        harness h(o);  // the limit is per message, not per connection
        h.feed(concat({make_frame(0x2, "1234567890"), make_frame(0x2, "1234567890")}));
        EXPECT_EQ(h.s.state(), session_state::open);
    }
}

TEST(Session, InvalidUtf8Is1007) {
    harness h;
    h.feed(make_frame(0x1, "ab\xff"));
    expect_failed_with(h, 1007);
    EXPECT_EQ(h.rec.events, (std::vector<std::string>{"begin text", "error 1007"}));
}

TEST(Session, Utf8FailsFastBeforeTheFrameEnds) {
    harness h;
    // A 1000-byte text frame whose 3rd byte is invalid: only the first 10 bytes arrive.
    std::string text(1000, 'a');
    text[2] = '\xC0';
    bytes wire = make_frame(0x1, text);
    wire.resize(8 + 10);  // 2 header + 2 length + 4 key + 10 payload
    h.feed(wire);
    expect_failed_with(h, 1007);
}

TEST(Session, Utf8CodePointSplitAcrossFragmentsIsValid) {
    harness h;
    // U+20AC EURO SIGN = E2 82 AC, split 1 + 2 across two frames.
    h.feed(concat({make_frame(0x1, "\xE2", false), make_frame(0x0, "\x82\xAC")}));
    EXPECT_EQ(h.rec.events.back(), "message \xE2\x82\xAC");
}

TEST(Session, Utf8TruncatedAtMessageEndIs1007) {
    harness h;
    h.feed(make_frame(0x1, "ok\xE2\x82"));
    expect_failed_with(h, 1007);
}

TEST(Session, Utf8InvalidInLaterFragmentIs1007) {
    harness h;
    h.feed(concat({make_frame(0x1, "fine", false), make_frame(0x0, "\xED\xA0\x80")}));
    expect_failed_with(h, 1007);
}

TEST(Session, BinaryIsNotUtf8Checked) {
    harness h;
    h.feed(make_frame(0x2, "\xff\xfe"));
    EXPECT_EQ(h.rec.events.back(), "message \xff\xfe");
}

TEST(Session, CloseWithCodeIsEchoed) {
    harness h;
    h.feed(close_frame(1000, "bye"));
    EXPECT_EQ(h.rec.events, (std::vector<std::string>{"close 1000 bye"}));
    auto out = h.sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, 0x8);
    EXPECT_EQ(out[0].payload, close_payload(1000));
    EXPECT_EQ(h.s.state(), session_state::closed);
}

TEST(Session, CloseWithoutCodeGetsEmptyClose) {
    harness h;
    h.feed(make_frame(0x8, ""));
    EXPECT_EQ(h.rec.events, (std::vector<std::string>{"close 1005 "}));
    auto out = h.sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].payload.empty());
}

TEST(Session, CloseOfOneByteIs1002) {
    harness h;
    h.feed(make_frame(0x8, "x"));
    expect_failed_with(h, 1002);
}

TEST(Session, CloseCodeValidity) {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                     3999, 4000, 4999}) {
        harness h;
        h.feed(close_frame(static_cast<std::uint16_t>(code)));
        EXPECT_EQ(h.rec.events.back(), "close " + std::to_string(code) + " ") << code;
        EXPECT_EQ(h.sent().back().payload, close_payload(static_cast<std::uint16_t>(code)));
    }
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        harness h;
        h.feed(close_frame(static_cast<std::uint16_t>(code)));
        expect_failed_with(h, 1002);
    }
}

TEST(Session, CloseReasonNotUtf8Is1007) {
    harness h;
    h.feed(close_frame(1000, "\xff"));
    expect_failed_with(h, 1007);
}

TEST(Session, NothingIsReadAfterClose) {
    harness h;
    bytes wire = concat({close_frame(1000), make_frame(0x1, "late"), make_frame(0x9, "p")});
    const std::size_t used = h.feed(wire);
    EXPECT_EQ(used, close_frame(1000).size());
    EXPECT_EQ(h.rec.events, (std::vector<std::string>{"close 1000 "}));
    EXPECT_EQ(h.feed(make_frame(0x1, "later")), 0u);
    EXPECT_EQ(h.sent().size(), 1u);  // only the close reply; no pong
    // And nothing more can be sent.
    EXPECT_FALSE(h.s.send_text("x"));
    EXPECT_FALSE(h.s.send_ping());
}

// A handler that drops the connection on the first message (as the client does when the
// application aborts from on_message): what follows in the same read must not reach it.
TEST(Session, StopFromAHandlerEndsParsingAtOnce) {
    struct stopper : recorder {
        session* s = nullptr;
        void on_message_data(std::span<const std::uint8_t> data, bool fin) override {
            recorder::on_message_data(data, fin);
            if (fin) s->stop();
        }
    } rec;
    session s({}, rec);
    rec.s = &s;
    bytes wire = concat({make_frame(0x1, "first"), make_frame(0x1, "second"), make_frame(0x9, "p"),
                         make_frame(0x2, "third"), close_frame(1000)});
    s.receive(wire.data(), wire.size());
    EXPECT_EQ(rec.events, (std::vector<std::string>{"begin text", "message first"}));
    EXPECT_TRUE(rec.wire.empty());  // no pong, no close reply
    EXPECT_EQ(s.state(), session_state::closed);
    bytes later = make_frame(0x1, "later");
    EXPECT_EQ(s.receive(later.data(), later.size()), 0u);
    EXPECT_FALSE(s.send_text("x"));
    EXPECT_FALSE(s.send_ping());
    EXPECT_FALSE(s.close());
}

// Stopping in on_message_begin, in a control frame handler or halfway through a fragmented
// message ends parsing the same way.
TEST(Session, StopFromAnyEventEndsParsing) {
    struct stop_on : recorder {
        session* s = nullptr;
        std::string when;
        void check(const std::string& event) {
            if (event == when) s->stop();
        }
        void on_message_begin(message_type t) override {
            recorder::on_message_begin(t);
            check("begin");
        }
        void on_message_data(std::span<const std::uint8_t> d, bool fin) override {
            recorder::on_message_data(d, fin);
            check(fin ? "fin" : "piece");
        }
        void on_ping(std::span<const std::uint8_t> p) override {
            recorder::on_ping(p);
            check("ping");
        }
        void on_pong(std::span<const std::uint8_t> p) override {
            recorder::on_pong(p);
            check("pong");
        }
    };
    const bytes wire =
        concat({make_frame(0xA, "q"), make_frame(0x9, "p"), make_frame(0x1, "ab", false),
                make_frame(0x0, "cd"), make_frame(0x1, "next")});
    const std::vector<std::pair<std::string, std::size_t>> cases = {
        {"pong", 1}, {"ping", 2}, {"begin", 3}, {"piece", 3}, {"fin", 4}};
    for (const auto& [when, events] : cases) {
        stop_on rec;
        session s({}, rec);
        rec.s = &s;
        rec.when = when;
        bytes copy = wire;
        s.receive(copy.data(), copy.size());
        EXPECT_EQ(rec.events.size(), events) << "stopped at " << when;
        EXPECT_EQ(s.state(), session_state::closed);
    }
}

TEST(Session, ServerInitiatedCloseHandshake) {
    harness h;
    ASSERT_TRUE(h.s.close(1001, "server shutting down"));
    EXPECT_EQ(h.s.state(), session_state::closing);
    EXPECT_FALSE(h.s.send_text("no data after close"));
    EXPECT_FALSE(h.s.close(1000));  // only once
    // Data still arriving from the peer is delivered while closing.
    h.feed(make_frame(0x1, "in flight"));
    EXPECT_EQ(h.rec.events.back(), "message in flight");
    h.feed(close_frame(1001));
    EXPECT_EQ(h.s.state(), session_state::closed);
    auto out = h.sent();
    ASSERT_EQ(out.size(), 1u);  // no second close is sent in reply
    EXPECT_EQ(out[0].payload, close_payload(1001, "server shutting down"));
}

TEST(Session, CloseRefusesCodesNotAllowedOnTheWire) {
    harness h;
    EXPECT_FALSE(h.s.close(1006));
    EXPECT_FALSE(h.s.close(999));
    EXPECT_TRUE(h.rec.wire.empty());
    EXPECT_TRUE(h.s.close(1005));  // sends an empty close
    EXPECT_TRUE(h.sent().at(0).payload.empty());
}

TEST(Session, CloseReasonIsCutAtUtf8Boundary) {
    harness h;
    std::string reason;
    for (int i = 0; i < 60; ++i) reason += "\xC3\xA9";  // 120 bytes of é
    reason += "\xE2\x82\xAC";                           // 123
    reason += "\xE2\x82\xAC";                           // 126: over
    ASSERT_TRUE(h.s.close(1000, reason));
    auto p = h.sent().at(0).payload;
    EXPECT_EQ(p.size(), 2u + 123u);
}

// ---------------------------------------------------------------- sending

TEST(SessionWriter, HeaderSizesAreMinimal) {
    struct c {
        std::size_t len, header;
    };
    for (auto [len, header] : {c{0, 2}, c{125, 2}, c{126, 4}, c{65535, 4}, c{65536, 10}}) {
        harness h;
        bytes payload(len, 'x');
        ASSERT_TRUE(h.s.send_message(message_type::binary, payload));
        EXPECT_EQ(h.rec.wire.size(), len + header) << len;
        auto out = h.sent();
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].opcode, 0x2);
        EXPECT_TRUE(out[0].fin);
        EXPECT_FALSE(out[0].masked);
        EXPECT_EQ(out[0].payload, payload);
    }
}

TEST(SessionWriter, ClientMasksWithFreshKeys) {
    harness h(client_options());
    std::string big(40000, 'q');  // larger than the masking scratch buffer
    ASSERT_TRUE(h.s.send_text("hello"));
    ASSERT_TRUE(h.s.send_text(big));
    auto out = h.sent();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(out[0].masked);
    EXPECT_EQ(out[0].payload, to_bytes("hello"));
    EXPECT_EQ(out[1].payload, to_bytes(big));
    // Keys sit after the 2-byte header of the first frame and the 4-byte one of the second.
    bytes k1(h.rec.wire.begin() + 2, h.rec.wire.begin() + 6);
    bytes k2(h.rec.wire.begin() + 6 + 5 + 4, h.rec.wire.begin() + 6 + 5 + 8);
    EXPECT_NE(k1, k2);
    // The masked bytes on the wire differ from the plain text.
    EXPECT_NE(h.rec.wire[6], 'h');
}

TEST(Session, FragmentLimitCountsTheFramesOfOneMessage) {
    const bytes three = concat({make_frame(0x2, "a", false), make_frame(0x0, "b", false),
                                make_frame(0x0, "c")});
    {
        session_options o;
        o.max_fragments = 3;
        harness h(o);  // at the limit: delivered
        h.feed(three);
        EXPECT_EQ(h.rec.events.back(), "message abc");
    }
    {
        session_options o;
        o.max_fragments = 2;
        harness h(o);
        h.feed(three);
        expect_failed_with(h, 1008);
    }
    {
        // A limit above 32 bits is taken as the largest the session keeps, not cut to its
        // low bits (which would make 2^32 + 1 a limit of one frame).
        session_options o;
        o.max_fragments = (std::uint64_t{1} << 32) + 1;
        harness h(o);
        h.feed(three);
        EXPECT_EQ(h.rec.events.back(), "message abc");
    }
}

TEST(SessionWriter, FrameSizeAbove32BitsIsNotCutToItsLowBits) {
    session_options o;
    o.max_frame_size = (std::uint64_t{1} << 32) + 4;  // cut to 32 bits: 4
    harness h(o);
    ASSERT_TRUE(h.s.send_text("abcdefghij"));
    auto out = h.sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].fin);
}

TEST(SessionWriter, FragmentsLongMessages) {
    session_options o;
    o.max_frame_size = 4;
    harness h(o);
    ASSERT_TRUE(h.s.send_text("abcdefghij"));
    auto out = h.sent();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].opcode, 0x1);
    EXPECT_EQ(out[1].opcode, 0x0);
    EXPECT_EQ(out[2].opcode, 0x0);
    EXPECT_FALSE(out[0].fin);
    EXPECT_FALSE(out[1].fin);
    EXPECT_TRUE(out[2].fin);
    EXPECT_EQ(out[2].payload, to_bytes("ij"));
}

TEST(SessionWriter, StreamedMessageWithControlFramesBetween) {
    harness h;
    ASSERT_TRUE(h.s.begin_message(message_type::text));
    EXPECT_FALSE(h.s.begin_message(message_type::binary));
    EXPECT_FALSE(h.s.send_text("not now"));
    ASSERT_TRUE(h.s.write_message(to_bytes("Hel"), false));
    ASSERT_TRUE(h.s.send_ping(to_bytes("between")));
    ASSERT_TRUE(h.s.write_message({}, false));  // no empty frame
    ASSERT_TRUE(h.s.write_message(to_bytes("lo"), true));
    EXPECT_FALSE(h.s.write_message(to_bytes("x"), true));  // stream is over
    auto out = h.sent();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].opcode, 0x1);
    EXPECT_FALSE(out[0].fin);
    EXPECT_EQ(out[1].opcode, 0x9);
    EXPECT_EQ(out[2].opcode, 0x0);
    EXPECT_TRUE(out[2].fin);
}

// Pings and pongs may overtake queued data; a close may not (no data after a close, §5.5.1).
TEST(SessionWriter, OnlyPingAndPongAreUrgent) {
    harness h;
    ASSERT_TRUE(h.s.send_text("data"));
    ASSERT_TRUE(h.s.send_ping());
    ASSERT_TRUE(h.s.send_pong());
    ASSERT_TRUE(h.s.close(1000));
    EXPECT_EQ(h.rec.urgent, (std::vector<bool>{false, true, true, false}));
}

TEST(SessionWriter, ControlPayloadOver125IsRefused) {
    harness h;
    EXPECT_FALSE(h.s.send_ping(bytes(126, 'x')));
    EXPECT_FALSE(h.s.send_pong(bytes(126, 'x')));
    EXPECT_TRUE(h.rec.wire.empty());
}

// What a client session sends, a server session reads back exactly.
TEST(SessionWriter, ClientToServerRoundTrip) {
    recorder client_rec;
    session_options co = client_options();
    co.max_frame_size = 1000;
    session client(co, client_rec);
    std::string text;
    for (int i = 0; i < 5000; ++i) text += static_cast<char>('a' + i % 26);
    ASSERT_TRUE(client.send_text(text));
    ASSERT_TRUE(client.send_ping(to_bytes("p")));
    ASSERT_TRUE(client.close(4000, "done"));
    harness server;
    server.feed(client_rec.wire);
    EXPECT_EQ(server.rec.events,
              (std::vector<std::string>{"begin text", "message " + text, "ping p", "close 4000 done"}));
}

// A handler that offers room in its output gets masked frames written there in one pass
// (no scratch copy); urgent ones (pings, pongs) still come through on_send. The bytes must
// read back exactly like those of the on_send path.
TEST(SessionWriter, ClientFramesWrittenInPlaceRoundTrip) {
    struct in_place_recorder : recorder {
        std::size_t reserved = 0, committed = 0;
        std::uint8_t* reserve_send(std::size_t n) override {
            ++reserved;
            wire.resize(wire.size() + n);
            return wire.data() + wire.size() - n;
        }
        void commit_send() override { ++committed; }
    };
    in_place_recorder client_rec;
    session_options co = client_options();
    co.max_frame_size = 1000;
    session client(co, client_rec);
    std::string text;
    for (int i = 0; i < 5000; ++i) text += static_cast<char>('a' + i % 26);
    ASSERT_TRUE(client.send_text(text));
    ASSERT_TRUE(client.send_ping(to_bytes("p")));
    ASSERT_TRUE(client.send_message(message_type::binary, {}));
    ASSERT_TRUE(client.close(4000, "done"));
    // 5 text frames, the empty binary one and the close (only pings/pongs are urgent)
    EXPECT_EQ(client_rec.reserved, 7u);
    EXPECT_EQ(client_rec.committed, 7u);
    for (const auto& f : test::decode_frames(client_rec.wire)) EXPECT_TRUE(f.masked);
    harness server;
    server.feed(client_rec.wire);
    EXPECT_EQ(server.rec.events,
              (std::vector<std::string>{"begin text", "message " + text, "ping p",
                                        "begin binary", "message ", "close 4000 done"}));
}

// ---------------------------------------------------------------- chunking property

// A stream touching every rule, ending either cleanly or in an error.
std::vector<bytes> property_streams() {
    std::string big(70000, 'x');
    for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
    std::vector<bytes> streams;
    streams.push_back(concat({make_frame(0x1, "Hello"), make_frame(0x2, big),
                              make_frame(0x1, "\xE2\x82", false), make_frame(0x9, "ping!"),
                              make_frame(0x0, "\xAC", true), make_frame(0x8, "")}));
    streams.push_back(concat({make_frame(0x1, "x", false), make_frame(0x0, "", false),
                              make_frame(0x0, "y"), close_frame(1001, "bye")}));
    streams.push_back(concat({make_frame(0x1, "ok"), make_frame(0x1, "bad\xC3(")}));
    streams.push_back(concat({make_frame(0x2, std::string(300, 'z')), make_frame(0x0, "x")}));
    streams.push_back(concat({make_frame(0xA, "pong"), close_frame(1000, "\xC3")}));
    streams.push_back(concat({make_frame(0x1, std::string(200, 'q')), close_frame(3000, "app")}));
    return streams;
}

struct outcome {
    std::vector<std::string> events;
    bytes wire;
    bool operator==(const outcome&) const = default;
};

outcome run_split(bytes stream, const std::vector<std::size_t>& cuts) {
    harness h;
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        h.s.receive(stream.data() + at, cut - at);
        at = cut;
    }
    h.s.receive(stream.data() + at, stream.size() - at);
    return {h.rec.events, h.rec.wire};
}

TEST(SessionProperty, AnyChunkingGivesTheSameEvents) {
    std::mt19937 rng(12345);
    for (const bytes& stream : property_streams()) {
        const outcome whole = run_split(stream, {});
        ASSERT_FALSE(whole.events.empty());
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
        EXPECT_EQ(run_split(stream, every), whole) << "byte by byte";
        for (int round = 0; round < 50; ++round) {
            std::vector<std::size_t> cuts;
            std::uniform_int_distribution<std::size_t> step(1, 1 + stream.size() / 4);
            for (std::size_t at = step(rng); at < stream.size(); at += step(rng)) cuts.push_back(at);
            EXPECT_EQ(run_split(stream, cuts), whole) << "round " << round;
        }
    }
}

}  // namespace
}  // namespace sockeye::protocol
