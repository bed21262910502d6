#include "proxy.hpp"

#include <uv.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <unordered_set>

#include "proxy_tls.hpp"
#include "server/log.hpp"

namespace sockeye::apps {

namespace {

// One record in the server's log (its format and escaping), at the proxy's own level,
// which the server's may not have yet when the map is first loaded.
void say(log_level threshold, log_level level, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
void say(log_level threshold, log_level level, const char* fmt, ...) {
    if (level < threshold || threshold == log_level::off) return;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    server_detail::log_message(level, message);
}

std::uint64_t to_ms(double seconds) {
    return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1000.0 + 0.5);
}

using target_map = std::map<std::string, proxy_target>;

}  // namespace

// ---------------------------------------------------------------- the shared state

namespace {
struct backend;
}  // namespace

struct proxy_app::state {
    proxy_settings s;
    std::shared_ptr<net::tls_context> tls;  // with --proxy-tls: one for every backend
    server* srv = nullptr;
    mutable std::mutex mutex;  // the map (replaced by reloads) and `live`, across loops
    std::shared_ptr<const target_map> map;
    std::unordered_set<backend*> live;

    bool allowed(const proxy_target& t) const {
        return s.allow.empty() || std::find(s.allow.begin(), s.allow.end(), t) != s.allow.end();
    }
    std::shared_ptr<const target_map> current_map() const {
        std::lock_guard lock(mutex);
        return map;
    }
    void install(target_map m) {
        for (const auto& [token, t] : m) {
            if (!allowed(t)) {
                say(s.log, log_level::warn,
                    "proxy map: a token's target %s is not in --proxy-allow: it will be refused",
                    t.text().c_str());
            }
        }
        const std::size_t n = m.size();
        auto fresh = std::make_shared<const target_map>(std::move(m));
        {
            std::lock_guard lock(mutex);
            map = std::move(fresh);
        }
        say(s.log, log_level::info, "proxy map %s: %zu tokens", s.map_file.c_str(), n);
    }
    void reload() {
        try {
            install(load_target_map(s.map_file));
        } catch (const std::exception& e) {
            say(s.log, log_level::error, "proxy map reload failed, keeping the old one: %s",
                e.what());
        }
    }
};

// ---------------------------------------------------------------- one backend connection

namespace {

// The TCP connection to the target behind one WebSocket. It is made in the upgrade hook
// (with --proxy-tls, the TLS handshake too), handed to the WebSocket as its state (a
// backend_ref), and outlives it: after the WebSocket ends it still writes what the client
// sent, shuts its side down (close_notify first, with TLS) and waits (up to `linger`) for
// the target's EOF, so that nothing the target sent makes us reset the connection. It is
// freed when its handles are closed and nothing refers to it.
struct backend final : backend_tls::wire {
    enum class phase : std::uint8_t { connecting, ready, open, detached, closing };

    std::shared_ptr<proxy_app::state> app;
    proxy_target target;
    std::string peer;
    std::optional<upgrade_reply> reply;  // while connecting
    connection* conn = nullptr;          // from on_open until the WebSocket ends
    uv_tcp_t tcp{};
    uv_timer_t timer{};  // the connect deadline, then the linger after the WebSocket
    uv_getaddrinfo_t resolver{};
    uv_connect_t connect_req{};
    uv_shutdown_t shutdown_req{};
    std::unique_ptr<backend_tls> tls;  // with --proxy-tls, from the TCP connect on
    std::size_t queued = 0;            // bytes handed to uv_write and not written yet
    int open_handles = 0;
    phase ph = phase::connecting;
    bool resolving = false;
    bool referenced = false;  // a WebSocket (or its accept) holds a backend_ref
    bool reading = false;
    bool stalled = false;        // not reading: the client has not taken what we sent
    bool client_paused = false;  // the client is not read: the target has not taken its bytes
    bool eof = false;            // the target ended its side
    bool shut = false;           // our side is shut down
    bool refusing = false;       // a message was refused (text): nothing more goes through

