// The TCP proxy behind `sockeye serve --proxy HOST:PORT` (a WebSocket in front of a TCP
// service, as websockify does for VNC), written against the public API like the echo
// (with --proxy-tls, and the project's TLS engine: proxy_tls.hpp).
// Each upgrade first connects to the target, with --proxy-tls through a verified TLS
// handshake (an unreachable one, or a certificate that fails, is a 502 at the handshake,
// never an open-then-close); binary messages go to the target as bytes, whatever the target
// sends comes back as binary messages (one per read, as it arrives); the end of either side
// is passed on to the other, and each side stops reading while the other is slow.
#pragma once
#include <CLI/CLI.hpp>
#include <sockeye/server.hpp>

#include "proxy_target.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::apps {

struct proxy_settings {
    std::optional<proxy_target> target;  // --proxy: every WebSocket goes there
    std::string map_file;                // --proxy-map: the token selects the target
    std::vector<proxy_target> allow;     // --proxy-allow: only these (empty: any)
    bool text = false;                   // --proxy-text: text messages go through as bytes
    bool tls = false;                    // --proxy-tls: TLS to the target, verified
    std::string cafile;                  // --proxy-cacert: PEM CAs instead of the system store
    double connect_timeout = 5;          // seconds to resolve, connect, shake hands (then 504)
    double linger = 5;                   // seconds a target may take its last bytes and EOF
    std::size_t high_water = 1 << 20;    // stop reading one side while the other holds this
    std::size_t low_water = 256 << 10;   // ... and resume below this
    log_level log = log_level::info;
};

class proxy_app {
  public:
    // Throws std::runtime_error for a map that does not load, a target not allowed, or CA
    // certificates that do not load.
    explicit proxy_app(proxy_settings s);
    ~proxy_app();
    proxy_app(const proxy_app&) = delete;
    proxy_app& operator=(const proxy_app&) = delete;
    // The handlers to construct the server with; then attach() before listen() and
    // handle_signals() (SIGHUP reloads the map).
    handlers make_handlers();
    void attach(server& srv);

    struct state;

  private:
    std::shared_ptr<state> st_;
};

// The command line of `sockeye serve`'s proxy mode.
struct proxy_flags {
    std::string target;
    std::string map_file;
    std::vector<std::string> allow;
    bool text = false;
    bool tls = false;
    std::string cafile;
    double connect_timeout = 5;
    bool enabled() const { return !target.empty() || !map_file.empty(); }
    // The settings for a server with these options; throws std::runtime_error for a
    // HOST:PORT that is not one.
    proxy_settings settings(const server_options& o) const;
};
void add_proxy_flags(CLI::App& serve, proxy_flags& f);

}  // namespace sockeye::apps
