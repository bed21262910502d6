#include "utf8.hpp"

#include <array>
#include <bit>
#include <cstring>

#include "utf8_impl.hpp"

#if SOCKEYE_UTF8_X86
#include <emmintrin.h>
#endif

namespace sockeye::protocol {

namespace detail {

// The checker is a DFA that follows the RFC 3629 §4 syntax exactly:
//
//   UTF8-1 = %x00-7F
//   UTF8-2 = %xC2-DF UTF8-tail
//   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
//            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
//   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
//            %xF4 %x80-8F 2( UTF8-tail )
//   UTF8-tail = %x80-BF
//
// Because it moves to the error state on the first byte that no production allows, it
// rejects an input at exactly the byte where the prefix stops being extendable to valid
// UTF-8 (surrogates at ED A0, > U+10FFFF at F4 90, overlongs at C0/C1 or E0 80 / F0 80).
//
// Encoding: each state is a multiple of 6 (its bit offset), and the 64-bit row for a byte
// holds, at bit offset `s`, the 6-bit next state for state `s`. One step is then
// `next = row[byte] >> state`: the row load does not depend on the state, so the loop's
// critical path is a single shift per byte instead of a dependent table load.
enum utf8_state : std::uint8_t {
    s_accept = 0,  // at a code point boundary
    s_fail = 6,    // absorbing error state
    s_tail1 = 12,  // one UTF8-tail still expected
    s_tail2 = 18,  // two
    s_tail3 = 24,  // three
    s_e0 = 30,     // after E0: next must be A0-BF (no overlong 3-byte forms)
    s_ed = 36,     // after ED: next must be 80-9F (no surrogates)
    s_f0 = 42,     // after F0: next must be 90-BF (no overlong 4-byte forms)
    s_f4 = 48,     // after F4: next must be 80-8F (nothing above U+10FFFF)
};

constexpr std::array<utf8_state, 9> all_states = {s_accept, s_fail, s_tail1, s_tail2, s_tail3,
                                                  s_e0,     s_ed,   s_f0,    s_f4};

constexpr bool in(unsigned b, unsigned lo, unsigned hi) {
    return b >= lo && b <= hi;
}

constexpr utf8_state next_state(utf8_state s, unsigned b) {
    switch (s) {
        case s_accept:
            if (b <= 0x7F) return s_accept;
            if (in(b, 0xC2, 0xDF)) return s_tail1;
            if (b == 0xE0) return s_e0;
            if (in(b, 0xE1, 0xEC) || in(b, 0xEE, 0xEF)) return s_tail2;
            if (b == 0xED) return s_ed;
            if (b == 0xF0) return s_f0;
            if (in(b, 0xF1, 0xF3)) return s_tail3;
            if (b == 0xF4) return s_f4;
            return s_fail;  // 80-BF (stray tail), C0, C1, F5-FF
        case s_tail1:
            return in(b, 0x80, 0xBF) ? s_accept : s_fail;
        case s_tail2:
            return in(b, 0x80, 0xBF) ? s_tail1 : s_fail;
        case s_tail3:
            return in(b, 0x80, 0xBF) ? s_tail2 : s_fail;
        case s_e0:
            return in(b, 0xA0, 0xBF) ? s_tail1 : s_fail;
        case s_ed:
            return in(b, 0x80, 0x9F) ? s_tail1 : s_fail;
        case s_f0:
            return in(b, 0x90, 0xBF) ? s_tail2 : s_fail;
        case s_f4:
            return in(b, 0x80, 0x8F) ? s_tail2 : s_fail;
        case s_fail:
            return s_fail;
    }
    return s_fail;
}

constexpr std::array<std::uint64_t, 256> build_rows() {
    std::array<std::uint64_t, 256> rows{};
    for (unsigned b = 0; b < 256; ++b) {
        std::uint64_t row = 0;
        for (utf8_state s : all_states) row |= std::uint64_t{next_state(s, b)} << s;
        rows[b] = row;
    }
    return rows;
}

alignas(64) constexpr std::array<std::uint64_t, 256> utf8_rows = build_rows();

static_assert(s_f4 + 6 <= 64, "every state's 6-bit slot must fit in a row");

// Runs the DFA over n bytes. `s` is kept unmasked between steps: only its low 6 bits are
// meaningful, and `>> (s & 63)` compiles to a bare shift on x86 (which masks the count).
inline std::uint64_t run_dfa(const std::uint8_t* p, std::size_t n, std::uint64_t s) noexcept {
    for (std::size_t i = 0; i < n; ++i) s = utf8_rows[p[i]] >> (s & 63);
    return s & 63;
}

// Returns the first byte at or after p that is not ASCII, or a point less than 16 bytes
// before end from which the rest has not been looked at.
inline const std::uint8_t* skip_ascii(const std::uint8_t* p, const std::uint8_t* end) noexcept {
#if SOCKEYE_UTF8_X86
    // 64 bytes per step: OR the four vectors so there is only one movemask and branch.
    while (end - p >= 64) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
        const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48));
        const __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
        if (_mm_movemask_epi8(any) != 0) break;
        p += 64;
    }
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const int high = _mm_movemask_epi8(v);
        if (high != 0) return p + std::countr_zero(static_cast<unsigned>(high));
        p += 16;
    }
    return p;
