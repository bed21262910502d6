// Test helpers: frames built byte by byte, independently of the code under test, and a
// handler that records session events as comparable strings.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/session.hpp"

namespace sockeye::test {

using bytes = std::vector<std::uint8_t>;

inline bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

struct frame_spec {
    std::uint8_t opcode = 0x2;
    bool fin = true;
    std::uint8_t rsv = 0;  // bits 0x4 = RSV1, 0x2 = RSV2, 0x1 = RSV3
    bool masked = true;
    std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    int length_form = 0;  // 0 = minimal, 16 or 64 = force that extended form
};

// Encodes one frame by hand, following RFC 6455 §5.2 literally.
inline bytes make_frame(const frame_spec& f, const bytes& payload) {
    bytes out;
    out.push_back(static_cast<std::uint8_t>((f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode));
    const std::uint8_t m = f.masked ? 0x80 : 0;
    const std::uint64_t n = payload.size();
    if (f.length_form == 0 && n < 126) {
        out.push_back(static_cast<std::uint8_t>(m | n));
    } else if (f.length_form == 16 || (f.length_form == 0 && n <= 0xFFFF)) {
        out.push_back(m | 126);
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    } else {
        out.push_back(m | 127);
        for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    }
    if (f.masked) out.insert(out.end(), f.key, f.key + 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out.push_back(f.masked ? static_cast<std::uint8_t>(payload[i] ^ f.key[i % 4]) : payload[i]);
    }
    return out;
}

inline bytes make_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                        bool masked = true) {
    frame_spec f;
    f.opcode = opcode;
    f.fin = fin;
    f.masked = masked;
    return make_frame(f, to_bytes(payload));
}

inline bytes close_payload(std::uint16_t code, std::string_view reason = {}) {
    bytes p{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
    p.insert(p.end(), reason.begin(), reason.end());
    return p;
}

inline bytes concat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A parsed outgoing frame (what the session sent), decoded independently.
struct sent_frame {
    bool fin;
    std::uint8_t rsv;
    std::uint8_t opcode;
    bool masked;
    bytes payload;  // unmasked
};

// Decodes a byte stream of complete frames; throws on truncation.
std::vector<sent_frame> decode_frames(const bytes& wire);

// Records events: "begin text", "data <hex or text> fin", "ping <p>", "pong <p>",
// "close <code> <reason>", "error <code>". Data pieces of one message are joined so that
// the record does not depend on how input was split.
class recorder : public protocol::session_handler {
public:
    std::vector<std::string> events;
    bytes wire;  // everything the session sent
    std::string pending;  // data of the message being received
    protocol::session* echo_into = nullptr;  // if set, echo messages back streamed

    void on_message_begin(protocol::message_type type) override {
        events.push_back(type == protocol::message_type::text ? "begin text" : "begin binary");
        pending.clear();
    }
    void on_message_data(std::span<const std::uint8_t> data, bool fin) override {
        pending.append(reinterpret_cast<const char*>(data.data()), data.size());
        if (fin) events.push_back("message " + pending);
    }
    void on_ping(std::span<const std::uint8_t> p) override {
        events.push_back("ping " + std::string(p.begin(), p.end()));
    }
    void on_pong(std::span<const std::uint8_t> p) override {
        events.push_back("pong " + std::string(p.begin(), p.end()));
    }
    void on_close(std::uint16_t code, std::string_view reason) override {
        events.push_back("close " + std::to_string(code) + " " + std::string(reason));
    }
    void on_error(protocol::error e) override {
        events.push_back("error " + std::to_string(protocol::close_code_for(e)));
    }
    std::vector<bool> urgent;  // per on_send call
    void on_send(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload,
                 bool is_urgent) override {
        urgent.push_back(is_urgent);
        wire.insert(wire.end(), header.begin(), header.end());
        wire.insert(wire.end(), payload.begin(), payload.end());
    }
};

}  // namespace sockeye::test
