// Frame opcodes (RFC 6455 §5.2, §11.8) and the role an endpoint plays.
#pragma once
#include <cstdint>

namespace sockeye::protocol {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// Control frames have the high bit of the 4-bit opcode set (§5.5).
constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

// 0x3-0x7 and 0xB-0xF are reserved (§5.2).
constexpr bool is_reserved(std::uint8_t op) noexcept {
    return (op >= 0x3 && op <= 0x7) || op >= 0xB;
}

// Which side of the connection this endpoint is: it decides who masks (§5.1).
enum class role : std::uint8_t { server, client };

// The two kinds of data message.
enum class message_type : std::uint8_t { text = 0x1, binary = 0x2 };

constexpr opcode to_opcode(message_type t) noexcept { return static_cast<opcode>(t); }

}  // namespace sockeye::protocol
