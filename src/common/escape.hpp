// Making peer-supplied text safe to print: log records on stderr, the client CLI's terminal.
//
// A close reason, a request target or a reason phrase is whatever the peer chose. Printed
// raw, a newline in it starts what looks like a new log record (log forging), and ESC or
// a C1 control drives the terminal it lands on. escape_for_display() keeps printable text
// as it is and spells out everything else, so the output is one line of valid UTF-8:
//   \n \r \t                  for those three
//   \xHH                      other bytes < 0x20, DEL (0x7f), and bytes that are not
//                             part of well-formed UTF-8
//   \u00HH \u2028 \u2029      C1 controls (U+0080..U+009F) and the Unicode line and
//                             paragraph separators, which some viewers break lines at
// With `quoted`, '"' and '\' are escaped too (\" and \\), so that inside a "..." field the
// text cannot end the field early, and every escape reads back unambiguously.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sockeye::common {

namespace escape_detail {

inline void append_hex_byte(std::string& out, unsigned char c) {
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 0xf];
}

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF) and its code point; 0 if there is none.
inline std::size_t utf8_sequence(std::string_view s, std::uint32_t& cp) noexcept {
    const auto b0 = static_cast<unsigned char>(s[0]);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2, cp = b0 & 0x1f, min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3, cp = b0 & 0x0f, min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (s.size() < len) return 0;
    for (std::size_t i = 1; i < len; ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if ((b & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

}  // namespace escape_detail

inline void append_escaped(std::string& out, std::string_view s, bool quoted = false) {
    using escape_detail::append_hex_byte;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::uint32_t cp = 0;
            const std::size_t len = escape_detail::utf8_sequence(s.substr(i), cp);
            if (len == 0) {
                append_hex_byte(out, c);
                ++i;
            } else if (cp <= 0x9f) {
                out += "\\u00";
                out += "89"[cp >> 4 & 1];  // 0x80..0x9f: the high digit is 8 or 9
                out += "0123456789abcdef"[cp & 0xf];
                i += len;
            } else if (cp == 0x2028 || cp == 0x2029) {
                out += cp == 0x2028 ? "\\u2028" : "\\u2029";
                i += len;
            } else {
                out.append(s.substr(i, len));
                i += len;
            }
            continue;
        }
        ++i;
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            append_hex_byte(out, c);
        } else if (quoted && (c == '"' || c == '\\')) {
            out += '\\';
            out += static_cast<char>(c);
        } else {
            out += static_cast<char>(c);
        }
    }
}

inline std::string escape_for_display(std::string_view s, bool quoted = false) {
    std::string out;
    out.reserve(s.size());
    append_escaped(out, s, quoted);
    return out;
}

}  // namespace sockeye::common
