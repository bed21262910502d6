// Where `sockeye serve --proxy` sends a WebSocket: a target "host:port" or "[v6]:port",
// and the --proxy-map file that maps tokens to targets. Parsing only: no sockets, no
// lookups (a name is resolved for each connection).
#include "proxy_target.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sockeye::apps {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool plain_host_char(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7F && ch != '/' && ch != '[' && ch != ']' && ch != '@' && ch != '?' &&
           ch != '#';
}

}  // namespace

std::string proxy_target::text() const {
    const std::string p = std::to_string(port);
    return host.find(':') != std::string::npos ? "[" + host + "]:" + p : host + ":" + p;
}

std::optional<proxy_target> parse_target(std::string_view s) {
    s = trim(s);
    std::string_view host;
    std::string_view port;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
            return std::nullopt;
        }
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
        if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets: IPv6
        for (const char ch : host) {
            if (!std::isxdigit(static_cast<unsigned char>(ch)) && ch != ':' && ch != '.') {
                return std::nullopt;
            }
        }
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (!std::all_of(host.begin(), host.end(), plain_host_char) ||
            host.find(':') != std::string_view::npos) {
            return std::nullopt;
        }
    }
    if (host.empty() || port.empty() || port.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (const char ch : port) {
        if (ch < '0' || ch > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    proxy_target t;
    t.host.assign(host);
    std::transform(t.host.begin(), t.host.end(), t.host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    t.port = static_cast<std::uint16_t>(value);
    return t;
}

std::map<std::string, proxy_target> parse_target_map(std::string_view text) {
    std::map<std::string, proxy_target> out;
    std::size_t number = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++number;
        line = trim(line);
        if (line.empty() || line.front() == '#') continue;
        const std::string where = "line " + std::to_string(number) + ": ";
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            throw std::runtime_error(where + "expected 'token: host:port'");
        }
        const std::string_view token = trim(line.substr(0, colon));
        if (token.empty() || !std::all_of(token.begin(), token.end(), plain_host_char)) {
            throw std::runtime_error(where +
                                     "a token is one or more printable characters "
                                     "without spaces, '/', '?', '#' or ':'");
        }
        const auto target = parse_target(line.substr(colon + 1));
        if (!target) throw std::runtime_error(where + "expected host:port after the token");
        if (!out.emplace(std::string(token), *target).second) {
            throw std::runtime_error(where + "the token is already in the map");
        }
    }
    return out;
}

std::map<std::string, proxy_target> load_target_map(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read the proxy map " + path + ": " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return parse_target_map(text.str());
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

}  // namespace sockeye::apps
