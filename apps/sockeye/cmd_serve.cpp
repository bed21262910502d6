// `sockeye serve`: the echo server with the bundled demo page.
#include <sockeye/server.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "echo.hpp"
#include "exec.hpp"
#include "exec_command.hpp"
#include "proxy.hpp"
#include "pubsub.hpp"

namespace sockeye::apps {

namespace {

// The bundled page: web/ beside the build directory (build/sockeye → ../web), or the
// installed data directory (bin/sockeye → ../share/sockeye/web), or the source tree.
std::string default_web_root() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (const fs::path& candidate :
             {exe.parent_path() / "web", exe.parent_path().parent_path() / "web",
              exe.parent_path().parent_path() / "share" / "sockeye" / "web"}) {
            if (fs::is_regular_file(candidate / "index.html", ec)) return candidate.string();
        }
    }
    return SOCKEYE_SOURCE_WEB_DIR;
}

log_level parse_level(const std::string& s) {
    if (s == "debug") return log_level::debug;
    if (s == "warn") return log_level::warn;
    if (s == "error") return log_level::error;
    if (s == "off") return log_level::off;
    return log_level::info;
}

}  // namespace

command_runner add_serve_command(CLI::App& app) {
    struct state {
        server_options o;
        std::string level = "info";
        bool pubsub = false;
        pubsub_settings ps;
        std::string slow = "close";
        std::string http2 = "on";
        std::string exec_line;
        bool exec_shell = false;
        std::string exec_mode = "lines";
        exec_settings ex;
        proxy_flags proxy;
    };
    auto st = std::make_shared<state>();
    server_options& o = st->o;
    std::string& level = st->level;
    auto* serve = app.add_subcommand("serve", "Serve HTTP and WebSocket (echo, or pub/sub with --pubsub) on one port");
    serve->add_option("--host", o.host, "Address to listen on (IPv4 or IPv6 literal)")
        ->capture_default_str();
    serve->add_option("--port", o.port, "Port; 0 picks a free one")->capture_default_str();
    serve->add_option("--root", o.web_root, "Static files folder (default: the bundled web/)");
    serve->add_option("--ws-path", o.ws_path, "Accept WebSocket upgrades only on this path");
    serve->add_option("--origin", o.origins, "Allowed Origin (repeatable; none = any)");
    serve->add_option("--subprotocol", o.subprotocols,
                      "Supported subprotocol, preferred first (repeatable)");
    serve->add_option("--threads", o.threads, "Event loops, one thread each (SO_REUSEPORT)")
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
        ->check(CLI::Range(1u, 64u));
    serve
        ->add_option("--max-connections", o.max_connections,
                     "Open connections; beyond, new clients get 503 (0 = no limit)")
        ->capture_default_str();
    serve
        ->add_option("--max-fragments", o.max_fragments,
                     "Frames per received message, 0 = no limit (above: close 1008)")
        ->capture_default_str();
    serve
        ->add_option("--send-timeout", o.send_timeout,
                     "Drop a client that, with output above --high-water, receives nothing this long (s)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    serve
        ->add_option("--max-message", o.max_message_size,
                     "Largest message accepted in bytes, 0 = no limit (above: close 1009)")
        ->capture_default_str();
    serve
        ->add_option("--max-header-bytes", o.max_header_bytes,
                     "Largest HTTP request head (above: 431)")
        ->capture_default_str();
    serve
        ->add_option("--max-frame", o.max_frame_size,
                     "Split outgoing messages into frames of at most this many bytes, 0 = no")
        ->capture_default_str();
    serve
        ->add_option("--high-water", o.high_water_mark,
                     "Stop reading a client whose unsent output exceeds this many bytes")
        ->capture_default_str();
    serve->add_option("--low-water", o.low_water_mark, "Resume reading below this many bytes")
        ->capture_default_str();
    serve
        ->add_option("--close-timeout", o.close_timeout,
                     "Seconds to wait for a client's close reply")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    serve
        ->add_option("--ping-interval", o.ping_interval, "Seconds between heartbeat pings, 0 = off")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    serve
        ->add_option("--pong-timeout", o.pong_timeout,
                     "Seconds to wait for a pong (or any byte) before dropping the client")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    serve
        ->add_option("--idle-timeout", o.idle_timeout,
                     "Close (1001) after this many seconds without a frame, 0 = off")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    serve
        ->add_option("--handshake-timeout", o.handshake_timeout,
                     "Seconds from connect to a complete request head")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    serve->add_option("--tls-cert", o.tls_cert,
                      "Certificate (PEM, chain allowed): serve https and wss on the port");
    serve->add_option("--tls-key", o.tls_key, "Private key (PEM) for --tls-cert");
    serve->add_option("--tls-min-version", o.tls_min_version, "Oldest TLS version accepted")
        ->capture_default_str()
        ->check(CLI::IsMember({"1.2", "1.3"}));
    serve->add_option("--tls-ciphers", o.tls_ciphers, "TLS 1.2 cipher list (OpenSSL syntax)");
    serve->add_option("--tls-ciphersuites", o.tls_ciphersuites, "TLS 1.3 cipher suites");
    serve->add_option("--http2", st->http2,
                      "HTTP/2 beside HTTP/1.1: h2 by ALPN with TLS, h2c (prior knowledge) "
                      "without; WebSockets over h2 by RFC 8441")
        ->capture_default_str()
        ->check(CLI::IsMember({"on", "off"}));
    serve
        ->add_option("--http2-max-streams", o.http2.max_concurrent_streams,
                     "Concurrent streams per HTTP/2 connection")
        ->capture_default_str();
    serve
        ->add_option("--http2-stream-window", o.http2.stream_window,
                     "Bytes a peer may send on one stream before we consume them")
        ->capture_default_str()
        ->check(CLI::Range(65535u, 2147483647u));
    serve
        ->add_option("--http2-connection-window", o.http2.connection_window,
                     "Bytes a peer may send on one connection before we consume them")
        ->capture_default_str()
        ->check(CLI::Range(65535u, 2147483647u));
    auto& z = o.compression;
    serve->add_flag("--permessage-deflate", z.enabled,
                    "Compress messages (RFC 7692) with clients that offer it");
    serve
        ->add_option("--deflate-window-bits", z.server_window_bits,
                     "Window of the server's compressor (9-15)")
        ->capture_default_str()
        ->check(CLI::Range(9, 15));
    serve
        ->add_option("--deflate-client-window-bits", z.client_window_bits,
                     "Window asked of clients that allow it (9-15)")
        ->capture_default_str()
        ->check(CLI::Range(9, 15));
    serve->add_flag("--deflate-no-context-takeover", z.server_no_context_takeover,
                    "Reset the server's compressor after each message (less memory)");
    serve->add_flag("--deflate-client-no-context-takeover", z.client_no_context_takeover,
                    "Ask clients to reset their compressor after each message");
    serve->add_option("--deflate-mem-level", z.mem_level, "zlib memLevel of the compressor (1-9)")
        ->capture_default_str()
        ->check(CLI::Range(1, 9));
    serve
        ->add_option("--deflate-threshold", z.threshold,
                     "Whole messages shorter than this many bytes are sent uncompressed")
        ->capture_default_str();
    serve->add_flag("--reject-empty", o.reject_empty, "Close (1008) on empty data messages");
    serve->add_flag("--inspect", o.inspect.enabled,
                    "Frame inspector at /_sockeye/inspect (a development tool; loopback only)");
    serve->add_option("--inspect-token", o.inspect.token,
                      "Open the inspector to clients giving token=T (every client must)");
    serve->add_flag("--no-builtin-endpoints{false}", o.builtin_endpoints,
                    "Do not answer /healthz and /metrics");
    auto& ps = st->ps;
    serve->add_flag("--pubsub", st->pubsub,
                    "Pub/sub: WebSockets on /topics/NAME, POST /publish/NAME, GET /topics");
    serve->add_flag("--pubsub-read-only", ps.read_only,
                    "Subscribers may not publish: a client message is closed with 1008");
    serve->add_option("--publish-token", ps.publish_token,
                      "POST /publish needs 'Authorization: Bearer TOKEN'");
    serve->add_option("--subscribe-token", ps.subscribe_token,
                      "/topics WebSockets and GET /topics need this token (Bearer or ?token=)");
    serve->add_option("--max-publish", ps.max_publish,
                      "Largest published message in bytes (above: 413 over HTTP, 1009 over WebSocket)")
        ->capture_default_str();
    serve
        ->add_option("--pubsub-backlog", o.pubsub.backlog,
                     "Bytes a subscriber may have queued before it counts as too slow")
        ->capture_default_str();
    serve->add_option("--slow-subscriber", st->slow,
                      "What a too slow subscriber gets: close (1008) or drop (messages skipped)")
        ->capture_default_str()
        ->check(CLI::IsMember({"close", "drop"}));
    serve->add_option("--broker", o.pubsub.broker,
                      "Join other nodes through Redis: redis://[:password@]host[:port][/db]");
    serve->add_flag("--broker-sharded", o.pubsub.broker_sharded,
                    "Use Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE), for Redis Cluster");
    serve
        ->add_option("--broker-backlog", o.pubsub.broker_backlog,
                     "Bytes of messages held for Redis while it is unreachable (then dropped)")
        ->capture_default_str();
    auto* exec_opt = serve->add_option(
        "--exec", st->exec_line,
        "Run this program for every WebSocket: messages to its stdin, its stdout back as "
        "messages (split into argv with simple quoting; no shell)");
    exec_opt->excludes("--pubsub");
    serve->add_flag("--exec-shell", st->exec_shell, "Run the --exec line with /bin/sh -c")
        ->needs(exec_opt);
    serve->add_option("--exec-mode", st->exec_mode,
                      "lines: a message per line, text (UTF-8) or binary; binary: raw bytes")
        ->capture_default_str()
        ->check(CLI::IsMember({"lines", "binary"}))
        ->needs(exec_opt);
    serve->add_option("--exec-dir", st->ex.dir, "Working directory of the programs")
        ->check(CLI::ExistingDirectory)
        ->needs(exec_opt);
    serve->add_option("--exec-grace", st->ex.grace,
                      "Seconds from the client's end to SIGTERM, and from SIGTERM to SIGKILL")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber)
        ->needs(exec_opt);
    serve->add_option("--exec-flush", st->ex.flush,
                      "binary mode: stdout goes out as one fragmented message per this many "
                      "seconds (0: a message per read, as it comes)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber)
        ->needs(exec_opt);
    serve->add_option("--exec-flush-size", st->ex.flush_size,
                      "binary mode: ... or per this many bytes (0: no size bound)")
        ->capture_default_str()
        ->needs(exec_opt);
    serve->add_option("--exec-max", st->ex.max_programs,
                      "Programs running at once, 0 = no limit (beyond: 503 at the upgrade)")
        ->capture_default_str()
        ->needs(exec_opt);
    serve->add_option("--exec-env", st->ex.env,
                      "Pass NAME (the server's value) or set NAME=VALUE for programs (repeatable)")
        ->needs(exec_opt);
    add_proxy_flags(*serve, st->proxy);
    serve->add_option("--log-level", level, "debug, info, warn, error or off")
        ->capture_default_str()
        ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));

    return [st, serve]() -> int {
        if (!serve->parsed()) return -1;
        server_options& cfg = st->o;
        if (cfg.web_root.empty()) cfg.web_root = default_web_root();
        cfg.log = parse_level(st->level);
        cfg.http2.enabled = st->http2 == "on";
        if (cfg.low_water_mark > cfg.high_water_mark) cfg.low_water_mark = cfg.high_water_mark;

        cfg.pubsub.slow = st->slow == "drop"
                              ? server_options::pubsub_options::slow_policy::drop
                              : server_options::pubsub_options::slow_policy::close;
        if (st->pubsub) {
            // A subscriber's message is gathered whole before it is published.
            const std::uint64_t limit = st->ps.max_publish;
            if (cfg.max_message_size == 0 || cfg.max_message_size > limit) {
                cfg.max_message_size = limit;
            }
        }

        if ((st->pubsub || !st->exec_line.empty()) && st->proxy.enabled()) {
            std::fprintf(stderr, "sockeye: --proxy/--proxy-map go with neither --pubsub nor --exec\n");
            return 2;
        }
        // Declared before the server: what its loops left of the programs is freed after it.
        std::unique_ptr<exec_app> bridge;
        if (!st->exec_line.empty()) {
            exec_settings es = st->ex;
            es.mode = st->exec_mode == "binary" ? exec_mode::binary : exec_mode::lines;
            if (st->exec_shell) {
                es.argv = {"/bin/sh", "-c", st->exec_line};
            } else {
                split_command_result split = split_command(st->exec_line);
                if (!split.error.empty()) {
                    std::fprintf(stderr, "sockeye: --exec: %s\n", split.error.c_str());
                    return 2;
                }
                es.argv = std::move(split.argv);
            }
            bridge = std::make_unique<exec_app>(std::move(es), cfg);
        }

        try {
            pubsub_app topics_app(st->ps);
            // Declared before the server: its backends may outlive the server's loops.
            std::optional<proxy_app> proxy;
            if (st->proxy.enabled()) proxy.emplace(st->proxy.settings(cfg));
            server srv(cfg, bridge       ? bridge->make_handlers()
                            : proxy      ? proxy->make_handlers()
                            : st->pubsub ? topics_app.make_handlers()
                                         : echo_handlers());
            if (bridge) bridge->attach(srv);
            if (st->pubsub) topics_app.attach(srv);
            if (proxy) proxy->attach(srv);
            srv.handle_signals();  // before the ready line: scripts may signal right after it
            srv.listen();
            std::string host =
                cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host;
            std::printf("listening on %s://%s:%u\n", srv.tls_enabled() ? "https" : "http",
                        host.c_str(), srv.port());
            std::fflush(stdout);
            const int rc = srv.run();
            if (bridge) bridge->finish();
            return rc;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "sockeye: %s\n", e.what());
            return 1;
        }
    };
}

}  // namespace sockeye::apps
