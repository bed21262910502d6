// What a node puts into Redis for one published message: who published it (so the origin
// node skips its own echo and no client gets a message twice), its WebSocket type, and the
// payload, which is all a client ever sees.
//
// Layout, 10 bytes then the payload as is:
//   byte 0      format version (1); anything else is refused, so a later format cannot
//               be misread by an older node
//   bytes 1..8  origin id, big-endian
//   byte 9      message type (1 text, 2 binary, the values of sockeye::message_type)
#pragma once
#include <sockeye/message_type.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace sockeye::pubsub {

inline constexpr std::size_t envelope_header_size = 10;

std::string encode_envelope(std::uint64_t origin, sockeye::message_type type,
                            std::span<const std::uint8_t> payload);

// A view into the bytes given to decode_envelope(); valid as long as they are.
struct envelope_view {
    std::uint64_t origin;
    sockeye::message_type type;
    std::span<const std::uint8_t> payload;
};

// False for anything malformed: too short, unknown version or type.
bool decode_envelope(std::span<const std::uint8_t> bytes, envelope_view& out);

}  // namespace sockeye::pubsub
