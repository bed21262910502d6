// The frame inspector's records (frame_recorder over a real session) and their JSON: frames
// made by hand go in, in chosen read sizes, and every field is checked against the bytes.
#include "protocol/frame_recorder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/session.hpp"
#include "protocol/trace_json.hpp"
#include "wire.hpp"

namespace sockeye::protocol {
namespace {

using test::bytes;
using test::make_frame;

// Every record as its JSON object, in order.
struct json_sink final : record_sink {
    std::vector<std::string> events;
    template <class R>
    void add(const R& r) {
        std::string s;
        trace_json::append(s, 1, 0.0, r);
        events.push_back(s);
    }
    void on_frame(const frame_record& r) override { frames.push_back(r); add(r); }
    void on_io(const io_record& r) override { ios.push_back(r); add(r); }
    void on_message(const message_record& r) override { messages.push_back(r); add(r); }
    void on_elided(const elided_record& r) override { elided.push_back(r); add(r); }
    void on_control(const control_record& r) override {
        controls.push_back(r.op);
        codes.push_back(r.code);
        add(r);
    }
    void on_error(error e) override {
        std::string s;
        trace_json::append_error(s, 1, 0.0, e);
        events.push_back(s);
    }
    std::vector<frame_record> frames;
    std::vector<io_record> ios;
    std::vector<message_record> messages;
    std::vector<elided_record> elided;
    std::vector<opcode> controls;
    std::vector<std::uint16_t> codes;
};

struct harness {
    test::recorder rec;
    json_sink sink;
    frame_recorder recorder{sink};
    session s;
    explicit harness(session_options o = {}) : s(o, rec) { s.set_observer(&recorder); }
    // Feeds `b` in reads of the given sizes (the rest in one last read).
    void feed(bytes b, std::vector<std::size_t> sizes = {}) {
        std::size_t at = 0;
        for (std::size_t n : sizes) {
            read(b.data() + at, n);
            at += n;
        }
        if (at < b.size()) read(b.data() + at, b.size() - at);
    }
    void read(std::uint8_t* p, std::size_t n) {
        recorder.begin_read(n);
        s.receive(p, n);
        recorder.end_read();
    }
    bool has(std::string_view needle) const {
        for (const auto& e : sink.events) {
            if (e.find(needle) != std::string::npos) return true;
        }
        return false;
    }
};

TEST(FrameRecorder, TheLetterAFromABrowser) {
    harness h;
    test::frame_spec f;
    f.opcode = 0x1;
    bytes frame = make_frame(f, test::to_bytes("a"));
    ASSERT_EQ(frame.size(), 7u);
    h.feed(frame);
    ASSERT_EQ(h.sink.frames.size(), 1u);
    const auto& r = h.sink.frames[0];
    EXPECT_EQ(r.raw_len, 6);
    EXPECT_EQ(r.length_bits(), 7u);
    EXPECT_EQ(r.head_len, 1);
    EXPECT_EQ(r.head[0], 'a');
    // 0x81 0x81, the key 37 fa 21 3d; 'a' ^ 0x37 = 0x56 on the wire.
    EXPECT_EQ(h.sink.events[0],
              "{\"e\":\"frame\",\"conn\":1,\"t\":0.000,\"dir\":\"in\",\"id\":1,\"msg\":1,\"at\":0,"
              "\"fin\":1,\"rsv1\":0,\"rsv2\":0,\"rsv3\":0,\"op\":1,\"opn\":\"text\",\"mask\":1,"
              "\"len\":1,\"enc\":7,\"key\":\"37fa213d\",\"hdr\":\"818137fa213d\",\"wire\":\"56\","
              "\"data\":\"61\",\"split\":false,\"io\":1}");
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].frames, 1u);
    EXPECT_EQ(h.sink.messages[0].size, 1u);
    ASSERT_EQ(h.sink.ios.size(), 1u);
    EXPECT_EQ(h.sink.ios[0].size, 7u);
    EXPECT_EQ(h.sink.ios[0].began_first, 1u);
    EXPECT_EQ(h.sink.ios[0].began_count, 1u);
    EXPECT_EQ(h.sink.ios[0].ended_count, 1u);
    EXPECT_FALSE(h.sink.ios[0].split);
}