    const proxy_settings& cfg() const { return app->s; }
    // For the TLS layer: its ciphertext onto the socket, its plaintext to the client.
    bool to_socket(std::span<const std::uint8_t> cipher) override;
    void to_client(std::span<const std::uint8_t> plain) override;
};

struct pending_write {
    uv_write_t req{};
    backend* b = nullptr;
    std::size_t len = 0;
    std::unique_ptr<std::uint8_t[]> bytes;
};

void maybe_free(backend* b) {
    if (b->open_handles != 0 || b->resolving || b->referenced) return;
    {
        std::lock_guard lock(b->app->mutex);
        b->app->live.erase(b);
    }
    delete b;
}

void close_all(backend* b) {
    if (b->ph == backend::phase::closing) return;
    b->ph = backend::phase::closing;
    b->reading = false;
    if (b->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&b->resolver));
    auto closed = [](uv_handle_t* h) {
        auto* self = static_cast<backend*>(h->data);
        --self->open_handles;
        maybe_free(self);
    };
    // After run() the server has closed what was left on its loops (without our callbacks:
    // the app frees those backends); a late callback must not close them twice.
    for (auto* h :
         {reinterpret_cast<uv_handle_t*>(&b->tcp), reinterpret_cast<uv_handle_t*>(&b->timer)}) {
        if (!uv_is_closing(h)) uv_close(h, closed);
    }
}

// The server closed our handles when its loop ended (see close_all).
bool loop_gone(const backend* b) {
    return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&b->tcp)) != 0;
}

void refuse_upgrade(backend* b, int status, const char* body) {
    if (b->reply) {
        b->reply->reject(status, body);
        b->reply.reset();
    }
    close_all(b);
}

// What a WebSocket holds as its state: its backend, let go when the WebSocket ends.
struct backend_ref {
    explicit backend_ref(backend* x) : b(x) { b->referenced = true; }
    backend_ref(const backend_ref&) = delete;
    backend_ref& operator=(const backend_ref&) = delete;
    ~backend_ref();
    backend* b;
};

void start_reading(backend* b);

// The target failed (a reset, a write error, a TLS error): the client gets 1011 with the
// reason, or a 502 while its upgrade still waits.
void backend_failed(backend* b, const std::string& why) {
    say(b->cfg().log, log_level::info, "proxy peer=%s target=%s: %s", b->peer.c_str(),
        b->target.text().c_str(), why.c_str());
    if (b->reply) {
        refuse_upgrade(b, 502, ("cannot reach the backend: " + why + "\n").c_str());
        return;
    }
    if (b->conn) b->conn->close(1011, "backend error: " + why);
    close_all(b);
}

void backend_failed(backend* b, int error) {
    backend_failed(b, std::string(uv_strerror(error)));
}

void shutdown_backend(backend* b) {
    if (b->shut || b->ph == backend::phase::closing) return;
    b->shut = true;
    if (b->tls) {
        b->tls->close();  // close_notify first: the shutdown waits behind its write
        if (b->ph == backend::phase::closing) return;
    }
    b->shutdown_req.data = b;
    const int e = uv_shutdown(&b->shutdown_req, reinterpret_cast<uv_stream_t*>(&b->tcp),
                              [](uv_shutdown_t* req, int status) {
                                  if (status == UV_ECANCELED) return;
                                  auto* self = static_cast<backend*>(req->data);
                                  if (status < 0 || self->eof) close_all(self);
                                  // else: reading (and discarding) goes on until the EOF
                              });
    if (e != 0) close_all(b);
}

// The WebSocket is gone (or never opened): pass the end on to the target.
void detach(backend* b) {
    b->referenced = false;
    b->conn = nullptr;
    b->client_paused = false;
    b->stalled = false;  // no client left to wait for
    if (b->ph != backend::phase::closing && loop_gone(b)) b->ph = backend::phase::closing;
    if (b->ph == backend::phase::closing) {
        maybe_free(b);
        return;
    }
    b->ph = backend::phase::detached;
    uv_timer_start(
        &b->timer, [](uv_timer_t* t) { close_all(static_cast<backend*>(t->data)); },
        std::max<std::uint64_t>(to_ms(b->cfg().linger), 1), 0);
    if (!b->eof) start_reading(b);  // to see the target's EOF (what it sends is dropped)
    if (b->queued == 0) shutdown_backend(b);
}

backend_ref::~backend_ref() {
    detach(b);
}

// ---- the target to the client

// The largest read from the target, and so the largest message it becomes.
constexpr std::size_t read_size = 256 * 1024;

void stop_reading(backend* b) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&b->tcp));
    b->reading = false;
}

