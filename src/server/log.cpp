#include "log.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>

#include "common/escape.hpp"

namespace sockeye::server_detail {

namespace {
log_level current = log_level::info;

const char* name(log_level l) {
    switch (l) {
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warn:
            return "warn";
        case log_level::error:
            return "error";
        default:
            return "";
    }
}
}  // namespace

void set_log_level(log_level level) noexcept {
    current = level;
}

bool log_enabled(log_level level) noexcept {
    return level >= current && level != log_level::off;
}

void log_message(log_level level, std::string_view message) {
    if (!log_enabled(level)) return;
    char line[64];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                          t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                          ts.tv_nsec / 1000000, name(level));
    if (n < 0 || static_cast<std::size_t>(n) >= sizeof line) return;
    // Arguments carry peer text (close reasons, targets, header-derived reasons): escaped
    // here, in the one place every record passes, a newline in them cannot start a forged
    // record and no control byte reaches the terminal or log file. The format strings have
    // none, so only peer bytes change.
    std::string out(line, static_cast<std::size_t>(n));
    common::append_escaped(out, message);
    out += '\n';
    // One write per record, so records from several loops do not interleave.
    std::fwrite(out.data(), 1, out.size(), stderr);
}

void log(log_level level, const char* fmt, ...) {
    if (!log_enabled(level)) return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    const int m = std::vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    log_message(level, {message, std::min(static_cast<std::size_t>(m), sizeof message - 1)});
}

}  // namespace sockeye::server_detail
