// Sockeye's embeddable WebSocket server: an HTTP/1.1 server (static files, /healthz,
// /metrics) that upgrades requests to WebSocket (RFC 6455) and hands each connection to
// the handlers below. Handlers run on an event loop and must not block. With threads > 1
// there is one loop per thread and a connection stays on one loop, so handlers run
// concurrently for different connections: shared application state needs its own locking.
// See examples/ for a small chat server written against this header.
#pragma once
#include <sockeye/connection.hpp>
#include <sockeye/http.hpp>
#include <sockeye/upgrade.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct uv_loop_s;

namespace sockeye {

enum class log_level : std::uint8_t { debug, info, warn, error, off };

struct server_options {
    std::string host = "127.0.0.1";         // address to listen on (IPv4 or IPv6 literal)
    std::uint16_t port = 8080;              // 0 picks a free port; see server::port()
    std::string web_root;                   // static files; empty = no static files
    std::string ws_path;                    // upgrade only on this path; empty = any path
    std::vector<std::string> origins;       // allowed Origin values; empty = any
    std::vector<std::string> subprotocols;  // spoken subprotocols, preferred first

    unsigned threads = 1;                    // event loops, one thread each (SO_REUSEPORT)
    std::size_t max_connections = 10000;     // open TCP connections; beyond: 503 and close
    std::uint64_t max_message_size = 0;      // bytes per received message; 0 = no limit (1009)
    std::uint64_t max_fragments = 0;         // frames per received message; 0 = no limit (1008)
    std::size_t max_header_bytes = 8192;     // request head limit (431 above it)
    std::uint64_t max_frame_size = 0;        // split outgoing messages into frames this big; 0 = no
    std::size_t high_water_mark = 1 << 20;   // stop reading a peer whose unsent output passes this
    std::size_t low_water_mark = 256 << 10;  // ... and resume below this

    double close_timeout = 5;       // seconds to wait for the peer's close reply, then drop
    double send_timeout = 30;       // seconds a peer with output above high water may receive
                                    // none of it (its TCP ACKs are the progress); 0 = off
    double ping_interval = 30;      // seconds between heartbeat pings; 0 = off
    double pong_timeout = 10;       // seconds without a pong (or any byte) after a ping → drop
    double idle_timeout = 0;        // seconds without a frame from the peer → close 1001; 0 = off
    double handshake_timeout = 10;  // seconds from accept to a complete request head

    // TLS (https and wss on the same port) when both are set. The certificate file may hold
    // a chain (leaf first); it is sent as is.
    std::string tls_cert;
    std::string tls_key;
    std::string tls_min_version = "1.2";  // "1.2" or "1.3"
    std::string tls_ciphers;              // TLS 1.2 cipher list; empty = OpenSSL's default
    std::string tls_ciphersuites;         // TLS 1.3 suites; empty = OpenSSL's default

    // HTTP/2 (RFC 9113) beside HTTP/1.1 on every port: chosen by ALPN ("h2") on TLS ports,
    // by the connection preface (h2c with prior knowledge) on plain ones. WebSockets ride
    // on h2 streams by the extended CONNECT of RFC 8441.
    struct http2_settings {
        bool enabled = true;
        std::uint32_t max_concurrent_streams = 100;  // per connection
        // Receive windows: how much a peer may send before we have consumed it. A stream's
        // window reopens only as its WebSocket takes the bytes in.
        std::uint32_t stream_window = 1 << 20;
        std::uint32_t connection_window = 16 << 20;
    } http2;

    // permessage-deflate (RFC 7692), used when a client offers it. Off by default: it costs
    // CPU per byte and, with context takeover, up to ~300 KiB of zlib state per connection
    // (compressor 2^(window+2) + 2^(mem_level+9) bytes, inflater 2^15 + ~7 KiB).
    struct compression_options {
        bool enabled = false;
        int server_window_bits = 15;              // our compressor's window: 9-15
        int client_window_bits = 15;              // asked of clients that allow it: 9-15
        bool server_no_context_takeover = false;  // reset our compressor per message
        bool client_no_context_takeover = false;  // ask clients to reset theirs
        int mem_level = 8;                        // zlib memLevel for our compressor: 1-9
        std::size_t threshold = 64;               // whole messages shorter are sent plain
    } compression;

    // Topics (connection::subscribe, server::publish).
    struct pubsub_options {
        // A published message is queued to a subscriber only while its unsent output stays
        // within this many bytes (an empty queue always takes one message). Beyond it:
        std::size_t backlog = 1 << 20;
        // ... close the subscriber with 1008 "subscriber too slow", or skip the message
        // for it (counted: connection::published_dropped(), sockeye_pubsub_dropped_total).
        enum class slow_policy : std::uint8_t { close, drop } slow = slow_policy::close;
        // Many nodes: "redis://[:password@]host[:port][/db]". Each node publishes to Redis
        // and subscribes there to the topics its clients subscribe to. Empty: this node only.
        std::string broker;
        bool broker_sharded = false;            // SPUBLISH/SSUBSCRIBE (Redis 7, Cluster)
        std::size_t broker_backlog = 8 << 20;   // bytes held while Redis is away; then dropped
        std::string broker_prefix = "sockeye:"; // Redis channel = prefix + topic
    } pubsub;

