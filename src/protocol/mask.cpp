#include "mask.hpp"

#include <bit>
#include <cstring>

#include "mask_impl.hpp"

#if SOCKEYE_MASK_X86
#include <immintrin.h>
#endif

namespace sockeye::protocol {

namespace {

// The key as it lines up with payload that starts at key byte `offset`, as a 32-bit word
// whose in-memory byte order is key[offset], key[offset + 1], ... Rotating the loaded word
// is cheaper than gathering bytes, which matters for the many short frames.
inline std::uint32_t rotated_key32(const masking_key& key, std::size_t offset) noexcept {
    std::uint32_t word;
    std::memcpy(&word, key.data(), sizeof word);
    const int bits = static_cast<int>(offset & 3) * 8;
    // Memory-order "shift left by bytes" is a right rotation on little-endian.
    if constexpr (std::endian::native == std::endian::little) return std::rotr(word, bits);
    return std::rotl(word, bits);
}

// The same pattern repeated twice: any 8-byte word of payload starting at `offset`.
inline std::uint64_t rotated_key64(const masking_key& key, std::size_t offset) noexcept {
    return std::uint64_t{rotated_key32(key, offset)} * 0x0000000100000001ULL;
}

// Bytes needed to bring `p` up to an `alignment` boundary (a power of two), capped at len.
inline std::size_t head_length(const std::uint8_t* p, std::size_t alignment,
                               std::size_t len) noexcept {
    const auto misalign = reinterpret_cast<std::uintptr_t>(p) & (alignment - 1);
    const std::size_t head = misalign == 0 ? 0 : alignment - static_cast<std::size_t>(misalign);
    return head < len ? head : len;
}

inline std::size_t mask_bytes(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                              const masking_key& key, std::size_t offset) noexcept {
    for (std::size_t i = 0; i < len; ++i) {
        dst[i] = static_cast<std::uint8_t>(src[i] ^ key[offset]);
        offset = (offset + 1) & 3;
    }
    return offset;
}

inline void xor_word(std::uint8_t* dst, const std::uint8_t* src, std::uint64_t k) noexcept {
    std::uint64_t w;
    std::memcpy(&w, src, sizeof w);
    w ^= k;
    std::memcpy(dst, &w, sizeof w);
}

}  // namespace

namespace detail {

std::size_t mask_copy_scalar(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                             const masking_key& key, std::size_t key_offset) noexcept {
    std::size_t offset = key_offset & 3;
    // Bytes until dst is word aligned, so the stores never straddle cache lines (and on
    // strict-alignment targets the compiler can turn the memcpy stores into plain ones).
    const std::size_t head = len >= 16 ? head_length(dst, 8, len) : 0;
    offset = mask_bytes(dst, src, head, key, offset);
    std::size_t i = head;

    // Every word is a multiple of 4 bytes, so one rotated key serves the whole body.
    const std::uint64_t k = rotated_key64(key, offset);
    for (; len - i >= 32; i += 32) {
        xor_word(dst + i, src + i, k);
        xor_word(dst + i + 8, src + i + 8, k);
        xor_word(dst + i + 16, src + i + 16, k);
        xor_word(dst + i + 24, src + i + 24, k);
    }
    for (; len - i >= 8; i += 8) xor_word(dst + i, src + i, k);
    return mask_bytes(dst + i, src + i, len - i, key, offset);
}

#if SOCKEYE_MASK_X86

std::size_t mask_copy_sse2(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                           const masking_key& key, std::size_t key_offset) noexcept {
    std::size_t offset = key_offset & 3;
    // Align the destination so the stores are aligned; the loads from src (which may sit at
    // a different alignment in mask_copy) stay unaligned, which costs little on current cores.
    const std::size_t head = len >= 32 ? head_length(dst, 16, len) : 0;
    offset = mask_bytes(dst, src, head, key, offset);
    std::size_t i = head;

    // x86 is little-endian, so broadcasting the word repeats the key bytes in memory order.
    const __m128i k = _mm_set1_epi32(static_cast<int>(rotated_key32(key, offset)));

    if (len - i >= 16 && ((reinterpret_cast<std::uintptr_t>(dst + i) & 15) == 0)) {
        for (; len - i >= 64; i += 64) {
            const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
            const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
            const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
            const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
            _mm_store_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(a, k));
            _mm_store_si128(reinterpret_cast<__m128i*>(dst + i + 16), _mm_xor_si128(b, k));
            _mm_store_si128(reinterpret_cast<__m128i*>(dst + i + 32), _mm_xor_si128(c, k));
            _mm_store_si128(reinterpret_cast<__m128i*>(dst + i + 48), _mm_xor_si128(d, k));
        }
    }
    // Also the path for short buffers that skipped the alignment head.
    for (; len - i >= 16; i += 16) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(a, k));
    }
    if (len - i >= 8) {
        xor_word(dst + i, src + i, rotated_key64(key, offset));
        i += 8;
    }
    return mask_bytes(dst + i, src + i, len - i, key, offset);
}

