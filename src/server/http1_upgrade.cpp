// The upgrade on an HTTP/1.1 connection: RFC 6455 checks, permessage-deflate negotiation,
// the application's upgrade hook (now or later, from any thread), and the hand-over of the
// stream to a websocket_connection.
#include <strings.h>

#include <algorithm>
#include <new>

#include "http/response.hpp"
#include "http1_connection.hpp"
#include "inspect_gate.hpp"
#include "log.hpp"
#include "protocol/http_tokens.hpp"

namespace sockeye::server_detail {

// A request that asks for a WebSocket: the RFC 6455 checks, permessage-deflate, then the
// application's hook if it set one.
void http1_connection::handle_upgrade_request(const protocol::request_head& head) {
    const std::string_view path = target_path_only(head.target);
    if (const int gate = inspector_gate(core_.opts, head.target, peer_); gate != 0) {
        // The frame inspector: neither --path nor the application's hook applies to it.
        if (gate != 200) {
            core_.stats.count_rejection(gate);
            respond(http::text_response(gate, std::string(inspector_refusal(core_.opts)), false),
                    false);
            return;
        }
        const protocol::handshake_result result = protocol::validate_upgrade(head, core_.handshake);
        if (!result.accepted()) {
            core_.stats.count_rejection(result.status);
            respond(result.to_http(), false);
            return;
        }
        upgrade(result, head.target, std::nullopt, {});
        return;
    }
    if (!core_.opts.ws_path.empty() && path != core_.opts.ws_path) {
        core_.stats.count_rejection(404);
        respond(http::text_response(404, "no WebSocket endpoint here\n", false), false);
        return;
    }
    protocol::handshake_result result = protocol::validate_upgrade(head, core_.handshake);
    std::optional<protocol::deflate_params> deflate;
    if (result.accepted() && core_.opts.compression.enabled) {
        deflate = negotiate_compression(core_.opts, head, result);
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
    new (&ws_) websocket_connection(core_, static_cast<byte_channel&>(*this), std::string(target),
                                    result.subprotocol, deflate);
    has_ws_ = true;
    ws()->state = std::move(state);
    keep_http_state(std::move(http_));
    phase_ = phase::websocket;
    transport_.set_writable_events(false);  // on_transport_writable does nothing from here on
    core_.stats.http_connections_open--;
    ws()->open(deflate.has_value());
    request_flush();
}

// The application decides: it sees the request, and answers now or later, from any thread.
// Until then the connection reads nothing (what came with the request is held) and the
// handshake timeout bounds the wait.
void http1_connection::ask_application(protocol::handshake_result result, std::string_view target,
                                       std::optional<protocol::deflate_params> deflate) {
    auto reply = std::make_shared<upgrade_reply::shared>();
    reply->mailbox = core_.mailbox;
    reply->conn = &http_->hooks;
    reply->in_hook = true;  // not shared with anyone yet
    upgrade_request request;
    if (const auto bad = make_upgrade_request(http_->parser, peer_, transport_.tls(),
                                              transport_.tls_server_name(), request);
        !bad.empty()) {
        core_.stats.count_rejection(400);
        respond(http::text_response(400, std::string(bad) + "\n", false), false);
        return;
    }
    http_->wait = std::make_unique<pending_upgrade>(pending_upgrade{
        std::move(result), std::string(target), std::move(deflate), request.subprotocols, reply});
    const hook_outcome outcome =
        run_upgrade_hook(core_.shared.on_upgrade, request, reply, peer_);
    if (phase_ != phase::http) return;
    if (outcome == hook_outcome::threw) {
        cancel_upgrade_wait();
        reject_upgrade(500, "the application failed", {});
        return;
    }
    if (outcome == hook_outcome::answered) {
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
    std::unique_ptr<pending_upgrade> wait = std::move(http_->wait);
    upgrade_answer answer = take_answer(*wait->reply);
    http_->deadline = 0;
    if (!answer.accepted) {
        reject_upgrade(answer.status, answer.body, answer.headers);
        return;
    }
    if (const auto bad = apply_accept(answer, wait->offered, wait->result); !bad.empty()) {
        log(log_level::error, "upgrade hook answer for peer=%s: %.*s", peer_.c_str(),
            static_cast<int>(bad.size()), bad.data());
        reject_upgrade(500, bad, {});
        return;
    }
    protocol::handshake_result& result = wait->result;
    std::string held = std::move(http_->held_input);  // frames that came with the request
    upgrade(result, wait->target, wait->deflate, std::move(answer.chosen.state));
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
    if (valid_app_headers(headers)) {
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
