#include "message_frames.hpp"

#include <algorithm>
#include <cstring>

#include "frame_header.hpp"

namespace sockeye::protocol {

namespace {
std::size_t frame_payload(std::size_t left, std::uint64_t max_frame) noexcept {
    return max_frame == 0 ? left : static_cast<std::size_t>(std::min<std::uint64_t>(left, max_frame));
}
}  // namespace

std::size_t framed_size(std::size_t size, std::uint64_t max_frame) noexcept {
    std::size_t total = 0;
    std::size_t left = size;
    do {
        const std::size_t n = frame_payload(left, max_frame);
        total += frame_header_size(n, false) + n;
        left -= n;
    } while (left != 0);
    return total;
}

std::size_t frame_message(message_type type, std::span<const std::uint8_t> payload,
                          std::uint64_t max_frame, std::uint8_t* out) noexcept {
    std::uint8_t* at = out;
    opcode op = to_opcode(type);
    do {
        const std::size_t n = frame_payload(payload.size(), max_frame);
        frame_header h;
        h.op = op;
        h.fin = n == payload.size();
        h.payload_length = n;
        at += encode_frame_header(h, at);
        if (n != 0) std::memcpy(at, payload.data(), n);
        at += n;
        payload = payload.subspan(n);
        op = opcode::continuation;
    } while (!payload.empty());
    return static_cast<std::size_t>(at - out);
}

}  // namespace sockeye::protocol
