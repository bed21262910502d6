// Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, the same operation both ways.
#pragma once
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sockeye::protocol {

using masking_key = std::array<std::uint8_t, 4>;

// Reads from `src` and writes to `dst` (they may be equal, not overlap otherwise) the
// bytes XORed with the key, starting at key byte `key_offset` (0-3): masks into an output
// buffer without a separate copy pass. Returns the key offset for the byte after the last.
std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                      const masking_key& key, std::size_t key_offset = 0) noexcept;

// XORs data[0..len) in place with the key, starting at key byte `key_offset` (0-3): a
// frame's payload may arrive in chunks that start anywhere within the key's cycle.
// Any alignment of `data` is fine. Returns the key offset for the byte after the last.
// Inline for the short payloads most messages have (a call into the vector code and its
// length checks cost more than the few word XORs do); longer ones go to mask_copy.
inline std::size_t apply_mask(std::uint8_t* data, std::size_t len, const masking_key& key,
                              std::size_t key_offset = 0) noexcept {
    if (len > 16) return mask_copy(data, data, len, key, key_offset);
    key_offset &= 3;
    std::uint32_t k;
    std::memcpy(&k, key.data(), sizeof k);
    // The key as it lines up with data[0]: memory order key[offset], key[offset + 1], ...
    const int bits = static_cast<int>(key_offset) * 8;
    if constexpr (std::endian::native == std::endian::little) {
        k = std::rotr(k, bits);
    } else {
        k = std::rotl(k, bits);
    }
    std::size_t i = 0;
    for (; len - i >= 4; i += 4) {
        std::uint32_t w;
        std::memcpy(&w, data + i, sizeof w);
        w ^= k;
        std::memcpy(data + i, &w, sizeof w);
    }
    for (; i < len; ++i) data[i] = static_cast<std::uint8_t>(data[i] ^ key[(key_offset + i) & 3]);
    return (key_offset + len) & 3;
}

}  // namespace sockeye::protocol
