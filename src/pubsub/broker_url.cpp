#include "pubsub/broker_url.hpp"

#include "http/percent_decode.hpp"

#include <charconv>

namespace sockeye::pubsub {
namespace {

constexpr std::string_view scheme = "redis://";

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// Digits only: from_chars alone would accept a leading '-' for int.
template <typename T>
bool parse_decimal(std::string_view text, T& out) noexcept {
    if (text.empty() || text.size() > 10) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

// A DNS name or IPv4 literal: letters, digits, '-', '.', '_' (seen in container names).
bool is_plain_host(std::string_view host) noexcept {
    for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok) return false;
    }
    return !host.empty();
}

bool is_ipv6_literal(std::string_view host) noexcept {
    if (host.find(':') == std::string_view::npos) return false;
    for (char c : host) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                        (c >= 'A' && c <= 'F') || c == ':' || c == '.';
        if (!ok) return false;
    }
    return true;
}

bool fail(std::string& error, std::string_view reason) {
    error = "broker URL: ";
    error += reason;
    return false;
}

}  // namespace

bool parse_broker_url(std::string_view text, broker_url& out, std::string& error) {
    if (text.size() < scheme.size() || !equals_ignoring_case(text.substr(0, scheme.size()), scheme))
        return fail(error, "must start with redis://");
    std::string_view rest = text.substr(scheme.size());

    // The authority ends at the first '/'; a '/' inside the password must be encoded.
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (authority.find_first_of("?#") != std::string_view::npos ||
        path.find_first_of("?#") != std::string_view::npos)
        return fail(error, "query strings and fragments are not supported");

    broker_url parsed;
    // The last '@' ends the userinfo, so an unencoded '@' in a password still works.
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos)
            return fail(error, "credentials must be ':password@' or 'user:password@'");
        if (!http::append_percent_decoded(userinfo.substr(colon + 1), parsed.password))
            return fail(error, "malformed percent-encoding in the password");
    }

    std::string_view host;
    std::string_view port;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return fail(error, "unclosed '[' in the host");
        host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail(error, "unexpected text after ']'");
            port = after.substr(1);
            has_port = true;
        }
        if (!is_ipv6_literal(host)) return fail(error, "malformed IPv6 literal");
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            has_port = true;
        }
        if (host.empty()) return fail(error, "missing host");
        if (!is_plain_host(host)) return fail(error, "malformed host");
    }
    parsed.host.assign(host);

    if (has_port) {
        std::uint16_t value = 0;
        if (!parse_decimal(port, value) || value == 0)
            return fail(error, "port must be a number from 1 to 65535");
        parsed.port = value;
    }
    if (!path.empty()) {
        int value = 0;
        if (!parse_decimal(path, value))
            return fail(error, "database must be a number (/0, /1, ...)");
        parsed.db = value;
    }
    out = std::move(parsed);
    return true;
}

}  // namespace sockeye::pubsub