    // The frame inspector (docs/inspector.md), a development tool: every WebSocket's frames,
    // reads and writes, streamed as JSON to WebSockets on /_sockeye/inspect.
    struct inspect_options {
        bool enabled = false;
        // Empty: only loopback clients may inspect. Else every client must add token=T to
        // the inspector's query.
        std::string token;
    } inspect;

    bool reject_empty = false;  // empty data messages are closed with 1008
    bool builtin_endpoints = true;  // answer GET /healthz and /metrics (after the routes)
    log_level log = log_level::info;
};

// Names a timer of server::set_timer; empty (false) when the timer could not be set.
struct timer_id {
    std::uint64_t value = 0;
    explicit operator bool() const noexcept { return value != 0; }
    friend bool operator==(timer_id, timer_id) = default;
};

// A topic and its subscribers on this node (server::topics()).
struct topic_info {
    std::string name;
    std::size_t subscribers = 0;
};

class server {
  public:
    server(server_options options, handlers h);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Sets the upgrade hook (see <sockeye/upgrade.hpp>); call before listen(). Without
    // one, every upgrade that passes the protocol checks is accepted.
    void on_upgrade(upgrade_hook hook);
    // Adds an HTTP route (see <sockeye/http.hpp>); call before listen(). Throws
    // std::invalid_argument for a pattern that does not compile or can never match.
    void route(std::string_view method, std::string_view pattern, route_handler handler,
               route_options options = {});
    // Binds and listens; throws std::runtime_error with the reason on failure.
    void listen();
    // The bound port (after listen()).
    std::uint16_t port() const;
    // Installs SIGINT/SIGTERM handlers (graceful shutdown; a second signal exits at once)
    // and, with TLS or an on_reload() function, SIGHUP (reload the certificate and key,
    // then run the on_reload() functions).
    void handle_signals();
    // Runs fn on the first loop at every SIGHUP (after the certificate reload, with TLS):
    // an application reloading its own configuration. Call before handle_signals().
    void on_reload(std::function<void()> fn);
    bool tls_enabled() const;
    // Loads the certificate and key again; new connections use them, open ones keep theirs.
    // On failure the old pair stays and the reason is returned (empty string on success).
    std::string reload_tls();
    // Runs the event loop until the server has shut down. Returns 0 after a clean shutdown.
    // The loops stop once their connections have ended; handles an application added to
    // them (connection::loop()) and has not closed by then are closed without their
    // callbacks when the server is destroyed: what they point to must outlive the server.
    int run();
    // Starts a graceful shutdown from inside a handler: stop accepting, close every
    // WebSocket with 1001, wait up to close_timeout, then run() returns.
    void shutdown();
    // Writes one record to the server's log (stderr: a timestamp, the level, the message)
    // if `level` passes server_options::log. Control characters in `message` (a newline
    // above all) come out escaped, so one call is always one line, whatever the text
    // (a peer's or a child program's); a message beyond 1000 bytes is cut there. Any thread.
    void log(log_level level, std::string_view message) const;

    // Working with the loops from any thread. Functions run on a loop, so they must not
    // block or throw, like handlers; posts are FIFO per loop. All return false (or an
    // empty timer_id) once shutdown has begun or run() has returned.

    // Runs fn on one loop, later: the loops take turns (round-robin).
    bool post(std::function<void()> fn);
    // Runs a copy of fn on every loop. False if any could not be posted.
    bool post_to_all(std::function<void()> fn);
    // Runs fn after `delay`, then every `repeat` (zero: once), until cancel_timer(). Called
    // on a loop's thread (from a handler) the timer runs on that loop, else the loops take
    // turns. A timer runs until cancelled or the server ends; shutdown does not wait for it.
    timer_id set_timer(std::chrono::milliseconds delay, std::chrono::milliseconds repeat,
                       std::function<void()> fn);
    // Stops a timer. On the timer's loop it acts at once: fn runs no more, and the result
    // says whether the timer was still set. From another thread the cancel is posted: a
    // run of fn already under way may still finish (true means the cancel was posted).
    bool cancel_timer(timer_id id);
    // The libuv loop whose thread calls this — from a handler, the upgrade hook, a route,
    // a post or a timer — or null on any other thread. An application adds its own handles
    // (a TCP connection to a backend, a child process) to it, so their callbacks run on the
    // same thread as the connection's handlers. Handles must be closed (uv_close) before
    // run() returns; handles still open then are closed without their close callbacks.
    uv_loop_s* current_loop() const noexcept;

    // Topics. Any thread. Sends `data` to every subscriber of `topic` on every loop of this
    // node and, with a broker, of every other node. The message is framed once: each
    // subscriber's queue takes a reference to the same bytes. Messages from one thread to
    // one topic reach each subscriber in publish order. Text must be valid UTF-8. `done`,
    // if set, runs once every loop here has queued the message, with the number of local
    // subscribers it was queued to: on the calling loop when called from a handler, else
    // on the last loop to finish. False (and nothing sent, done not called) for an empty
    // topic, invalid text, or once shutdown has begun.
    bool publish(std::string_view topic, message_type type, std::span<const std::uint8_t> data,
                 std::function<void(std::size_t delivered)> done = {});
    bool publish_text(std::string_view topic, std::string_view text,
                      std::function<void(std::size_t delivered)> done = {}) {
        return publish(topic, message_type::text,
                       {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                       std::move(done));
    }
    // The topics with subscribers on this node, by name.
    std::vector<topic_info> topics() const;
    // Whether the broker is configured, and connected now.
    bool broker_configured() const;
    bool broker_connected() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sockeye
