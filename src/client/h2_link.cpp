#include "client/h2_link.hpp"

#include <nghttp2/nghttp2.h>

#include <cstdlib>
#include <cstring>
#include <limits>

namespace sockeye::client_detail {

namespace {

// nghttp2 output is produced only while less than this is unsent on the socket: the
// windows bound what the server has to take, this bounds what we hold for the kernel.
constexpr std::size_t output_bound = 512 * 1024;
// The connection's receive window: large, because each stream's own window already bounds
// what a paused stream holds, and a small one would let one paused stream stall the rest.
constexpr std::int32_t connection_window = (1 << 30);

std::uint64_t to_ms(double seconds) {
    return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1000.0 + 0.5);
}

}  // namespace

// nghttp2's C callbacks, forwarding to the link (their user_data).
struct h2_callbacks {
    static h2_link& link(void* user) { return *static_cast<h2_link*>(user); }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                         std::uint8_t, void* user) {
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        h2_link::stream* s = link(user).find(frame->hd.stream_id);
        if (s == nullptr || s->response_seen) return 0;  // trailers are of no interest
        const std::string_view n(reinterpret_cast<const char*>(name), namelen);
        const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
        if (n == ":status") {
            s->status = std::atoi(std::string(v).c_str());
        } else if (n.empty() || n.front() != ':') {
            s->response.push_back({std::string(n), std::string(v)});
        }
        return 0;
    }

    static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        h2_link& l = link(user);
        const std::int32_t id = frame->hd.stream_id;
        switch (frame->hd.type) {
            case NGHTTP2_SETTINGS: {
                if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 || l.ready_ || l.failed_) break;
                bool connect_protocol = nghttp2_session_get_remote_settings(
                                            session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
                for (std::size_t i = 0; i < frame->settings.niv; ++i) {
                    const nghttp2_settings_entry& e = frame->settings.iv[i];
                    if (e.settings_id == NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) {
                        connect_protocol = e.value == 1;
                    }
                }
                l.settings_received(connect_protocol);
                break;
            }
            case NGHTTP2_HEADERS: {
                h2_link::stream* s = l.find(id);
                if (s == nullptr) break;
                if (!s->response_seen) {
                    if (s->status >= 100 && s->status < 200) {  // interim: wait for the final
                        s->status = 0;
                        s->response.clear();
                        break;
                    }
                    s->response_seen = true;
                    s->handler->on_h2_response(s->status, s->response);
                    s = l.find(id);  // the handler may have left
                }
                if (s != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
                    s->handler->on_h2_remote_end();
                }
                break;
            }
            case NGHTTP2_DATA:
                if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
                    if (h2_link::stream* s = l.find(id)) s->handler->on_h2_remote_end();
                }
                break;
            default:
                break;
        }
        return 0;
    }

    static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                             const std::uint8_t* data, std::size_t len, void* user) {
        h2_link::stream* s = link(user).find(id);
        if (s == nullptr) {
            // A stream we left: its bytes still count against the connection window.
            if (nghttp2_session_consume(session, id, len) != 0) {
                nghttp2_session_consume_connection(session, len);
            }
            return 0;
        }
        s->handler->on_h2_data({data, len});
        return 0;
    }

    static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t error_code,
                               void* user) {
        h2_link::stream* s = link(user).find(id);
        if (s == nullptr) return 0;
        nghttp2_session_set_stream_user_data(session, id, nullptr);
        s->id = -1;
        std::string why;
        if (error_code != NGHTTP2_NO_ERROR) {
            why = std::string("HTTP/2 stream reset (") + nghttp2_http2_strerror(error_code) + ")";
        }
        s->handler->on_h2_closed(why);
        return 0;
    }

    // The deferred data provider: copies the stream's queued WebSocket bytes into the DATA
    // frame nghttp2 is building, as far as the windows allow (`length`).
    static ssize_t read_data(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                             void* user) {
        h2_link::stream* s = link(user).find(id);
        if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
        net::output_queue& q = s->handler->h2_output();
        std::size_t n = 0;
        net::output_queue::piece pieces[8];
        while (n < length) {
            const std::size_t k = q.next_write(pieces, 8, length - n);
            if (k == 0) break;
            std::size_t taken = 0;
            for (std::size_t i = 0; i < k; ++i) {
                std::memcpy(buf + n + taken, pieces[i].data(), pieces[i].size());
                taken += pieces[i].size();
            }
            q.advance(taken);
            n += taken;
        }
        if (n > 0) s->moved = true;
        if (q.empty()) {
            q.release();
            if (s->end_requested) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                return static_cast<ssize_t>(n);
            }
            if (n == 0) {
                s->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
            }
        }
        return static_cast<ssize_t>(n);
    }
};

