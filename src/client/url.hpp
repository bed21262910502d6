// WebSocket URLs (RFC 6455 §3): ws://host[:port][/path][?query] and wss://..., with http
// and https accepted as aliases because people paste those. Hosts are DNS names, IPv4
// literals or bracketed IPv6 literals. Userinfo and fragments are refused: §3 forbids the
// fragment, and credentials in a URL would end up in shell history and logs.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace sockeye::client_detail {

enum class host_kind : std::uint8_t { name, ipv4, ipv6 };

struct url {
    bool secure = false;  // wss (or https)
    std::string host;     // DNS name (lower-cased) or IP literal, without brackets
    host_kind kind = host_kind::name;
    std::uint16_t port = 80;  // explicit or the scheme's default (80 / 443)
    std::string target;       // path and query, never empty ("/" at least); non-ASCII and
                              // spaces percent-encoded

    bool default_port() const noexcept { return port == (secure ? 443 : 80); }
    // The Host header value: IPv6 in brackets, ":port" only when not the default (§4.1).
    std::string host_header() const;
    // The normalized URL, e.g. "wss://[::1]:8443/chat?x=1", for messages.
    std::string to_string() const;
};

// Parses `text`; throws std::invalid_argument with a message fit for the user.
url parse_url(std::string_view text);

}  // namespace sockeye::client_detail