// Bytes from the target (decrypted, with TLS).
void deliver(backend* b, std::span<const std::uint8_t> bytes) {
    if (b->ph != backend::phase::open) return;  // detached: only the EOF matters now
    // One read, one message: as it arrived, neither gathered nor cut.
    b->conn->send(message_type::binary, bytes);
    if (b->conn->buffered_amount() > b->cfg().high_water) {
        stop_reading(b);  // until on_drain
        b->stalled = true;
    }
}

// The target's side ended: UV_EOF (or close_notify) when it ended in order.
void backend_ended(backend* b, int error) {
    if (b->ph != backend::phase::open) {
        b->eof = true;
        if (b->shut || error != UV_EOF) close_all(b);
        return;
    }
    if (error == UV_EOF) {
        // The close goes behind every message already queued.
        b->eof = true;
        stop_reading(b);
        b->conn->close(1000, "the backend closed the connection");
        return;
    }
    backend_failed(b, error);
}

void backend::to_client(std::span<const std::uint8_t> plain) {
    deliver(this, plain);
}

// Ciphertext from the target after the handshake (or none: what waited inside).
void receive_tls(backend* b, std::span<const std::uint8_t> cipher) {
    const auto got = b->tls->receive(cipher);
    if (b->ph == backend::phase::closing) return;
    if (got == backend_tls::status::closed) {
        backend_ended(b, UV_EOF);
    } else if (got == backend_tls::status::failed) {
        backend_failed(b, "TLS: " + b->tls->failure());
    }
}

void backend_ready(backend* b);

// The TLS handshake fell through: the client gets 502 with the reason.
void refuse_tls(backend* b, const std::string& why) {
    say(b->cfg().log, log_level::warn, "proxy peer=%s target=%s: TLS handshake failed: %s",
        b->peer.c_str(), b->target.text().c_str(), why.c_str());
    refuse_upgrade(b, 502, ("backend TLS handshake failed: " + why + "\n").c_str());
}

void handshake_read(backend* b, ssize_t nread, const uv_buf_t* buf) {
    if (nread < 0) {
        const std::string known = b->tls->failure();
        refuse_tls(b, !known.empty()    ? known
                      : nread == UV_EOF ? std::string("the backend closed the connection")
                                        : std::string(uv_strerror(static_cast<int>(nread))));
        return;
    }
    const auto step = b->tls->handshake(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)));
    if (b->ph == backend::phase::closing) return;
    if (step == backend_tls::step::failed) {
        refuse_tls(b, b->tls->failure());
    } else if (step == backend_tls::step::done) {
        stop_reading(b);  // until the WebSocket is open (on_open)
        backend_ready(b);
    }
}

void on_backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* b = static_cast<backend*>(stream->data);
    if (nread == 0) return;
    if (b->ph == backend::phase::connecting) {
        handshake_read(b, nread, buf);  // only TLS reads before the upgrade is accepted
        return;
    }
    if (nread < 0) {
        backend_ended(b, static_cast<int>(nread));
        return;
    }
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(buf->base),
                                              static_cast<std::size_t>(nread));
    if (b->tls) {
        receive_tls(b, bytes);
    } else {
        deliver(b, bytes);
    }
}

void read_socket(backend* b) {
    const int e = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&b->tcp),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
            // Each read is sent (or decrypted) before the next one, so one buffer per loop
            // thread serves every backend on it.
            static thread_local std::unique_ptr<char[]> space(new char[read_size]);
            *buf = uv_buf_init(space.get(), read_size);
        },
        on_backend_read);
    if (e != 0) {
        backend_failed(b, e);
        return;
    }
    b->reading = true;
}

void start_reading(backend* b) {
    if (b->reading || b->eof || b->ph == backend::phase::closing) return;
    if (b->tls) {
        // What came right behind the handshake waited inside until the WebSocket opened.
        receive_tls(b, {});
        if (b->eof || b->stalled || b->ph == backend::phase::closing) return;
    }
    read_socket(b);
}

// ---- the client to the target

void on_backend_written(uv_write_t* req, int status) {
    auto* w = static_cast<pending_write*>(req->data);
    backend* b = w->b;
    b->queued -= w->len;
    delete w;
    if (status == UV_ECANCELED) return;  // closing: the close callback frees b
    if (status < 0) {
        backend_failed(b, status);
        return;
    }
    if (b->client_paused && b->queued <= b->cfg().low_water && b->conn) {
        b->client_paused = false;
        b->conn->resume();
    }
    if (b->ph == backend::phase::detached && b->queued == 0) shutdown_backend(b);
}