// ---------------------------------------------------------------- setting up

std::shared_ptr<h2_link> h2_link::create(uv_loop_t* loop, h2_link_settings s) {
    std::shared_ptr<h2_link> l(new h2_link(loop, std::move(s)));
    l->self_ = l;
    return l;
}

h2_link::h2_link(uv_loop_t* loop, h2_link_settings s) : loop_(loop), settings_(std::move(s)) {
    uv_prepare_init(loop_, &pumper_);
    uv_timer_init(loop_, &timer_);
    pumper_.data = this;
    timer_.data = this;
    open_handles_ = 2;
}

h2_link::~h2_link() {
    if (session_ != nullptr) nghttp2_session_del(session_);
}

void h2_link::attach(std::unique_ptr<net::transport> t, std::shared_ptr<void> keep,
                     net::tls_engine* tls, std::string peer) {
    transport_ = std::move(t);
    keep_ = std::move(keep);
    tls_ = tls;
    peer_ = std::move(peer);
    transport_->set_handler(*this);
    if (shutting_down_) {  // every stream left while dialing
        transport_->close();
        return;
    }
    transport_->set_reading(true);
    // One kernel FIFO under all streams: kept short so that one stream's small message
    // does not wait behind megabytes of another's.
    transport_->limit_unsent(128 << 10);
    check_alpn_and_start();
    transport_->flush();  // the ClientHello, or the preface on h2c
}

// With TLS the preface waits for the handshake: a server that did not select h2 must not
// get HTTP/2 bytes it would take for a broken HTTP/1.1 request.
void h2_link::check_alpn_and_start() {
    if (started_ || failed_ || !transport_) return;
    if (tls_ != nullptr) {
        if (!tls_->handshake_done()) return;
        const std::string alpn = tls_->alpn();
        if (alpn != "h2") {
            fail_all(client_error::handshake,
                     "server " + settings_.where + " did not select h2 by ALPN (" +
                         (alpn.empty() ? std::string("no ALPN answer") : "it chose " + alpn) + ")");
            shut_down();
            return;
        }
    }
    start_session();
}

void h2_link::start_session() {
    started_ = true;
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_callbacks::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_callbacks::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_callbacks::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_callbacks::on_stream_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // Windows open only as far as the WebSockets consume: see the header.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    const int rv = nghttp2_session_client_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        session_ = nullptr;
        fail_all(client_error::handshake,
                 std::string("cannot start an HTTP/2 session: ") + nghttp2_strerror(rv));
        shut_down();
        return;
    }
    const nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.stream_window},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, connection_window);
    produce_output();
}

void h2_link::settings_received(bool connect_protocol) {
    if (!connect_protocol) {
        fail_all(client_error::handshake,
                 "server " + settings_.where +
                     " does not offer WebSockets over HTTP/2 (RFC 8441: no "
                     "SETTINGS_ENABLE_CONNECT_PROTOCOL)");
        shut_down();
        return;
    }
    ready_ = true;
    submit_waiting();
}

void h2_link::submit_waiting() {
    if (!ready_ || shutting_down_) return;
    for (auto& [h, s] : streams_) {
        if (s->id < 0 && !s->response_seen && !s->doomed) submit(*s);
    }
}

void h2_link::submit(stream& s) {
    std::vector<nghttp2_nv> nva;
    nva.reserve(s.request.size());
    for (auto& [name, value] : s.request) {
        nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                       reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                       NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider dp{};
    dp.read_callback = h2_callbacks::read_data;
    const std::int32_t id =
        nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &dp, &s);
    if (id < 0) {
        s.doomed = true;  // reported from the pumper, outside whatever called us
        request_pump();
        return;
    }
    s.id = id;
    s.request.clear();
}

// ---------------------------------------------------------------- streams

void h2_link::open_stream(h2_stream_handler& h, std::vector<protocol::owned_header> request) {
    auto s = std::make_unique<stream>();
    s->handler = &h;
    s->request = std::move(request);
    s->doomed = failed_ || shutting_down_;
    streams_[&h] = std::move(s);
    if (ready_ || failed_ || shutting_down_) request_pump();
}

