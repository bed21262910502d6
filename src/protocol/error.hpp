// Every way a peer can break the protocol, each with a stable name and the close
// code the connection is failed with (RFC 6455 §7.1.7, §7.4.1).
#pragma once
#include <cstdint>
#include <string_view>

namespace sockeye::protocol {

enum class error : std::uint8_t {
    none = 0,
    unmasked_frame,            // client frame without mask (server role)          1002
    masked_frame,              // server frame with mask (client role)             1002
    reserved_bits,             // RSV1-3 set without an extension defining them    1002
    reserved_opcode,           // opcode 3-7 or 11-15                               1002
    control_frame_too_long,    // control payload > 125 bytes                       1002
    fragmented_control_frame,  // control frame with FIN = 0                        1002
    length_top_bit,            // 64-bit length with the most significant bit set   1002
    unexpected_continuation,   // continuation frame with no message open           1002
    expected_continuation,     // new data frame while a fragmented one is open     1002
    message_too_big,           // message over the configured maximum               1009
    invalid_utf8,              // text message that is not UTF-8                    1007
    close_payload_too_short,   // close frame payload of exactly 1 byte             1002
    invalid_close_code,        // close code not allowed on the wire                1002
    invalid_close_reason,      // close reason that is not UTF-8                    1007
    invalid_compressed_data,   // permessage-deflate data that does not inflate     1007
    too_many_fragments,        // more frames in one message than allowed           1008
};

// The close code to fail the connection with.
std::uint16_t close_code_for(error e) noexcept;

// A short, stable, human-readable description (also used as the close reason).
std::string_view describe(error e) noexcept;

}  // namespace sockeye::protocol
