// One-line log records on stderr, filtered by level.
#pragma once
#include <sockeye/server.hpp>

#include <cstdarg>
#include <string_view>

namespace sockeye::server_detail {

void set_log_level(log_level level) noexcept;
bool log_enabled(log_level level) noexcept;
// printf-style; a timestamp and the level are prepended, a newline appended. The formatted
// message is passed through common::append_escaped(): control characters (a newline above
// all) come out as \n, \xHH, ..., so one call is always exactly one line. A peer string
// inside a "..." field must also be escaped with `quoted` by the caller (the logger cannot
// tell where the field ends), see common::escape_for_display().
void log(log_level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// The same for a message as it is (any bytes, NUL included; escaped the same way).
void log_message(log_level level, std::string_view message);

}  // namespace sockeye::server_detail
