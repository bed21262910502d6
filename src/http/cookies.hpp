// Cookie request header parsing (RFC 6265 §4.2.1 syntax, §5.4 what user agents send),
// without I/O and without copying: names and values view the header text.
//
// Read tolerantly, the way servers read what real browsers and scripts send:
//   - pairs are separated by ';' with or without the space the RFC asks for;
//   - spaces and tabs around names and values are trimmed;
//   - one pair of double quotes around a value is removed (cookie-value allows DQUOTEs
//     around the octets, and they are not part of the value);
//   - a piece without '=' or with an empty name is skipped (RFC 6265bis would make
//     "foo" a nameless cookie; nothing useful can look it up);
//   - a pair whose name or value holds a control character (0x00-0x1F except tab, or
//     0x7F) is skipped, not the whole header: one bad cookie set by some other page on
//     the domain should not lock the user out of this application with a 400;
//   - repeated names are all kept, in order (browsers send the most specific path first).
// Values are not percent-decoded: RFC 6265 defines no encoding, and what a value means is
// up to whoever set it. Bytes above 0x7F are kept as they are.
#pragma once
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sockeye::http {

// One cookie, viewing the header it was parsed from.
struct cookie {
    std::string_view name;
    std::string_view value;
};

// Appends the cookies of one Cookie header value to `out`.
void append_cookies(std::string_view header_value, std::vector<cookie>& out);

// The cookies of one Cookie header value, in order.
std::vector<cookie> parse_cookies(std::string_view header_value);

// The cookies of several Cookie headers (HTTP/1.1 clients may send more than one; HTTP/2
// splits one into crumbs, RFC 9113 §8.2.3), in order, as if joined with "; ".
std::vector<cookie> parse_cookies(std::span<const std::string_view> header_values);

// The value of the first cookie named `name` (case-sensitive), or nullopt.
std::optional<std::string_view> find_cookie(std::span<const cookie> cookies,
                                            std::string_view name) noexcept;

}  // namespace sockeye::http
