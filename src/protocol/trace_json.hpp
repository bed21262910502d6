// The frame inspector's events as JSON objects (docs/inspector.md): one record of
// frame_recorder per object, with the connection number and the time in milliseconds.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "frame_recorder.hpp"

namespace sockeye::protocol::trace_json {

// Each appends one complete JSON object to `out`.
void append(std::string& out, std::uint64_t conn, double t, const frame_record& r);
void append(std::string& out, std::uint64_t conn, double t, const io_record& r);
void append(std::string& out, std::uint64_t conn, double t, const message_record& r);
void append(std::string& out, std::uint64_t conn, double t, const elided_record& r);
void append(std::string& out, std::uint64_t conn, double t, const control_record& r);
void append_error(std::string& out, std::uint64_t conn, double t, error e);

// A JSON string literal of `s`: control characters escaped; bytes that are not UTF-8 are
// written as \u00XX, so the result is always valid JSON.
void append_string(std::string& out, std::string_view s);
void append_hex(std::string& out, const std::uint8_t* p, std::size_t n);

// The start of an object, `{"e":"kind","conn":N,"t":T`, for events made elsewhere
// (open, end, dropped); close it with '}'.
void begin(std::string& out, std::string_view kind, std::uint64_t conn, double t);

}  // namespace sockeye::protocol::trace_json