// Bytes for the target's socket (ciphertext, with TLS), behind what is queued.
void write_socket(backend* b, std::span<const std::uint8_t> data) {
    if (data.empty() || b->ph == backend::phase::closing) return;
    auto* stream = reinterpret_cast<uv_stream_t*>(&b->tcp);
    if (b->queued == 0) {
        uv_buf_t direct =
            uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(data.data())),
                        static_cast<unsigned>(data.size()));
        const int n = uv_try_write(stream, &direct, 1);
        if (n >= 0 && static_cast<std::size_t>(n) == data.size()) return;
        if (n < 0 && n != UV_EAGAIN) {
            backend_failed(b, n);
            return;
        }
        if (n > 0) data = data.subspan(static_cast<std::size_t>(n));
    }
    auto* w = new pending_write;
    w->b = b;
    w->len = data.size();
    w->bytes.reset(new std::uint8_t[data.size()]);
    std::memcpy(w->bytes.get(), data.data(), data.size());
    w->req.data = w;
    uv_buf_t rest =
        uv_buf_init(reinterpret_cast<char*>(w->bytes.get()), static_cast<unsigned>(w->len));
    if (const int e = uv_write(&w->req, stream, &rest, 1, on_backend_written); e != 0) {
        delete w;
        backend_failed(b, e);
        return;
    }
    b->queued += w->len;
}

bool backend::to_socket(std::span<const std::uint8_t> cipher) {
    write_socket(this, cipher);
    return ph != phase::closing;
}

void write_to_backend(backend* b, std::span<const std::uint8_t> data) {
    if (data.empty() || b->ph != backend::phase::open) return;
    if (!b->tls) {
        write_socket(b, data);
    } else if (!b->tls->send(data) && b->ph != backend::phase::closing) {
        backend_failed(b, "TLS: " + b->tls->failure());
    }
    if (b->ph == backend::phase::open && b->queued > b->cfg().high_water && !b->client_paused &&
        b->conn) {
        b->client_paused = true;
        b->conn->pause();  // until the target has taken most of it
    }
}

// ---- connecting, in the upgrade hook

// Connected (with TLS: the handshake done): the upgrade is accepted.
void backend_ready(backend* b) {
    uv_timer_stop(&b->timer);
    if (!b->reply || !b->reply->pending()) {  // the client left, or the handshake timed out
        b->reply.reset();
        close_all(b);
        return;
    }
    b->ph = backend::phase::ready;
    accept_options a;
    a.state = app_state::make<backend_ref>(b);
    upgrade_reply reply = std::move(*b->reply);
    b->reply.reset();
    // Refused (the client left just now): the state, and with it the backend_ref, is
    // already gone, which shut the connection down.
    reply.accept(std::move(a));
}

// The ClientHello goes out; the answer comes to handshake_read, under the connect deadline.
void start_tls(backend* b) {
    try {
        b->tls = std::make_unique<backend_tls>(*b->app->tls, b->target.host, *b);
    } catch (const std::exception& e) {
        refuse_tls(b, e.what());
        return;
    }
    if (b->tls->begin() == backend_tls::step::failed) {
        if (b->ph != backend::phase::closing) refuse_tls(b, b->tls->failure());
        return;
    }
    read_socket(b);
}

void on_connected(uv_connect_t* req, int status) {
    if (status == UV_ECANCELED) return;
    auto* b = static_cast<backend*>(req->data);
    if (b->ph != backend::phase::connecting) return;
    if (!b->reply || !b->reply->pending()) {  // the client left, or the handshake timed out
        b->reply.reset();
        close_all(b);
        return;
    }
    if (status < 0) {
        say(b->cfg().log, log_level::warn, "proxy peer=%s target=%s: cannot connect: %s",
            b->peer.c_str(), b->target.text().c_str(), uv_strerror(status));
        const std::string body =
            std::string("cannot reach the backend: ") + uv_strerror(status) + "\n";
        refuse_upgrade(b, 502, body.c_str());
        return;
    }
    uv_tcp_nodelay(&b->tcp, 1);
    if (b->app->tls) {
        start_tls(b);
    } else {
        backend_ready(b);
    }
}

