#include "connection.hpp"

#include <unistd.h>

#include <strings.h>
#include <algorithm>

#include <cstring>

#include "common/escape.hpp"
#include "http/query.hpp"
#include "http/response.hpp"
#include "log.hpp"
#include "protocol/extensions.hpp"
#include "protocol/http_tokens.hpp"

namespace sockeye::server_detail {

namespace {

constexpr std::size_t file_piece = 64 * 1024;

std::string peer_name(const uv_tcp_t* tcp) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        uv_ip4_name(a, ip, sizeof ip);
        return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
    }
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof ip);
    // Built by appending: GCC 12 warns falsely (-Wrestrict) on "[" + std::string(...).
    std::string out(1, '[');
    out += ip;
    out += "]:";
    out += std::to_string(ntohs(a->sin6_port));
    return out;
}

using common::protocol_type;

}  // namespace

// ---------------------------------------------------------------- lifecycle

connection_impl::connection_impl(server_core& core)
    : core_(core), transport_(core.loop, *this, core.transport_io) {}

connection_impl::~connection_impl() {
    core_.deadlines.cancel(*this);  // terminate() did already; the heap must never dangle
    release_handle();               // likewise: a handle must never reach a freed connection
}

connection_impl::http_state::~http_state() {
    if (file_fd >= 0) ::close(file_fd);
}

void connection_impl::stop_file() noexcept {
    if (!sending_file()) return;
    ::close(http_->file_fd);
    http_->file_fd = -1;
    http_->file_left = 0;
}

void connection_impl::accept_from(server_core& core, uv_stream_t* listener, bool over_limit) {
    auto* c = new connection_impl(core);
    core.add(c);
    if (uv_accept(listener, c->transport_.stream()) != 0) {
        c->phase_ = phase::closed;
        c->terminate("accept failed");
        return;
    }
    try {
        if (core.tls) c->transport_.set_tls(std::make_unique<net::tls_engine>(core.tls->get()));
    } catch (const std::exception& e) {
        log(log_level::error, "TLS setup: %s", e.what());
        c->phase_ = phase::closed;
        c->terminate("TLS setup failed");
        return;
    }
    c->start();
    if (over_limit) {
        core.stats.refused_at_limit++;
        log(log_level::warn, "connection limit (%zu) reached: refusing peer=%s",
            core.opts.max_connections, c->peer_.c_str());
        if (c->transport_.tls()) {
            c->terminate("connection limit");  // no plaintext answer before a TLS handshake
        } else {
            const protocol::http_header retry[] = {{"Retry-After", "1"}};
            c->respond(http::text_response(503, "server at connection limit\n", false, retry),
                       false);
        }
    }
}

void connection_impl::start() {
    uv_tcp_nodelay(transport_.tcp(), 1);
    peer_ = peer_name(transport_.tcp());
    started_ = uv_now(core_.loop);
    core_.stats.http_connections_open++;
    http_ = std::make_unique<http_state>(http::request_limits{core_.opts.max_header_bytes, 100});
    if (const auto t = to_ms(core_.opts.handshake_timeout)) http_->deadline = started_ + t;
    update_reading();
    arm_timer();
}

// Ends the connection now: accounts for it, tells the application, closes the handles.
void connection_impl::terminate(const char* why) {
    const bool was_closed = phase_ == phase::closed;
    phase_ = phase::closed;
    // Before on_close: what other threads post from now on (or posted already) is dropped.
    release_handle();
    // Should this ever run inside the session's parsing (a handler ending the connection),
    // nothing of the rest of that read may reach the application after on_close.
    if (session_) session_->stop();
    cancel_upgrade_wait();
    abort_exchange();
    if (!was_closed) {
        const std::uint64_t in = transport_.bytes_in(), out = transport_.bytes_out();
        if (session_) {
            core_.stats.connections_open--;
            core_.stats.count_close(final_code_);
            const double secs = static_cast<double>(uv_now(core_.loop) - started_) / 1000.0;
            log(log_level::info,
                "close peer=%s code=%u reason=\"%s\" in=%llu out=%llu duration=%.3fs%s%s",
                peer_.c_str(), final_code_, common::escape_for_display(final_reason_, true).c_str(),
                static_cast<unsigned long long>(in), static_cast<unsigned long long>(out), secs,
                why ? " why=" : "", why ? why : "");
        } else {
            core_.stats.http_connections_open--;
            if (why) log(log_level::debug, "http close peer=%s why=%s", peer_.c_str(), why);
        }
        if (opened_ && core_.h.on_close) {
            opened_ = false;
            core_.h.on_close(*this, final_code_, final_reason_);
        }
    }
    core_.deadlines.cancel(*this);
    transport_.close();
}

