#include <sockeye/server.hpp>

#include <csignal>
#include <cstdio>
#include <stdexcept>

#include "connection.hpp"
#include "log.hpp"
#include "server_core.hpp"

namespace sockeye {

using server_detail::connection_impl;
using server_detail::log;
using server_detail::server_core;

void server_detail::server_core::add(connection_impl* c) {
    c->next_ = connections;
    if (connections) connections->prev_ = c;
    connections = c;
}

void server_detail::server_core::remove(connection_impl* c) {
    if (c->prev_) c->prev_->next_ = c->next_;
    if (c->next_) c->next_->prev_ = c->prev_;
    if (connections == c) connections = c->next_;
    c->prev_ = c->next_ = nullptr;
    if (c->dirty_) std::erase(dirty, c);
    if (shutting_down && connections == nullptr && on_drained) on_drained(*this);
}

struct server::impl : server_core {
    uv_loop_t loop_storage{};
    uv_tcp_t listener{};
    uv_signal_t sigint{};
    uv_signal_t sigterm{};
    uv_signal_t sighup{};
    uv_prepare_t flusher{};
    uv_timer_t shutdown_timer{};
    bool listening = false;
    bool signals_installed = false;
    int signals_seen = 0;
    std::uint16_t bound_port = 0;

    impl(server_options o, handlers hs) {
        opts = std::move(o);
        h = std::move(hs);
        handshake.allowed_origins = opts.origins;
        handshake.subprotocols = opts.subprotocols;
        routes = std::make_unique<server_detail::http_routes>(
            server_detail::http_routes{http::static_root(opts.web_root), opts.ws_path});
        server_detail::set_log_level(opts.log);
        if (!opts.tls_cert.empty() || !opts.tls_key.empty()) {
            if (opts.tls_cert.empty() || opts.tls_key.empty()) {
                throw std::runtime_error("TLS needs both --tls-cert and --tls-key");
            }
            tls = net::tls_context::create_server(tls_settings());
            plain_buffer.resize(read_buffer.size());
            log(log_level::info, "TLS certificate %s sha256=%s", opts.tls_cert.c_str(),
                tls->fingerprint().c_str());
        }
        if (uv_loop_init(&loop_storage) != 0) throw std::runtime_error("uv_loop_init failed");
        loop = &loop_storage;
        uv_prepare_init(loop, &flusher);
        flusher.data = this;
        uv_timer_init(loop, &shutdown_timer);
        shutdown_timer.data = this;
        on_drained = [](server_core& core) { static_cast<impl&>(core).finish_shutdown(); };
    }

    ~impl() {
        // Close whatever is left and let libuv run the close callbacks before freeing.
        uv_walk(
            loop,
            [](uv_handle_t* hd, void*) {
                if (!uv_is_closing(hd)) uv_close(hd, nullptr);
            },
            nullptr);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }

    // Flush output produced outside read callbacks, once per loop iteration.
    static void on_prepare(uv_prepare_t* p) {
        auto* self = static_cast<impl*>(p->data);
        // Swap first: flushing can make other connections dirty (a handler sending to
        // them); those wait for the next round.
        std::vector<connection_impl*> batch;
        batch.swap(self->dirty);
        for (auto* c : batch) {
            c->dirty_ = false;
            c->flush();
        }
    }

    static void on_connection(uv_stream_t* l, int status) {
        auto* self = static_cast<impl*>(l->data);
        if (status < 0) {
            log(log_level::warn, "accept: %s", uv_strerror(status));
            return;
        }
        connection_impl::accept_from(*self, l);
    }

    static void on_signal(uv_signal_t* s, int signum) {
        auto* self = static_cast<impl*>(s->data);
        if (++self->signals_seen > 1) {
            log(log_level::warn, "second signal %d: exiting now", signum);
            std::fflush(nullptr);
            std::_Exit(128 + signum);
        }
        log(log_level::info, "signal %d: shutting down", signum);
        self->begin_shutdown();
    }