h2_link::stream* h2_link::find(std::int32_t id) {
    if (session_ == nullptr) return nullptr;
    return static_cast<stream*>(nghttp2_session_get_stream_user_data(session_, id));
}

void h2_link::output_ready(h2_stream_handler& h) {
    const auto it = streams_.find(&h);
    if (it == streams_.end() || session_ == nullptr) return;
    stream& s = *it->second;
    if (s.deferred && s.id >= 0) {
        s.deferred = false;
        nghttp2_session_resume_data(session_, s.id);
    }
    pump();
}

void h2_link::end_stream(h2_stream_handler& h) {
    const auto it = streams_.find(&h);
    if (it == streams_.end()) return;
    it->second->end_requested = true;
    output_ready(h);
}

void h2_link::consume(h2_stream_handler& h, std::size_t n) {
    const auto it = streams_.find(&h);
    if (it == streams_.end() || session_ == nullptr || n == 0) return;
    if (it->second->id < 0 || nghttp2_session_consume(session_, it->second->id, n) != 0) {
        nghttp2_session_consume_connection(session_, n);
    }
    request_pump();  // the WINDOW_UPDATE
}

void h2_link::leave(h2_stream_handler& h) {
    const auto it = streams_.find(&h);
    if (it == streams_.end()) return;
    const std::int32_t id = it->second->id;
    if (id >= 0 && session_ != nullptr) {
        nghttp2_session_set_stream_user_data(session_, id, nullptr);
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    streams_.erase(it);
    if (streams_.empty()) {
        shut_down();
    } else {
        request_pump();
    }
}

// ---------------------------------------------------------------- output

void h2_link::request_pump() {
    if (handles_closing_) return;
    uv_prepare_start(&pumper_, on_prepare);
}

void h2_link::on_prepare(uv_prepare_t* p) {
    auto* l = static_cast<h2_link*>(p->data);
    uv_prepare_stop(p);
    // Streams that can never open hear of it here, not inside their own calls.
    std::vector<h2_stream_handler*> doomed;
    for (auto& [h, s] : l->streams_) {
        if (s->doomed) doomed.push_back(h);
    }
    for (h2_stream_handler* h : doomed) {
        l->streams_.erase(h);
        h->on_h2_failed(client_error::handshake,
                        "the HTTP/2 connection to " + l->settings_.where + " cannot take streams");
    }
    l->submit_waiting();
    l->pump();
}

// nghttp2's frames into the transport's queue, while the socket keeps up.
void h2_link::produce_output() {
    if (session_ == nullptr || !transport_ || transport_->closed()) return;
    if (receiving_) {  // nghttp2 must not send from inside its own receive callbacks
        request_pump();
        return;
    }
    if (pumping_) {
        pump_again_ = true;
        return;
    }
    pumping_ = true;
    do {
        pump_again_ = false;
        while (transport_->buffered() < output_bound && nghttp2_session_want_write(session_)) {
            const std::uint8_t* data = nullptr;
            const ssize_t n = nghttp2_session_mem_send(session_, &data);
            if (n < 0) {
                pumping_ = false;
                close_all(std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(n)));
                shut_down();
                return;
            }
            if (n == 0) break;
            transport_->output().append({data, static_cast<std::size_t>(n)});
        }
    } while (pump_again_);
    pumping_ = false;
}

void h2_link::pump() {
    if (receiving_) {
        request_pump();
        return;
    }
    produce_output();
    if (transport_ && !transport_->closed()) transport_->flush();
    notify_writable();
}

// Streams whose queued bytes moved look at their buffered amount again.
void h2_link::notify_writable() {
    std::vector<h2_stream_handler*> moved;
    for (auto& [h, s] : streams_) {
        if (s->moved) {
            s->moved = false;
            moved.push_back(h);
        }
    }
    for (h2_stream_handler* h : moved) {
        if (streams_.count(h) != 0) h->on_h2_writable();
    }
}

// ---------------------------------------------------------------- transport events

