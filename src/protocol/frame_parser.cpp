#include "frame_parser.hpp"

#include <cstring>

#include "mask.hpp"

namespace sockeye::protocol {

std::size_t frame_parser::check_first_bytes(std::uint8_t b0, std::uint8_t b1) noexcept {
    const std::uint8_t rsv = (b0 >> 4) & 0x7;
    const std::uint8_t op = b0 & 0x0F;
    const bool fin = (b0 & 0x80) != 0;
    const bool masked = (b1 & 0x80) != 0;
    const std::uint8_t len7 = b1 & 0x7F;

    if ((rsv & ~opts_.allowed_rsv) != 0) {
        err_ = error::reserved_bits;
    } else if (is_reserved(op)) {
        err_ = error::reserved_opcode;
    } else if (is_control(static_cast<opcode>(op)) && !fin) {
        err_ = error::fragmented_control_frame;
    } else if (is_control(static_cast<opcode>(op)) && len7 > max_control_payload) {
        err_ = error::control_frame_too_long;
    } else if (opts_.local_role == role::server && !masked) {
        err_ = error::unmasked_frame;  // §5.1: a client MUST mask every frame
    } else if (opts_.local_role == role::client && masked) {
        err_ = error::masked_frame;  // §5.1: a server MUST NOT mask
    } else {
        std::size_t size = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
        return size;
    }
    return 0;
}

error frame_parser::decode_header(const std::uint8_t* p) noexcept {
    frame_header& h = current_;
    h.fin = (p[0] & 0x80) != 0;
    h.rsv1 = (p[0] & 0x40) != 0;
    h.rsv2 = (p[0] & 0x20) != 0;
    h.rsv3 = (p[0] & 0x10) != 0;
    h.op = static_cast<opcode>(p[0] & 0x0F);
    h.masked = (p[1] & 0x80) != 0;
    const std::uint8_t len7 = p[1] & 0x7F;
    std::size_t at = 2;
    if (len7 == 126) {
        h.payload_length = (std::uint64_t{p[2]} << 8) | p[3];
        at = 4;
    } else if (len7 == 127) {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = (v << 8) | p[2 + i];
        if ((v >> 63) != 0) return error::length_top_bit;
        h.payload_length = v;
        at = 10;
    } else {
        h.payload_length = len7;
    }
    if (h.masked) {
        std::memcpy(h.key.data(), p + at, 4);
    } else {
        h.key = {};
    }
    return error::none;
}

parse_result frame_parser::feed(std::uint8_t* data, std::size_t len, frame_sink& sink) {
    std::size_t pos = 0;
    auto fail = [&](error e) {
        err_ = e;
        state_ = state::failed;
        return parse_result{e, pos};
    };
    if (state_ == state::failed) return {err_, 0};

    for (;;) {
        if (state_ == state::header) {
            if (pos == len) return {error::none, pos};
            const std::uint8_t* header = nullptr;
            std::size_t header_len = 0;
            bool decoded = false;  // current_ already holds the header
            // Fastest path: a masked data frame of at most 125 bytes, its 6-byte header
            // here whole, as a client sends every small message. The same checks as
            // check_first_bytes and the same fields as decode_header, in fewer steps.
            if (have_ == 0 && len - pos >= 6 && opts_.local_role == role::server) {
                const std::uint8_t b0 = data[pos];
                const std::uint8_t b1 = data[pos + 1];
                const std::uint8_t op = b0 & 0x0F;
                if ((b1 & 0x80) != 0 && (b1 & 0x7F) < 126 && op <= 2 &&
                    (((b0 >> 4) & 0x7) & ~opts_.allowed_rsv) == 0) {
                    frame_header& h = current_;
                    h.fin = (b0 & 0x80) != 0;
                    h.rsv1 = (b0 & 0x40) != 0;
                    h.rsv2 = (b0 & 0x20) != 0;
                    h.rsv3 = (b0 & 0x10) != 0;
                    h.op = static_cast<opcode>(op);
                    h.masked = true;
                    h.payload_length = b1 & 0x7F;
                    std::memcpy(h.key.data(), data + pos + 2, 4);
                    header = data + pos;
                    header_len = 6;
                    pos += 6;
                    decoded = true;
                }
            }
            // Fast path: the whole header is in this chunk, parse it where it lies.
            if (header == nullptr && have_ == 0 && len - pos >= 2) {
                const std::size_t need = check_first_bytes(data[pos], data[pos + 1]);
                if (need == 0) return fail(err_);
                if (len - pos >= need) {
                    header = data + pos;
                    header_len = need;
                    pos += need;
                } else {
                    need_ = static_cast<std::uint8_t>(need);
                }
            }
            if (header == nullptr) {
                // Slow path: gather a header split across chunks in buf_.
                while (have_ < need_ && pos < len) {
                    buf_[have_++] = data[pos++];
                    if (have_ == 2) {
                        const std::size_t need = check_first_bytes(buf_[0], buf_[1]);
                        if (need == 0) return fail(err_);
                        need_ = static_cast<std::uint8_t>(need);
                    }
                }
                if (have_ < need_) return {error::none, pos};
                header = buf_;
                header_len = need_;
                have_ = 0;
                need_ = 2;
            }
            if (!decoded) {
                if (const error e = decode_header(header); e != error::none) return fail(e);
            }
            state_ = state::payload;
            remaining_ = current_.payload_length;
            key_offset_ = 0;
            if (!sink.on_frame_header(current_, {header, header_len})) return {error::none, pos};
        }

        // state::payload: hand on what is here; a zero-length frame still gets its call.
        const std::size_t avail = len - pos;
        if (avail == 0 && remaining_ != 0) return {error::none, pos};
        const std::size_t n =
            static_cast<std::uint64_t>(avail) < remaining_ ? avail : static_cast<std::size_t>(remaining_);
        std::uint8_t* chunk = data + pos;
        if (current_.masked && n != 0) {
            key_offset_ = static_cast<std::uint8_t>(apply_mask(chunk, n, current_.key, key_offset_));
        }
        remaining_ -= n;
        pos += n;
        const bool frame_end = remaining_ == 0;
        if (frame_end) state_ = state::header;
        if (!sink.on_frame_payload(std::span<std::uint8_t>(chunk, n), frame_end)) {
            return {error::none, pos};
        }
        if (!frame_end) return {error::none, pos};
    }
}

}  // namespace sockeye::protocol
