// State shared by the listener and every connection of one event loop.
#pragma once
#include <uv.h>

#include <sockeye/server.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <sockeye/upgrade.hpp>

#include "inspector_hub.hpp"
#include "http/route_pattern.hpp"
#include "http_routes.hpp"
#include "loop_mailbox.hpp"
#include "metrics.hpp"
#include "net/deadlines.hpp"
#include "net/tls_context.hpp"
#include "net/transport.hpp"
#include "protocol/handshake.hpp"
#include "pubsub_hub.hpp"
#include "topic_registry.hpp"

namespace sockeye::server_detail {

class http1_connection;

// Converts seconds from the options to libuv's milliseconds; 0 stays 0 (= off).
inline std::uint64_t to_ms(double seconds) {
    return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1000.0 + 0.5);
}

struct app_route {
    route_handler handler;
    route_options options;
};

// What every event loop of one server shares: configuration, handlers, counters.
// Read-only while loops run, except the atomics.
struct server_shared {
    server_options opts;
    handlers h;
    upgrade_hook on_upgrade;  // empty: every valid upgrade is accepted
    http::route_table app_routes;         // the application's routes, before static files
    std::vector<app_route> app_handlers;  // indexed by the table's handler numbers
    protocol::server_handshake_options handshake;
    http_routes routes;
    metrics stats;
    pubsub_hub hub{stats, opts};
    inspector_hub inspectors{stats.inspector_dropped};  // --inspect
    // TCP connections open on all loops, against opts.max_connections.
    std::atomic<std::int64_t> open_connections{0};
};

// One event loop's state: its connections and buffers. A connection lives on one loop.
struct server_core {
    server_core(server_shared& s)
        : shared(s),
          opts(s.opts),
          h(s.h),
          handshake(s.handshake),
          stats(s.stats),
          routes(&s.routes),
          topics(s.hub) {}
    server_core(const server_core&) = delete;
    server_core& operator=(const server_core&) = delete;

    server_shared& shared;
    const server_options& opts;
    const handlers& h;
    const protocol::server_handshake_options& handshake;
    metrics& stats;
    const http_routes* routes;
    uv_loop_t* loop = nullptr;

    // One receive buffer for the whole loop: libuv reads into it and the bytes are parsed
    // (and unmasked in place) before the next read, so no connection owns one.
    std::vector<std::uint8_t> read_buffer = std::vector<std::uint8_t>(256 * 1024);
    // With TLS, ciphertext lands in read_buffer and is decrypted into this one.
    std::vector<std::uint8_t> plain_buffer;
    // What the loop's transports share: the two buffers above, the byte counters and the
    // water marks (set up with the loop).
    net::transport_shared transport_io;
    // Every connection's deadlines, on one libuv timer.
    net::loop_deadlines deadlines;
    // Tasks from other threads for this loop (late upgrade answers, handles, post()).
    std::shared_ptr<loop_mailbox> mailbox;
    // This loop's topics and their subscribers.
    topic_registry topics;
    // The TLS configuration new connections use (replaced on reload); null without TLS.
    std::shared_ptr<net::tls_context> tls;

    // Every live connection (intrusive list through http1_connection::prev_/next_).
    http1_connection* connections = nullptr;
    // Connections with output produced outside their read callback, flushed before the
    // loop next waits for I/O.
    std::vector<http1_connection*> dirty;
    std::vector<http1_connection*> dirty_batch;  // reused by the flusher: no allocation per turn

    bool shutting_down = false;
    // Called when the last connection is gone during shutdown.
    void (*on_drained)(server_core&) = nullptr;

    void add(http1_connection* c);
    void remove(http1_connection* c);
};

}  // namespace sockeye::server_detail
