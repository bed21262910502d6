// One-line log records on stderr, filtered by level.
#pragma once
#include <sockeye/server.hpp>

#include <cstdarg>

namespace sockeye::server_detail {

void set_log_level(log_level level) noexcept;
bool log_enabled(log_level level) noexcept;
// printf-style; a timestamp and the level are prepended, a newline appended.
void log(log_level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace sockeye::server_detail
