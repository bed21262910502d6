#include "client/url.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace sockeye::client_detail {

namespace {

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

[[noreturn]] void reject(std::string_view text, const std::string& why) {
    throw std::invalid_argument("invalid URL '" + std::string(text) + "': " + why);
}

// RFC 3986 reg-name as DNS uses it: letters, digits, '-', '.', and '_' (seen in the wild).
bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

bool looks_like_ipv4(std::string_view h) noexcept {
    return !h.empty() && h.find_first_not_of("0123456789.") == std::string_view::npos;
}

// Spaces, controls and non-ASCII bytes cannot go into a request line as they are.
std::string encode_target(std::string_view t) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(t.size());
    for (char ch : t) {
        const auto c = static_cast<unsigned char>(ch);
        if (c > 0x20 && c < 0x7f) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

}  // namespace

url parse_url(std::string_view text) {
    url u;
    const std::size_t sep = text.find("://");
    if (sep == std::string_view::npos) reject(text, "expected ws://HOST or wss://HOST");
    const std::string scheme = lower(text.substr(0, sep));
    if (scheme == "ws" || scheme == "http") {
        u.secure = false;
    } else if (scheme == "wss" || scheme == "https") {
        u.secure = true;
    } else {
        reject(text, "unsupported scheme '" + scheme + "' (use ws or wss)");
    }
    if (text.find('#') != std::string_view::npos) {
        reject(text, "fragments (#...) are not allowed in WebSocket URLs");
    }

    std::string_view rest = text.substr(sep + 3);
    const std::size_t auth_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, auth_end);
    const std::string_view tail =
        auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (authority.find('@') != std::string_view::npos) {
        reject(text, "user information (user@host) is not supported");
    }
    if (authority.empty()) reject(text, "missing host");

    std::string_view port_text;
    bool has_port = false;
    if (authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) reject(text, "unterminated [IPv6 address]");
        const std::string literal(authority.substr(1, close - 1));
        in6_addr a6{};
        if (literal.empty() || inet_pton(AF_INET6, literal.c_str(), &a6) != 1) {
            reject(text, "'" + literal + "' is not an IPv6 address");
        }
        u.host = lower(literal);
        u.kind = host_kind::ipv6;
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') reject(text, "unexpected text after ']'");
            has_port = true;
            port_text = after.substr(1);
        }
    } else {
        if (authority.find(':') != authority.rfind(':')) {
            reject(text, "IPv6 addresses go in brackets, e.g. ws://[::1]:8080/");
        }
        const std::size_t colon = authority.find(':');
        const std::string_view host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        if (host.empty()) reject(text, "missing host");
        if (looks_like_ipv4(host)) {
            const std::string literal(host);
            in_addr a4{};
            if (inet_pton(AF_INET, literal.c_str(), &a4) != 1) {
                reject(text, "'" + literal + "' is not an IPv4 address");
            }
            u.kind = host_kind::ipv4;
            u.host = literal;
        } else {
            for (char c : host) {
                if (!is_name_char(c)) {
                    reject(text, "invalid character in host name '" + std::string(host) + "'" +
                                     (c == ':' ? " (IPv6 addresses go in brackets)" : ""));
                }
            }
            if (host.size() > 253) reject(text, "host name longer than 253 characters");
            u.kind = host_kind::name;
            u.host = lower(host);
        }
    }

    u.port = u.secure ? 443 : 80;
    if (has_port) {
        if (port_text.empty() || port_text.size() > 5 ||
            port_text.find_first_not_of("0123456789") != std::string_view::npos) {
            reject(text, "invalid port '" + std::string(port_text) + "'");
        }
        const unsigned long p = std::stoul(std::string(port_text));
        if (p == 0 || p > 65535) reject(text, "port out of range (1-65535)");
        u.port = static_cast<std::uint16_t>(p);
    }

    u.target = encode_target(tail);
    if (u.target.empty() || u.target.front() == '?') u.target.insert(u.target.begin(), '/');
    return u;
}

std::string url::host_header() const {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "[" + host + "]".
    std::string h;
    if (kind == host_kind::ipv6) h += '[';
    h += host;
    if (kind == host_kind::ipv6) h += ']';
    if (!default_port()) {
        h += ':';
        h += std::to_string(port);
    }
    return h;
}

std::string url::to_string() const {
    return std::string(secure ? "wss://" : "ws://") + host_header() + target;
}

}  // namespace sockeye::client_detail
