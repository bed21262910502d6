#include "client/client.hpp"

#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "client/h2_request.hpp"
#include "protocol/handshake.hpp"

namespace sockeye {

const char* to_string(client_error e) noexcept {
    switch (e) {
        case client_error::none:
            return "none";
        case client_error::invalid_url:
            return "usage";
        case client_error::connect:
            return "connect";
        case client_error::tls:
            return "TLS";
        case client_error::handshake:
            return "handshake";
        case client_error::timeout:
            return "timeout";
    }
    return "?";
}

}  // namespace sockeye

namespace sockeye::client_detail {

namespace {

constexpr std::size_t io_buffer_size = 256 * 1024;

std::string address_name(const sockaddr_storage& ss) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        uv_ip4_name(a, ip, sizeof ip);
        return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
    }
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
}

using common::protocol_type;

std::uint64_t to_ms(double seconds) {
    return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1000.0 + 0.5);
}

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", s);
    return buf;
}

}  // namespace

client_connection::client_connection(uv_loop_t* loop, client_options options, handlers h,
                                     error_callback on_error)
    : loop_(loop), opts_(std::move(options)), h_(std::move(h)), on_error_(std::move(on_error)) {
    uv_timer_init(loop_, &timer_);
    uv_prepare_init(loop_, &flusher_);
    timer_.data = this;
    flusher_.data = this;
    resolver_.data = this;
    connect_req_.data = this;
    handles_open_ = true;
    if (opts_.low_water_mark > opts_.high_water_mark) opts_.low_water_mark = opts_.high_water_mark;
}

std::string client_connection::where() const {
    return url_.kind == host_kind::ipv6 ? "[" + url_.host + "]:" + std::to_string(url_.port)
                                        : url_.host + ":" + std::to_string(url_.port);
}

// ---------------------------------------------------------------- connecting

void client_connection::start() {
    if (phase_ != phase::idle) return;
    try {
        url_ = parse_url(opts_.url);
    } catch (const std::invalid_argument& e) {
        fail(client_error::invalid_url, e.what());
        return;
    }
    if (joined_ && !opts_.http2) {
        fail(client_error::invalid_url, "joining an HTTP/2 connection needs the http2 option");
        return;
    }
    try {
        if (opts_.http2) {
            h2_request_options ro;
            ro.secure = url_.secure;
            ro.authority = url_.host_header();
            ro.target = url_.target;
            ro.origin = opts_.origin;
            ro.subprotocols = opts_.subprotocols;
            for (const auto& [name, value] : opts_.headers)
                ro.extra_headers.push_back({name, value});
            h2_request_ = build_h2_request(ro);
        } else {
            protocol::client_request_options ro;
            ro.host = url_.host_header();
            ro.target = url_.target;
            ro.origin = opts_.origin;
            ro.subprotocols = opts_.subprotocols;
            for (const auto& [name, value] : opts_.headers)
                ro.extra_headers.push_back({name, value});
            protocol::client_request req = protocol::build_client_request(ro);
            key_ = std::move(req.key);
            request_ = std::move(req.http);
        }
    } catch (const std::exception& e) {
        fail(client_error::invalid_url, std::string("cannot build the request: ") + e.what());
        return;
    }
    if (joined_) {
        // The link's owner dials; this WebSocket waits for its stream.
        phase_ = phase::handshaking;
        arm_timer(opts_.connect_timeout);
        link_->open_stream(*this, std::move(h2_request_));
        return;
    }
    if (opts_.http2) {
        h2_link_settings ls;
        ls.where = where();
        ls.secure = url_.secure;
        ls.close_timeout = opts_.close_timeout;
        link_ = h2_link::create(loop_, ls);
        link_->open_stream(*this, std::move(h2_request_));
        dialing_ = true;
    }
    if (url_.secure) {
        try {
            tls_ctx_ = net::tls_context::create_client(opts_.cacert, opts_.insecure, opts_.http2);
        } catch (const std::exception& e) {
            fail(client_error::tls, e.what());
            return;
        }
    }
    io_ = std::make_shared<io_buffers>();
    io_->read.resize(io_buffer_size);
    if (url_.secure) io_->plain.resize(io_buffer_size);
    io_->shared.read = io_->read.data();
    io_->shared.read_size = io_->read.size();
    io_->shared.plain = io_->plain.data();
    io_->shared.plain_size = io_->plain.size();
    // The transport's own backpressure counts all output, and stopping reading because of
    // the application's own sends would deadlock against an echoing server (both sides
    // stop reading with full queues). The client applies the marks itself instead, to the
    // output its reading produces: see check_input_backpressure().
    io_->shared.high_water = io_->shared.low_water = std::numeric_limits<std::size_t>::max();
    arm_timer(opts_.connect_timeout);

    if (url_.kind != host_kind::name) {
        sockaddr_storage ss{};
        const int r =
            url_.kind == host_kind::ipv4
                ? uv_ip4_addr(url_.host.c_str(), url_.port, reinterpret_cast<sockaddr_in*>(&ss))
                : uv_ip6_addr(url_.host.c_str(), url_.port, reinterpret_cast<sockaddr_in6*>(&ss));
        if (r != 0) {
            fail(client_error::invalid_url, "bad address " + url_.host + ": " + uv_strerror(r));
            return;
        }
        addrs_.push_back(ss);
        connect_next();
        return;
    }
    phase_ = phase::resolving;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    const std::string service = std::to_string(url_.port);
    const int r =
        uv_getaddrinfo(loop_, &resolver_, on_resolved, url_.host.c_str(), service.c_str(), &hints);
    if (r != 0) {
        fail(client_error::connect, "cannot resolve " + url_.host + ": " + uv_strerror(r));
        return;
    }
    resolver_busy_ = true;
}