TEST(FrameRecorder, LengthEncodingsAndAHeaderSplitAcrossReads) {
    harness h;
    test::frame_spec f;
    const bytes a = make_frame(f, bytes(300, 7));      // 16-bit length
    const bytes b = make_frame(f, bytes(70000, 9));    // 64-bit length
    bytes all = a;
    all.insert(all.end(), b.begin(), b.end());
    // The first read ends 3 bytes into b's 14-byte header.
    h.feed(all, {a.size() + 3});
    ASSERT_EQ(h.sink.frames.size(), 2u);
    EXPECT_EQ(h.sink.frames[0].length_bits(), 16u);
    EXPECT_EQ(h.sink.frames[0].raw_len, 8);
    EXPECT_FALSE(h.sink.frames[0].split);
    EXPECT_EQ(h.sink.frames[1].length_bits(), 64u);
    EXPECT_EQ(h.sink.frames[1].raw_len, 14);
    EXPECT_TRUE(h.sink.frames[1].split);
    EXPECT_EQ(h.sink.frames[1].at, a.size());
    EXPECT_EQ(h.sink.frames[1].io, 2u);
    ASSERT_EQ(h.sink.ios.size(), 2u);
    EXPECT_TRUE(h.sink.ios[0].split);  // b's header waits for the next read
    EXPECT_EQ(h.sink.ios[0].began_count, 1u);
    EXPECT_EQ(h.sink.ios[1].continued, 2u);  // b began in read 1
    EXPECT_EQ(h.sink.ios[1].began_count, 0u);
    EXPECT_EQ(h.sink.ios[1].ended_first, 2u);
    EXPECT_TRUE(h.has("\"enc\":64"));
    EXPECT_TRUE(h.has("\"enc\":16"));
}

TEST(FrameRecorder, FragmentedMessageAndControlFrames) {
    harness h;
    test::frame_spec first, mid, last;
    first.opcode = 0x1;
    first.fin = false;
    mid.opcode = 0x0;
    mid.fin = false;
    last.opcode = 0x0;
    bytes all = test::concat({make_frame(first, test::to_bytes("ab")), make_frame(0x9, "hi"),
                              make_frame(mid, test::to_bytes("cd")),
                              make_frame(last, test::to_bytes("e")),
                              make_frame(0x8, std::string("\x03\xe8" "bye", 5))});
    h.feed(all);
    std::vector<frame_record> in;
    for (const auto& f : h.sink.frames) {
        if (f.dir == direction::in) in.push_back(f);
    }
    ASSERT_EQ(in.size(), 5u);
    EXPECT_EQ(h.sink.frames.size(), 7u);  // and a pong and a close out
    EXPECT_EQ(in[0].msg, 1u);
    EXPECT_EQ(in[1].msg, 0u);  // the ping between fragments
    EXPECT_EQ(in[3].msg, 1u);
    EXPECT_EQ(in[3].h.op, opcode::continuation);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].frames, 3u);
    EXPECT_EQ(h.sink.messages[0].size, 5u);
    EXPECT_EQ(h.sink.messages[0].type, message_type::text);
    EXPECT_TRUE(h.has("{\"e\":\"ping\",\"conn\":1,\"t\":0.000,\"dir\":\"in\",\"size\":2}"));
    EXPECT_TRUE(h.has("\"e\":\"close\",\"conn\":1,\"t\":0.000,\"dir\":\"in\",\"code\":1000,\"reason\":\"bye\""));
    // The session answered: a pong and the echoed close went out, unmasked.
    EXPECT_TRUE(h.has("\"e\":\"pong\",\"conn\":1,\"t\":0.000,\"dir\":\"out\",\"size\":2"));
    EXPECT_TRUE(h.has("\"dir\":\"out\",\"id\":2,\"msg\":0,\"at\":4,\"fin\":1,\"rsv1\":0,\"rsv2\":0,"
                      "\"rsv3\":0,\"op\":8,\"opn\":\"close\",\"mask\":0,\"len\":2,\"enc\":7,"
                      "\"key\":\"\",\"hdr\":\"8802\",\"wire\":\"03e8\",\"data\":\"03e8\""));
}

TEST(FrameRecorder, ALongMessageShowsItsFirstFramesACountAndItsLastFrame) {
    harness h;
    bytes all;
    const int n = 1000;
    for (int i = 0; i < n; ++i) {
        test::frame_spec f;
        f.opcode = i == 0 ? 0x2 : 0x0;
        f.fin = i == n - 1;
        const bytes fr = make_frame(f, bytes(100, 1));
        all.insert(all.end(), fr.begin(), fr.end());
    }
    // One read per frame: 1000 reads.
    std::vector<std::size_t> sizes(n, 106);
    h.feed(all, sizes);
    ASSERT_EQ(h.sink.frames.size(), frame_recorder::frames_shown + 1);
    EXPECT_EQ(h.sink.frames.back().id, 1000u);
    EXPECT_TRUE(h.sink.frames.back().h.fin);
    ASSERT_EQ(h.sink.elided.size(), 1u);
    EXPECT_EQ(h.sink.elided[0].frames, n - frame_recorder::frames_shown - 1);
    EXPECT_EQ(h.sink.elided[0].bytes, 100u * (n - frame_recorder::frames_shown - 1));
    // Reads shown: the first 16 and the one with the last frame; the rest counted.
    EXPECT_EQ(h.sink.ios.size(), frame_recorder::ios_shown + 1);
    EXPECT_EQ(h.sink.elided[0].ios + h.sink.ios.size(), static_cast<std::uint64_t>(n));
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].frames, static_cast<std::uint64_t>(n));
    EXPECT_EQ(h.sink.messages[0].size, 100u * n);
    EXPECT_LT(h.sink.events.size(), 40u);
}

