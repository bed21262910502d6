// The frame header (RFC 6455 §5.2) and its wire encoding.
#pragma once
#include <cstddef>
#include <cstdint>

#include "mask.hpp"
#include "opcode.hpp"

namespace sockeye::protocol {

// 2 bytes + 8-byte extended length + 4-byte masking key.
inline constexpr std::size_t max_frame_header_size = 14;
inline constexpr std::size_t max_control_payload = 125;

struct frame_header {
    bool fin = true;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    opcode op = opcode::binary;
    bool masked = false;
    std::uint64_t payload_length = 0;
    masking_key key{};
};

// Writes the header with the minimal length encoding (§5.2: 7, 7+16 or 7+64 bits) into
// `out`, which must hold max_frame_header_size bytes. Returns the bytes written: 2, 4 or
// 10, plus 4 when masked.
std::size_t encode_frame_header(const frame_header& h, std::uint8_t* out) noexcept;

// The size encode_frame_header() will write.
constexpr std::size_t frame_header_size(std::uint64_t payload_length, bool masked) noexcept {
    std::size_t n = payload_length < 126 ? 2 : payload_length <= 0xFFFF ? 4 : 10;
    return masked ? n + 4 : n;
}

}  // namespace sockeye::protocol
