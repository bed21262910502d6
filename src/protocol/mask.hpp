// Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, the same operation both ways.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace sockeye::protocol {

using masking_key = std::array<std::uint8_t, 4>;

// XORs data[0..len) in place with the key, starting at key byte `key_offset` (0-3): a
// frame's payload may arrive in chunks that start anywhere within the key's cycle.
// Any alignment of `data` is fine. Returns the key offset for the byte after the last.
std::size_t apply_mask(std::uint8_t* data, std::size_t len, const masking_key& key,
                       std::size_t key_offset = 0) noexcept;

// The same, reading from `src` and writing to `dst` (they may be equal, not overlap
// otherwise): masks into an output buffer without a separate copy pass.
std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                      const masking_key& key, std::size_t key_offset = 0) noexcept;

}  // namespace sockeye::protocol
