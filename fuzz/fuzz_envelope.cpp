// Fuzzes the envelope decoder (src/pubsub/envelope.cpp): bytes from Redis are anybody's.
//
// Besides "must not crash" (or read outside the input): what decodes encodes back to the
// same bytes, and the payload is the input's tail, never a copy or beyond it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "pubsub/envelope.hpp"

namespace {

void require(bool condition) {
    if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    sockeye::pubsub::envelope_view view{};
    if (!sockeye::pubsub::decode_envelope(bytes, view)) {
        require(size < sockeye::pubsub::envelope_header_size || data[0] != 1 ||
                (data[9] != 1 && data[9] != 2));
        return 0;
    }
    require(view.payload.data() == data + sockeye::pubsub::envelope_header_size);
    require(view.payload.size() == size - sockeye::pubsub::envelope_header_size);
    const auto wire = sockeye::pubsub::encode_envelope(view.origin, view.type, view.payload);
    require(wire.size() == size);
    for (std::size_t i = 0; i < size; ++i) require(static_cast<std::uint8_t>(wire[i]) == data[i]);
    return 0;
}