void connection_impl::on_transport_closed() {
    handle_closed();
}

void connection_impl::handle_closed() {
    core_.remove(this);
    delete this;
}

// Starts the end of the connection: flush what is queued, send FIN, then read until the
// peer's EOF (closing with unread input would turn the FIN into a RST and could destroy
// the close frame in flight), bounded by close_timeout.
void connection_impl::begin_close() {
    if (phase_ == phase::closing || phase_ == phase::closed) return;
    phase_ = phase::closing;
    stop_file();
    cancel_upgrade_wait();
    abort_exchange();
    const auto now = uv_now(core_.loop);
    const auto t = std::max<std::uint64_t>(to_ms(core_.opts.close_timeout), 1);
    if (close_deadline_ == 0 || close_deadline_ > now + t) close_deadline_ = now + t;
    if (http_) http_->deadline = 0;
    next_ping_ = pong_deadline_ = 0;
    arm_timer();
    transport_.finish();
}

void connection_impl::shutdown_for_server() {
    if (phase_ == phase::websocket && session_) {
        close(protocol::close_code::going_away, "server shutting down");
    } else if (phase_ == phase::http) {
        begin_close();
    }
}

// ---------------------------------------------------------------- reading

void connection_impl::on_transport_data(std::uint8_t* data, std::size_t len) {
    handle_bytes(data, len);
}

void connection_impl::on_transport_end(const char* error) {
    if (phase_ == phase::closing && error == nullptr) {
        terminate(nullptr);  // the peer's EOF after our FIN: a clean end
    } else {
        terminate(error ? error : "peer closed TCP");
    }
}

// Room in the output (after a synchronous write as after a completed one): the file goes
// on, or requests held back while the output was full are answered.
void connection_impl::on_transport_writable() {
    if (phase_ != phase::http) return;
    if (sending_file()) {
        send_file_piece();
    } else if (!http_->held_input.empty()) {
        answer_held_input();
    }
}

// Output passed the high-water mark: the peer is not keeping up. Slow is fine; a peer that
// then takes nothing for send_timeout is dropped (a close frame would only queue behind the
// rest). Progress is what the peer acknowledges, checked when the deadline comes.
void connection_impl::on_transport_congested() {
    pong_deadline_ = 0;  // we stop reading: its pongs can't tell us anything now
    watch_progress();
}

void connection_impl::watch_progress() {
    const auto t = to_ms(core_.opts.send_timeout);
    if (t == 0 || send_deadline_ != 0) return;
    const auto now = uv_now(core_.loop);
    note_progress(now);
    send_deadline_ = now + t;
    arm_timer();
}

// Remembers when the peer last received bytes of ours. Looked at lazily (on deadlines), so
// the time is when the progress was seen: never earlier than it happened.
void connection_impl::note_progress(std::uint64_t now) {
    const std::uint64_t accepted = transport_.bytes_delivered();
    if (accepted != accepted_mark_) {
        accepted_mark_ = accepted;
        last_progress_ = now;
    }
}

void connection_impl::on_transport_drain() {
    send_deadline_ = 0;
    if (opened_ && phase_ == phase::websocket && core_.h.on_drain) core_.h.on_drain(*this);
    if (phase_ == phase::http && http_->exchange) http_->exchange->drained();
}