void h2_link::on_transport_data(std::uint8_t* data, std::size_t len) {
    check_alpn_and_start();
    if (session_ == nullptr || shutting_down_) return;
    receiving_ = true;
    const ssize_t rv = nghttp2_session_mem_recv(session_, data, len);
    receiving_ = false;
    if (rv < 0) {
        const std::string why = std::string("HTTP/2 protocol error from ") + settings_.where +
                                ": " + nghttp2_strerror(static_cast<int>(rv));
        if (ready_) {
            close_all(why);
        } else {
            fail_all(client_error::handshake, why);
        }
        shut_down();
        return;
    }
    produce_output();  // SETTINGS ACK, WINDOW_UPDATEs, replies: out at the end of the read
}

void h2_link::on_transport_writable() {
    produce_output();
    for (auto& [h, s] : streams_) s->moved = true;  // the transport's share of buffered() fell
}

void h2_link::on_transport_flushed() {
    if (!started_) {
        check_alpn_and_start();
        if (started_ && transport_ && !transport_->closed()) transport_->flush();
    }
    notify_writable();
}

std::string h2_link::tls_failure(const char* transport_error) const {
    std::string msg = "TLS handshake with " + settings_.where + " failed: ";
    const std::string verify = tls_->verify_error();
    if (!verify.empty()) return msg + "certificate verification failed: " + verify;
    if (!tls_->error().empty()) return msg + tls_->error();
    return msg + (transport_error ? transport_error : "the server closed the connection");
}

void h2_link::on_transport_end(const char* error) {
    if (!shutting_down_) {
        if (tls_ != nullptr && !tls_->handshake_done()) {
            fail_all(client_error::tls, tls_failure(error));
        } else if (!ready_) {
            fail_all(client_error::handshake,
                     "server " + settings_.where + " closed the connection before its HTTP/2 " +
                         "SETTINGS" + (error ? std::string(": ") + error : std::string()));
        } else {
            close_all(error ? std::string("connection failed: ") + error
                            : std::string("the server closed the HTTP/2 connection"));
        }
    }
    shutting_down_ = true;
    if (transport_ && !transport_->closed()) transport_->close();
}

void h2_link::on_transport_closed() {
    transport_closed_ = true;
    close_handles();
    maybe_release();
}

// ---------------------------------------------------------------- ending

void h2_link::fail(client_error e, const std::string& message) {
    fail_all(e, message);
    shut_down();
}

// Streams still waiting for their response get the error as a failed handshake; open ones
// are closed (1006).
void h2_link::fail_all(client_error e, const std::string& message) {
    failed_ = true;
    std::vector<std::pair<h2_stream_handler*, bool>> gone;
    for (auto& [h, s] : streams_) gone.emplace_back(h, s->response_seen);
    for (auto& [h, s] : streams_) {
        if (s->id >= 0 && session_ != nullptr) {
            nghttp2_session_set_stream_user_data(session_, s->id, nullptr);
        }
    }
    streams_.clear();
    for (auto& [h, opened] : gone) {
        if (opened) {
            h->on_h2_closed(message);
        } else {
            h->on_h2_failed(e, message);
        }
    }
}

void h2_link::close_all(const std::string& why) {
    fail_all(client_error::handshake, why);
}

// GOAWAY, then our FIN; the server's EOF (or the timer) closes the socket.
void h2_link::shut_down() {
    if (shutting_down_) return;
    shutting_down_ = true;
    if (!transport_) {  // never connected: nothing to say goodbye to
        if (streams_.empty()) close_handles();
        maybe_release();
        return;
    }
    if (session_ != nullptr) {
        nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
        produce_output();
    }
    if (!transport_->closed()) {
        transport_->finish();
        const std::uint64_t ms = to_ms(settings_.close_timeout);
        if (ms == 0) {
            transport_->close();
        } else if (!handles_closing_) {
            uv_timer_start(&timer_, on_timer, ms, 0);
        }
    }
}

void h2_link::on_timer(uv_timer_t* t) {
    auto* l = static_cast<h2_link*>(t->data);
    if (l->transport_ && !l->transport_->closed()) l->transport_->close();
}

void h2_link::close_handles() {
    if (handles_closing_) return;
    handles_closing_ = true;
    auto closed = [](uv_handle_t* h) {
        auto* l = static_cast<h2_link*>(h->data);
        --l->open_handles_;
        l->maybe_release();
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&pumper_), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
}

// The last statement wherever it is called: dropping self_ may delete the link.
void h2_link::maybe_release() {
    if (open_handles_ != 0 || (transport_ && !transport_closed_)) return;
    if (!handles_closing_) return;
    auto self = std::move(self_);
}

}  // namespace sockeye::client_detail
