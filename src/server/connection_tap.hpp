// One WebSocket connection's frame inspection (`--inspect`): the session's frame observer,
// whose records (frame_recorder, fed the connection's reads and writes too) go to the
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

class connection_tap final : public protocol::frame_observer, private protocol::frame_sink {
  public:
    connection_tap(inspector_hub& hub, std::string tag);

    void opened(std::string_view peer, std::string_view path, std::string_view http, bool deflate);
    void ended(std::uint16_t code, std::string_view reason);

    void begin_read(std::size_t n) noexcept { recorder_.begin_read(n); }
    void end_read() { recorder_.end_read(); }
    // The channel flushed and holds `buffered` bytes of ours: what left since is a write.
    void flushed(std::uint64_t buffered);
    // A message framed elsewhere (a publication) was queued as these bytes: its frames are
    // shown as sent.
    void queued_framed(std::span<const std::uint8_t> frames);

    // frame_observer: what the session shows goes to the recorder.
    void on_frame(protocol::direction d, const protocol::frame_header& h,
                  std::span<const std::uint8_t> raw, bool split) override {
        recorder_.on_frame(d, h, raw, split);
    }
    void on_payload(protocol::direction d, std::span<const std::uint8_t> unmasked,
                    bool frame_end) override {
        recorder_.on_payload(d, unmasked, frame_end);
    }
    void on_control(protocol::direction d, protocol::opcode op,
                    std::span<const std::uint8_t> payload) override {
        recorder_.on_control(d, op, payload);
    }
    void on_error(protocol::error e) override { recorder_.on_error(e); }

  private:
    // The recorder's records, as JSON to the hub.
    class publisher final : public protocol::record_sink {
      public:
        publisher(inspector_hub& hub, std::string tag) noexcept;
        void on_frame(const protocol::frame_record& r) override { publish(r); }
        void on_io(const protocol::io_record& r) override { publish(r); }
        void on_message(const protocol::message_record& r) override { publish(r); }
        void on_elided(const protocol::elided_record& r) override { publish(r); }
        void on_control(const protocol::control_record& r) override { publish(r); }
        void on_error(protocol::error e) override;
        // Events made here ("open", "end"): `add` appends the fields after the common ones.
        template <class Fields>
        void event(std::string_view kind, Fields add);

      private:
        template <class Record>
        void publish(const Record& r);
        inspector_hub& hub_;
        const std::string tag_;
        const std::uint64_t id_;
    };

    // frame_sink: the frames of queued_framed().
    bool on_frame_header(const protocol::frame_header& h, std::span<const std::uint8_t> raw) override;
    bool on_frame_payload(std::span<std::uint8_t> data, bool frame_end) override;

    publisher events_;
    protocol::frame_recorder recorder_{events_};
    protocol::frame_parser framed_{protocol::frame_parser_options{protocol::role::client, 0x7}};
};

}  // namespace sockeye::server_detail
