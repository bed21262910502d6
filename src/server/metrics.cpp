#include "metrics.hpp"

namespace sockeye::server_detail {

namespace {
void counter(std::string& out, const char* name, const char* help, const char* type,
             std::uint64_t value) {
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
    out += std::to_string(value);
    out += '\n';
}
}  // namespace

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
    out += "# HELP sockeye_close_codes_total WebSocket connections ended, by close code.\n";
    out += "# TYPE sockeye_close_codes_total counter\n";
    for (const auto& [code, n] : close_codes) {
        out += "sockeye_close_codes_total{code=\"" + std::to_string(code) + "\"} " +
               std::to_string(n) + '\n';
    }
    out += "# HELP sockeye_handshake_rejections_total Upgrade requests refused, by HTTP status.\n";
    out += "# TYPE sockeye_handshake_rejections_total counter\n";
    for (const auto& [status, n] : handshake_rejections) {
        out += "sockeye_handshake_rejections_total{status=\"" + std::to_string(status) + "\"} " +
               std::to_string(n) + '\n';
    }
    return out;
}

}  // namespace sockeye::server_detail
