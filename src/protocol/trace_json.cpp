#include "trace_json.hpp"

#include <cstdio>

#include "utf8.hpp"

namespace sockeye::protocol::trace_json {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

std::string_view dir_name(direction d) { return d == direction::in ? "in" : "out"; }

void field(std::string& out, std::string_view name) {
    out += ",\"";
    out += name;
    out += "\":";
}

void number(std::string& out, std::string_view name, std::uint64_t v) {
    field(out, name);
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    out.append(buf, static_cast<std::size_t>(n));
}

void boolean(std::string& out, std::string_view name, bool v) {
    field(out, name);
    out += v ? "true" : "false";
}

void text(std::string& out, std::string_view name, std::string_view v) {
    field(out, name);
    append_string(out, v);
}

void pair(std::string& out, std::string_view name, std::uint64_t a, std::uint64_t b) {
    field(out, name);
    char buf[48];
    const int n = std::snprintf(buf, sizeof buf, "[%llu,%llu]", static_cast<unsigned long long>(a),
                                static_cast<unsigned long long>(b));
    out.append(buf, static_cast<std::size_t>(n));
}

void hex_field(std::string& out, std::string_view name, const std::uint8_t* p, std::size_t n) {
    field(out, name);
    out += '"';
    append_hex(out, p, n);
    out += '"';
}

// Length of the well-formed UTF-8 sequence at s[i], or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    return is_valid_utf8(reinterpret_cast<const std::uint8_t*>(s.data() + i), len) ? len : 0;
}

}  // namespace

void append_hex(std::string& out, const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        out += hex_digits[p[i] >> 4];
        out += hex_digits[p[i] & 0xF];
    }
}

void append_string(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c < 0x20 || c == 0x7F) {
            out += "\\u00";
            out += hex_digits[c >> 4];
            out += hex_digits[c & 0xF];
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else if (const std::size_t len = utf8_sequence(s, i); len != 0) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\\u00";
            out += hex_digits[c >> 4];
            out += hex_digits[c & 0xF];
            ++i;
        }
    }
    out += '"';
}

void begin(std::string& out, std::string_view kind, std::uint64_t conn, double t) {
    out += "{\"e\":\"";
    out += kind;
    out += '"';
    if (conn != 0) number(out, "conn", conn);
    field(out, "t");
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%.3f", t);
    out.append(buf, static_cast<std::size_t>(n));
}

void append(std::string& out, std::uint64_t conn, double t, const frame_record& r) {
    begin(out, "frame", conn, t);
    text(out, "dir", dir_name(r.dir));
    number(out, "id", r.id);
    number(out, "msg", r.msg);
    number(out, "at", r.at);
    number(out, "fin", r.h.fin);
    number(out, "rsv1", r.h.rsv1);
    number(out, "rsv2", r.h.rsv2);
    number(out, "rsv3", r.h.rsv3);
    number(out, "op", static_cast<std::uint8_t>(r.h.op));
    text(out, "opn", opcode_name(r.h.op));
    number(out, "mask", r.h.masked);
    number(out, "len", r.h.payload_length);
    number(out, "enc", r.length_bits());
    hex_field(out, "key", r.h.key.data(), r.h.masked ? 4 : 0);
    hex_field(out, "hdr", r.raw.data(), r.raw_len);
    std::uint8_t wire[sizeof r.head];
    for (std::size_t i = 0; i < r.head_len; ++i) {
        wire[i] = r.h.masked ? static_cast<std::uint8_t>(r.head[i] ^ r.h.key[i % 4]) : r.head[i];
    }
    hex_field(out, "wire", wire, r.head_len);
    hex_field(out, "data", r.head.data(), r.head_len);
    boolean(out, "split", r.split);
    number(out, "io", r.io);
    out += '}';
}

void append(std::string& out, std::uint64_t conn, double t, const io_record& r) {
    begin(out, r.dir == direction::in ? "read" : "write", conn, t);
    text(out, "dir", dir_name(r.dir));
    number(out, "n", r.n);
    number(out, "size", r.size);
    number(out, "at", r.at);
    pair(out, "began", r.began_first, r.began_count);
    pair(out, "ended", r.ended_first, r.ended_count);
    number(out, "cont", r.continued);
    boolean(out, "split", r.split);
    out += '}';
}

void append(std::string& out, std::uint64_t conn, double t, const message_record& r) {
    begin(out, "message", conn, t);
    text(out, "dir", dir_name(r.dir));
    number(out, "msg", r.msg);
    text(out, "type", r.type == message_type::text ? "text" : "binary");
    number(out, "size", r.size);
    number(out, "frames", r.frames);
    boolean(out, "compressed", r.compressed);
    out += '}';
}

void append(std::string& out, std::uint64_t conn, double t, const elided_record& r) {
    begin(out, "elided", conn, t);
    text(out, "dir", dir_name(r.dir));
    number(out, "msg", r.msg);
    number(out, "frames", r.frames);
    number(out, "bytes", r.bytes);
    number(out, "ios", r.ios);
    out += '}';
}

void append(std::string& out, std::uint64_t conn, double t, const control_record& r) {
    begin(out, opcode_name(r.op), conn, t);
    text(out, "dir", dir_name(r.dir));
    if (r.op == opcode::close) {
        number(out, "code", r.code);
        text(out, "reason", r.reason);
    } else {
        number(out, "size", r.size);
    }
    out += '}';
}

void append_error(std::string& out, std::uint64_t conn, double t, error e) {
    begin(out, "error", conn, t);
    text(out, "name", error_name(e));
    number(out, "code", close_code_for(e));
    text(out, "rfc", error_rfc_section(e));
    text(out, "text", describe(e));
    out += '}';
}

}  // namespace sockeye::protocol::trace_json
