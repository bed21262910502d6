#include "http1_connection.hpp"

#include <unistd.h>

#include <strings.h>
#include <algorithm>

#include <cstring>

#include "common/escape.hpp"
#include "http/query.hpp"
#include "http/response.hpp"
#include "log.hpp"
#include "protocol/extensions.hpp"
#include "net/peer_address.hpp"
#include "protocol/http_tokens.hpp"

namespace sockeye::server_detail {

namespace {

constexpr std::size_t file_piece = 64 * 1024;

std::string peer_name(const uv_tcp_t* tcp) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    return net::format_peer(reinterpret_cast<const sockaddr*>(&ss));
}

using common::protocol_type;

}  // namespace

// ---------------------------------------------------------------- lifecycle

http1_connection::http1_connection(server_core& core)
    : core_(core), transport_(core.loop, *this, core.transport_io) {}

http1_connection::~http1_connection() {
    core_.deadlines.cancel(*this);  // terminate() did already; the heap must never dangle
    release_handle();               // likewise: a handle must never reach a freed connection
    if (has_ws_) ws_.~websocket_connection();
}

http1_connection::http_state::~http_state() {
    if (file_fd >= 0) ::close(file_fd);
}

std::vector<std::unique_ptr<http1_connection::http_state>>&
http1_connection::spare_http_states() noexcept {
    thread_local std::vector<std::unique_ptr<http_state>> spare;  // one loop per thread
    return spare;
}

std::unique_ptr<http1_connection::http_state> http1_connection::take_http_state(
    const http::request_limits& limits) {
    auto& spare = spare_http_states();
    while (!spare.empty()) {
        std::unique_ptr<http_state> s = std::move(spare.back());
        spare.pop_back();
        // Another server on this thread may have other limits.
        const auto& l = s->parser.limits();
        if (l.max_head_bytes == std::min(limits.max_head_bytes, http::head_fields::max_bytes) &&
            l.max_headers == limits.max_headers) {
            return s;
        }
    }
    return std::make_unique<http_state>(limits);
}

void http1_connection::keep_http_state(std::unique_ptr<http_state> s) noexcept {
    // Up to the handshakes a loop has in flight at once, typically; more are freed.
    constexpr std::size_t max_spare = 64;
    auto& spare = spare_http_states();
    if (!s || spare.size() >= max_spare) return;
    if (s->file_fd >= 0) ::close(s->file_fd);
    s->file_fd = -1;
    s->file_left = 0;
    s->keep_alive_after_file = false;
    std::string().swap(s->held_input);
    std::string().swap(s->preface_part);
    s->deadline = 0;
    s->wait.reset();
    s->exchange.reset();
    s->exchange_idle = 0;
    s->in_exchange_call = false;
    s->parser.restart();
    try {
        spare.push_back(std::move(s));
    } catch (...) {  // no memory for the list: the state is freed instead
    }
}

void http1_connection::stop_file() noexcept {
    if (!sending_file()) return;
    ::close(http_->file_fd);
    http_->file_fd = -1;
    http_->file_left = 0;
}

