// One WebSocket connection's frame inspection (`--inspect`): a frame_recorder the session
// shows its frames to, fed the connection's reads and writes, whose records go to the
// inspector hub as JSON — encoded only while some inspector is connected.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "inspector_hub.hpp"
#include "protocol/frame_parser.hpp"
#include "protocol/frame_recorder.hpp"

namespace sockeye::server_detail {

class connection_tap final : private protocol::record_sink, private protocol::frame_sink {
  public:
    // `queued`: bytes already in the channel's output that are not WebSocket frames (the
    // 101), so that writes are counted from the first frame.
    connection_tap(inspector_hub& hub, std::string tag, std::uint64_t queued);

    protocol::frame_recorder& recorder() noexcept { return recorder_; }
    void opened(std::string_view peer, std::string_view path, std::string_view http, bool deflate);
    void ended(std::uint16_t code, std::string_view reason);

    void begin_read(std::size_t n) noexcept { recorder_.begin_read(n); }
    void end_read() { recorder_.end_read(); }
    // The channel flushed and holds `buffered` bytes of ours: what left since is a write.
    void flushed(std::uint64_t buffered);
    // A message framed elsewhere (a publication) was queued as these bytes: its frames are
    // shown as sent.
    void queued_framed(std::span<const std::uint8_t> frames);

  private:
    // record_sink
    void on_frame(const protocol::frame_record& r) override;
    void on_io(const protocol::io_record& r) override;
    void on_message(const protocol::message_record& r) override;
    void on_elided(const protocol::elided_record& r) override;
    void on_control(const protocol::control_record& r) override;
    void on_error(protocol::error e) override;
    // frame_sink: the frames of queued_framed().
    bool on_frame_header(const protocol::frame_header& h, std::span<const std::uint8_t> raw) override;
    bool on_frame_payload(std::span<std::uint8_t> data, bool frame_end) override;

    template <class Record>
    void publish(const Record& r);
    void send(std::string& json);

    inspector_hub& hub_;
    const std::string tag_;
    const std::uint64_t id_;
    protocol::frame_recorder recorder_{*this};
    protocol::frame_parser framed_{protocol::frame_parser_options{protocol::role::client, 0x7}};
    std::uint64_t not_frames_;     // bytes queued that are not frames (see the constructor)
    std::uint64_t written_ = 0;    // of the frames, bytes counted as written so far
};

}  // namespace sockeye::server_detail
