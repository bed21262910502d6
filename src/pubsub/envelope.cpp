#include "pubsub/envelope.hpp"

namespace sockeye::pubsub {
namespace {
constexpr std::uint8_t format_version = 1;
}

std::string encode_envelope(std::uint64_t origin, sockeye::message_type type,
                            std::span<const std::uint8_t> payload) {
    std::string out;
    out.reserve(envelope_header_size + payload.size());
    out.push_back(static_cast<char>(format_version));
    for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((origin >> shift) & 0xff));
    out.push_back(static_cast<char>(type));
    out.append(reinterpret_cast<const char*>(payload.data()), payload.size());
    return out;
}

bool decode_envelope(std::span<const std::uint8_t> bytes, envelope_view& out) {
    if (bytes.size() < envelope_header_size || bytes[0] != format_version) return false;
    std::uint64_t origin = 0;
    for (std::size_t i = 1; i <= 8; ++i) origin = (origin << 8) | bytes[i];
    const std::uint8_t type = bytes[9];
    if (type != static_cast<std::uint8_t>(sockeye::message_type::text) &&
        type != static_cast<std::uint8_t>(sockeye::message_type::binary))
        return false;
    out.origin = origin;
    out.type = static_cast<sockeye::message_type>(type);
    out.payload = bytes.subspan(envelope_header_size);
    return true;
}

}  // namespace sockeye::pubsub
