// Close status codes (RFC 6455 §7.4, IANA "WebSocket Close Code Number Registry").
#pragma once
#include <cstdint>

namespace sockeye::protocol::close_code {

inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;  // never on the wire: "close had no code"
inline constexpr std::uint16_t abnormal = 1006;   // never on the wire: "TCP dropped"
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
inline constexpr std::uint16_t tls_handshake = 1015;  // never on the wire

// Whether a code may appear in a close frame: the registered codes 1000-1003 and
// 1007-1014, and the library/application range 3000-4999 (§7.4.2). 1004-1006 and
// 1015 are reserved for local use, 0-999 and 1016-2999 are unassigned or reserved.
constexpr bool is_valid_on_wire(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

}  // namespace sockeye::protocol::close_code
