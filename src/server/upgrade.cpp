// The upgrade hook's request and reply (include/sockeye/upgrade.hpp).
#include <strings.h>

#include "connection.hpp"
#include "http/cookies.hpp"
#include "http/percent_decode.hpp"
#include "http/query.hpp"
#include "upgrade_wait.hpp"

namespace sockeye {

namespace {

bool same_name(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string_view> first(const std::vector<name_value>& list, std::string_view name,
                                      bool ignore_case) {
    for (const auto& nv : list) {
        if (ignore_case ? same_name(nv.name, name) : nv.name == name) return nv.value;
    }
    return std::nullopt;
}

// Elements of a comma-separated header list, trimmed; empty elements skipped.
void split_list(std::string_view value, std::vector<std::string>& out, bool name_only) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        if (name_only) item = item.substr(0, item.find(';'));  // extension parameters
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

}  // namespace

std::optional<std::string_view> upgrade_request::header(std::string_view name) const {
    return first(headers, name, true);
}

std::vector<std::string_view> upgrade_request::header_values(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& h : headers) {
        if (same_name(h.name, name)) out.push_back(h.value);
    }
    return out;
}

std::optional<std::string_view> upgrade_request::query_param(std::string_view name) const {
    return first(query_params, name, false);
}

std::optional<std::string_view> upgrade_request::cookie(std::string_view name) const {
    return first(cookies, name, false);
}

namespace {

// Records the answer; posts it to the connection's loop unless the hook is still running
// there (then the loop applies it when the hook returns).
template <class Fill>
bool answer(const std::shared_ptr<upgrade_reply::shared>& s, Fill fill) {
    if (!s) return false;
    bool post = false;
    {
        std::lock_guard lock(s->mutex);
        if (s->st != upgrade_reply::shared::state::waiting) return false;
        s->st = upgrade_reply::shared::state::answered;
        fill(*s);
        post = !s->in_hook;
    }
    if (post && s->mailbox) {
        s->mailbox->post([s] {
            if (s->conn) s->conn->apply_upgrade_answer();
        });
    }
    return true;
}

}  // namespace

bool upgrade_reply::accept(accept_options options) {
    return answer(s_, [&](shared& s) {
        s.accepted = true;
        s.accept = std::move(options);
    });
}

bool upgrade_reply::reject(int status, std::string body, std::vector<name_value> headers) {
    return answer(s_, [&](shared& s) {
        s.accepted = false;
        s.status = status;
        s.body = std::move(body);
        s.headers = std::move(headers);
    });
}

bool upgrade_reply::pending() const {
    if (!s_) return false;
    std::lock_guard lock(s_->mutex);
    return s_->st == shared::state::waiting;
}

}  // namespace sockeye

namespace sockeye::server_detail {

std::string_view make_upgrade_request(const http::request_parser& req, const std::string& peer,
                                      bool tls, std::string server_name, upgrade_request& r) {
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
        if (same_name(h.name, "Sec-WebSocket-Protocol")) split_list(h.value, r.subprotocols, false);
        if (same_name(h.name, "Sec-WebSocket-Extensions")) split_list(h.value, r.extensions, true);
        if (same_name(h.name, "Cookie")) http::append_cookies(h.value, cookies);
    }
    r.cookies.reserve(cookies.size());
    for (const auto& c : cookies) r.cookies.push_back({std::string(c.name), std::string(c.value)});
    r.peer = peer;
    r.tls = tls;
    r.server_name = std::move(server_name);
    return {};
}

bool end_wait(upgrade_reply::shared& s) {
    std::lock_guard lock(s.mutex);
    const bool answered = s.st == upgrade_reply::shared::state::answered;
    s.st = upgrade_reply::shared::state::over;
    s.conn = nullptr;
    return answered;
}

}  // namespace sockeye::server_detail