void http1_connection::accept_from(server_core& core, uv_stream_t* listener, bool over_limit) {
    auto* c = new http1_connection(core);
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

void http1_connection::start() {
    uv_tcp_nodelay(transport_.tcp(), 1);
    peer_ = peer_name(transport_.tcp());
    started_ = uv_now(core_.loop);
    core_.stats.http_connections_open++;
    http_ = take_http_state(http::request_limits{core_.opts.max_header_bytes, 100});
    http_->hooks.c = this;
    if (const auto t = to_ms(core_.opts.handshake_timeout)) http_->deadline = started_ + t;
    update_reading();
    arm_timer();
}

// Ends the connection now: accounts for it, tells the application, closes the handles.
void http1_connection::terminate(const char* why) {
    const bool was_closed = phase_ == phase::closed;
    phase_ = phase::closed;
    cancel_upgrade_wait();
    abort_exchange();
    if (h2_) h2_->end_all(why ? why : "connection closed");
    if (!was_closed) {
        if (has_ws_) {
            // The close record, the counters and on_close are the WebSocket's.
            ws()->end(why, transport_.bytes_in(), transport_.bytes_out(), started_);
        } else {
            core_.stats.http_connections_open--;
            if (why) log(log_level::debug, "http close peer=%s why=%s", peer_.c_str(), why);
        }
    }
    core_.deadlines.cancel(*this);
    transport_.close();
}

void http1_connection::on_transport_closed() {
    handle_closed();
}

void http1_connection::handle_closed() {
    core_.remove(this);
    delete this;
}

// Starts the end of the connection: flush what is queued, send FIN, then read until the
// peer's EOF (closing with unread input would turn the FIN into a RST and could destroy
// the close frame in flight), bounded by close_timeout.
void http1_connection::begin_close() {
    if (phase_ == phase::closing || phase_ == phase::closed) return;
    phase_ = phase::closing;
    stop_file();
    cancel_upgrade_wait();
    abort_exchange();
    const auto now = uv_now(core_.loop);
    const auto t = std::max<std::uint64_t>(to_ms(core_.opts.close_timeout), 1);
    close_deadline_ = now + t;
    if (http_) http_->deadline = 0;
    arm_timer();
    transport_.finish();
}

void http1_connection::shutdown_for_server() {
    if (phase_ == phase::http2) {
        h2_->shutdown();
        pump_http2();
    } else if (phase_ == phase::websocket) {
        ws()->shutdown();
    } else if (phase_ == phase::http) {
        begin_close();
    }
}

// ---------------------------------------------------------------- reading

void http1_connection::on_transport_data(std::uint8_t* data, std::size_t len) {
    handle_bytes(data, len);
}

void http1_connection::on_transport_end(const char* error) {
    if (phase_ == phase::closing && error == nullptr) {
        terminate(nullptr);  // the peer's EOF after our FIN: a clean end
    } else {
        terminate(error ? error : "peer closed TCP");
    }
}

// Room in the output (after a synchronous write as after a completed one): the file goes
// on, or requests held back while the output was full are answered.
void http1_connection::on_transport_writable() {
    if (phase_ == phase::http2) pump_http2();
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
void http1_connection::on_transport_congested() {
    if (has_ws_) ws()->on_congested();  // we stop reading: its pongs can't tell us anything now
    watch_progress();
}

void http1_connection::watch_progress() {
    const auto t = to_ms(core_.opts.send_timeout);
    if (t == 0 || send_deadline_ != 0) return;
    const auto now = uv_now(core_.loop);
    note_progress(now);
    send_deadline_ = now + t;
    arm_timer();
}

// Remembers when the peer last received bytes of ours. Looked at lazily (on deadlines), so
// the time is when the progress was seen: never earlier than it happened.
void http1_connection::note_progress(std::uint64_t now) {
    const std::uint64_t accepted = transport_.bytes_delivered();
    if (accepted != accepted_mark_) {
        accepted_mark_ = accepted;
        last_progress_ = now;
    }
}

void http1_connection::on_transport_drain() {
    send_deadline_ = 0;
    if (phase_ == phase::http2) pump_http2();
    if (phase_ == phase::websocket) ws()->on_drain();
    if (phase_ == phase::http && http_->exchange) http_->exchange->drained();
}

void http1_connection::handle_bytes(std::uint8_t* data, std::size_t len) {
    switch (phase_) {
        case phase::http: {
            if (!h2_checked_ && maybe_start_http2(data, len)) break;
            const std::size_t used = handle_http(data, len);
            if (used < len && phase_ == phase::websocket) {
                ws()->receive(data + used, len - used);  // frames right behind the upgrade
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
            ws()->receive(data, len);
            break;
        case phase::http2:
            receive_http2(data, len);
            break;
        case phase::closing:
        case phase::closed:
            break;  // after our close or error answer: discard until the peer's EOF
    }
}

bool http1_connection::maybe_start_http2(std::uint8_t* data, std::size_t len) {
    static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (!core_.opts.http2.enabled) {
        h2_checked_ = true;
        return false;
    }
    bool h2 = false;
    std::string bytes;
    if (transport_.tls()) {
        h2 = transport_.tls_alpn() == "h2";
    } else {
        // h2c with prior knowledge (RFC 9113 §3.3): the preface may come in pieces.
        std::string& part = http_->preface_part;
        const std::size_t n = std::min(len, preface.size() - part.size());
        if (std::memcmp(data, preface.data() + part.size(), n) != 0) {
            h2_checked_ = true;
            if (part.empty()) return false;
            bytes = std::move(part);  // it was HTTP/1.1 after all: replay from the start
            bytes.append(reinterpret_cast<const char*>(data), len);
            handle_bytes(reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size());
            return true;
        }
        if (part.size() + len < preface.size()) {
            part.append(reinterpret_cast<const char*>(data), len);
            return true;
        }
        h2 = true;
        bytes = std::move(part);
    }
    h2_checked_ = true;
    if (!h2) return false;
    bytes.append(reinterpret_cast<const char*>(data), len);
    try {
        h2_ = std::make_unique<http2_connection>(core_, static_cast<byte_channel&>(*this),
                                                 transport_.tls(), transport_.tls_server_name());
    } catch (const std::exception& e) {
        log(log_level::error, "HTTP/2 setup: %s", e.what());
        terminate("HTTP/2 setup failed");
        return true;
    }
    keep_http_state(std::move(http_));
    phase_ = phase::http2;
    // The kernel's queue is one FIFO under all streams: keep it short, so that a small
    // message of one stream waits behind little of another's large one.
    transport_.limit_unsent(128 << 10);
    update_reading();
    arm_timer();
    receive_http2(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return true;
}

void http1_connection::receive_http2(const std::uint8_t* data, std::size_t len) {
    if (!h2_->receive(data, len)) begin_close();
    else arm_timer();
}

void http1_connection::pump_http2() {
    if (phase_ != phase::http2) return;
    h2_->pump();
    if (h2_->over()) begin_close();
}

std::size_t http1_connection::handle_http(std::uint8_t* data, std::size_t len) {
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

void http1_connection::handle_request() {
    http_->deadline = 0;
    std::vector<protocol::http_header> scratch;
    const protocol::request_head head = http_->parser.as_request_head(scratch);
    if (protocol::is_websocket_request(head)) {
        handle_upgrade_request(head);
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

void http1_connection::respond(std::string bytes, bool keep_alive) {
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
void http1_connection::finish_response() {
    http_->parser.reset();
    if (const auto t = to_ms(core_.opts.handshake_timeout)) {
        http_->deadline = uv_now(core_.loop) + t;
    }
    arm_timer();
}

void http1_connection::send_file_piece() {
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
void http1_connection::answer_held_input() {
    if (!http_->held_input.empty() && !http_blocked()) {
        std::string held;
        held.swap(http_->held_input);
        handle_bytes(reinterpret_cast<std::uint8_t*>(held.data()), held.size());
        request_flush();
    }
    if (phase_ != phase::closed) update_reading();
}

// ---------------------------------------------------------------- writing

void http1_connection::request_flush() {
    if (transport_.in_read() || dirty_ || phase_ == phase::closed) return;
    dirty_ = true;
    core_.dirty.push_back(this);
}

void http1_connection::update_reading() {
    bool want = phase_ != phase::closed;
    if (phase_ == phase::http) {
        // While the application decides on an upgrade, reading goes on (a client that
        // leaves must be noticed, so that a late answer finds it gone), holding what comes
        // up to one read buffer's worth.
        const std::size_t hold = upgrade_waiting() ? core_.read_buffer.size() : 1;
        want = want && !sending_file() && http_->held_input.size() < hold;
    }
    if (phase_ == phase::websocket) want = !user_paused_;
    // HTTP/2: always read; each stream's flow control is its window.
    transport_.set_reading(want);
}

void http1_connection::set_paused(bool paused) {
    user_paused_ = paused;
    update_reading();
}

// ---------------------------------------------------------------- timers

// One deadline for the whole connection: the earliest of the HTTP phase's, the closing
// phase's, the send timeout's and the WebSocket's own.
void http1_connection::arm_timer() {
    if (phase_ == phase::closed) return;
    std::uint64_t next = 0;
    auto consider = [&](std::uint64_t t) {
        if (t != 0 && (next == 0 || t < next)) next = t;
    };
    if (http_) consider(http_->deadline);
    consider(exchange_deadline());
    consider(close_deadline_);
    consider(send_deadline_);
    if (phase_ == phase::websocket) consider(ws()->next_deadline());
    if (phase_ == phase::http2) consider(h2_->next_deadline());
    if (next == 0) {
        core_.deadlines.cancel(*this);
    } else {
        core_.deadlines.schedule(*this, next);
    }
}

void http1_connection::on_deadline(net::deadline_entry& e) {
    static_cast<http1_connection&>(e).handle_deadline();
}

void http1_connection::handle_deadline() {
    if (phase_ == phase::closed) return;
    const auto now = uv_now(core_.loop);
    if (http_ && http_->deadline && now >= http_->deadline) {
        if (upgrade_waiting()) {
            upgrade_deadline();
            arm_timer();
            flush();
            return;
        }
        terminate("handshake timeout");
        return;
    }
    if (const auto t = exchange_deadline(); t != 0 && now >= t && phase_ == phase::http) {
        exchange_timed_out(now);
        if (phase_ == phase::closed) return;
    }
    note_progress(now);
    // Not yet with the peer: in our queue or the kernel's (a ping behind megabytes there
    // can't have been answered yet).
    const bool unsent = transport_.undelivered() > 0;
    if (close_deadline_ && now >= close_deadline_) {
        // Closing: the peer's EOF is due. While our last bytes are still on their way to a
        // slow reader, it is not late yet.
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
            if (has_ws_) ws()->note_send_timeout();
            if (h2_) h2_->note_send_timeout();
            terminate("send timeout");
            return;
        }
    }
    if (phase_ == phase::websocket) {
        ws()->handle_deadline(now, unsent);
        if (phase_ == phase::closed) return;
    }
    if (phase_ == phase::http2) {
        h2_->handle_deadline(now, unsent);
        if (phase_ == phase::closed) return;
        if (h2_->over()) begin_close();  // e.g. GOAWAY to a connection without streams
    }
    arm_timer();
    flush();
}

void http1_connection::on_transport_flushed() {
    if (has_ws_) ws()->note_flushed();
    if (h2_) h2_->note_flushed();
}

}  // namespace sockeye::server_detail
