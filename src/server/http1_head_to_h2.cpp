#include "http1_head_to_h2.hpp"

#include <strings.h>

#include <string>

namespace sockeye::server_detail {

std::string h2_field_name(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool connection_specific(std::string_view name) noexcept {
    for (const std::string_view n :
         {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
        if (name.size() == n.size() && strncasecmp(name.data(), n.data(), n.size()) == 0) {
            return true;
        }
    }
    return false;
}

std::size_t split_http1_head(std::string_view text, int& status,
                             std::vector<protocol::owned_header>& headers) {
    const auto head_end = text.find("\r\n\r\n");
    status = 500;
    if (text.size() < 12 || head_end == std::string_view::npos) return text.size();
    status = 0;
    for (const char c : text.substr(9, 3)) {
        if (c < '0' || c > '9') {
            status = 500;
            break;
        }
        status = status * 10 + (c - '0');
    }
    std::size_t at = text.find("\r\n") + 2;
    while (at < head_end) {
        const auto eol = text.find("\r\n", at);
        const std::string_view line = text.substr(at, eol - at);
        at = eol + 2;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (connection_specific(name)) continue;
        headers.push_back({h2_field_name(name), std::string(value)});
    }
    return head_end + 4;
}

}  // namespace sockeye::server_detail
