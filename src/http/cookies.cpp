#include "http/cookies.hpp"

namespace sockeye::http {

namespace {

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Control characters other than tab, which RFC 6265bis §5.6 refuses in a cookie too.
bool has_control(std::string_view s) noexcept {
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
    }
    return false;
}

}  // namespace

void append_cookies(std::string_view header_value, std::vector<cookie>& out) {
    while (!header_value.empty()) {
        const std::size_t semi = header_value.find(';');
        const std::string_view piece = header_value.substr(0, semi);
        header_value.remove_prefix(semi == std::string_view::npos ? header_value.size() : semi + 1);

        const std::size_t eq = piece.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view name = trim(piece.substr(0, eq));
        std::string_view value = trim(piece.substr(eq + 1));
        if (name.empty()) continue;
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
            value = value.substr(1, value.size() - 2);
        }
        if (has_control(name) || has_control(value)) continue;
        out.push_back({name, value});
    }
}

std::vector<cookie> parse_cookies(std::string_view header_value) {
    std::vector<cookie> out;
    append_cookies(header_value, out);
    return out;
}

std::vector<cookie> parse_cookies(std::span<const std::string_view> header_values) {
    std::vector<cookie> out;
    for (const std::string_view v : header_values) append_cookies(v, out);
    return out;
}

std::optional<std::string_view> find_cookie(std::span<const cookie> cookies,
                                            std::string_view name) noexcept {
    for (const cookie& c : cookies) {
        if (c.name == name) return c.value;
    }
    return std::nullopt;
}

}  // namespace sockeye::http
