// Server counters, rendered in the Prometheus text exposition format for GET /metrics.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace sockeye::server_detail {

struct metrics {
    std::uint64_t connections_open = 0;       // WebSocket connections now open
    std::uint64_t http_connections_open = 0;  // TCP connections not (yet) upgraded
    std::uint64_t connections_total = 0;      // WebSocket connections ever opened
    std::uint64_t messages_in = 0;
    std::uint64_t messages_out = 0;
    std::uint64_t bytes_in = 0;   // bytes read from sockets
    std::uint64_t bytes_out = 0;  // bytes written to sockets
    std::uint64_t http_requests = 0;
    std::map<std::uint16_t, std::uint64_t> close_codes;  // how WebSocket connections ended
    std::map<int, std::uint64_t> handshake_rejections;   // by HTTP status

    std::string render() const;
};

}  // namespace sockeye::server_detail