void client_connection::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* c = static_cast<client_connection*>(req->data);
    c->resolver_busy_ = false;
    if (c->phase_ != phase::resolving) {  // given up meanwhile (timeout, abort)
        if (res != nullptr) uv_freeaddrinfo(res);
        return;
    }
    if (status < 0) {
        c->fail(client_error::connect,
                "cannot resolve " + c->url_.host + ": " + uv_strerror(status));
        return;
    }
    for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        sockaddr_storage ss{};
        std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        c->addrs_.push_back(ss);
    }
    uv_freeaddrinfo(res);
    c->connect_next();
}

// Tries the next resolved address ("localhost" is often ::1 first while the server
// listens on 127.0.0.1 only). A failed uv_tcp_t cannot be reused: each try gets a new one.
void client_connection::connect_next() {
    if (next_addr_ >= addrs_.size()) {
        fail(client_error::connect,
             "cannot connect to " + where() + ": " +
                 (last_connect_error_.empty() ? "no usable address" : last_connect_error_));
        return;
    }
    const sockaddr_storage& addr = addrs_[next_addr_++];
    phase_ = phase::connecting;
    transport_ = std::make_unique<net::transport>(
        loop_, static_cast<net::transport_handler&>(*this), io_->shared);
    const int r = uv_tcp_connect(&connect_req_, transport_->tcp(),
                                 reinterpret_cast<const sockaddr*>(&addr), on_connected);
    if (r != 0) {
        last_connect_error_ = uv_strerror(r);
        transport_->close();  // on_transport_closed tries the next address
    }
}

void client_connection::on_connected(uv_connect_t* req, int status) {
    auto* c = static_cast<client_connection*>(req->data);
    if (status == UV_ECANCELED || c->phase_ != phase::connecting) return;
    if (status < 0) {
        c->last_connect_error_ = uv_strerror(status);
        c->transport_->close();
        return;
    }
    c->connection_established();
}

