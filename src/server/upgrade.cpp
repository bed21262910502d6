// The upgrade hook's reply (include/sockeye/upgrade.hpp) and its request, and what both
// front doors do the same way around it.
#include <strings.h>

#include <algorithm>

#include "http_request_view.hpp"
#include "log.hpp"
#include "protocol/http_tokens.hpp"
#include "upgrade_wait.hpp"

namespace sockeye {

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

namespace {

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

std::string_view make_upgrade_request(const http::request_parser& req, const std::string& peer,
                                      bool tls, std::string server_name, upgrade_request& r) {
    const auto bad = make_http_request(req, peer, tls, std::move(server_name), r);
    if (!bad.empty()) return bad;
    for (const auto& h : r.headers) {
        if (same_header(h.name, "Sec-WebSocket-Protocol"))
            split_list(h.value, r.subprotocols, false);
        if (same_header(h.name, "Sec-WebSocket-Extensions"))
            split_list(h.value, r.extensions, true);
    }
    return {};
}

bool end_wait(upgrade_reply::shared& s) {
    std::lock_guard lock(s.mutex);
    const bool answered = s.st == upgrade_reply::shared::state::answered;
    s.st = upgrade_reply::shared::state::over;
    s.conn = nullptr;
    return answered;
}

hook_outcome run_upgrade_hook(const upgrade_hook& hook, const upgrade_request& request,
                              const std::shared_ptr<upgrade_reply::shared>& reply,
                              const std::string& peer) {
    bool threw = false;
    try {
        hook(request, upgrade_reply(reply));
    } catch (const std::exception& e) {
        log(log_level::error, "upgrade hook threw for peer=%s: %s", peer.c_str(), e.what());
        threw = true;
    } catch (...) {
        log(log_level::error, "upgrade hook threw for peer=%s", peer.c_str());
        threw = true;
    }
    std::lock_guard lock(reply->mutex);
    reply->in_hook = false;
    if (threw) return hook_outcome::threw;
    return reply->st == upgrade_reply::shared::state::answered ? hook_outcome::answered
                                                              : hook_outcome::waiting;
}

upgrade_answer take_answer(upgrade_reply::shared& r) {
    upgrade_answer a;
    std::lock_guard lock(r.mutex);
    r.st = upgrade_reply::shared::state::over;
    r.conn = nullptr;
    a.accepted = r.accepted;
    a.chosen = std::move(r.accept);
    a.status = r.status;
    a.body = std::move(r.body);
    a.headers = std::move(r.headers);
    return a;
}

bool valid_app_headers(const std::vector<name_value>& headers) noexcept {
    for (const auto& h : headers) {
        if (!protocol::is_token(h.name) || !protocol::is_field_value(h.value)) return false;
    }
    return true;
}

std::string_view apply_accept(upgrade_answer& a, const std::vector<std::string>& offered,
                              protocol::handshake_result& result) {
    auto& chosen = a.chosen;
    if (!chosen.subprotocol.empty()) {
        if (std::find(offered.begin(), offered.end(), chosen.subprotocol) == offered.end()) {
            return "the application chose a subprotocol that was not offered";
        }
        std::erase_if(result.headers, [](const protocol::owned_header& h) {
            return strcasecmp(h.name.c_str(), "Sec-WebSocket-Protocol") == 0;
        });
        result.headers.push_back({"Sec-WebSocket-Protocol", chosen.subprotocol});
        result.subprotocol = chosen.subprotocol;
    }
    if (!valid_app_headers(chosen.headers)) return "the application added a malformed header";
    for (auto& h : chosen.headers) result.headers.push_back({std::move(h.name), std::move(h.value)});
    return {};
}

std::optional<protocol::deflate_params> negotiate_compression(const server_options& opts,
                                                              const protocol::request_head& head,
                                                              protocol::handshake_result& result) {
    std::vector<std::string_view> values;
    for (const auto& h : head.headers) {
        if (same_header(h.name, "Sec-WebSocket-Extensions")) values.push_back(h.value);
    }
    if (values.empty()) return std::nullopt;
    const auto parsed = protocol::parse_extensions(values);
    if (!parsed.ok) {
        result = protocol::handshake_result{};
        result.status = 400;
        result.reason = "malformed Sec-WebSocket-Extensions: " + parsed.error;
        return std::nullopt;
    }
    const auto& c = opts.compression;
    protocol::deflate_config config{true, c.server_window_bits, c.client_window_bits,
                                    c.server_no_context_takeover, c.client_no_context_takeover};
    auto agreed = protocol::negotiate_deflate(parsed.offers, config);
    if (!agreed) return std::nullopt;
    result.headers.push_back({"Sec-WebSocket-Extensions", agreed->response});
    return agreed->params;
}

}  // namespace sockeye::server_detail