__attribute__((target("avx2"))) std::size_t mask_copy_avx2(std::uint8_t* dst,
                                                           const std::uint8_t* src, std::size_t len,
                                                           const masking_key& key,
                                                           std::size_t key_offset) noexcept {
    std::size_t offset = key_offset & 3;
    const std::size_t head = len >= 64 ? head_length(dst, 32, len) : 0;
    offset = mask_bytes(dst, src, head, key, offset);
    std::size_t i = head;

    const __m256i k = _mm256_set1_epi32(static_cast<int>(rotated_key32(key, offset)));

    if (len - i >= 32 && ((reinterpret_cast<std::uintptr_t>(dst + i) & 31) == 0)) {
        for (; len - i >= 128; i += 128) {
            const auto* s = reinterpret_cast<const __m256i*>(src + i);
            auto* d = reinterpret_cast<__m256i*>(dst + i);
            const __m256i a = _mm256_loadu_si256(s);
            const __m256i b = _mm256_loadu_si256(s + 1);
            const __m256i c = _mm256_loadu_si256(s + 2);
            const __m256i e = _mm256_loadu_si256(s + 3);
            _mm256_store_si256(d, _mm256_xor_si256(a, k));
            _mm256_store_si256(d + 1, _mm256_xor_si256(b, k));
            _mm256_store_si256(d + 2, _mm256_xor_si256(c, k));
            _mm256_store_si256(d + 3, _mm256_xor_si256(e, k));
        }
    }
    for (; len - i >= 32; i += 32) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(a, k));
    }
    if (len - i >= 16) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                         _mm_xor_si128(a, _mm256_castsi256_si128(k)));
        i += 16;
    }
    if (len - i >= 8) {
        xor_word(dst + i, src + i, rotated_key64(key, offset));
        i += 8;
    }
    return mask_bytes(dst + i, src + i, len - i, key, offset);
}

bool cpu_has_avx2() noexcept {
    // Resolved once; __builtin_cpu_init makes this safe even if first called from a static
    // constructor that runs before libgcc's own CPU detection. libgcc also checks (XGETBV)
    // that the OS saves the YMM registers before reporting AVX2.
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }();
    return has;
}

#endif  // SOCKEYE_MASK_X86

}  // namespace detail

std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                      const masking_key& key, std::size_t key_offset) noexcept {
#if SOCKEYE_MASK_X86
    // Below one vector the dispatch is not worth it; SSE2 handles the 16-63 byte range
    // without the AVX2 alignment head.
    if (len >= 64 && detail::cpu_has_avx2()) {
        return detail::mask_copy_avx2(dst, src, len, key, key_offset);
    }
    if (len >= 8) return detail::mask_copy_sse2(dst, src, len, key, key_offset);
    return mask_bytes(dst, src, len, key, key_offset & 3);
#else
    return detail::mask_copy_scalar(dst, src, len, key, key_offset);
#endif
}

}  // namespace sockeye::protocol