void client_connection::connection_established() {
    uv_tcp_nodelay(transport_->tcp(), 1);
    peer_ = address_name(addrs_[next_addr_ - 1]);
    phase_ = phase::handshaking;
    if (tls_ctx_) {
        try {
            auto engine = net::tls_engine::create_client(
                tls_ctx_->get(), url_.host, url_.kind != host_kind::name, !opts_.insecure);
            if (!engine->start_handshake()) {
                fail(client_error::tls,
                     "TLS handshake with " + where() + " failed: " + engine->error());
                return;
            }
            tls_ = engine.get();
            transport_->set_tls(std::move(engine));
        } catch (const std::exception& e) {
            fail(client_error::tls, e.what());
            return;
        }
    }
    if (dialing_) {
        // From here the link speaks for the connection: preface, SETTINGS, the CONNECT.
        dialing_ = false;
        link_->attach(std::move(transport_), io_, tls_, peer_);
        return;
    }
    response_ = std::make_unique<http::response_parser>();
    // With TLS the request waits in the plaintext queue until the handshake is done.
    transport_->output().append(
        {reinterpret_cast<const std::uint8_t*>(request_.data()), request_.size()});
    transport_->set_reading(true);
    transport_->flush();
}

void client_connection::handle_response(std::uint8_t* data, std::size_t len) {
    const auto r = response_->feed(reinterpret_cast<const char*>(data), len);
    if (r.status == http::parse_status::need_more) return;
    if (r.status == http::parse_status::error) {
        fail(client_error::handshake,
             "invalid HTTP response from " + where() + ": " + std::string(r.error));
        return;
    }
    std::vector<protocol::http_header> scratch;
    const protocol::response_head head = response_->as_response_head(scratch);
    const protocol::client_handshake_result v =
        protocol::verify_server_response(head, key_, opts_.subprotocols);
    if (!v.ok) {
        if (head.status != 101) {
            std::string msg =
                "server refused the WebSocket upgrade: HTTP " + std::to_string(head.status);
            if (!response_->reason_phrase().empty()) {
                msg += " " + std::string(response_->reason_phrase());
            }
            fail(client_error::handshake, msg);
        } else {
            fail(client_error::handshake,
                 "bad handshake response from " + where() + ": " + v.error);
        }
        return;
    }
    response_.reset();
    open_session(v.subprotocol);
    // Frames the server sent right behind its 101.
    if (phase_ == phase::open && r.consumed < len) {
        receive_frames(data + r.consumed, len - r.consumed);
    }
}

void client_connection::open_session(std::string subprotocol) {
    subprotocol_ = std::move(subprotocol);
    protocol::session_options so;
    so.local_role = protocol::role::client;
    so.max_message_size = opts_.max_message_size;
    so.max_fragments = opts_.max_fragments;
    so.max_frame_size = opts_.max_frame_size;
    session_.emplace(so, static_cast<protocol::session_handler&>(*this));
    if (opts_.trace) {
        trace_ = std::make_unique<tracing>(opts_.trace);
        session_->set_observer(&trace_->recorder);
    }
    phase_ = phase::open;
    opened_ = true;
    uv_timer_stop(&timer_);
    apply_reading();
    if (h_.on_open) h_.on_open(*this);
}

// What handling the server's frames queues counts toward input backpressure (on_open's
// sends do not: they are the application's own, like those from on_drain). Nothing is
// written during a read (the transport flushes at its end), so the growth of the output is
// exactly that.
void client_connection::receive_frames(std::uint8_t* data, std::size_t len) {
    const std::size_t before = buffered_amount();
    if (trace_) trace_->recorder.begin_read(len);
    session_->receive(data, len);
    if (trace_) trace_->recorder.end_read();
    const std::size_t after = buffered_amount();
    if (after > before) reply_bytes_ += after - before;
    after_session_event();
}

// ---------------------------------------------------------------- transport events

void client_connection::on_transport_data(std::uint8_t* data, std::size_t len) {
    switch (phase_) {
        case phase::handshaking:
            handle_response(data, len);
            break;
        case phase::open:
            receive_frames(data, len);
            break;
        default:
            break;  // closing: discard until EOF
    }
    check_input_backpressure();
    // The transport's flush at the end of this read may empty the queue without a write
    // completion following: look for a drain (and a resume) once it did.
    if (above_high_ || input_paused_) request_flush();
}

