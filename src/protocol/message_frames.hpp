// A whole server-to-client message framed ahead of time (unmasked, uncompressed), for
// bytes that go to many peers as they are: a published message is framed once and the same
// bytes are queued to every subscriber. Split into frames of at most `max_frame` payload
// bytes when that is not 0, exactly as a session with the same max_frame_size would send it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "opcode.hpp"

namespace sockeye::protocol {

// Bytes frame_message() writes for a payload of `size` bytes.
std::size_t framed_size(std::size_t size, std::uint64_t max_frame) noexcept;

// Writes the frames into `out` (framed_size() bytes) and returns the bytes written.
std::size_t frame_message(message_type type, std::span<const std::uint8_t> payload,
                          std::uint64_t max_frame, std::uint8_t* out) noexcept;

}  // namespace sockeye::protocol
