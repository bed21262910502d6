// The two pieces of HTTP field syntax that every layer checks: tokens (header names,
// methods, subprotocols, extension names; RFC 9110 §5.6.2) and field values (RFC 9110
// §5.5: visible characters, spaces and tabs; never CR, LF or NUL).
#pragma once
#include <algorithm>
#include <string_view>

namespace sockeye::protocol {

// tchar: a visible ASCII character other than the separators.
constexpr bool is_tchar(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

// A non-empty run of tchars.
constexpr bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// What a header value may hold: no control character but tab (so no CR, LF or NUL that
// could split a message), no DEL.
constexpr bool is_field_value(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c == '\t' || (c >= 0x20 && c != 0x7f);
    });
}

}  // namespace sockeye::protocol