std::string client_connection::tls_failure(const char* transport_error) const {
    std::string msg = "TLS handshake with " + where() + " failed: ";
    const std::string verify = tls_->verify_error();
    if (!verify.empty()) return msg + "certificate verification failed: " + verify;
    if (!tls_->error().empty()) return msg + tls_->error();
    return msg + (transport_error ? transport_error : "the server closed the connection");
}

void client_connection::on_transport_end(const char* error) {
    switch (phase_) {
        case phase::handshaking:
            if (tls_ && !tls_->handshake_done()) {
                fail(client_error::tls, tls_failure(error));
            } else if (error != nullptr) {
                fail(client_error::handshake,
                     "connection to " + where() + " failed during the handshake: " + error);
            } else {
                fail(client_error::handshake, "server " + where() +
                                                  " closed the connection without answering the "
                                                  "upgrade request" +
                                                  std::string(tls_ ? "" : " (a wss:// server?)"));
            }
            break;
        case phase::open:
            if (!close_received_ && error != nullptr) final_reason_ = error;
            teardown();
            break;
        default:
            teardown();
            break;
    }
}

void client_connection::on_transport_writable() {
    if (above_high_ || input_paused_) request_flush();
}

void client_connection::on_transport_flushed() {
    trace_written();
}

// What left the output queue since last time, as one write for the trace.
void client_connection::trace_written() {
    if (!trace_ || phase_ == phase::done) return;
    if (const net::output_queue* out = output()) trace_->recorder.note_unsent(out->size());
}

void client_connection::on_transport_closed() {
    if (phase_ == phase::connecting) {
        // A failed connect attempt: its handle is gone, try the next address.
        transport_.reset();
        connect_next();
    }
}

// ---------------------------------------------------------------- ending

void client_connection::fail(client_error e, std::string message) {
    if (phase_ == phase::done) return;
    error_ = e;
    error_message_ = std::move(message);
    teardown();
    if (on_error_) on_error_(error_, error_message_);
}

void client_connection::teardown() {
    if (phase_ == phase::done) return;
    phase_ = phase::done;
    // A handler may have aborted in the middle of session_->receive(): the frames behind
    // the one being handled must not reach the handlers after on_close.
    if (session_) session_->stop();
    if (resolver_busy_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolver_));
    if (transport_ && !transport_->closed()) transport_->close();
    if (link_) {
        // Our stream goes (reset if still open); the link itself stays for its other
        // streams. A dialer that gives up takes the streams waiting for it along.
        std::shared_ptr<h2_link> link = std::move(link_);
        link->leave(*this);
        if (dialing_) {
            link->fail(
                error_ == client_error::none ? client_error::connect : error_,
                error_message_.empty() ? "the connection attempt was abandoned" : error_message_);
        }
    }
    if (handles_open_) {
        handles_open_ = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&flusher_), nullptr);
    }
    if (opened_ && h_.on_close) {
        auto on_close = std::move(h_.on_close);  // exactly once
        on_close(*this, final_code_, final_reason_);
    }
}

void client_connection::abort() {
    teardown();
}

// RFC 6455 §7.1.1: after the closing handshake the client waits for the server to close
// TCP first; transport::finish sends our FIN and reads until EOF, bounded by the timer.
void client_connection::begin_close() {
    if (phase_ != phase::open) return;
    phase_ = phase::closing;
    if (link_) {
        link_->end_stream(*this);  // END_STREAM after our close; the server's ends it
    } else {
        transport_->finish();
    }
    arm_timer(opts_.close_timeout);
}

void client_connection::after_session_event() {
    if (phase_ == phase::open && session_->state() == protocol::session_state::closed) {
        begin_close();
    }
}

