// Fuzzes the receiving side of the protocol core: frame parser + session (fragments,
// limits, UTF-8, control frames, close, permessage-deflate inflation), in both roles, with the
// input cut into chunks. Invariants checked beyond "no crash": at most one error, nothing delivered
// after the session closed, text messages delivered complete are valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocol/frame_recorder.hpp"
#include "protocol/session.hpp"
#include "protocol/trace_json.hpp"
#include "protocol/utf8.hpp"

namespace {

using namespace sockeye::protocol;

class checker : public session_handler {
  public:
    session* s = nullptr;
    bool text = false;
    std::string message;
    int errors = 0;
    bool closed_seen = false;

    void on_message_begin(message_type type) override {
        if (closed_seen) std::abort();
        text = type == message_type::text;
        message.clear();
    }
    void on_message_data(std::span<const std::uint8_t> data, bool fin) override {
        if (closed_seen) std::abort();
        // Keep memory bounded for long messages: only the tail matters to the UTF-8 check.
        if (message.size() < (1 << 16))
            message.append(reinterpret_cast<const char*>(data.data()), data.size());
        if (fin && text && message.size() < (1 << 16) &&
            !is_valid_utf8(reinterpret_cast<const std::uint8_t*>(message.data()), message.size())) {
            std::abort();
        }
        // Exercise the send side from inside a callback, as an echo server does.
        if (fin) s->send_message(text ? message_type::text : message_type::binary, data);
    }
    void on_close(std::uint16_t code, std::string_view) override {
        if (code != close_code::no_status && !close_code::is_valid_on_wire(code)) std::abort();
        closed_seen = true;
    }
    void on_error(error) override {
        if (++errors > 1) std::abort();
        closed_seen = true;
    }
    void on_send(std::span<const std::uint8_t>, std::span<const std::uint8_t>, bool) override {}
};

// The frame inspector's records of the same input, encoded as JSON; a record whose header
// bytes disagree with its decoded fields is a bug.
class json_sink : public record_sink {
  public:
    std::string out;
    void on_frame(const frame_record& r) override {
        const unsigned bits = r.length_bits();
        const std::size_t want = (bits == 7 ? 2 : bits == 16 ? 4 : 10) + (r.h.masked ? 4 : 0);
        if (r.raw_len != want || r.head_len > 16 || r.head_len > r.h.payload_length) std::abort();
        trace_json::append(out, 1, 0, r);
        trim();
    }
    void on_io(const io_record& r) override {
        if (r.began_count > r.size || r.ended_count > r.size + 1) std::abort();
        trace_json::append(out, 1, 0, r);
        trim();
    }
    void on_message(const message_record& r) override { trace_json::append(out, 1, 0, r); trim(); }
    void on_elided(const elided_record& r) override { trace_json::append(out, 1, 0, r); trim(); }
    void on_control(const control_record& r) override { trace_json::append(out, 1, 0, r); trim(); }
    void on_error(error e) override { trace_json::append_error(out, 1, 0, e); trim(); }

  private:
    void trim() {
        if (out.size() > (1 << 16)) out.clear();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    session_options opts;
    opts.local_role = (data[0] & 1) ? role::client : role::server;
    opts.allowed_rsv = (data[0] & 2) ? 0x4 : 0;
    opts.max_message_size = (data[0] & 4) ? 64 : 0;
    opts.max_frame_size = (data[0] & 8) ? 7 : 0;
    const std::size_t chunk = 1 + data[1];
    std::vector<std::uint8_t> input(data + 2, data + size);

    checker c;
    session s(opts, c);
    c.s = &s;
    // permessage-deflate on: RSV1 messages go through the inflate path (and the echo
    // through the compressor), with the 64-byte limit catching inflation bombs.
    if (data[0] & 16) {
        deflate_settings ds;
        ds.local_no_context_takeover = (data[0] & 32) != 0;
        ds.peer_no_context_takeover = (data[0] & 64) != 0;
        ds.threshold = 8;
        s.enable_deflate(ds);
    }
    json_sink js;
    frame_recorder rec(js);
    const bool traced = (data[0] & 128) != 0;
    if (traced) s.set_observer(&rec);
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        const std::size_t n = std::min(chunk, input.size() - at);
        if (traced) rec.begin_read(n);
        s.receive(input.data() + at, n);
        if (traced) {
            rec.end_read();
            rec.note_written(n / 2);
        }
    }
    return 0;
}