void connection_impl::handle_bytes(std::uint8_t* data, std::size_t len) {
    switch (phase_) {
        case phase::http: {
            const std::size_t used = handle_http(data, len);
            if (used < len && phase_ == phase::websocket) {
                session_->receive(data + used, len - used);
                after_session_event();
            } else if (used < len && phase_ == phase::http) {
                // The rest waits until the file being sent is done or the output has room;
                // reading stops meanwhile, and the wait is the send timeout's to judge, not
                // the request-head deadline's.
                http_->held_input.append(reinterpret_cast<const char*>(data + used), len - used);
                if (!upgrade_waiting()) http_->deadline = 0;
                update_reading();
            }
            break;
        }
        case phase::websocket:
            last_frame_ = uv_now(core_.loop);
            // Any byte from the peer proves it alive, a pong or the middle of a long frame.
            pong_deadline_ = 0;
            session_->receive(data, len);
            after_session_event();
            break;
        case phase::closing:
        case phase::closed:
            break;  // after our close or error answer: discard until the peer's EOF
    }
}

std::size_t connection_impl::handle_http(std::uint8_t* data, std::size_t len) {
    std::size_t used = 0;
    // Requests are answered only while the output has room: pipelined requests must not
    // pile up responses (each can be far larger than its request) for a peer not reading.
    while (used < len && phase_ == phase::http && !http_blocked()) {
        if (http_->exchange) {  // a route's body: pieces go to the application in place
            http_->in_exchange_call = true;
            const auto r = http_->parser.feed_body(reinterpret_cast<const char*>(data + used),
                                                   len - used, body_sink, this);
            http_->in_exchange_call = false;
            if (r.status == http::parse_status::error) {
                log(log_level::debug, "bad request body peer=%s", peer_.c_str());
                abort_exchange();
                respond(http::text_response(r.http_status, std::string(r.reason) + "\n", false),
                        false);
                return len;
            }
            used += r.consumed;
            if (r.status == http::parse_status::body_complete && !http_->exchange->too_large()) {
                http_->in_exchange_call = true;
                http_->exchange->body_complete();
                http_->in_exchange_call = false;
            }
            after_exchange_event();
            continue;
        }
        const auto r = http_->parser.feed(reinterpret_cast<const char*>(data + used), len - used);
        if (r.status == http::parse_status::need_more) return len;
        if (r.status == http::parse_status::error) {
            log(log_level::debug, "bad request peer=%s status=%d reason=%.*s", peer_.c_str(),
                r.http_status, static_cast<int>(r.reason.size()), r.reason.data());
            respond(http::text_response(r.http_status, std::string(r.reason) + "\n", false), false);
            return len;
        }
        used += r.consumed;
        handle_request();
    }
    return used;
}

void connection_impl::handle_request() {
    http_->deadline = 0;
    std::vector<protocol::http_header> scratch;
    const protocol::request_head head = http_->parser.as_request_head(scratch);
    if (protocol::is_websocket_request(head)) {
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
        upgrade(result, head.target, deflate);
        return;
    }
    core_.stats.http_requests++;
    const http::request_parser& req = http_->parser;
    if (core_.shared.app_routes.size() != 0 &&
        start_route(req, req.keep_alive() && !core_.shutting_down)) {
        return;
    }
    const bool keep_alive = req.keep_alive() && !req.has_body() && !core_.shutting_down;
    http_answer a = core_.routes->answer(req, core_.stats, keep_alive);
    if (a.file_fd >= 0) {
        http_->file_fd = a.file_fd;
        http_->file_left = a.file_size;
        http_->keep_alive_after_file = a.keep_alive;
    }
    respond(std::move(a.head), a.keep_alive);  // with a file, the ending waits for it
    if (sending_file()) send_file_piece();
}

