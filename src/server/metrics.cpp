#include "metrics.hpp"

#include <cstdio>

namespace sockeye::server_detail {

namespace {
template <class T>
void counter(std::string& out, const char* name, const char* help, const char* type,
             const std::atomic<T>& atomic_value) {
    append_metric(out, name, help, type, static_cast<double>(atomic_value.load(std::memory_order_relaxed)));
}
}  // namespace

void append_metric(std::string& out, const char* name, const char* help, const char* type,
                   double value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    char number[32];
    std::snprintf(number, sizeof number, "%.17g", value);
    out += number;
    out += '\n';
}

void metrics::count_close(std::uint16_t code) {
    std::lock_guard lock(mutex_);
    close_codes_[code]++;
}

void metrics::count_rejection(int status) {
    std::lock_guard lock(mutex_);
    handshake_rejections_[status]++;
}

std::string metrics::render() const {
    std::string out;
    counter(out, "sockeye_connections_open", "WebSocket connections currently open.", "gauge",
            connections_open);
    counter(out, "sockeye_http_connections_open", "TCP connections not upgraded to WebSocket.",
            "gauge", http_connections_open);
    counter(out, "sockeye_connections_total", "WebSocket connections opened.", "counter",
            connections_total);
    counter(out, "sockeye_messages_received_total", "WebSocket messages received.", "counter",
            messages_in);
    counter(out, "sockeye_messages_sent_total", "WebSocket messages sent.", "counter",
            messages_out);
    counter(out, "sockeye_bytes_received_total", "Bytes read from client sockets.", "counter",
            bytes_in);
    counter(out, "sockeye_bytes_sent_total", "Bytes written to client sockets.", "counter",
            bytes_out);
    counter(out, "sockeye_http_requests_total", "HTTP requests answered (not upgrades).", "counter",
            http_requests);
    counter(out, "sockeye_connections_refused_total",
            "Connections turned away at --max-connections.", "counter", refused_at_limit);
    {
        // RFC 8441 WebSockets beside HTTP/1.1 upgrades: which front door each came through.
        const auto total = connections_total.load(std::memory_order_relaxed);
        const auto h2 = http2_websockets_total.load(std::memory_order_relaxed);
        out += "# HELP sockeye_websockets_by_http_version_total WebSocket connections opened, "
               "by the HTTP version of their handshake.\n";
        out += "# TYPE sockeye_websockets_by_http_version_total counter\n";
        out += "sockeye_websockets_by_http_version_total{version=\"1.1\"} " +
               std::to_string(total >= h2 ? total - h2 : 0) + '\n';
        out += "sockeye_websockets_by_http_version_total{version=\"2\"} " + std::to_string(h2) +
               '\n';
    }
    counter(out, "sockeye_http2_connections_total", "TCP connections that spoke HTTP/2.",
            "counter", http2_connections_total);
    counter(out, "sockeye_http2_streams_total", "HTTP/2 streams opened by peers.", "counter",
            http2_streams_total);
    counter(out, "sockeye_http2_requests_total", "Plain HTTP requests answered over HTTP/2.",
            "counter", http2_requests);
    counter(out, "sockeye_http2_refused_streams_total",
            "HTTP/2 streams answered with an error status.", "counter", http2_refused);
    counter(out, "sockeye_http2_rapid_reset_total",
            "HTTP/2 connections ended for resetting streams too fast (CVE-2023-44487).",
            "counter", http2_rapid_reset);
    counter(out, "sockeye_pubsub_topics", "Topics with subscribers on this node.", "gauge",
            pubsub_topics);
    counter(out, "sockeye_pubsub_subscriptions", "Subscriptions (connection and topic) open.",
            "gauge", pubsub_subscriptions);
    counter(out, "sockeye_pubsub_published_total",
            "Messages published on this node or received from the broker.", "counter",
            pubsub_published);
    counter(out, "sockeye_pubsub_delivered_total", "Published messages queued to a subscriber.",
            "counter", pubsub_delivered);
    counter(out, "sockeye_inspector_dropped_total",
            "Frame inspector events dropped for inspectors that did not keep up.", "counter",
            inspector_dropped);
    counter(out, "sockeye_pubsub_dropped_total",
            "Published messages skipped for a slow subscriber (or one in a streamed send).",
            "counter", pubsub_dropped);
    counter(out, "sockeye_pubsub_slow_closed_total", "Subscribers closed as too slow (1008).",
            "counter", pubsub_slow_closed);
    if (render_broker) render_broker(out);
    std::lock_guard lock(mutex_);
    out += "# HELP sockeye_close_codes_total WebSocket connections ended, by close code.\n";
    out += "# TYPE sockeye_close_codes_total counter\n";
    for (const auto& [code, n] : close_codes_) {
        out += "sockeye_close_codes_total{code=\"" + std::to_string(code) + "\"} " +
               std::to_string(n) + '\n';
    }
    out += "# HELP sockeye_handshake_rejections_total Upgrade requests refused, by HTTP status.\n";
    out += "# TYPE sockeye_handshake_rejections_total counter\n";
    for (const auto& [status, n] : handshake_rejections_) {
        out += "sockeye_handshake_rejections_total{status=\"" + std::to_string(status) + "\"} " +
               std::to_string(n) + '\n';
    }
    return out;
}

}  // namespace sockeye::server_detail
