// The text form of the frame recorder's records (protocol/frame_recorder.hpp): one line
// per record, for a terminal or a log. Pure functions, plus a record_sink that hands each
// line to a callback. Directions are this side's: '>' sent, '<' received; '!' a protocol
// error of the peer's. Fields are NAME=value with no spaces in values, except a quoted
// text preview or close reason at the end of a line (escaped: one line of valid UTF-8).
//
//   > frame 1 msg=1 at=0 FIN=1 RSV1=0 RSV2=0 RSV3=0 op=text MASK=1 len=5 enc=7 key=37fa213d hdr=818537fa213d data=68656c6c6f "hello"
//   < read 1 size=7 at=0 began=1 ended=1
//   < message 1 type=text size=5 frames=1 compressed=0
//   < elided msg=2 frames=120 bytes=7864320 reads=97
//   < close code=1000 reason="bye"
//   ! error masked_frame code=1002 rfc=5.1 "..."
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "protocol/frame_recorder.hpp"

namespace sockeye::client_detail {

std::string trace_line(const protocol::frame_record& r);
std::string trace_line(const protocol::io_record& r);
std::string trace_line(const protocol::message_record& r);
std::string trace_line(const protocol::elided_record& r);
std::string trace_line(const protocol::control_record& r);
std::string trace_line(protocol::error e);

class trace_text_sink final : public protocol::record_sink {
  public:
    explicit trace_text_sink(std::function<void(std::string_view)> out) : out_(std::move(out)) {}

    void on_frame(const protocol::frame_record& r) override { out_(trace_line(r)); }
    void on_io(const protocol::io_record& r) override { out_(trace_line(r)); }
    void on_message(const protocol::message_record& r) override { out_(trace_line(r)); }
    void on_elided(const protocol::elided_record& r) override { out_(trace_line(r)); }
    void on_control(const protocol::control_record& r) override { out_(trace_line(r)); }
    void on_error(protocol::error e) override { out_(trace_line(e)); }

  private:
    std::function<void(std::string_view)> out_;
};

}  // namespace sockeye::client_detail