void connection_impl::respond(std::string bytes, bool keep_alive) {
    // Every HTTP answer passes here, error and handshake rejections included: a HEAD
    // request never gets a body (RFC 9110 §9.3.2), whichever builder made the answer.
    if (http_ && http_->parser.head_request()) http::drop_body(bytes);
    transport_.output().append({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    request_flush();
    if (sending_file()) return;  // finish_response() runs when the file is out
    if (!keep_alive) {
        begin_close();
    } else if (phase_ == phase::http) {
        finish_response();
    }
}

// Ready for the next request on a keep-alive connection.
void connection_impl::finish_response() {
    http_->parser.reset();
    if (const auto t = to_ms(core_.opts.handshake_timeout)) {
        http_->deadline = uv_now(core_.loop) + t;
    }
    arm_timer();
}

void connection_impl::send_file_piece() {
    static thread_local std::uint8_t piece[file_piece];
    while (sending_file() && http_->file_left > 0 &&
           buffered_amount() < core_.opts.high_water_mark) {
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::uint64_t>(http_->file_left, file_piece));
        const ssize_t n = ::read(http_->file_fd, piece, want);
        if (n <= 0) {  // the file shrank or failed under us: the response can't be completed
            stop_file();
            begin_close();
            return;
        }
        transport_.output().append({piece, static_cast<std::size_t>(n)});
        http_->file_left -= static_cast<std::uint64_t>(n);
    }
    request_flush();
    if (sending_file() && http_->file_left == 0) {
        stop_file();
        if (!http_->keep_alive_after_file) {
            begin_close();
            return;
        }
        finish_response();
        answer_held_input();
    }
}

// Requests that arrived while the output was busy, answered now as far as there is room.
void connection_impl::answer_held_input() {
    if (!http_->held_input.empty() && !http_blocked()) {
        std::string held;
        held.swap(http_->held_input);
        handle_bytes(reinterpret_cast<std::uint8_t*>(held.data()), held.size());
        request_flush();
    }
    if (phase_ != phase::closed) update_reading();
}

// permessage-deflate: the first acceptable offer wins and its answer joins the 101 headers;
// a Sec-WebSocket-Extensions header that does not parse turns the answer into a 400.
std::optional<protocol::deflate_params> connection_impl::negotiate_compression(
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

void connection_impl::upgrade(const protocol::handshake_result& result, std::string_view target,
                              const std::optional<protocol::deflate_params>& deflate) {
    const std::string response = result.to_http();
    transport_.output().append(
        {reinterpret_cast<const std::uint8_t*>(response.data()), response.size()});
    // Urgent frames (a pong for a ping in the same read) may overtake data frames, never the
    // 101 (RFC 6455 §4.2.2: frames follow the handshake).
    transport_.output().seal();
    protocol::session_options so;
    so.local_role = protocol::role::server;
    so.max_message_size = core_.opts.max_message_size;
    so.max_frame_size = core_.opts.max_frame_size;
    so.max_fragments = core_.opts.max_fragments;
    session_.emplace(so, static_cast<protocol::session_handler&>(*this));
    if (deflate) {
        const auto& c = core_.opts.compression;
        session_->enable_deflate(
            protocol::settings_for(*deflate, protocol::role::server, c.mem_level, c.threshold));
    }
    path_.assign(target);
    subprotocol_ = result.subprotocol;
    http_.reset();
    phase_ = phase::websocket;
    core_.stats.http_connections_open--;
    core_.stats.connections_open++;
    core_.stats.connections_total++;
    const auto now = uv_now(core_.loop);
    last_frame_ = now;
    if (const auto t = to_ms(core_.opts.ping_interval)) next_ping_ = now + t;
    arm_timer();
    log(log_level::info, "open peer=%s path=%s subprotocol=%s extensions=%s", peer_.c_str(),
        path_.c_str(), subprotocol_.empty() ? "-" : subprotocol_.c_str(),
        deflate ? "permessage-deflate" : "-");
    opened_ = true;
    if (core_.h.on_open) core_.h.on_open(*this);
    request_flush();
}

// ---------------------------------------------------------------- application routes

// A request to an application route: the handler gets an exchange that lives until the
// response ended and the body was read. False when no route has this path (static files
// and the built-in endpoints answer then).
bool connection_impl::start_route(const http::request_parser& req, bool keep_alive) {
    const auto path = http::split_target(req.target()).path;
    http::route_params params;
    const auto found = core_.shared.app_routes.find(req.method(), path, params);
    switch (found.status) {
        case http::route_status::not_found:
            return false;
        case http::route_status::bad_request:
            respond(http::text_response(400, "malformed percent-encoding in the path\n", false),
                    false);
            return true;
        case http::route_status::method_not_allowed:
            respond(http::method_not_allowed_response(found.allow, keep_alive && !req.has_body()),
                    keep_alive && !req.has_body());
            return true;
        case http::route_status::found:
            break;
    }
    const app_route& route = core_.shared.app_handlers[found.handler];
    if (route.options.max_body != 0 && req.content_length() > route.options.max_body) {
        core_.stats.count_rejection(413);
        respond(http::text_response(413, "request body too large\n", false), false);
        return true;
    }
    http_request request;
    if (const auto bad =
            make_http_request(req, peer_, transport_.tls(), transport_.tls_server_name(), request);
        !bad.empty()) {
        respond(http::text_response(400, std::string(bad) + "\n", false), false);
        return true;
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        request.params.push_back({std::string(params.name(i)), std::string(params.value(i))});
    }
    http_->exchange = std::make_unique<route_exchange>(
        *this, std::move(request), req.method() == "HEAD", keep_alive, route.options.max_body);
    http_->in_exchange_call = true;
    try {
        route.handler(*http_->exchange);
    } catch (const std::exception& e) {
        log(log_level::error, "route %s %s threw: %s", req.method().data(),
            std::string(path).c_str(), e.what());
        http_->exchange->fail();
    } catch (...) {
        log(log_level::error, "route handler threw");
        http_->exchange->fail();
    }
    if (!req.has_body()) {  // the body's end is now: no bytes will come to say so
        http_->parser.feed_body(nullptr, 0, body_sink, this);
        http_->exchange->body_complete();
    }
    http_->in_exchange_call = false;
    if (phase_ == phase::http) after_exchange_event();
    return true;
}

void connection_impl::body_sink(void* ctx, const char* piece, std::size_t len) {
    auto* c = static_cast<connection_impl*>(ctx);
    if (c->http_ && c->http_->exchange) {
        c->http_->exchange->deliver_body({reinterpret_cast<const std::uint8_t*>(piece), len});
    }
}

void connection_impl::exchange_output(std::span<const std::uint8_t> a,
                                      std::span<const std::uint8_t> b) {
    if (phase_ != phase::http) return;
    transport_.output().append(a, b);
    request_flush();
}

void connection_impl::exchange_changed() {
    if (phase_ != phase::http || http_->in_exchange_call) return;  // looked at on return
    request_flush();  // the flusher calls after_exchange_event(), outside the exchange
}

// Acts on the exchange's state: too large a body, a finished exchange (next request or
// close), reading on or off.
void connection_impl::after_exchange_event() {
    if (phase_ != phase::http || !http_->exchange || http_->in_exchange_call) return;
    route_exchange& ex = *http_->exchange;
    if (ex.too_large()) {
        const bool began = ex.began();
        abort_exchange();
        core_.stats.count_rejection(413);
        if (began) {
            terminate("request body too large");
        } else {
            respond(http::text_response(413, "request body too large\n", false), false);
        }
        return;
    }
    if (ex.ended()) {
        // Done. A response that ended before its body was read closes the connection: the
        // rest of the body must never be parsed as a request.
        const bool keep = ex.keep_alive() && ex.body_done();
        http_->exchange.reset();
        if (!keep) {
            begin_close();
            return;
        }
        finish_response();
        answer_held_input();
        return;
    }
    if (!http_blocked()) answer_held_input();
    update_reading();
}

// The client is gone (or the connection ends) while a route's exchange is open.
void connection_impl::abort_exchange() {
    if (!http_ || !http_->exchange) return;
    std::unique_ptr<route_exchange> ex = std::move(http_->exchange);
    ex->abort();
}

// ---------------------------------------------------------------- the upgrade hook

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
void connection_impl::ask_application(protocol::handshake_result result, std::string_view target,
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

void connection_impl::cancel_upgrade_wait() {
    if (!upgrade_waiting()) return;
    end_wait(*http_->wait->reply);
    http_->wait.reset();
}

void connection_impl::apply_upgrade_answer() {
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
    state = std::move(chosen.state);
    std::string held = std::move(http_->held_input);  // frames that came with the request
    upgrade(result, wait->target, wait->deflate);
    if (!held.empty() && phase_ == phase::websocket) {
        handle_bytes(reinterpret_cast<std::uint8_t*>(held.data()), held.size());
    }
    request_flush();
    if (phase_ != phase::closed) update_reading();
}

void connection_impl::reject_upgrade(int status, std::string_view body,
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

// After the session consumed input: act on a close it reached.
void connection_impl::after_session_event() {
    if (phase_ == phase::websocket && session_->state() == protocol::session_state::closed) {
        begin_close();
    }
}

// ---------------------------------------------------------------- session events

void connection_impl::on_message_begin(protocol::message_type type) {
    in_empty_ = true;
    delivery_.begin(*this, core_.h, type);
}

void connection_impl::on_message_data(std::span<const std::uint8_t> data, bool fin) {
    in_empty_ = in_empty_ && data.empty();
    if (fin) core_.stats.messages_in++;
    if (fin && in_empty_ && core_.opts.reject_empty) {
        close(protocol::close_code::policy_violation, "empty messages are not accepted");
        return;
    }
    delivery_.data(*this, core_.h, data, fin);
}

void connection_impl::on_pong(std::span<const std::uint8_t> payload) {
    pong_deadline_ = 0;
    if (core_.h.on_pong) core_.h.on_pong(*this, payload);
}

void connection_impl::on_close(std::uint16_t code, std::string_view reason) {
    close_received_ = true;
    final_code_ = code;
    final_reason_.assign(reason);
}

void connection_impl::on_error(protocol::error e) {
    final_code_ = protocol::close_code_for(e);
    final_reason_.assign(protocol::describe(e));
    log(log_level::info, "protocol error peer=%s code=%u: %s", peer_.c_str(), final_code_,
        final_reason_.c_str());
}

void connection_impl::on_send(std::span<const std::uint8_t> header,
                              std::span<const std::uint8_t> payload, bool urgent) {
    if (urgent) {
        transport_.output().append_urgent(header, payload);
    } else {
        transport_.output().append(header, payload);
    }
    request_flush();
}

// ---------------------------------------------------------------- sending (public API)

bool connection_impl::send(message_type type, std::span<const std::uint8_t> data) {
    if (phase_ != phase::websocket || !session_->send_message(protocol_type(type), data))
        return false;
    core_.stats.messages_out++;
    return true;
}

bool connection_impl::begin_message(message_type type) {
    return phase_ == phase::websocket && session_->begin_message(protocol_type(type));
}

bool connection_impl::write_message(std::span<const std::uint8_t> piece, bool fin) {
    if (phase_ != phase::websocket || !session_->write_message(piece, fin)) return false;
    if (fin) core_.stats.messages_out++;
    return true;
}

bool connection_impl::ping(std::span<const std::uint8_t> payload) {
    return phase_ == phase::websocket && session_->send_ping(payload);
}

bool connection_impl::close(std::uint16_t code, std::string_view reason) {
    if (phase_ != phase::websocket || !session_->close(code, reason)) return false;
    if (final_code_ == 1006 && !close_received_) {
        final_code_ = code;
        final_reason_.assign(reason);
    }
    if (session_->state() == protocol::session_state::closed) {
        begin_close();
    } else {
        const auto t = std::max<std::uint64_t>(to_ms(core_.opts.close_timeout), 1);
        close_deadline_ = uv_now(core_.loop) + t;
        arm_timer();
    }
    return true;
}

void connection_impl::pause() {
    user_paused_ = true;
    pong_deadline_ = 0;  // a peer we don't read from can't be judged by its pongs
    update_reading();
}

void connection_impl::resume() {
    user_paused_ = false;
    update_reading();
}

// ---------------------------------------------------------------- writing

void connection_impl::request_flush() {
    if (transport_.in_read() || dirty_ || phase_ == phase::closed) return;
    dirty_ = true;
    core_.dirty.push_back(this);
}

void connection_impl::update_reading() {
    bool want = phase_ != phase::closed;
    if (phase_ == phase::http) {
        // While the application decides on an upgrade, reading goes on (a client that
        // leaves must be noticed, so that a late answer finds it gone), holding what comes
        // up to one read buffer's worth.
        const std::size_t hold = upgrade_waiting() ? core_.read_buffer.size() : 1;
        want = want && !sending_file() && http_->held_input.size() < hold;
    }
    if (phase_ == phase::websocket) want = !user_paused_;
    transport_.set_reading(want);
}

// ---------------------------------------------------------------- timers

void connection_impl::arm_timer() {
    if (phase_ == phase::closed) return;
    std::uint64_t next = 0;
    auto consider = [&](std::uint64_t t) {
        if (t != 0 && (next == 0 || t < next)) next = t;
    };
    if (http_) consider(http_->deadline);
    consider(close_deadline_);
    consider(next_ping_);
    consider(pong_deadline_);
    consider(send_deadline_);
    if (phase_ == phase::websocket && to_ms(core_.opts.idle_timeout) != 0 &&
        !session_->close_sent()) {
        consider(last_frame_ + to_ms(core_.opts.idle_timeout));
    }
    if (next == 0) {
        core_.deadlines.cancel(*this);
    } else {
        core_.deadlines.schedule(*this, next);
    }
}

void connection_impl::on_deadline(net::deadline_entry& e) {
    static_cast<connection_impl&>(e).handle_deadline();
}

void connection_impl::handle_deadline() {
    if (phase_ == phase::closed) return;
    const auto now = uv_now(core_.loop);
    if (http_ && http_->deadline && now >= http_->deadline) {
        if (upgrade_waiting()) {
            if (end_wait(*http_->wait->reply)) {
                apply_upgrade_answer();  // answered, its delivery still on the way
            } else {
                http_->wait.reset();
                log(log_level::warn, "upgrade not answered in time peer=%s", peer_.c_str());
                reject_upgrade(503, "the application did not answer in time", {});
            }
            arm_timer();
            flush();
            return;
        }
        terminate("handshake timeout");
        return;
    }
    note_progress(now);
    // Not yet with the peer: in our queue or the kernel's (a ping behind megabytes there
    // can't have been answered yet).
    const bool unsent = transport_.undelivered() > 0;
    if (close_deadline_ && now >= close_deadline_) {
        // The close timeout is for the peer's answer. While our own close is still queued
        // behind data a slow reader is taking, that reader is not late yet.
        const auto t = std::max<std::uint64_t>(to_ms(core_.opts.close_timeout), 1);
        if (unsent && now < last_progress_ + t) {
            close_deadline_ = last_progress_ + t;
        } else {
            terminate("close timeout");
            return;
        }
    }
    if (send_deadline_ && now >= send_deadline_) {
        const auto t = to_ms(core_.opts.send_timeout);
        if (!unsent || t == 0) {
            send_deadline_ = 0;
        } else if (now < last_progress_ + t) {
            send_deadline_ = last_progress_ + t;  // slow, not stuck
        } else {
            log(log_level::warn, "send timeout peer=%s: %zu bytes unsent, none taken for %.1fs",
                peer_.c_str(), transport_.buffered(),
                static_cast<double>(now - last_progress_) / 1000.0);
            if (final_code_ == 1006) {
                final_code_ = protocol::close_code::policy_violation;
                final_reason_ = "send timeout";
            }
            terminate("send timeout");
            return;
        }
    }
    if (pong_deadline_ && now >= pong_deadline_) {
        if (unsent || !transport_.reading()) {
            // Our ping may still sit behind queued data, or the answer behind input we are
            // not reading: no verdict yet. A peer that takes nothing is the send timeout's.
            pong_deadline_ = now + std::max<std::uint64_t>(to_ms(core_.opts.pong_timeout), 1);
            if (unsent) watch_progress();
        } else {
            log(log_level::warn, "no pong peer=%s: dropping", peer_.c_str());
            terminate("pong timeout");
            return;
        }
    }
    if (phase_ == phase::websocket) {
        if (next_ping_ && now >= next_ping_) {
            if (pong_deadline_ == 0) {
                if (const auto pt = to_ms(core_.opts.pong_timeout)) pong_deadline_ = now + pt;
            }
            session_->send_ping();
            next_ping_ = now + to_ms(core_.opts.ping_interval);
        }
        const auto idle = to_ms(core_.opts.idle_timeout);
        if (idle && now >= last_frame_ + idle && !session_->close_sent()) {
            close(protocol::close_code::going_away, "idle timeout");
        }
    }
    arm_timer();
    flush();
}

}  // namespace sockeye::server_detail
