#include "frame_header.hpp"

#include <cstring>

namespace sockeye::protocol {

std::size_t encode_frame_header(const frame_header& h, std::uint8_t* out) noexcept {
    out[0] = static_cast<std::uint8_t>((h.fin ? 0x80 : 0) | (h.rsv1 ? 0x40 : 0) |
                                       (h.rsv2 ? 0x20 : 0) | (h.rsv3 ? 0x10 : 0) |
                                       static_cast<std::uint8_t>(h.op));
    const std::uint8_t mask_bit = h.masked ? 0x80 : 0;
    std::size_t n;
    if (h.payload_length < 126) {
        out[1] = static_cast<std::uint8_t>(mask_bit | h.payload_length);
        n = 2;
    } else if (h.payload_length <= 0xFFFF) {
        out[1] = static_cast<std::uint8_t>(mask_bit | 126);
        out[2] = static_cast<std::uint8_t>(h.payload_length >> 8);
        out[3] = static_cast<std::uint8_t>(h.payload_length);
        n = 4;
    } else {
        out[1] = static_cast<std::uint8_t>(mask_bit | 127);
        for (int i = 0; i < 8; ++i) {
            out[2 + i] = static_cast<std::uint8_t>(h.payload_length >> (56 - 8 * i));
        }
        n = 10;
    }
    if (h.masked) {
        std::memcpy(out + n, h.key.data(), 4);
        n += 4;
    }
    return n;
}

}  // namespace sockeye::protocol