void connect_to(backend* b, const sockaddr* addr) {
    b->connect_req.data = b;
    if (const int e = uv_tcp_connect(&b->connect_req, &b->tcp, addr, on_connected); e != 0) {
        say(b->cfg().log, log_level::warn, "proxy target=%s: cannot connect: %s",
            b->target.text().c_str(), uv_strerror(e));
        const std::string body = std::string("cannot reach the backend: ") + uv_strerror(e) + "\n";
        refuse_upgrade(b, 502, body.c_str());
    }
}

void start_backend(backend* b, uv_loop_t* loop) {
    uv_tcp_init(loop, &b->tcp);
    uv_timer_init(loop, &b->timer);
    b->open_handles = 2;
    b->tcp.data = b->timer.data = b;
    uv_timer_start(
        &b->timer,
        [](uv_timer_t* t) {
            auto* self = static_cast<backend*>(t->data);
            say(self->cfg().log, log_level::warn, "proxy target=%s: no %s within %.1fs",
                self->target.text().c_str(), self->tls ? "TLS handshake" : "connection",
                self->cfg().connect_timeout);
            refuse_upgrade(self, 504, "the backend did not answer in time\n");
        },
        std::max<std::uint64_t>(to_ms(b->cfg().connect_timeout), 1), 0);

    sockaddr_storage addr{};
    const char* host = b->target.host.c_str();
    if (uv_ip4_addr(host, b->target.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
        uv_ip6_addr(host, b->target.port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
        connect_to(b, reinterpret_cast<const sockaddr*>(&addr));
        return;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    b->resolver.data = b;
    b->resolving = true;
    const int e = uv_getaddrinfo(
        loop, &b->resolver,
        [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
            auto* self = static_cast<backend*>(req->data);
            self->resolving = false;
            if (self->ph != backend::phase::closing && loop_gone(self)) {
                self->ph = backend::phase::closing;
            }
            if (self->ph == backend::phase::closing) {
                if (res) uv_freeaddrinfo(res);
                maybe_free(self);
                return;
            }
            if (status < 0 || !res) {
                say(self->cfg().log, log_level::warn, "proxy target=%s: cannot resolve: %s",
                    self->target.text().c_str(), uv_strerror(status));
                refuse_upgrade(self, 502, "cannot resolve the backend\n");
            } else {
                connect_to(self, res->ai_addr);
            }
            if (res) uv_freeaddrinfo(res);
        },
        host, std::to_string(b->target.port).c_str(), &hints);
    if (e != 0) {
        b->resolving = false;
        refuse_upgrade(b, 502, "cannot resolve the backend\n");
    }
}

backend* backend_of(connection& c) {
    auto* r = c.state.get<backend_ref>();
    return r ? r->b : nullptr;
}

// The token of a request: ?token=T, else the last segment of the path.
std::string token_of(const upgrade_request& req) {
    if (const auto q = req.query_param("token")) return std::string(*q);
    const auto slash = req.path.rfind('/');
    return slash == std::string::npos ? req.path : req.path.substr(slash + 1);
}

}  // namespace

proxy_app::proxy_app(proxy_settings s) : st_(std::make_shared<state>()) {
    st_->s = std::move(s);
    if (st_->s.target && !st_->allowed(*st_->s.target)) {
        throw std::runtime_error("--proxy " + st_->s.target->text() + " is not in --proxy-allow");
    }
    if (!st_->s.map_file.empty()) st_->install(load_target_map(st_->s.map_file));
    if (st_->s.tls) st_->tls = backend_tls_context(st_->s.cafile);
}

proxy_app::~proxy_app() {
    // Backends still here when the loops have ended had their handles closed by the server
    // (without our close callbacks): only their memory is left.
    std::unordered_set<backend*> left;
    {
        std::lock_guard lock(st_->mutex);
        left.swap(st_->live);
    }
    for (backend* b : left) delete b;
}

handlers proxy_app::make_handlers() {
    handlers h;
    auto st = st_;
    h.on_open = [](connection& c) {
        backend* b = backend_of(c);
        if (!b || b->ph != backend::phase::ready) {
            c.close(1011, "the backend is gone");
            return;
        }
        b->conn = &c;
        b->ph = backend::phase::open;
        start_reading(b);
    };
    h.on_message_begin = [st](connection& c, message_type type) {
        backend* b = backend_of(c);
        if (!b) return;
        // After a refused message nothing more goes through (the close is on its way).
        if (b->refusing) return;
        b->refusing = type == message_type::text && !st->s.text;
        if (b->refusing) c.close(1003, "text messages are not accepted: send binary");
    };
    h.on_message_chunk = [](connection& c, std::span<const std::uint8_t> piece, bool) {
        backend* b = backend_of(c);
        if (b && !b->refusing) write_to_backend(b, piece);
    };
    h.on_drain = [](connection& c) {
        backend* b = backend_of(c);
        if (b && b->stalled) {
            b->stalled = false;
            start_reading(b);
        }
    };
    // on_close needs nothing: the state (the backend_ref) goes after it, which passes the
    // end on to the target.
    return h;
}

void proxy_app::attach(server& srv) {
    auto st = st_;
    st->srv = &srv;
    if (!st->s.map_file.empty()) srv.on_reload([st] { st->reload(); });
    srv.on_upgrade([st](const upgrade_request& req, upgrade_reply reply) {
        proxy_target target;
        if (st->s.target) {
            target = *st->s.target;
        } else {
            const std::string token = token_of(req);
            const auto map = st->current_map();
            const auto found =
                map && !token.empty() ? map->find(token) : target_map::const_iterator{};
            if (!map || token.empty() || found == map->end()) {
                reply.reject(404, token.empty() ? "no token: add ?token=T or end the path with it\n"
                                                : "unknown token\n");
                return;
            }
            target = found->second;
        }
        if (!st->allowed(target)) {
            say(st->s.log, log_level::warn, "proxy peer=%s: target %s is not allowed",
                req.peer.c_str(), target.text().c_str());
            reply.reject(403, "this backend is not allowed\n");
            return;
        }
        uv_loop_t* loop = st->srv->current_loop();
        if (!loop) {
            reply.reject(500, "no event loop\n");
            return;
        }
        auto* b = new backend;
        b->app = st;
        b->target = std::move(target);
        b->peer = req.peer;
        b->reply.emplace(std::move(reply));
        {
            std::lock_guard lock(st->mutex);
            st->live.insert(b);
        }
        start_backend(b, loop);
    });
}

// ---------------------------------------------------------------- the command line

proxy_settings proxy_flags::settings(const server_options& o) const {
    proxy_settings s;
    auto parse = [](const std::string& flag, const std::string& value) {
        auto t = parse_target(value);
        if (!t) throw std::runtime_error(flag + " " + value + ": expected HOST:PORT ([V6]:PORT)");
        return *t;
    };
    if (!target.empty()) s.target = parse("--proxy", target);
    s.map_file = map_file;
    for (const auto& a : allow) s.allow.push_back(parse("--proxy-allow", a));
    s.text = text;
    s.tls = tls;
    s.cafile = cafile;
    s.connect_timeout = connect_timeout;
    s.linger = o.close_timeout;
    s.high_water = o.high_water_mark;
    s.low_water = o.low_water_mark;
    s.log = o.log;
    return s;
}

void add_proxy_flags(CLI::App& serve, proxy_flags& f) {
    auto* target = serve.add_option(
        "--proxy", f.target,
        "Put a TCP service behind every WebSocket: HOST:PORT (binary messages both ways)");
    auto* map = serve.add_option(
        "--proxy-map", f.map_file,
        "Choose the TCP service by token (?token=T or the path's last segment) from FILE's "
        "'token: host:port' lines; SIGHUP reloads it");
    target->excludes(map);
    serve.add_option(
        "--proxy-allow", f.allow,
        "Only these HOST:PORT may be reached through --proxy/--proxy-map (repeatable)");
    serve.add_flag("--proxy-text", f.text,
                   "Pass text messages to the service as bytes too (default: close 1003)");
    auto* tls = serve.add_flag("--proxy-tls", f.tls,
                               "Speak TLS to the service, verifying that its certificate names "
                               "the target (against the system store, or --proxy-cacert)");
    serve
        .add_option("--proxy-cacert", f.cafile,
                    "With --proxy-tls: verify the service's certificate against these CA "
                    "certificates (PEM) instead of the system store")
        ->check(CLI::ExistingFile)
        ->needs(tls);
    serve
        .add_option("--proxy-connect-timeout", f.connect_timeout,
                    "Seconds to resolve, connect (and with --proxy-tls, finish the TLS "
                    "handshake) before answering 504")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
}

}  // namespace sockeye::apps
