// Internal: the individual masking kernels behind apply_mask/mask_copy, exposed so the
// tests and benchmarks can exercise every path, not only the one the dispatcher picks on
// the machine at hand. Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>

#include "mask.hpp"

// SSE2 is part of the x86-64 baseline, so that path needs no runtime check; AVX2 does.
// SOCKEYE_PORTABLE_ONLY builds only the portable code, to test it on x86 too.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(SOCKEYE_PORTABLE_ONLY)
#define SOCKEYE_MASK_X86 1
#else
#define SOCKEYE_MASK_X86 0
#endif

namespace sockeye::protocol::detail {

// Portable version: 8 bytes at a time with a rotated 64-bit key, works everywhere.
std::size_t mask_copy_scalar(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                             const masking_key& key, std::size_t key_offset) noexcept;

inline std::size_t apply_mask_scalar(std::uint8_t* data, std::size_t len, const masking_key& key,
                                     std::size_t key_offset) noexcept {
    return mask_copy_scalar(data, data, len, key, key_offset);
}

#if SOCKEYE_MASK_X86
std::size_t mask_copy_sse2(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                           const masking_key& key, std::size_t key_offset) noexcept;

// Only call when cpu_has_avx2() is true: it executes AVX2 instructions unconditionally.
std::size_t mask_copy_avx2(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                           const masking_key& key, std::size_t key_offset) noexcept;

bool cpu_has_avx2() noexcept;

inline std::size_t apply_mask_sse2(std::uint8_t* data, std::size_t len, const masking_key& key,
                                   std::size_t key_offset) noexcept {
    return mask_copy_sse2(data, data, len, key, key_offset);
}

inline std::size_t apply_mask_avx2(std::uint8_t* data, std::size_t len, const masking_key& key,
                                   std::size_t key_offset) noexcept {
    return mask_copy_avx2(data, data, len, key, key_offset);
}
#endif

}  // namespace sockeye::protocol::detail
