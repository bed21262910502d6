// Percent-decoding (RFC 3986 §2.1) shared by the query, route and path decoders.
//
// "%" must be followed by two hex digits (either case); anything else is malformed and
// the caller answers 400. Decoded bytes are taken as they are: NUL, '/', invalid UTF-8
// all come through, so whoever interprets the result decides what it accepts.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace sockeye::http {

// Whether '+' means a space (application/x-www-form-urlencoded) or stays a '+' (paths).
enum class plus_decoding : bool { literal, space };

// The value of a hex digit, or -1 for any other byte.
constexpr int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// True when every '%' in `in` starts a well-formed escape; allocates nothing.
bool is_well_formed_percent_encoding(std::string_view in) noexcept;

// Appends the decoded `in` to `out`; false (with `out` partly appended) on a malformed escape.
bool append_percent_decoded(std::string_view in, std::string& out,
                            plus_decoding plus = plus_decoding::literal);

// Whether decoding `in` would change it: it contains '%' (or '+' when that means a space).
bool needs_percent_decoding(std::string_view in,
                            plus_decoding plus = plus_decoding::literal) noexcept;

// Compares decoded `encoded` (well-formed, not checked twice) with `plain`, without
// allocating: "a%20b" equals "a b".
bool percent_decoded_equals(std::string_view encoded, std::string_view plain) noexcept;

}  // namespace sockeye::http