void client_connection::arm_timer(double seconds) {
    if (phase_ == phase::done) return;
    const std::uint64_t ms = to_ms(seconds);
    if (ms == 0) {
        uv_timer_stop(&timer_);
        return;
    }
    uv_timer_start(&timer_, on_timer, ms, 0);
}

void client_connection::on_timer(uv_timer_t* t) {
    auto* c = static_cast<client_connection*>(t->data);
    const std::string after = " after " + seconds_text(c->opts_.connect_timeout);
    switch (c->phase_) {
        case phase::idle:
        case phase::resolving:
            c->fail(client_error::timeout, "timed out resolving " + c->url_.host + after);
            break;
        case phase::connecting:
            c->fail(client_error::timeout, "timed out connecting to " + c->where() + after);
            break;
        case phase::handshaking:
            c->fail(client_error::timeout,
                    std::string(c->tls_ && !c->tls_->handshake_done()
                                    ? "timed out in the TLS handshake with "
                                    : "timed out waiting for the handshake response from ") +
                        c->where() + after);
            break;
        default:  // the close reply or the server's EOF did not come in time
            c->teardown();
            break;
    }
}

// ---------------------------------------------------------------- sending

// Output produced outside a read goes out just before the loop next waits for I/O, so a
// burst of sends becomes one write.
void client_connection::request_flush() {
    if (phase_ == phase::done) return;
    dirty_ = true;
    uv_prepare_start(&flusher_, on_prepare);
}

void client_connection::on_prepare(uv_prepare_t* p) {
    auto* c = static_cast<client_connection*>(p->data);
    // on_drain may produce more output; flush until it stops (each round either empties
    // the queue into the kernel or leaves a write in flight whose completion continues).
    c->in_prepare_ = true;
    if (c->link_ && c->reading_wanted() && c->phase_ == phase::open) c->drain_held_input();
    while (c->dirty_ && c->phase_ != phase::done && c->output() != nullptr) {
        c->dirty_ = false;
        if (c->link_) {
            c->link_->output_ready(*c);
        } else {
            c->transport_->flush();
        }
        // Before on_drain, which may fill the output again: resuming waits for the low-water
        // mark, and a producer refilling to high water at once would hide it.
        c->check_input_backpressure();
        c->check_drain();
    }
    c->dirty_ = false;
    c->in_prepare_ = false;
    c->trace_written();
    if (c->phase_ != phase::done) uv_prepare_stop(p);
}

void client_connection::note_buffered() {
    if (buffered_amount() >= opts_.high_water_mark) above_high_ = true;
}

// The server's backpressure rule, applied to what reading produces: once the output
// queued while handling the server's input (auto-pongs, the close reply, messages that
// handlers send in reply) passes the high-water mark and is still unsent, reading stops
// until the output is back at the low-water mark. A ping flood from a server that never
// reads then stalls the server in its own TCP window instead of growing our pong queue.
// Output the application produces on its own (from on_open, on_drain, its own timers or
// stdin) does not stop reading: against an echoing server that would deadlock, both sides
// waiting with full queues for the other to read.
void client_connection::check_input_backpressure() {
    if (phase_ == phase::done || (!transport_ && !link_)) return;
    const std::size_t queued = buffered_amount();
    if (queued <= opts_.low_water_mark) {
        reply_bytes_ = 0;
        if (input_paused_) {
            input_paused_ = false;
            apply_reading();
        }
    } else if (!input_paused_ && reply_bytes_ > opts_.high_water_mark &&
               queued > opts_.high_water_mark) {
        input_paused_ = true;
        apply_reading();
    }
}

// Over HTTP/2, holding reading off means not handing the stream's data to the session
// (nor its bytes back to the server's windows): the other streams of the link go on.
void client_connection::apply_reading() {
    if (phase_ != phase::open) return;
    if (link_) {
        if (reading_wanted() && held_off_ < held_input_.size()) request_flush();
        return;
    }
    transport_->set_reading(reading_wanted());
}

void client_connection::check_drain() {
    if (!above_high_ || phase_ != phase::open || buffered_amount() > opts_.low_water_mark) return;
    above_high_ = false;
    if (h_.on_drain) h_.on_drain(*this);
}

