// Internal: the two builds of the UTF-8 checker behind utf8_validator, exposed so the tests
// can run both, not only the one the dispatcher picks on the machine at hand.
#pragma once
#include <cstddef>
#include <cstdint>

// SOCKEYE_PORTABLE_ONLY builds only the portable code, to test it on x86 too.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(SOCKEYE_PORTABLE_ONLY)
#define SOCKEYE_UTF8_X86 1
#else
#define SOCKEYE_UTF8_X86 0
#endif

namespace sockeye::protocol::detail {

// Checker states as stored in utf8_validator: 0 is a code point boundary, utf8_failed the
// absorbing error state, anything else a sequence in progress.
inline constexpr std::uint8_t utf8_boundary = 0;
inline constexpr std::uint8_t utf8_failed = 6;

// Runs the checker from `state` over data[0..len) and returns the state after it (possibly
// utf8_failed, in which case it stops early). Portable build.
std::uint8_t utf8_run_generic(std::uint8_t state, const std::uint8_t* data,
                              std::size_t len) noexcept;

#if SOCKEYE_UTF8_X86
// The same compiled for BMI2, whose flag-free shift (SHRX) shortens the checker's critical
// path. Only call when cpu_has_bmi2() is true.
std::uint8_t utf8_run_bmi2(std::uint8_t state, const std::uint8_t* data, std::size_t len) noexcept;

bool cpu_has_bmi2() noexcept;
#endif

}  // namespace sockeye::protocol::detail
