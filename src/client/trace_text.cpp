#include "client/trace_text.hpp"

#include <cstdio>

#include "common/escape.hpp"

namespace sockeye::client_detail {

namespace {

using protocol::direction;

const char* arrow(direction d) noexcept {
    return d == direction::out ? ">" : "<";
}

void append_hex(std::string& out, const std::uint8_t* p, std::size_t n) {
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        out += hex[p[i] >> 4];
        out += hex[p[i] & 0xf];
    }
}

void append_field(std::string& out, std::string_view name, std::uint64_t v) {
    out += ' ';
    out += name;
    out += '=';
    out += std::to_string(v);
}

// "3" for one frame, "3..5" for three.
void append_range(std::string& out, std::string_view name, std::uint64_t first,
                  std::uint64_t count) {
    if (count == 0) return;
    append_field(out, name, first);
    if (count > 1) {
        out += "..";
        out += std::to_string(first + count - 1);
    }
}

void append_quoted(std::string& out, std::string_view text) {
    out += " \"";
    common::append_escaped(out, text, true);
    out += '"';
}

bool printable_ascii(const std::uint8_t* p, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        if (p[i] < 0x20 || p[i] > 0x7e) return false;
    }
    return true;
}

}  // namespace

std::string trace_line(const protocol::frame_record& r) {
    const protocol::frame_header& h = r.h;
    std::string out = arrow(r.dir);
    out += " frame ";
    out += std::to_string(r.id);
    if (r.msg != 0) append_field(out, "msg", r.msg);
    append_field(out, "at", r.at);
    out += h.fin ? " FIN=1" : " FIN=0";
    out += h.rsv1 ? " RSV1=1" : " RSV1=0";
    out += h.rsv2 ? " RSV2=1" : " RSV2=0";
    out += h.rsv3 ? " RSV3=1" : " RSV3=0";
    out += " op=";
    out += protocol::opcode_name(h.op);
    out += h.masked ? " MASK=1" : " MASK=0";
    append_field(out, "len", h.payload_length);
    append_field(out, "enc", r.length_bits());
    if (h.masked) {
        out += " key=";
        append_hex(out, h.key.data(), h.key.size());
    }
    out += " hdr=";
    append_hex(out, r.raw.data(), r.raw_len);
    if (h.payload_length > 0) {
        out += " data=";
        append_hex(out, r.head.data(), r.head_len);
        if (r.head_len < h.payload_length) out += "...";
        // Text (or a text-like binary payload) reads better as itself.
        if (r.head_len > 0 && h.op != protocol::opcode::close &&
            printable_ascii(r.head.data(), r.head_len)) {
            append_quoted(out, {reinterpret_cast<const char*>(r.head.data()), r.head_len});
            if (r.head_len < h.payload_length) out += "...";
        }
    }
    if (r.split) out += " split";
    return out;
}

std::string trace_line(const protocol::io_record& r) {
    std::string out = arrow(r.dir);
    out += r.dir == direction::in ? " read " : " write ";
    out += std::to_string(r.n);
    append_field(out, "size", r.size);
    append_field(out, "at", r.at);
    append_range(out, "began", r.began_first, r.began_count);
    append_range(out, "ended", r.ended_first, r.ended_count);
    if (r.continued != 0) append_field(out, "cont", r.continued);
    if (r.split) out += " split";
    return out;
}

std::string trace_line(const protocol::message_record& r) {
    std::string out = arrow(r.dir);
    out += " message ";
    out += std::to_string(r.msg);
    out += r.type == protocol::message_type::text ? " type=text" : " type=binary";
    append_field(out, "size", r.size);
    append_field(out, "frames", r.frames);
    out += r.compressed ? " compressed=1" : " compressed=0";
    return out;
}

std::string trace_line(const protocol::elided_record& r) {
    std::string out = arrow(r.dir);
    out += " elided";
    append_field(out, "msg", r.msg);
    append_field(out, "frames", r.frames);
    append_field(out, "bytes", r.bytes);
    append_field(out, r.dir == direction::in ? "reads" : "writes", r.ios);
    return out;
}

std::string trace_line(const protocol::control_record& r) {
    std::string out = arrow(r.dir);
    out += ' ';
    out += protocol::opcode_name(r.op);
    if (r.op == protocol::opcode::close) {
        append_field(out, "code", r.code);
        out += " reason=\"";
        common::append_escaped(out, r.reason, true);
        out += '"';
    } else {
        append_field(out, "size", r.size);
    }
    return out;
}

std::string trace_line(protocol::error e) {
    std::string out = "! error ";
    out += protocol::error_name(e);
    append_field(out, "code", protocol::close_code_for(e));
    // A section of RFC 6455 ("5.1"), or another RFC's named with it ("RFC 7692 6.2").
    const std::string_view rfc = protocol::error_rfc_section(e);
    out += " rfc=";
    if (rfc.find(' ') != std::string_view::npos) {
        out += '"';
        out += rfc;
        out += '"';
    } else {
        out += rfc;
    }
    append_quoted(out, protocol::describe(e));
    return out;
}

}  // namespace sockeye::client_detail
