// UTF-8 validation (RFC 3629) for text messages and close reasons, incremental so that a
// code point split across frames or TCP reads is still checked, and fail-fast: the first
// byte that makes the sequence invalid is reported, not the end of the message.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sockeye::protocol {

class utf8_validator {
public:
    // Validates the next bytes of the stream. Returns false as soon as they cannot be part
    // of valid UTF-8 (overlong forms, surrogates, code points over U+10FFFF, bad bytes);
    // after a false the validator stays failed until reset().
    bool feed(const std::uint8_t* data, std::size_t len) noexcept;

    // True when the bytes so far end on a code point boundary (no sequence is half done):
    // a message is valid only if this holds at its end.
    bool at_boundary() const noexcept { return state_ == 0; }

    bool failed() const noexcept { return state_ == failed_state; }

    void reset() noexcept { state_ = 0; }

private:
    // The checker is a DFA whose states are numbered by their bit offset in a packed
    // transition row (see utf8.cpp); 6 is its absorbing error state.
    static constexpr std::uint8_t failed_state = 6;
    std::uint8_t state_ = 0;  // 0 = boundary; otherwise an internal state of the checker
};

// Validates a complete buffer.
bool is_valid_utf8(const std::uint8_t* data, std::size_t len) noexcept;

}  // namespace sockeye::protocol
