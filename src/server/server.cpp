#include <sockeye/server.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "app_timers.hpp"
#include "broker_bridge.hpp"
#include "http1_connection.hpp"
#include "log.hpp"
#include "server_core.hpp"

namespace sockeye {

using server_detail::http1_connection;
using server_detail::log;
using server_detail::server_core;
using server_detail::server_shared;

void server_detail::server_core::add(http1_connection* c) {
    c->next_ = connections;
    if (connections) connections->prev_ = c;
    connections = c;
}

void server_detail::server_core::remove(http1_connection* c) {
    if (c->prev_) c->prev_->next_ = c->next_;
    if (c->next_) c->next_->prev_ = c->prev_;
    if (connections == c) connections = c->next_;
    c->prev_ = c->next_ = nullptr;
    if (c->dirty()) std::erase(dirty, c);
    shared.open_connections.fetch_sub(1, std::memory_order_relaxed);
    if (shutting_down && connections == nullptr && on_drained) on_drained(*this);
}

namespace {

// Requests one loop takes from other threads, through its uv_async_t.
enum command : int { cmd_shutdown = 1, cmd_reload_tls = 2 };

// A listening socket bound with SO_REUSEPORT, so each loop accepts on its own socket and
// the kernel spreads connections across them.
int reuseport_socket(const sockaddr* addr, std::string& error) {
    const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = "socket: " + std::string(std::strerror(errno));
        return -1;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        ::bind(fd, addr,
               addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) != 0) {
        error = std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

struct server_state;

// One event loop with its listener: the whole server when threads == 1.
struct server_worker : server_core {
    server_state& owner;
    uv_loop_t loop_storage{};
    uv_tcp_t listener{};
    uv_prepare_t flusher{};
    // Active while output made dirty by the flusher itself waits: it keeps the next poll from
    // blocking, so that output goes out in the next turn rather than after the next event.
    uv_idle_t next_turn{};
    uv_timer_t shutdown_timer{};
    uv_async_t wakeup{};
    std::atomic<int> commands{0};
    server_detail::publish_inbox inbox{&wakeup};  // published messages from other threads
    server_detail::app_timers timers{&loop_storage};  // server::set_timer's, on this loop
    std::size_t index = 0;                            // in server_state::workers
    bool listening = false;
    std::uint64_t last_accept_warning = 0;
    std::thread thread;

    server_worker(server_state& o);
    ~server_worker();
    void begin_shutdown();
    void finish_shutdown();
    void post(command c) {
        commands.fetch_or(c);
        uv_async_send(&wakeup);
    }
};

// Everything the loops share, and the loops themselves.
struct server_state : server_shared {
    std::mutex tls_mutex;  // guards `tls` below for loops picking up a reload
    std::shared_ptr<net::tls_context> tls;
    // Signal handles live on the first loop; declared before `workers` so that they are
    // destroyed after the loops that close them.
    uv_signal_t sigint{};
    uv_signal_t sigterm{};
    uv_signal_t sighup{};
    bool signals_installed = false;
    int signals_seen = 0;
    std::vector<std::function<void()>> reloaders;  // server::on_reload, run at SIGHUP
    std::uint16_t bound_port = 0;
    // Set when shutdown begins: server::post and set_timer refuse from then on.
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> next_loop{0};     // round-robin for post() and set_timer()
    std::atomic<std::uint64_t> next_timer{0};  // timer ids: sequence * loops + loop index
    // The link to other nodes (on the first loop); declared before the loops so that it
    // outlives the close callbacks of its handles, which their destructors run.
    std::unique_ptr<server_detail::broker_bridge> broker;
    std::vector<std::unique_ptr<server_worker>> workers;

    server_state(server_options o, handlers hs) {
        opts = std::move(o);
        h = std::move(hs);
        handshake.allowed_origins = opts.origins;
        handshake.subprotocols = opts.subprotocols;
        routes.root = http::static_root(opts.web_root);
        routes.ws_path = opts.ws_path;
        routes.builtins = opts.builtin_endpoints;
        server_detail::set_log_level(opts.log);
        if (!opts.tls_cert.empty() || !opts.tls_key.empty()) {
            if (opts.tls_cert.empty() || opts.tls_key.empty()) {
                throw std::runtime_error("TLS needs both --tls-cert and --tls-key");
            }
            tls = net::tls_context::create_server(tls_settings(), opts.http2.enabled);
            log(log_level::info, "TLS certificate %s sha256=%s", opts.tls_cert.c_str(),
                tls->fingerprint().c_str());
        }
        const unsigned n = opts.threads == 0 ? 1 : opts.threads;
        for (unsigned i = 0; i < n; ++i) {
            workers.push_back(std::make_unique<server_worker>(*this));
            workers.back()->index = i;
        }
        if (!opts.pubsub.broker.empty()) {
            broker = std::make_unique<server_detail::broker_bridge>(workers.front()->loop,
                                                                    opts.pubsub, hub, stats);
            hub.set_broker(broker.get());
        }
    }

    // The first loop's thread: no more messages to or from other nodes.
    void stop_broker() {
        if (!broker) return;
        hub.set_broker(nullptr);
        broker->stop();
    }

    ~server_state() {
        stop_broker();  // the first loop no longer runs: this thread is its thread now
        for (auto& w : workers) {
            if (w->thread.joinable()) {
                w->post(cmd_shutdown);
                w->thread.join();
            }
        }
    }

    net::tls_settings tls_settings() const {
        return {opts.tls_cert, opts.tls_key, opts.tls_min_version, opts.tls_ciphers,
                opts.tls_ciphersuites};
    }

    std::shared_ptr<net::tls_context> current_tls() {
        std::lock_guard lock(tls_mutex);
        return tls;
    }

    std::string reload_tls() {
        if (!tls) return "TLS is not enabled";
        std::shared_ptr<net::tls_context> fresh;
        try {
            fresh = net::tls_context::create_server(tls_settings(), opts.http2.enabled);
        } catch (const std::exception& e) {
            log(log_level::error, "certificate reload failed, keeping the old one: %s", e.what());
            return e.what();
        }
        {
            std::lock_guard lock(tls_mutex);
            tls = fresh;
        }
        for (auto& w : workers) w->post(cmd_reload_tls);
        log(log_level::info, "certificate reloaded sha256=%s", fresh->fingerprint().c_str());
        return {};
    }

    void shutdown_all() {
        stopping.store(true);
        for (auto& w : workers) w->post(cmd_shutdown);
    }

    // The loop whose thread this is, if any; else the next one in turn.
    server_worker& pick_loop() {
        for (auto& w : workers) {
            if (w->mailbox->on_loop_thread()) return *w;
        }
        return *workers[next_loop.fetch_add(1, std::memory_order_relaxed) % workers.size()];
    }

    static void on_signal(uv_signal_t* s, int signum) {
        auto* self = static_cast<server_state*>(s->data);
        if (++self->signals_seen > 1) {
            log(log_level::warn, "second signal %d: exiting now", signum);
            std::fflush(nullptr);
            std::_Exit(128 + signum);
        }
        log(log_level::info, "signal %d: shutting down", signum);
        self->shutdown_all();
    }

    void listen();
};

server_worker::server_worker(server_state& o) : server_core(o), owner(o) {
    if (uv_loop_init(&loop_storage) != 0) throw std::runtime_error("uv_loop_init failed");
    loop = &loop_storage;
    read_buffer.resize(256 * 1024);
    if (o.tls) {
        tls = o.tls;
        plain_buffer.resize(read_buffer.size());
    }
    transport_io = net::transport_shared{
        read_buffer.data(), read_buffer.size(), plain_buffer.data(),  plain_buffer.size(),
        &stats.bytes_in,    &stats.bytes_out,   opts.high_water_mark, opts.low_water_mark};
    deadlines.start(loop, http1_connection::on_deadline);
    uv_prepare_init(loop, &flusher);
    flusher.data = this;
    uv_idle_init(loop, &next_turn);
    uv_timer_init(loop, &shutdown_timer);
    shutdown_timer.data = this;
    uv_async_init(loop, &wakeup, [](uv_async_t* a) {
        auto* w = static_cast<server_worker*>(a->data);
        const int c = w->commands.exchange(0);
        if (c & cmd_reload_tls) w->tls = w->owner.current_tls();
        if (c & cmd_shutdown) w->begin_shutdown();
        w->inbox.run([w](server_detail::publication& p) {
            p.loop_finished(w->topics.deliver(p));
        });
        w->mailbox->run_pending();
    });
    wakeup.data = this;
    mailbox = std::make_shared<server_detail::loop_mailbox>(&wakeup);
    o.hub.add_loop(&topics, &inbox, mailbox);
    uv_unref(reinterpret_cast<uv_handle_t*>(&wakeup));  // never what keeps the loop alive
    on_drained = [](server_core& core) { static_cast<server_worker&>(core).finish_shutdown(); };
}

server_worker::~server_worker() {
    mailbox->close();  // answers and tasks from other threads now find the loop gone
    inbox.close();
    // Connections still here (the shutdown backstop gave up on them) are not ended one by
    // one: their handles must find them gone all the same.
    for (auto* c = connections; c != nullptr; c = c->next_) c->release_handle();
    timers.close_all();  // freed by the close callbacks run below
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

void server_worker::begin_shutdown() {
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
    // Connections enforce close_timeout themselves; this is a backstop. (An HTTP/2
    // connection whose peer ignores both the WebSockets' 1001 and GOAWAY is cut here.)
    const auto t = server_detail::to_ms(opts.close_timeout) + 1000;
    uv_timer_start(
        &shutdown_timer,
        [](uv_timer_t* timer) { static_cast<server_worker*>(timer->data)->finish_shutdown(); }, t,
        0);
}

void server_worker::finish_shutdown() {
    uv_timer_stop(&shutdown_timer);
    uv_prepare_stop(&flusher);
    uv_idle_stop(&next_turn);
    if (this == owner.workers.front().get()) owner.stop_broker();
    if (this == owner.workers.front().get() && owner.signals_installed) {
        uv_signal_stop(&owner.sigint);
        uv_signal_stop(&owner.sigterm);
        uv_signal_stop(&owner.sighup);
    }
    uv_stop(loop);
}

namespace {

// Flushes output produced outside read callbacks, once per loop iteration.
void on_prepare(uv_prepare_t* p) {
    auto* w = static_cast<server_worker*>(p->data);
    // Swap first: flushing can make other connections dirty (a handler sending to them, or
    // on_drain sending more); those wait for the next round, which must come without
    // waiting for an unrelated event.
    auto& batch = w->dirty_batch;
    batch.swap(w->dirty);
    for (auto* c : batch) {
        c->set_dirty(false);
        c->flush();
    }
    batch.clear();
    if (w->dirty.empty()) {
        uv_idle_stop(&w->next_turn);
    } else {
        uv_idle_start(&w->next_turn, [](uv_idle_t*) {});
    }
}

void on_connection(uv_stream_t* l, int status) {
    auto* w = static_cast<server_worker*>(l->data);
    if (status < 0) {
        // EMFILE and friends: libuv has already accepted and closed the pending connection
        // with its reserve descriptor, so this does not spin. Log at most once a second.
        const auto now = uv_now(w->loop);
        if (now - w->last_accept_warning >= 1000) {
            w->last_accept_warning = now;
            log(log_level::warn, "accept: %s", uv_strerror(status));
        }
        return;
    }
    const auto open = w->shared.open_connections.fetch_add(1, std::memory_order_relaxed);
    const auto limit = w->opts.max_connections;
    http1_connection::accept_from(*w, l, limit != 0 && open >= static_cast<std::int64_t>(limit));
}

}  // namespace

struct server::impl : server_state {
    using server_state::server_state;
};

void server_state::listen() {
    if (opts.inspect.enabled) {
        log(log_level::warn,
            "frame inspector on: every WebSocket's frames are recorded for %s (%s); a "
            "development tool, not for production",
            "/_sockeye/inspect",
            opts.inspect.token.empty() ? "loopback clients only" : "clients with the token");
    }
    sockaddr_storage addr{};
    const std::string& host = opts.host;
    int r = host.find(':') != std::string::npos
                ? uv_ip6_addr(host.c_str(), opts.port, reinterpret_cast<sockaddr_in6*>(&addr))
                : uv_ip4_addr(host.c_str(), opts.port, reinterpret_cast<sockaddr_in*>(&addr));
    if (r != 0)
        throw std::runtime_error("invalid --host address '" + host + "': " + uv_strerror(r));
    for (std::size_t i = 0; i < workers.size(); ++i) {
        server_worker& w = *workers[i];
        uv_tcp_init(w.loop, &w.listener);
        w.listener.data = &w;
        std::string error;
        if (workers.size() == 1) {
            r = uv_tcp_bind(&w.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
            if (r != 0) error = uv_strerror(r);
        } else {
            // Port 0: the first socket picks the port, the others join it.
            const int fd = reuseport_socket(reinterpret_cast<const sockaddr*>(&addr), error);
            if (fd >= 0) {
                r = uv_tcp_open(&w.listener, fd);
                if (r != 0) error = uv_strerror(r);
            }
        }
        if (error.empty()) {
            r = uv_listen(reinterpret_cast<uv_stream_t*>(&w.listener), 4096, on_connection);
            if (r != 0) error = uv_strerror(r);
        }
        if (!error.empty()) {
            throw std::runtime_error(
                "cannot listen on " + host + ":" +
                std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port)) + ": " +
                error);
        }
        w.listening = true;
        if (i == 0) {
            sockaddr_storage bound{};
            int len = sizeof bound;
            uv_tcp_getsockname(&w.listener, reinterpret_cast<sockaddr*>(&bound), &len);
            bound_port = ntohs(bound.ss_family == AF_INET6
                                   ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                   : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
            // Both families keep the port at the same offset.
            reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(bound_port);
        }
        uv_prepare_start(&w.flusher, on_prepare);
    }
    if (broker) broker->start();
}

server::server(server_options options, handlers h)
    : impl_(std::make_unique<impl>(std::move(options), std::move(h))) {}

server::~server() = default;

void server::on_upgrade(upgrade_hook hook) {
    impl_->on_upgrade = std::move(hook);
}

void server::route(std::string_view method, std::string_view pattern, route_handler handler,
                   route_options options) {
    std::string error;
    if (!impl_->app_routes.add(method, pattern, impl_->app_handlers.size(), error)) {
        throw std::invalid_argument("route " + std::string(method) + " " + std::string(pattern) +
                                    ": " + error);
    }
    impl_->app_handlers.push_back({std::move(handler), options});
}

void server::listen() {
    // A peer that vanished must cost an EPIPE on write, not the process.
    std::signal(SIGPIPE, SIG_IGN);
    impl_->listen();
}

std::uint16_t server::port() const {
    return impl_->bound_port;
}

void server::handle_signals() {
    impl& s = *impl_;
    if (s.signals_installed) return;
    uv_loop_t* loop = s.workers.front()->loop;
    uv_signal_init(loop, &s.sigint);
    uv_signal_init(loop, &s.sigterm);
    uv_signal_init(loop, &s.sighup);
    s.sigint.data = s.sigterm.data = s.sighup.data = &s;
    uv_signal_start(&s.sigint, server_state::on_signal, SIGINT);
    uv_signal_start(&s.sigterm, server_state::on_signal, SIGTERM);
    if (s.tls || !s.reloaders.empty()) {
        uv_signal_start(
            &s.sighup,
            [](uv_signal_t* sig, int) {
                auto* self = static_cast<server_state*>(sig->data);
                if (self->tls) self->reload_tls();
                for (const auto& fn : self->reloaders) fn();
            },
            SIGHUP);
    }
    s.signals_installed = true;
}

void server::on_reload(std::function<void()> fn) {
    if (fn) impl_->reloaders.push_back(std::move(fn));
}

uv_loop_s* server::current_loop() const noexcept {
    for (const auto& w : impl_->workers) {
        if (w->mailbox->on_loop_thread()) return w->loop;
    }
    return nullptr;
}

bool server::tls_enabled() const {
    return impl_->tls != nullptr;
}

std::string server::reload_tls() {
    return impl_->reload_tls();
}

int server::run() {
    impl& s = *impl_;
    for (std::size_t i = 1; i < s.workers.size(); ++i) {
        server_worker* w = s.workers[i].get();
        w->thread = std::thread([w] {
            const server_detail::loop_mailbox::loop_scope here(*w->mailbox);
            uv_run(w->loop, UV_RUN_DEFAULT);
        });
    }
    {
        const server_detail::loop_mailbox::loop_scope here(*s.workers.front()->mailbox);
        uv_run(s.workers.front()->loop, UV_RUN_DEFAULT);
    }
    s.stopping.store(true);  // posts from now on would wait for a loop that no longer runs
    // The first loop ends on shutdown; the others end on theirs.
    for (std::size_t i = 1; i < s.workers.size(); ++i) {
        s.workers[i]->post(cmd_shutdown);
        s.workers[i]->thread.join();
    }
    return 0;
}

void server::shutdown() {
    impl_->shutdown_all();
}

void server::log(log_level level, std::string_view message) const {
    server_detail::log_message(level, message.substr(0, 1000));
}

bool server::post(std::function<void()> fn) {
    impl& s = *impl_;
    if (!fn || s.stopping.load()) return false;
    const std::size_t i = s.next_loop.fetch_add(1, std::memory_order_relaxed);
    return s.workers[i % s.workers.size()]->mailbox->post(std::move(fn));
}

bool server::post_to_all(std::function<void()> fn) {
    impl& s = *impl_;
    if (!fn || s.stopping.load()) return false;
    bool all = true;
    for (auto& w : s.workers) all = w->mailbox->post(fn) && all;
    return all;
}

timer_id server::set_timer(std::chrono::milliseconds delay, std::chrono::milliseconds repeat,
                           std::function<void()> fn) {
    impl& s = *impl_;
    if (!fn || s.stopping.load() || delay.count() < 0 || repeat.count() < 0) return {};
    server_worker& w = s.pick_loop();
    // The loop is in the id: cancel_timer() knows where to go without a shared table.
    const std::uint64_t id =
        (s.next_timer.fetch_add(1, std::memory_order_relaxed) + 1) * s.workers.size() + w.index;
    const auto d = static_cast<std::uint64_t>(delay.count());
    const auto r = static_cast<std::uint64_t>(repeat.count());
    if (w.mailbox->on_loop_thread()) {
        w.timers.start(id, d, r, std::move(fn));
    } else if (!w.mailbox->post([&w, id, d, r, fn = std::move(fn)]() mutable {
                   w.timers.start(id, d, r, std::move(fn));
               })) {
        return {};
    }
    return timer_id{id};
}

bool server::cancel_timer(timer_id id) {
    impl& s = *impl_;
    if (!id) return false;
    server_worker& w = *s.workers[id.value % s.workers.size()];
    if (w.mailbox->on_loop_thread()) return w.timers.cancel(id.value);
    return w.mailbox->post([&w, id] { w.timers.cancel(id.value); });
}

bool server::publish(std::string_view topic, message_type type, std::span<const std::uint8_t> data,
                     std::function<void(std::size_t)> done) {
    if (impl_->stopping.load()) return false;
    return impl_->hub.publish(topic, type, data, std::move(done));
}

std::vector<topic_info> server::topics() const {
    return impl_->hub.topics();
}

bool server::broker_configured() const {
    return impl_->broker != nullptr;
}

bool server::broker_connected() const {
    return impl_->broker && impl_->broker->connected();
}

}  // namespace sockeye
