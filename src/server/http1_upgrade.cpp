// The upgrade on an HTTP/1.1 connection: RFC 6455 checks, permessage-deflate negotiation,
// the application's upgrade hook (now or later, from any thread), and the hand-over of the
// stream to a websocket_connection.
#include <strings.h>

#include <algorithm>

#include "http/response.hpp"
#include "http1_connection.hpp"
#include "log.hpp"
#include "protocol/http_tokens.hpp"

namespace sockeye::server_detail {

// A request that asks for a WebSocket: the RFC 6455 checks, permessage-deflate, then the
// application's hook if it set one.
void http1_connection::handle_upgrade_request(const protocol::request_head& head) {
    const std::string_view path = target_path_only(head.target);
    if (!core_.opts.ws_path.empty() && path != core_.opts.ws_path) {
        core_.stats.count_rejection(404);
        respond(http::text_response(404, "no WebSocket endpoint here\n", false), false);
        return;
    }
    protocol::handshake_result result = protocol::validate_upgrade(head, core_.handshake);
    std::optional<protocol::deflate_params> deflate;
    if (result.accepted() && core_.opts.compression.enabled) {
        deflate = negotiate_compression(head, result);
    }
    if (!result.accepted()) {
        core_.stats.count_rejection(result.status);
        log(log_level::debug, "handshake rejected peer=%s status=%d reason=%s", peer_.c_str(),
            result.status, result.reason.c_str());
        respond(result.to_http(), false);
        return;
    }
    if (core_.shared.on_upgrade) {
        ask_application(std::move(result), head.target, std::move(deflate));
        return;
    }
    upgrade(result, head.target, deflate, {});
}

// The upgrade hook's time ran out: an answer on its way is applied, else 503.
void http1_connection::upgrade_deadline() {
    if (end_wait(*http_->wait->reply)) {
        apply_upgrade_answer();
    } else {
        http_->wait.reset();
        log(log_level::warn, "upgrade not answered in time peer=%s", peer_.c_str());
        reject_upgrade(503, "the application did not answer in time", {});
    }
}

// permessage-deflate: the first acceptable offer wins and its answer joins the 101 headers;
// a Sec-WebSocket-Extensions header that does not parse turns the answer into a 400.
std::optional<protocol::deflate_params> http1_connection::negotiate_compression(
    const protocol::request_head& head, protocol::handshake_result& result) {
    std::vector<std::string_view> values;
    for (const auto& h : head.headers) {
        if (h.name.size() == 24 &&
            strncasecmp(h.name.data(), "Sec-WebSocket-Extensions", 24) == 0) {
            values.push_back(h.value);
        }
    }
    if (values.empty()) return std::nullopt;
    const auto parsed = protocol::parse_extensions(values);
    if (!parsed.ok) {
        result = protocol::handshake_result{};
        result.status = 400;
        result.reason = "malformed Sec-WebSocket-Extensions: " + parsed.error;
        return std::nullopt;
    }
    const auto& c = core_.opts.compression;
    protocol::deflate_config config{true, c.server_window_bits, c.client_window_bits,
                                    c.server_no_context_takeover, c.client_no_context_takeover};
    auto agreed = protocol::negotiate_deflate(parsed.offers, config);
    if (!agreed) return std::nullopt;
    result.headers.push_back({"Sec-WebSocket-Extensions", agreed->response});
    return agreed->params;
}

// Hands the upgraded stream to a WebSocket connection: the 101 first (sealed, so that no
// urgent frame overtakes it), then the connection, which from now on gets every byte.
void http1_connection::upgrade(const protocol::handshake_result& result, std::string_view target,
                               const std::optional<protocol::deflate_params>& deflate,
                               app_state state) {
    const std::string response = result.to_http();
    transport_.output().append(
        {reinterpret_cast<const std::uint8_t*>(response.data()), response.size()});
    // Urgent frames (a pong for a ping in the same read) may overtake data frames, never the
    // 101 (RFC 6455 §4.2.2: frames follow the handshake).
    transport_.output().seal();
    ws_.emplace(core_, static_cast<byte_channel&>(*this), std::string(target), result.subprotocol,
                deflate);
    ws_->state = std::move(state);
    http_.reset();
    phase_ = phase::websocket;
    core_.stats.http_connections_open--;
    ws_->open(deflate.has_value());
    request_flush();
}

namespace {

// Headers an application adds must not be able to split the response.
bool valid_headers(const std::vector<name_value>& headers) noexcept {
    for (const auto& h : headers) {
        if (!protocol::is_token(h.name) || !protocol::is_field_value(h.value)) return false;
    }
    return true;
}

}  // namespace

// The application decides: it sees the request, and answers now or later, from any thread.
// Until then the connection reads nothing (what came with the request is held) and the
// handshake timeout bounds the wait.
void http1_connection::ask_application(protocol::handshake_result result, std::string_view target,
                                       std::optional<protocol::deflate_params> deflate) {
    auto reply = std::make_shared<upgrade_reply::shared>();
    reply->mailbox = core_.mailbox;
    reply->conn = this;
    reply->in_hook = true;  // not shared with anyone yet
    upgrade_request request;
    if (const auto bad = make_upgrade_request(http_->parser, peer_, transport_.tls(),
                                              transport_.tls_server_name(), request);
        !bad.empty()) {
        core_.stats.count_rejection(400);
        respond(http::text_response(400, std::string(bad) + "\n", false), false);
        return;
    }
    http_->wait = std::make_unique<upgrade_wait>(upgrade_wait{
        std::move(result), std::string(target), std::move(deflate), request.subprotocols, reply});
    bool threw = false;
    try {
        core_.shared.on_upgrade(request, upgrade_reply(reply));
    } catch (const std::exception& e) {
        log(log_level::error, "upgrade hook threw for peer=%s: %s", peer_.c_str(), e.what());
        threw = true;
    } catch (...) {
        log(log_level::error, "upgrade hook threw for peer=%s", peer_.c_str());
        threw = true;
    }
    bool answered = false;
    {
        std::lock_guard lock(reply->mutex);
        reply->in_hook = false;
        answered = reply->st == upgrade_reply::shared::state::answered;
    }
    if (phase_ != phase::http) return;
    if (threw) {
        cancel_upgrade_wait();
        reject_upgrade(500, "the application failed", {});
        return;
    }
    if (answered) {
        apply_upgrade_answer();
        return;
    }
    if (const auto t = to_ms(core_.opts.handshake_timeout)) {
        http_->deadline = uv_now(core_.loop) + t;
    }
    arm_timer();
    update_reading();
}

void http1_connection::cancel_upgrade_wait() {
    if (!upgrade_waiting()) return;
    end_wait(*http_->wait->reply);
    http_->wait.reset();
}

void http1_connection::apply_upgrade_answer() {
    if (!upgrade_waiting() || phase_ != phase::http) return;
    std::unique_ptr<upgrade_wait> wait = std::move(http_->wait);
    bool accepted = false;
    accept_options chosen;
    int status = 500;
    std::string body;
    std::vector<name_value> headers;
    {
        auto& r = *wait->reply;
        std::lock_guard lock(r.mutex);
        r.st = upgrade_reply::shared::state::over;
        r.conn = nullptr;
        accepted = r.accepted;
        chosen = std::move(r.accept);
        status = r.status;
        body = std::move(r.body);
        headers = std::move(r.headers);
    }
    http_->deadline = 0;
    if (!accepted) {
        reject_upgrade(status, body, headers);
        return;
    }
    protocol::handshake_result& result = wait->result;
    if (!chosen.subprotocol.empty()) {
        const auto& offered = wait->offered;
        if (std::find(offered.begin(), offered.end(), chosen.subprotocol) == offered.end()) {
            log(log_level::error, "upgrade hook chose subprotocol \"%s\", not offered by peer=%s",
                chosen.subprotocol.c_str(), peer_.c_str());
            reject_upgrade(500, "the application chose a subprotocol that was not offered", {});
            return;
        }
        std::erase_if(result.headers, [](const protocol::owned_header& h) {
            return strcasecmp(h.name.c_str(), "Sec-WebSocket-Protocol") == 0;
        });
        result.headers.push_back({"Sec-WebSocket-Protocol", chosen.subprotocol});
        result.subprotocol = chosen.subprotocol;
    }
    if (!valid_headers(chosen.headers)) {
        log(log_level::error, "upgrade hook added a malformed header for peer=%s", peer_.c_str());
        reject_upgrade(500, "the application added a malformed header", {});
        return;
    }
    for (auto& h : chosen.headers)
        result.headers.push_back({std::move(h.name), std::move(h.value)});
    std::string held = std::move(http_->held_input);  // frames that came with the request
    upgrade(result, wait->target, wait->deflate, std::move(chosen.state));
    if (!held.empty() && phase_ == phase::websocket) {
        handle_bytes(reinterpret_cast<std::uint8_t*>(held.data()), held.size());
    }
    request_flush();
    if (phase_ != phase::closed) update_reading();
}

void http1_connection::reject_upgrade(int status, std::string_view body,
                                      const std::vector<name_value>& headers) {
    if (status < 400 || status > 599) status = 500;
    std::vector<protocol::http_header> extra;
    if (valid_headers(headers)) {
        for (const auto& h : headers) extra.push_back({h.name, h.value});
    } else {
        log(log_level::error, "upgrade hook added a malformed header for peer=%s", peer_.c_str());
        status = 500;
        body = "the application added a malformed header";
    }
    core_.stats.count_rejection(status);
    log(log_level::debug, "upgrade rejected by the application peer=%s status=%d", peer_.c_str(),
        status);
    respond(http::text_response(status, body, false, extra), false);
}

}  // namespace sockeye::server_detail
