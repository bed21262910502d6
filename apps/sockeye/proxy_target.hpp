// The targets of `sockeye serve --proxy`: "host:port" / "[v6]:port" and the --proxy-map
// file of tokens. Parsing only; the proxy (proxy.hpp) connects.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sockeye::apps {

struct proxy_target {
    std::string host;  // a name or an IP literal (IPv6 without the brackets)
    std::uint16_t port = 0;
    std::string text() const;  // "host:port", "[v6]:port"
    friend bool operator==(const proxy_target&, const proxy_target&) = default;
};

// "host:port" or "[v6]:port"; nullopt when it is not one.
std::optional<proxy_target> parse_target(std::string_view s);

// A --proxy-map file: lines "token: host:port"; blank lines and lines starting with '#'
// are skipped. Throws std::runtime_error naming the line for anything else.
std::map<std::string, proxy_target> parse_target_map(std::string_view text);

// Reads and parses a --proxy-map file; throws std::runtime_error naming the file (and the
// line) when it cannot be read or parsed.
std::map<std::string, proxy_target> load_target_map(const std::string& path);

}  // namespace sockeye::apps
