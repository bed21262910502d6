#include "frame_recorder.hpp"

#include <algorithm>
#include <cstring>

namespace sockeye::protocol {

unsigned frame_record::length_bits() const noexcept {
    if (raw_len < 2) return 7;
    const std::uint8_t len7 = raw[1] & 0x7F;
    return len7 == 126 ? 16 : len7 == 127 ? 64 : 7;
}

// ---------------------------------------------------------------- reads and writes

void frame_recorder::begin_read(std::uint64_t n) noexcept {
    side& s = in_;
    s.io = io_record{};
    s.io.dir = direction::in;
    s.io.n = ++s.ios;
    s.io.size = n;
    s.io.at = s.io_end;
    s.io_end += n;
    s.io_touched = false;
    s.io_in_msg = s.in_msg;
    if (s.cur_open) s.io.continued = s.cur.id;
}

void frame_recorder::end_read() {
    side& s = in_;
    if (s.cur_open && !s.cur_sent && s.cur_shown) flush_frame(s);
    // Bytes the frames have not accounted for yet are a header waiting for its rest (a
    // session that stopped reading leaves more than a header's worth behind).
    const std::uint64_t left = s.io_end - s.offset;
    s.io.split = !failed_ && !s.cur_open && left != 0 && left < max_frame_header_size;
    end_io(s);
}

void frame_recorder::note_written(std::uint64_t n) {
    side& s = out_;
    if (n == 0) return;
    s.io = io_record{};
    s.io.dir = direction::out;
    s.io.n = ++s.ios;
    s.io.size = n;
    s.io.at = s.io_end;
    s.io_end += n;
    s.io_touched = false;
    s.io_in_msg = s.in_msg || !s.unwritten_empty();
    const std::uint64_t from = s.io.at, to = s.io_end;
    // Frames sent (in stream order) whose bytes this write carried.
    while (!s.unwritten_empty()) {
        const pending_frame& f = s.unwritten[s.unwritten_head];
        if (f.at >= to) break;
        if (f.at >= from) {
            if (s.io.began_count++ == 0) s.io.began_first = f.id;
        } else {
            s.io.continued = f.id;
        }
        if (f.shown) s.io_touched = true;
        if (f.end > to) break;
        if (s.io.ended_count++ == 0) s.io.ended_first = f.id;
        ++s.unwritten_head;
    }
    if (s.unwritten_empty()) {
        s.unwritten.clear();
        s.unwritten_head = 0;
    }
    end_io(s);
}

void frame_recorder::note_unsent(std::uint64_t unsent) {
    const std::uint64_t written = out_.offset - std::min(unsent, out_.offset);
    if (written > out_.io_end) note_written(written - out_.io_end);
}

void frame_recorder::end_io(side& s) {
    // Inside a long message only its first reads/writes are shown, and those where a shown
    // frame begins or ends.
    const bool in_long = (s.io_in_msg || s.in_msg) && s.msg_ios++ >= ios_shown;
    if (in_long && !s.io_touched) {
        s.elided.ios++;
        return;
    }
    sink_.on_io(s.io);
}

// ---------------------------------------------------------------- frames

void frame_recorder::on_frame(direction d, const frame_header& h, std::span<const std::uint8_t> raw,
                              bool split) {
    side& s = d == direction::in ? in_ : out_;
    if (s.cur_open && !s.cur_sent && s.cur_shown) flush_frame(s);
    frame_record& f = s.cur;
    f = frame_record{};
    f.dir = d;
    f.id = ++s.frames;
    f.h = h;
    f.raw_len = static_cast<std::uint8_t>(std::min(raw.size(), f.raw.size()));
    std::memcpy(f.raw.data(), raw.data(), f.raw_len);
    f.split = split;
    f.at = s.offset;
    s.offset += raw.size();
    if (d == direction::in) f.io = s.io.n;
    s.cur_open = true;
    s.cur_sent = false;
    s.cur_left = h.payload_length;
    s.cur_shown = true;

    if (!is_control(h.op)) {
        if (h.op != opcode::continuation || !s.in_msg) {
            // A new data message (a stray continuation counts as one: the error follows).
            s.in_msg = true;
            s.msg = message_record{};
            s.msg.dir = d;
            s.msg.msg = ++s.msgs;
            s.msg.type = h.op == opcode::text ? message_type::text : message_type::binary;
            s.msg.compressed = h.rsv1;
            s.msg_frames = 0;
            s.msg_ios = 0;
            s.eliding = false;
            s.elided = elided_record{};
            s.elided.dir = d;
            s.elided.msg = s.msg.msg;
        }
        f.msg = s.msg.msg;
        s.msg.frames++;
        s.msg.size += h.payload_length;
        if (++s.msg_frames > frames_shown && !h.fin) {
            s.eliding = true;
            s.cur_shown = false;
            s.elided.frames++;
            s.elided.bytes += h.payload_length;
        } else if (s.eliding) {
            sink_.on_elided(s.elided);
            s.eliding = false;
        }
    }
    if (s.cur_shown && d == direction::in) {
        if (f.at >= s.io.at) {
            if (s.io.began_count++ == 0) s.io.began_first = f.id;
        } else {
            s.io.continued = f.id;
        }
        s.io_touched = true;
    }
    if (d == direction::out) {
        if (s.unwritten_head != 0 && s.unwritten.size() == s.unwritten.capacity()) {
            // Make room by dropping the written ones rather than growing.
            s.unwritten.erase(s.unwritten.begin(),
                              s.unwritten.begin() + static_cast<std::ptrdiff_t>(s.unwritten_head));
            s.unwritten_head = 0;
        }
        if (s.unwritten.size() - s.unwritten_head < max_unwritten) {
            s.unwritten.push_back({f.id, f.at, f.at + raw.size() + h.payload_length, s.cur_shown});
        }
    }
}

void frame_recorder::on_payload(direction d, std::span<const std::uint8_t> unmasked, bool frame_end) {
    side& s = d == direction::in ? in_ : out_;
    if (!s.cur_open) return;
    frame_record& f = s.cur;
    if (s.cur_shown && !s.cur_sent && f.head_len < f.head.size()) {
        const std::size_t take = std::min(unmasked.size(), f.head.size() - f.head_len);
        std::memcpy(f.head.data() + f.head_len, unmasked.data(), take);
        f.head_len = static_cast<std::uint8_t>(f.head_len + take);
    }
    s.offset += unmasked.size();
    s.cur_left -= std::min<std::uint64_t>(s.cur_left, unmasked.size());
    if (s.cur_shown && !s.cur_sent && (f.head_len == f.head.size() || frame_end)) flush_frame(s);
    if (frame_end) finish_frame(s);
}

void frame_recorder::flush_frame(side& s) {
    s.cur_sent = true;
    sink_.on_frame(s.cur);
}

void frame_recorder::finish_frame(side& s) {
    s.cur_open = false;
    const frame_record& f = s.cur;
    if (s.cur_shown && f.dir == direction::in) {
        if (s.io.ended_count++ == 0) s.io.ended_first = f.id;
        s.io_touched = true;
    }
    if (!is_control(f.h.op) && f.h.fin && s.in_msg) {
        s.in_msg = false;
        sink_.on_message(s.msg);
    }
}

void frame_recorder::on_control(direction d, opcode op, std::span<const std::uint8_t> payload) {
    control_record c;
    c.dir = d;
    c.op = op;
    c.size = payload.size();
    if (op == opcode::close) {
        c.code = 1005;
        if (payload.size() >= 2) {
            c.code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
            c.reason = std::string_view(reinterpret_cast<const char*>(payload.data() + 2),
                                        payload.size() - 2);
        }
    }
    sink_.on_control(c);
}

void frame_recorder::on_error(error e) {
    failed_ = true;  // what is left of the read is not a header waiting
    if (in_.cur_open && !in_.cur_sent && in_.cur_shown) flush_frame(in_);
    sink_.on_error(e);
}

// ---------------------------------------------------------------- names

std::string_view opcode_name(opcode op) noexcept {
    switch (op) {
        case opcode::continuation: return "continuation";
        case opcode::text: return "text";
        case opcode::binary: return "binary";
        case opcode::close: return "close";
        case opcode::ping: return "ping";
        case opcode::pong: return "pong";
    }
    return "reserved";
}

std::string_view error_name(error e) noexcept {
    switch (e) {
        case error::none: return "none";
        case error::unmasked_frame: return "unmasked_frame";
        case error::masked_frame: return "masked_frame";
        case error::reserved_bits: return "reserved_bits";
        case error::reserved_opcode: return "reserved_opcode";
        case error::control_frame_too_long: return "control_frame_too_long";
        case error::fragmented_control_frame: return "fragmented_control_frame";
        case error::length_top_bit: return "length_top_bit";
        case error::unexpected_continuation: return "unexpected_continuation";
        case error::expected_continuation: return "expected_continuation";
        case error::message_too_big: return "message_too_big";
        case error::invalid_utf8: return "invalid_utf8";
        case error::close_payload_too_short: return "close_payload_too_short";
        case error::invalid_close_code: return "invalid_close_code";
        case error::invalid_close_reason: return "invalid_close_reason";
        case error::invalid_compressed_data: return "invalid_compressed_data";
        case error::too_many_fragments: return "too_many_fragments";
    }
    return "unknown";
}

// Where RFC 6455 (or RFC 7692 for compression) states the rule that was broken.
std::string_view error_rfc_section(error e) noexcept {
    switch (e) {
        case error::none: return "";
        case error::unmasked_frame:
        case error::masked_frame: return "5.1";
        case error::reserved_bits:
        case error::reserved_opcode:
        case error::length_top_bit: return "5.2";
        case error::control_frame_too_long:
        case error::fragmented_control_frame: return "5.5";
        case error::unexpected_continuation:
        case error::expected_continuation: return "5.4";
        case error::message_too_big: return "7.4.1";
        case error::invalid_utf8: return "8.1";
        case error::close_payload_too_short:
        case error::invalid_close_code: return "5.5.1";
        case error::invalid_close_reason: return "5.5.1";
        case error::invalid_compressed_data: return "RFC 7692 6.2";
        case error::too_many_fragments: return "10.4";
    }
    return "";
}

}  // namespace sockeye::protocol