#else
    constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
    while (end - p >= 32) {
        std::uint64_t w[4];
        std::memcpy(w, p, sizeof w);
        if (((w[0] | w[1] | w[2] | w[3]) & high_bits) != 0) break;
        p += 32;
    }
    while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, sizeof w);
        if ((w & high_bits) != 0) {
            while (*p < 0x80) ++p;  // a high byte is within these 8, whatever the endianness
            return p;
        }
        p += 8;
    }
    return p;
#endif
}

// Runs the DFA as two independent streams, interleaved so that the out-of-order core
// overlaps their dependency chains (a single chain is bound by the shift's latency per byte).
// The second stream must start at a code point boundary, so the split point is moved past up
// to 3 continuation bytes; if a fourth follows, the second stream starts on it and fails
// immediately, which is right: no valid text has 4 continuation bytes in a row.
// Consumes 2 * pair_stream + k bytes (k <= 3), which the caller guarantees are there.
constexpr std::size_t pair_stream = 32;
constexpr std::size_t pair_min_input = 2 * pair_stream + 3;

inline std::uint64_t run_dfa_pair(const std::uint8_t* p, std::uint64_t s,
                                  std::size_t& consumed) noexcept {
    std::size_t k = 0;
    while (k < 3 && (p[pair_stream + k] & 0xC0) == 0x80) ++k;
    const std::uint8_t* q = p + pair_stream + k;
    std::uint64_t a = s;
    std::uint64_t b = s_accept;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 8
#endif
    for (std::size_t i = 0; i < pair_stream; ++i) {
        a = utf8_rows[p[i]] >> (a & 63);
        b = utf8_rows[q[i]] >> (b & 63);
    }
    for (std::size_t i = pair_stream; i < pair_stream + k; ++i) a = utf8_rows[p[i]] >> (a & 63);
    consumed = 2 * pair_stream + k;
    // The first stream must end on a boundary: q[0] starts a new code point (or is a stray
    // continuation byte that already failed the second stream), so a sequence still open
    // at the split is cut short. An error state is not the boundary either.
    if ((a & 63) != s_accept) return s_fail;
    return b & 63;
}

// Bytes the single-stream DFA takes in one go near the end of the input, before the ASCII
// fast path gets another chance and the error state is checked for an early exit.
constexpr std::size_t dfa_block = 32;

// The whole checker loop. Inlined into each build below so that the BMI2 one gets SHRX
// throughout: with the legacy shift-by-CL (which also writes flags) every DFA step costs
// about two cycles of latency instead of one.
__attribute__((always_inline)) inline std::uint8_t run_checker(std::uint8_t state,
                                                               const std::uint8_t* data,
                                                               std::size_t len) noexcept {
    std::uint64_t s = state;
    if (s == s_fail) return s_fail;
    const std::uint8_t* p = data;
    const std::uint8_t* const end = data + len;
    while (p != end) {
        if (s == s_accept) {
            p = skip_ascii(p, end);
            if (p == end) break;
        }
        const std::size_t left = static_cast<std::size_t>(end - p);
        if (left >= pair_min_input) {
            std::size_t consumed;
            s = run_dfa_pair(p, s, consumed);
            p += consumed;
        } else {
            const std::size_t n = left < dfa_block ? left : dfa_block;
            s = run_dfa(p, n, s);
            p += n;
        }
        if (s == s_fail) break;
    }
    return static_cast<std::uint8_t>(s);
}

std::uint8_t utf8_run_generic(std::uint8_t state, const std::uint8_t* data,
                              std::size_t len) noexcept {
    return run_checker(state, data, len);
}

#if SOCKEYE_UTF8_X86
__attribute__((target("bmi2"))) std::uint8_t utf8_run_bmi2(std::uint8_t state,
                                                           const std::uint8_t* data,
                                                           std::size_t len) noexcept {
    return run_checker(state, data, len);
}

bool cpu_has_bmi2() noexcept {
    // Resolved once; __builtin_cpu_init makes this safe even when first called from a static
    // constructor that runs before libgcc's own CPU detection.
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("bmi2") != 0;
    }();
    return has;
}
#endif

static_assert(utf8_boundary == s_accept && utf8_failed == s_fail);

}  // namespace detail

bool utf8_validator::feed(const std::uint8_t* data, std::size_t len) noexcept {
    static_assert(failed_state == detail::utf8_failed, "utf8.hpp must match the checker");
    if (state_ == failed_state) return false;
#if SOCKEYE_UTF8_X86
    state_ = detail::cpu_has_bmi2() ? detail::utf8_run_bmi2(state_, data, len)
                                    : detail::utf8_run_generic(state_, data, len);
#else
    state_ = detail::utf8_run_generic(state_, data, len);
#endif
    return state_ != failed_state;
}

bool is_valid_utf8(const std::uint8_t* data, std::size_t len) noexcept {
    utf8_validator v;
    return v.feed(data, len) && v.at_boundary();
}

}  // namespace sockeye::protocol
