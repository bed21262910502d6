// The client's --trace lines (client/trace_text): each kind of record by hand, every field
// checked, and a recorder over a client-role session writing through the text sink.
#include "client/trace_text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/session.hpp"
#include "wire.hpp"

namespace sockeye::client_detail {
namespace {

using protocol::direction;
using protocol::opcode;

protocol::frame_record make_frame_record(direction d, const std::vector<std::uint8_t>& raw,
                                         const std::vector<std::uint8_t>& head,
                                         const protocol::frame_header& h) {
    protocol::frame_record r;
    r.dir = d;
    r.h = h;
    std::copy(raw.begin(), raw.end(), r.raw.begin());
    r.raw_len = static_cast<std::uint8_t>(raw.size());
    std::copy(head.begin(), head.end(), r.head.begin());
    r.head_len = static_cast<std::uint8_t>(head.size());
    return r;
}

TEST(TraceText, MaskedTextFrameSent) {
    protocol::frame_header h;
    h.fin = true;
    h.op = opcode::text;
    h.masked = true;
    h.payload_length = 5;
    h.key = {0x37, 0xfa, 0x21, 0x3d};
    auto r = make_frame_record(direction::out, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d},
                               {'h', 'e', 'l', 'l', 'o'}, h);
    r.id = 1;
    r.msg = 1;
    EXPECT_EQ(trace_line(r),
              "> frame 1 msg=1 at=0 FIN=1 RSV1=0 RSV2=0 RSV3=0 op=text MASK=1 len=5 enc=7 "
              "key=37fa213d hdr=818537fa213d data=68656c6c6f \"hello\"");
}

TEST(TraceText, UnmaskedBinaryFramesAndLengthEncodings) {
    protocol::frame_header h;
    h.fin = false;
    h.rsv1 = true;
    h.op = opcode::binary;
    h.payload_length = 300;
    auto r = make_frame_record(direction::in, {0x42, 0x7e, 0x01, 0x2c}, {0x00, 0x01, 0xff}, h);
    r.id = 4;
    r.msg = 2;
    r.at = 1234;
    r.split = true;
    EXPECT_EQ(trace_line(r),
              "< frame 4 msg=2 at=1234 FIN=0 RSV1=1 RSV2=0 RSV3=0 op=binary MASK=0 len=300 "
              "enc=16 hdr=427e012c data=0001ff... split");

    h.fin = true;
    h.rsv1 = false;
    h.rsv2 = true;
    h.rsv3 = true;
    h.op = opcode::continuation;
    h.payload_length = 70000;
    r = make_frame_record(direction::in, {0xb0, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}, {}, h);
    r.id = 9;
    r.msg = 3;
    EXPECT_EQ(trace_line(r),
              "< frame 9 msg=3 at=0 FIN=1 RSV1=0 RSV2=1 RSV3=1 op=continuation MASK=0 "
              "len=70000 enc=64 hdr=b07f0000000000011170 data=...");
}

TEST(TraceText, ControlFramesHaveNoMessageNumber) {
    protocol::frame_header h;
    h.op = opcode::ping;
    auto r = make_frame_record(direction::in, {0x89, 0x00}, {}, h);
    r.id = 2;
    EXPECT_EQ(trace_line(r),
              "< frame 2 at=0 FIN=1 RSV1=0 RSV2=0 RSV3=0 op=ping MASK=0 len=0 enc=7 hdr=8900");
    // A close payload starts with its code: no text preview.
    h.op = opcode::close;
    h.payload_length = 5;
    r = make_frame_record(direction::in, {0x88, 0x05}, {0x03, 0xe8, 'b', 'y', 'e'}, h);
    r.id = 3;
    EXPECT_EQ(trace_line(r), "< frame 3 at=0 FIN=1 RSV1=0 RSV2=0 RSV3=0 op=close MASK=0 len=5 "
                             "enc=7 hdr=8805 data=03e8627965");
}

TEST(TraceText, ReadsAndWrites) {
    protocol::io_record r;
    r.dir = direction::in;
    r.n = 3;
    r.size = 1400;
    r.at = 700;
    r.began_first = 5;
    r.began_count = 3;
    r.ended_first = 4;
    r.ended_count = 1;
    r.continued = 4;
    r.split = true;
    EXPECT_EQ(trace_line(r), "< read 3 size=1400 at=700 began=5..7 ended=4 cont=4 split");
    protocol::io_record w;
    w.dir = direction::out;
    w.n = 1;
    w.size = 10;
    EXPECT_EQ(trace_line(w), "> write 1 size=10 at=0");
}

TEST(TraceText, MessagesAndElisions) {
    protocol::message_record m;
    m.dir = direction::in;
    m.msg = 2;
    m.type = protocol::message_type::text;
    m.size = 12;
    m.frames = 3;
    EXPECT_EQ(trace_line(m), "< message 2 type=text size=12 frames=3 compressed=0");
    m.dir = direction::out;
    m.type = protocol::message_type::binary;
    m.compressed = true;
    EXPECT_EQ(trace_line(m), "> message 2 type=binary size=12 frames=3 compressed=1");

    protocol::elided_record e;
    e.dir = direction::out;
    e.msg = 1;
    e.frames = 41;
    e.bytes = 4100000;
    e.ios = 2;
    EXPECT_EQ(trace_line(e), "> elided msg=1 frames=41 bytes=4100000 writes=2");
    e.dir = direction::in;
    EXPECT_EQ(trace_line(e), "< elided msg=1 frames=41 bytes=4100000 reads=2");
}

TEST(TraceText, ControlRecords) {
    protocol::control_record c;
    c.dir = direction::in;
    c.op = opcode::ping;
    c.size = 4;
    EXPECT_EQ(trace_line(c), "< ping size=4");
    c.op = opcode::pong;
    c.dir = direction::out;
    EXPECT_EQ(trace_line(c), "> pong size=4");
    c.op = opcode::close;
    c.dir = direction::in;
    c.code = 1000;
    c.reason = "bye \"now\"\n\x1b[2J";
    EXPECT_EQ(trace_line(c), "< close code=1000 reason=\"bye \\\"now\\\"\\n\\x1b[2J\"");
    c.code = 1005;
    c.reason = {};
    EXPECT_EQ(trace_line(c), "< close code=1005 reason=\"\"");
}

TEST(TraceText, Errors) {
    EXPECT_EQ(trace_line(protocol::error::masked_frame),
              "! error masked_frame code=1002 rfc=5.1 \"" +
                  std::string(protocol::describe(protocol::error::masked_frame)) + "\"");
    const std::string inflate = trace_line(protocol::error::invalid_compressed_data);
    EXPECT_NE(inflate.find(" code=1007 rfc=\"RFC 7692 6.2\" "), std::string::npos) << inflate;
}

// A client-role session with the recorder and the text sink: what --trace prints.
struct lines_harness {
    test::recorder rec;
    std::vector<std::string> lines;
    trace_text_sink sink{[this](std::string_view l) { lines.emplace_back(l); }};
    protocol::frame_recorder recorder{sink};
    protocol::session s;
    lines_harness() : s(client_options(), rec) { s.set_observer(&recorder); }
    static protocol::session_options client_options() {
        protocol::session_options o;
        o.local_role = protocol::role::client;
        return o;
    }
    void feed(test::bytes b) {
        recorder.begin_read(b.size());
        s.receive(b.data(), b.size());
        recorder.end_read();
    }
};

TEST(TraceText, SessionThroughTheSink) {
    lines_harness t;
    t.feed(test::make_frame(0x1, "hi", true, false));
    ASSERT_EQ(t.lines.size(), 3u);
    EXPECT_EQ(t.lines[0],
              "< frame 1 msg=1 at=0 FIN=1 RSV1=0 RSV2=0 RSV3=0 op=text MASK=0 len=2 enc=7 "
              "hdr=8102 data=6869 \"hi\"");
    EXPECT_EQ(t.lines[1], "< message 1 type=text size=2 frames=1 compressed=0");
    EXPECT_EQ(t.lines[2], "< read 1 size=4 at=0 began=1 ended=1");

    // The client's frames are masked: the key is in the header bytes and on the line.
    t.lines.clear();
    ASSERT_TRUE(t.s.send_text("yo"));
    ASSERT_GE(t.lines.size(), 2u);
    const std::string& f = t.lines[0];
    EXPECT_EQ(f.rfind("> frame 1 msg=1 at=0 FIN=1 RSV1=0 RSV2=0 RSV3=0 op=text MASK=1 len=2 "
                      "enc=7 key=", 0),
              0u)
        << f;
    const std::string key = f.substr(f.find("key=") + 4, 8);
    EXPECT_NE(f.find(" hdr=8182" + key + " data=796f \"yo\""), std::string::npos) << f;
    t.recorder.note_written(8);
    EXPECT_EQ(t.lines.back(), "> write 1 size=8 at=0 began=1 ended=1");

    // A masked frame from the server fails the connection.
    t.lines.clear();
    t.feed(test::make_frame(0x1, "x", true, true));
    bool found = false;
    for (const std::string& l : t.lines) {
        if (l.rfind("! error masked_frame code=1002 rfc=5.1 ", 0) == 0) found = true;
    }
    EXPECT_TRUE(found) << ::testing::PrintToString(t.lines);
}

}  // namespace
}  // namespace sockeye::client_detail
