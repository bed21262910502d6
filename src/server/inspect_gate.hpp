// Who may open the frame inspector (/_sockeye/inspect, docs/inspector.md), and the query
// values the inspector and the inspected connections are matched by.
#pragma once
#include <sockeye/server.hpp>

#include <string>
#include <string_view>

namespace sockeye::server_detail {

inline constexpr std::string_view inspector_path = "/_sockeye/inspect";

// Whether the request target's path is the inspector's.
bool is_inspector_target(std::string_view target) noexcept;

// For an upgrade to `target` from `peer`: 0 when it is not for the inspector, 200 for an
// inspector allowed in, 403 for one refused (not loopback without a token; missing or wrong
// token), 404 when --inspect is off (unless the built-in endpoints are off too).
int inspector_gate(const server_options& o, std::string_view target, std::string_view peer);

// The body of the 403.
std::string_view inspector_refusal(const server_options& o) noexcept;

// The first value of query parameter `name` in `target`, "" if none (or a bad query).
std::string query_value(std::string_view target, std::string_view name);

}  // namespace sockeye::server_detail