TEST(FrameRecorder, OneHugeFrameInManyReads) {
    harness h;
    test::frame_spec f;
    const bytes fr = make_frame(f, bytes(1 << 20, 3));
    std::vector<std::size_t> sizes(fr.size() / 4096, 4096);
    h.feed(fr, sizes);
    ASSERT_EQ(h.sink.frames.size(), 1u);
    EXPECT_EQ(h.sink.frames[0].head_len, 16);
    EXPECT_EQ(h.sink.elided.size(), 0u);  // nothing of it is elided but its middle reads
    EXPECT_LE(h.sink.ios.size(), frame_recorder::ios_shown + 1);
    EXPECT_EQ(h.sink.ios.back().ended_first, 1u);
    EXPECT_EQ(h.sink.ios.back().continued, 1u);
}

TEST(FrameRecorder, ProtocolErrorsHaveANameACodeAndASection) {
    harness h;
    bytes unmasked = make_frame(0x1, "x", true, false);
    h.feed(unmasked);
    EXPECT_TRUE(h.has("{\"e\":\"error\",\"conn\":1,\"t\":0.000,\"name\":\"unmasked_frame\","
                      "\"code\":1002,\"rfc\":\"5.1\",\"text\":\"client frame is not masked\"}"));
    // The bytes the parser refused are no header waiting for the next read.
    ASSERT_EQ(h.sink.ios.size(), 1u);
    EXPECT_FALSE(h.sink.ios[0].split);
    // The failing close follows as a frame out.
    EXPECT_TRUE(h.has("\"dir\":\"out\",\"id\":1,\"msg\":0,\"at\":0,\"fin\":1,\"rsv1\":0,\"rsv2\":0,\"rsv3\":0,\"op\":8"));
}

TEST(FrameRecorder, WritesNameTheFramesTheyCarried) {
    harness h;
    h.s.send_message(message_type::binary, bytes(10, 1));     // 12 bytes
    h.s.send_message(message_type::binary, bytes(200, 2));    // 204 bytes
    h.recorder.note_written(12 + 100);
    h.recorder.note_written(104);
    ASSERT_EQ(h.sink.ios.size(), 2u);
    EXPECT_EQ(h.sink.ios[0].dir, direction::out);
    EXPECT_EQ(h.sink.ios[0].began_first, 1u);
    EXPECT_EQ(h.sink.ios[0].began_count, 2u);
    EXPECT_EQ(h.sink.ios[0].ended_first, 1u);
    EXPECT_EQ(h.sink.ios[0].ended_count, 1u);
    EXPECT_EQ(h.sink.ios[1].continued, 2u);
    EXPECT_EQ(h.sink.ios[1].ended_first, 2u);
    EXPECT_TRUE(h.has("{\"e\":\"write\",\"conn\":1,\"t\":0.000,\"dir\":\"out\",\"n\":2,\"size\":104,"
                      "\"at\":112,\"began\":[0,0],\"ended\":[2,1],\"cont\":2,\"split\":false}"));
}

TEST(FrameRecorder, ClientFramesAreShownMaskedAndUnmasked) {
    session_options o;
    o.local_role = role::client;
    harness h(o);
    h.s.send_text("hello");
    ASSERT_EQ(h.sink.frames.size(), 1u);
    const auto& r = h.sink.frames[0];
    EXPECT_TRUE(r.h.masked);
    EXPECT_EQ(r.raw_len, 6);
    EXPECT_EQ(r.raw[0], 0x81);
    EXPECT_EQ(r.raw[1], 0x85);
    // The key in the header bytes is the key recorded, and the data is the text.
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.raw[2 + i], r.h.key[i]);
    EXPECT_EQ(std::string(r.head.begin(), r.head.begin() + r.head_len), "hello");
    // The wire bytes the session actually wrote are the JSON's "wire".
    ASSERT_GE(h.rec.wire.size(), 11u);
    std::string wire;
    trace_json::append_hex(wire, h.rec.wire.data() + 6, 5);
    EXPECT_TRUE(h.has("\"wire\":\"" + wire + "\""));
}

TEST(TraceJson, StringsAreAlwaysValidJson) {
    std::string out;
    trace_json::append_string(out, std::string("a\"b\\c\n\x01\xff\xc3\xa9", 10));
    EXPECT_EQ(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u00ff\xc3\xa9\"");
}

}  // namespace
}  // namespace sockeye::protocol