net::output_queue* client_connection::output() {
    if (link_) return &h2_out_;
    if (!transport_ || transport_->closed()) return nullptr;
    return &transport_->output();
}

std::size_t client_connection::buffered_amount() const {
    if (link_) return h2_out_.size() + link_->buffered();
    return transport_ ? transport_->buffered() : 0;
}

void client_connection::on_send(std::span<const std::uint8_t> header,
                                std::span<const std::uint8_t> payload, bool urgent) {
    net::output_queue* out = output();
    if (out == nullptr) return;
    if (urgent) {
        out->append_urgent(header, payload);
    } else {
        out->append(header, payload);
    }
    note_buffered();
    request_flush();
}

// Masked frames are written straight into the output queue (see session_handler).
std::uint8_t* client_connection::reserve_send(std::size_t n) {
    net::output_queue* out = output();
    return out == nullptr ? nullptr : out->grow(n);
}

void client_connection::commit_send() {
    note_buffered();
    request_flush();
}

bool client_connection::send(message_type type, std::span<const std::uint8_t> data) {
    return phase_ == phase::open && session_->send_message(protocol_type(type), data);
}

bool client_connection::begin_message(message_type type) {
    return phase_ == phase::open && session_->begin_message(protocol_type(type));
}

bool client_connection::write_message(std::span<const std::uint8_t> piece, bool fin) {
    return phase_ == phase::open && session_->write_message(piece, fin);
}

bool client_connection::ping(std::span<const std::uint8_t> payload) {
    return phase_ == phase::open && session_->send_ping(payload);
}

bool client_connection::close(std::uint16_t code, std::string_view reason) {
    if (phase_ != phase::open || !session_->close(code, reason)) return false;
    if (!close_received_) {
        final_code_ = code;
        final_reason_.assign(reason);
    }
    if (session_->state() == protocol::session_state::closed) {
        begin_close();
    } else {
        arm_timer(opts_.close_timeout);
    }
    return true;
}

void client_connection::pause() {
    user_paused_ = true;
    apply_reading();
}

void client_connection::resume() {
    user_paused_ = false;
    apply_reading();
}

// ---------------------------------------------------------------- HTTP/2 stream events

void client_connection::on_h2_response(int status,
                                       std::span<const protocol::owned_header> headers) {
    if (phase_ != phase::handshaking) return;
    const protocol::client_handshake_result v =
        verify_h2_response(status, headers, opts_.subprotocols);
    if (!v.ok) {
        if (status != 200) {
            fail(client_error::handshake,
                 "server refused the WebSocket over HTTP/2: status " + std::to_string(status));
        } else {
            fail(client_error::handshake,
                 "bad handshake response from " + where() + ": " + v.error);
        }
        return;
    }
    peer_ = link_->peer();
    open_session(v.subprotocol);
}

void client_connection::on_h2_data(std::span<const std::uint8_t> data) {
    if (phase_ != phase::open) {
        link_->consume(*this, data.size());  // closing: discarded, as on HTTP/1.1
        return;
    }
    if (reading_wanted() && held_off_ == held_input_.size()) {
        deliver_h2(data.data(), data.size());
    } else {
        // At most the stream window: the server cannot send more before we consume.
        held_input_.insert(held_input_.end(), data.begin(), data.end());
    }
    if (phase_ == phase::done) return;
    check_input_backpressure();
    if (above_high_ || input_paused_) request_flush();
}

// The session parses (and may modify) its input in place: nghttp2's bytes are const.
void client_connection::deliver_h2(const std::uint8_t* data, std::size_t len) {
    scratch_.assign(data, data + len);
    receive_frames(scratch_.data(), scratch_.size());
    // The bytes are used: the server may send as many more (the link may be gone if a
    // handler aborted).
    if (link_) link_->consume(*this, len);
}

