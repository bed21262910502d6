#include "error.hpp"

#include "close_code.hpp"

namespace sockeye::protocol {

std::uint16_t close_code_for(error e) noexcept {
    switch (e) {
        case error::none:
            return close_code::normal;
        case error::message_too_big:
            return close_code::message_too_big;
        case error::too_many_fragments:
            return close_code::policy_violation;
        case error::invalid_utf8:
        case error::invalid_close_reason:
        case error::invalid_compressed_data:
            return close_code::invalid_payload;
        default:
            return close_code::protocol_error;
    }
}

std::string_view describe(error e) noexcept {
    switch (e) {
        case error::none:
            return "no error";
        case error::unmasked_frame:
            return "client frame is not masked";
        case error::masked_frame:
            return "server frame is masked";
        case error::reserved_bits:
            return "reserved bits set";
        case error::reserved_opcode:
            return "reserved opcode";
        case error::control_frame_too_long:
            return "control frame payload over 125 bytes";
        case error::fragmented_control_frame:
            return "fragmented control frame";
        case error::length_top_bit:
            return "64-bit length has its top bit set";
        case error::unexpected_continuation:
            return "continuation frame with no message open";
        case error::expected_continuation:
            return "expected a continuation frame";
        case error::message_too_big:
            return "message too big";
        case error::invalid_utf8:
            return "invalid UTF-8 in text message";
        case error::close_payload_too_short:
            return "close payload of 1 byte";
        case error::invalid_close_code:
            return "invalid close code";
        case error::invalid_close_reason:
            return "close reason is not UTF-8";
        case error::invalid_compressed_data:
            return "compressed data does not inflate";
        case error::too_many_fragments:
            return "too many fragments";
    }
    return "unknown error";
}

}  // namespace sockeye::protocol
