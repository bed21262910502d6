// Server counters, shared by every event-loop thread, rendered in the Prometheus text
// exposition format for GET /metrics. Counters are relaxed atomics (one locked add per
// event); the per-code maps change rarely and sit behind a mutex.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace sockeye::server_detail {

// One metric in the exposition format: HELP, TYPE and the value.
void append_metric(std::string& out, const char* name, const char* help, const char* type,
                   double value);

struct metrics {
    std::atomic<std::int64_t> connections_open{0};       // WebSocket connections now open
    std::atomic<std::int64_t> http_connections_open{0};  // TCP connections not (yet) upgraded
    std::atomic<std::uint64_t> connections_total{0};     // WebSocket connections ever opened
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> messages_out{0};
    std::atomic<std::uint64_t> bytes_in{0};   // bytes read from sockets
    std::atomic<std::uint64_t> bytes_out{0};  // bytes written to sockets
    std::atomic<std::uint64_t> http_requests{0};
    std::atomic<std::uint64_t> refused_at_limit{0};  // connections turned away (max-connections)
    // HTTP/2.
    std::atomic<std::uint64_t> http2_connections_total{0};  // TCP connections that spoke h2
    std::atomic<std::uint64_t> http2_streams_total{0};      // streams the peers opened
    std::atomic<std::uint64_t> http2_requests{0};           // plain requests over h2
    std::atomic<std::uint64_t> http2_websockets_total{0};   // WebSockets opened over h2
    std::atomic<std::uint64_t> http2_refused{0};            // streams answered 4xx/5xx
    std::atomic<std::uint64_t> http2_rapid_reset{0};        // connections ended for resets
    // Topics.
    std::atomic<std::int64_t> pubsub_topics{0};         // topics with subscribers here
    std::atomic<std::int64_t> pubsub_subscriptions{0};  // (connection, topic) pairs
    std::atomic<std::uint64_t> pubsub_published{0};     // messages published on or to this node
    std::atomic<std::uint64_t> pubsub_delivered{0};     // queued to a subscriber
    std::atomic<std::uint64_t> pubsub_dropped{0};       // skipped for a slow subscriber
    std::atomic<std::uint64_t> inspector_dropped{0};    // inspector events not kept up with
    std::atomic<std::uint64_t> pubsub_slow_closed{0};   // subscribers closed as too slow
    // Set when a broker is configured: appends its lines to the exposition, and says
    // whether it is connected (for /healthz).
    std::function<void(std::string&)> render_broker;
    std::function<bool()> broker_connected;

    // How a WebSocket connection ended, by close code.
    void count_close(std::uint16_t code);
    // An upgrade request refused, by HTTP status.
    void count_rejection(int status);

    std::string render() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::uint16_t, std::uint64_t> close_codes_;
    std::map<int, std::uint64_t> handshake_rejections_;
};

}  // namespace sockeye::server_detail
