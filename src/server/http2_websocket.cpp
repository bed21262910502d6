// An HTTP/2 stream as a WebSocket (RFC 8441): the extended CONNECT, the upgrade hook, and
// the stream as the byte channel under a websocket_connection.
#include <nghttp2/nghttp2.h>
#include <strings.h>

#include <algorithm>

#include "http1_head_to_h2.hpp"
#include "http2_stream.hpp"
#include "inspect_gate.hpp"
#include "log.hpp"

namespace sockeye::server_detail {

void http2_stream::handle_connect() {
    auto& core = conn_.core();
    auto& r = *req_;
    if (r.protocol.empty()) {
        respond_status(501, "CONNECT tunnels are not supported; WebSockets use :protocol websocket\n");
        return;
    }
    if (strcasecmp(r.protocol.c_str(), "websocket") != 0) {
        respond_status(501, "unsupported :protocol (only websocket)\n");
        return;
    }
    const std::string_view path = target_path_only(r.path);
    const int gate = inspector_gate(core.opts, r.path, peer());
    if (gate == 403 || gate == 404) {
        core.stats.count_rejection(gate);
        respond_status(gate, inspector_refusal(core.opts));
        return;
    }
    if (gate == 0 && !core.opts.ws_path.empty() && path != core.opts.ws_path) {
        core.stats.count_rejection(404);
        respond_status(404, "no WebSocket endpoint here\n");
        return;
    }
    std::vector<protocol::http_header> views;
    views.reserve(r.headers.size() + 1);
    const bool has_host = std::any_of(r.headers.begin(), r.headers.end(),
                                      [](const auto& h) { return h.name == "host"; });
    if (!has_host) views.push_back({"host", r.authority});
    for (const auto& h : r.headers) views.push_back({h.name, h.value});
    const protocol::request_head head{"CONNECT", r.path, 2, 0, views};
    protocol::handshake_result result = protocol::validate_h2_upgrade(head, core.handshake);
    std::optional<protocol::deflate_params> deflate;
    if (result.accepted() && core.opts.compression.enabled) {
        deflate = negotiate_compression(core.opts, head, result);
    }
    if (!result.accepted()) {
        core.stats.count_rejection(result.status);
        log(log_level::debug, "h2 handshake rejected peer=%s status=%d reason=%s",
            peer().c_str(), result.status, result.reason.c_str());
        respond_status(result.status, result.reason + "\n", result.headers);
        return;
    }
    if (gate == 200) {
        accept_websocket(std::move(result), std::nullopt, {});  // the inspector: no hook
        return;
    }
    if (core.shared.on_upgrade) {
        ask_application(std::move(result), std::move(deflate));
        return;
    }
    accept_websocket(std::move(result), deflate, {});
}

void http2_stream::accept_websocket(protocol::handshake_result result,
                                    const std::optional<protocol::deflate_params>& deflate,
                                    app_state state) {
    auto& core = conn_.core();
    std::vector<protocol::owned_header> headers;
    for (auto& h : result.headers) {
        // An application's header that only HTTP/1.1 has (Connection, ...) would make
        // the response malformed on h2: it is left out, as in every other h2 answer.
        if (connection_specific(h.name)) continue;
        headers.push_back({h2_field_name(h.name), std::move(h.value)});
    }
    std::string path = std::move(req_->path);
    ws_.emplace(core, static_cast<byte_channel&>(*this), std::move(path), result.subprotocol,
                deflate);
    ws_->state = std::move(state);
    ws_->set_http2();
    submit(200, headers, true);
    req_.reset();
    core.stats.http2_websockets_total++;
    ws_->open(deflate.has_value());
    feed_held();  // frames that came with the request, while the hook decided
    request_flush();
}

void http2_stream::ask_application(protocol::handshake_result result,
                                   std::optional<protocol::deflate_params> deflate) {
    auto& core = conn_.core();
    auto reply = std::make_shared<upgrade_reply::shared>();
    reply->mailbox = core.mailbox;
    reply->conn = this;
    reply->in_hook = true;  // not shared with anyone yet
    upgrade_request request;
    if (!parse_as_http1("GET")) return;
    if (const auto bad = make_upgrade_request(*req_->parser, peer(), conn_.tls(),
                                              conn_.server_name(), request);
        !bad.empty()) {
        core.stats.count_rejection(400);
        respond_status(400, std::string(bad) + "\n");
        return;
    }
    request.method = "CONNECT";
    auto& w = req_->wait;
    w = std::make_unique<pending_upgrade>(pending_upgrade{
        std::move(result), req_->path, std::move(deflate), request.subprotocols, reply});
    const hook_outcome outcome =
        run_upgrade_hook(core.shared.on_upgrade, request, reply, peer());
    if (ended_ || !req_ || !req_->wait) return;
    if (outcome == hook_outcome::threw) {
        cancel_upgrade_wait();
        reject_upgrade(500, "the application failed", {});
        return;
    }
    if (outcome == hook_outcome::answered) {
        apply_upgrade_answer();
        return;
    }
    if (const auto t = to_ms(core.opts.handshake_timeout)) {
        req_->wait->deadline = uv_now(core.loop) + t;
    }
    rearm();
}

void http2_stream::cancel_upgrade_wait() {
    if (!req_ || !req_->wait) return;
    end_wait(*req_->wait->reply);
    req_->wait.reset();
}

void http2_stream::apply_upgrade_answer() {
    if (ended_ || !req_ || !req_->wait) return;
    std::unique_ptr<pending_upgrade> wait = std::move(req_->wait);
    upgrade_answer answer = take_answer(*wait->reply);
    if (!answer.accepted) {
        reject_upgrade(answer.status, answer.body, answer.headers);
        return;
    }
    if (const auto bad = apply_accept(answer, wait->offered, wait->result); !bad.empty()) {
        log(log_level::error, "upgrade hook answer for peer=%s: %.*s", peer().c_str(),
            static_cast<int>(bad.size()), bad.data());
        reject_upgrade(500, bad, {});
        return;
    }
    accept_websocket(std::move(wait->result), wait->deflate, std::move(answer.chosen.state));
    conn_.request_flush();
}

void http2_stream::reject_upgrade(int status, std::string_view body,
                                  const std::vector<name_value>& headers) {
    if (status < 400 || status > 599) status = 500;
    std::vector<protocol::owned_header> extra;
    if (valid_app_headers(headers)) {
        for (const auto& h : headers) extra.push_back({h.name, h.value});
    } else {
        log(log_level::error, "upgrade hook added a malformed header for peer=%s", peer().c_str());
        status = 500;
        body = "the application added a malformed header";
    }
    conn_.core().stats.count_rejection(status);
    respond_status(status, body, extra);
}

// ---------------------------------------------------------------- input

void http2_stream::receive(const std::uint8_t* data, std::size_t len) {
    bytes_in_ += len;
    if (exchange_) {
        exchange_body(data, len);
    } else if (ws_ && held_.empty() && reading()) {
        feed(data, len);
    } else if (ws_ || (req_ && req_->wait)) {
        // Not consumed: the window stays closed by this much, which bounds what is held.
        held_.append(reinterpret_cast<const char*>(data), len);
    } else {
        conn_.consume(id_, len);  // a request body nobody reads
    }
}

// nghttp2 hands DATA as a view into our own read buffer (it never keeps a payload), so the
// bytes are ours to unmask in place, as on HTTP/1.1.
void http2_stream::feed(const std::uint8_t* data, std::size_t len) {
    ws_->receive(const_cast<std::uint8_t*>(data), len);
    conn_.consume(id_, len);
}

void http2_stream::feed_held() {
    if (!ws_ || held_.empty() || !reading() || ended_) return;
    std::string held;
    held.swap(held_);
    ws_->receive(reinterpret_cast<std::uint8_t*>(held.data()), held.size());
    conn_.consume(id_, held.size());
    conn_.request_flush();
}

// ---------------------------------------------------------------- byte_channel

void http2_stream::request_flush() {
    if (deferred_) {
        deferred_ = false;
        nghttp2_session_resume_data(conn_.session(), id_);
    }
    if (!congested_ && out_.size() > conn_.core().opts.high_water_mark) {
        // The peer takes our frames slower than they come: stop taking its input (its
        // window closes) until ours drains, as a TCP connection stops reading.
        congested_ = true;
        if (ws_) ws_->on_congested();
        watch_progress();
    }
    conn_.request_flush();
}

void http2_stream::watch_progress() {
    const auto t = to_ms(conn_.core().opts.send_timeout);
    if (t == 0 || send_deadline_ != 0) return;
    const auto now = uv_now(conn_.core().loop);
    send_deadline_ = now + t;
    last_progress_ = now;
    rearm();
}

void http2_stream::set_paused(bool paused) {
    user_paused_ = paused;
    if (!paused) feed_held();
}

// The WebSocket is over: what is queued goes out, then END_STREAM. The peer's END_STREAM
// closes the stream; close_timeout bounds the wait for it.
void http2_stream::finish() {
    if (finishing_) return;
    finishing_ = true;
    const auto t = std::max<std::uint64_t>(to_ms(conn_.core().opts.close_timeout), 1);
    close_deadline_ = uv_now(conn_.core().loop) + t;
    deferred_ = true;  // resume the provider: it reports EOF once the queue is empty
    request_flush();
    rearm();
}

// The WebSocket is over and our END_STREAM is out. Waiting for the peer's (as a TCP
// connection waits for the FIN) gains nothing on h2 and some peers never send it (nghttpx
// 1.52 towards its backends): RST_STREAM(NO_ERROR) ends the stream now (RFC 9113 §8.1
// allows it after a complete response), and the connection goes on.
void http2_stream::end_stream_sent() {
    if (ws_ && !peer_ended_) reset(NGHTTP2_NO_ERROR, nullptr);
}

// ---------------------------------------------------------------- deadlines

std::uint64_t http2_stream::request_deadline() const noexcept {
    if (!req_ || responded_ || req_->complete) return 0;
    const auto t = to_ms(conn_.core().opts.handshake_timeout);
    return t == 0 ? 0 : started_ + t;
}

std::uint64_t http2_stream::next_deadline() const noexcept {
    std::uint64_t next = 0;
    auto consider = [&](std::uint64_t t) {
        if (t != 0 && (next == 0 || t < next)) next = t;
    };
    consider(send_deadline_);
    consider(close_deadline_);
    consider(exchange_deadline());
    consider(request_deadline());
    if (req_ && req_->wait) consider(req_->wait->deadline);
    if (ws_) consider(ws_->next_deadline());
    return next;
}

void http2_stream::handle_deadline(std::uint64_t now, bool undelivered) {
    if (ended_) return;
    if (req_ && req_->wait && req_->wait->deadline && now >= req_->wait->deadline) {
        if (end_wait(*req_->wait->reply)) {
            apply_upgrade_answer();
        } else {
            req_->wait.reset();
            log(log_level::warn, "upgrade not answered in time peer=%s", peer().c_str());
            reject_upgrade(503, "the application did not answer in time", {});
        }
        return;
    }
    if (const auto t = exchange_deadline(); t != 0 && now >= t) {
        exchange_timed_out(now);
        return;
    }
    if (const auto t = request_deadline(); t != 0 && now >= t) {
        // The header block never ended (HEADERS without the CONTINUATION that ends it):
        // as an HTTP/1.1 request head that never completes, it gets handshake_timeout.
        log(log_level::debug, "h2 request incomplete peer=%s stream=%d", peer().c_str(), id_);
        responded_ = true;
        reset(NGHTTP2_CANCEL, "handshake timeout");
        return;
    }
    if (close_deadline_ && now >= close_deadline_) {
        reset(NGHTTP2_CANCEL, "close timeout");
        close_deadline_ = 0;
        return;
    }
    if (send_deadline_ && now >= send_deadline_) {
        const auto t = to_ms(conn_.core().opts.send_timeout);
        if ((out_.empty() && file_left_ == 0) || t == 0) {
            send_deadline_ = 0;
        } else if (now < last_progress_ + t) {
            send_deadline_ = last_progress_ + t;  // slow, not stuck
        } else {
            log(log_level::warn, "send timeout peer=%s stream=%d: %zu bytes unsent",
                peer().c_str(), id_, out_.size());
            if (ws_) ws_->note_send_timeout();
            send_deadline_ = 0;
            reset(NGHTTP2_CANCEL, "send timeout");
            return;
        }
    }
    if (ws_) ws_->handle_deadline(now, undelivered || !out_.empty());
}

}  // namespace sockeye::server_detail