    net::tls_settings tls_settings() const {
        return {opts.tls_cert, opts.tls_key, opts.tls_min_version, opts.tls_ciphers,
                opts.tls_ciphersuites};
    }

    std::string reload_tls() {
        if (!tls) return "TLS is not enabled";
        try {
            tls = net::tls_context::create_server(tls_settings());
        } catch (const std::exception& e) {
            log(log_level::error, "certificate reload failed, keeping the old one: %s", e.what());
            return e.what();
        }
        log(log_level::info, "certificate reloaded sha256=%s", tls->fingerprint().c_str());
        return {};
    }

    void begin_shutdown() {
        if (shutting_down) return;
        shutting_down = true;
        if (listening) {
            uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
            listening = false;
        }
        for (auto* c = connections; c != nullptr;) {
            auto* next = c->next_;  // shutdown may unlink c
            c->shutdown_for_server();
            c = next;
        }
        if (connections == nullptr) {
            finish_shutdown();
            return;
        }
        // Connections enforce close_timeout themselves; this is a backstop.
        const auto t = server_detail::to_ms(opts.close_timeout) + 1000;
        uv_timer_start(
            &shutdown_timer,
            [](uv_timer_t* timer) { static_cast<impl*>(timer->data)->finish_shutdown(); }, t, 0);
    }

    void finish_shutdown() {
        uv_timer_stop(&shutdown_timer);
        uv_prepare_stop(&flusher);
        if (signals_installed) {
            uv_signal_stop(&sigint);
            uv_signal_stop(&sigterm);
            uv_signal_stop(&sighup);
        }
        uv_stop(loop);
    }
};

server::server(server_options options, handlers h)
    : impl_(std::make_unique<impl>(std::move(options), std::move(h))) {}

server::~server() = default;

void server::listen() {
    impl& s = *impl_;
    // A peer that vanished must cost an EPIPE on write, not the process.
    std::signal(SIGPIPE, SIG_IGN);
    sockaddr_storage addr{};
    const std::string& host = s.opts.host;
    int r = host.find(':') != std::string::npos
                ? uv_ip6_addr(host.c_str(), s.opts.port, reinterpret_cast<sockaddr_in6*>(&addr))
                : uv_ip4_addr(host.c_str(), s.opts.port, reinterpret_cast<sockaddr_in*>(&addr));
    if (r != 0)
        throw std::runtime_error("invalid --host address '" + host + "': " + uv_strerror(r));
    uv_tcp_init(s.loop, &s.listener);
    s.listener.data = &s;
    r = uv_tcp_bind(&s.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (r == 0)
        r = uv_listen(reinterpret_cast<uv_stream_t*>(&s.listener), 1024, impl::on_connection);
    if (r != 0) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(s.opts.port) +
                                 ": " + uv_strerror(r));
    }
    s.listening = true;
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&s.listener, reinterpret_cast<sockaddr*>(&bound), &len);
    s.bound_port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    uv_prepare_start(&s.flusher, impl::on_prepare);
}

std::uint16_t server::port() const {
    return impl_->bound_port;
}

void server::handle_signals() {
    impl& s = *impl_;
    if (s.signals_installed) return;
    uv_signal_init(s.loop, &s.sigint);
    uv_signal_init(s.loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, impl::on_signal, SIGINT);
    uv_signal_start(&s.sigterm, impl::on_signal, SIGTERM);
    uv_signal_init(s.loop, &s.sighup);
    s.sighup.data = &s;
    if (s.tls) {
        uv_signal_start(
            &s.sighup, [](uv_signal_t* sig, int) { static_cast<impl*>(sig->data)->reload_tls(); },
            SIGHUP);
    }
    s.signals_installed = true;
}

bool server::tls_enabled() const {
    return impl_->tls != nullptr;
}

std::string server::reload_tls() {
    return impl_->reload_tls();
}

int server::run() {
    uv_run(impl_->loop, UV_RUN_DEFAULT);
    return 0;
}

void server::shutdown() {
    impl_->begin_shutdown();
}

}  // namespace sockeye
