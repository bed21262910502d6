#include "http_request_view.hpp"

#include <strings.h>

#include "http/cookies.hpp"
#include "http/percent_decode.hpp"
#include "http/query.hpp"

namespace sockeye {

namespace {

std::optional<std::string_view> first(const std::vector<name_value>& list, std::string_view name,
                                      bool ignore_case) {
    for (const auto& nv : list) {
        if (ignore_case ? server_detail::same_header(nv.name, name) : nv.name == name)
            return nv.value;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string_view> http_request::header(std::string_view name) const {
    return first(headers, name, true);
}

std::vector<std::string_view> http_request::header_values(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& h : headers) {
        if (server_detail::same_header(h.name, name)) out.push_back(h.value);
    }
    return out;
}

std::optional<std::string_view> http_request::query_param(std::string_view name) const {
    return first(query_params, name, false);
}

std::optional<std::string_view> http_request::cookie(std::string_view name) const {
    return first(cookies, name, false);
}

std::optional<std::string_view> http_request::param(std::string_view name) const {
    return first(params, name, false);
}

}  // namespace sockeye

namespace sockeye::server_detail {

bool same_header(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view make_http_request(const http::request_parser& req, const std::string& peer,
                                   bool tls, std::string server_name, http_request& r) {
    r.method = req.method();
    r.target = req.target();
    const http::target_parts parts = http::split_target(r.target);
    r.query = parts.query;
    // Decoded once: what the application compares is what the client meant.
    if (!http::append_percent_decoded(parts.path, r.path)) {
        return "malformed percent-encoding in the path";
    }
    const auto query = http::parse_query(parts.query);
    if (!query) return "malformed percent-encoding in the query";
    r.query_params.reserve(query->size());
    for (const auto p : *query)
        r.query_params.push_back({std::string(p.name), std::string(p.value)});
    r.headers.reserve(req.header_count());
    std::vector<http::cookie> cookies;
    for (std::size_t i = 0; i < req.header_count(); ++i) {
        const auto h = req.header(i);
        r.headers.push_back({std::string(h.name), std::string(h.value)});
        if (same_header(h.name, "Cookie")) http::append_cookies(h.value, cookies);
    }
    r.cookies.reserve(cookies.size());
    for (const auto& c : cookies) r.cookies.push_back({std::string(c.name), std::string(c.value)});
    r.peer = peer;
    r.tls = tls;
    r.server_name = std::move(server_name);
    if (req.chunked()) {
        r.chunked = true;
    } else if (req.has_body()) {
        r.content_length = req.content_length();
    }
    return {};
}

}  // namespace sockeye::server_detail