// Stream data that arrived while reading was held off, in pieces so that a handler
// pausing again stops it where it is.
void client_connection::drain_held_input() {
    constexpr std::size_t piece = 64 * 1024;
    while (phase_ == phase::open && reading_wanted() && held_off_ < held_input_.size()) {
        const std::size_t n = std::min(piece, held_input_.size() - held_off_);
        const std::size_t at = held_off_;
        held_off_ += n;
        deliver_h2(held_input_.data() + at, n);
        check_input_backpressure();
    }
    if (held_off_ == held_input_.size()) {
        held_input_.clear();
        held_input_.shrink_to_fit();
        held_off_ = 0;
        if (remote_ended_) on_h2_remote_end();
    }
}

// The server ended its side. After its close frame that is the clean end (nghttp2 reports
// the stream closed once our END_STREAM is out too); before it, like TCP EOF without a
// close, the connection is over (1006).
void client_connection::on_h2_remote_end() {
    remote_ended_ = true;
    if (phase_ == phase::open && !close_received_ && held_off_ == held_input_.size()) {
        teardown();
    }
}

void client_connection::on_h2_closed(const std::string& why) {
    if (phase_ == phase::handshaking) {
        fail(client_error::handshake,
             "server " + where() + " ended the stream without answering the extended CONNECT" +
                 (why.empty() ? std::string() : ": " + why));
        return;
    }
    if (!close_received_ && !why.empty()) final_reason_ = why;
    teardown();
}

void client_connection::on_h2_failed(client_error e, const std::string& message) {
    link_.reset();  // the link forgot this stream already
    if (opened_) {
        if (!close_received_) final_reason_ = message;
        teardown();
    } else {
        fail(e, message);
    }
}

void client_connection::on_h2_writable() {
    trace_written();
    if (in_prepare_) return;  // the flusher looks at drain and backpressure right after
    if (above_high_ || input_paused_ || held_off_ < held_input_.size()) request_flush();
}

// ---------------------------------------------------------------- session events

void client_connection::on_message_begin(protocol::message_type type) {
    delivery_.begin(*this, h_, type);
}

void client_connection::on_message_data(std::span<const std::uint8_t> data, bool fin) {
    delivery_.data(*this, h_, data, fin);
}

void client_connection::on_pong(std::span<const std::uint8_t> payload) {
    if (h_.on_pong) h_.on_pong(*this, payload);
}

void client_connection::on_close(std::uint16_t code, std::string_view reason) {
    close_received_ = true;
    final_code_ = code;
    final_reason_.assign(reason);
}

void client_connection::on_error(protocol::error e) {
    final_code_ = protocol::close_code_for(e);
    final_reason_.assign(protocol::describe(e));
}

}  // namespace sockeye::client_detail

// ---------------------------------------------------------------- public API

namespace sockeye {

struct client::impl {
    uv_loop_t loop{};
    std::unique_ptr<client_detail::client_connection> conn;
};

client::client(client_options options, handlers h,
               std::function<void(client_error, const std::string&)> on_error)
    : impl_(std::make_unique<impl>()) {
    if (const int r = uv_loop_init(&impl_->loop); r != 0) {
        throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(r));
    }
    impl_->conn = std::make_unique<client_detail::client_connection>(
        &impl_->loop, std::move(options), std::move(h), std::move(on_error));
}

client::~client() {
    impl_->conn->abort();
    uv_run(&impl_->loop, UV_RUN_DEFAULT);  // lets the closed handles finish
    uv_loop_close(&impl_->loop);
}

uv_loop_s* client::loop() const noexcept {
    return &impl_->loop;
}

int client::run() {
    impl_->conn->start();
    uv_run(&impl_->loop, UV_RUN_DEFAULT);
    return impl_->conn->opened() ? 0 : 1;
}

void client::abort() {
    impl_->conn->abort();
}

client_error client::error() const noexcept {
    return impl_->conn->error();
}

const std::string& client::error_message() const noexcept {
    return impl_->conn->error_message();
}

}  // namespace sockeye
