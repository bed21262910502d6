#include "pubsub/envelope.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using sockeye::message_type;
using sockeye::pubsub::decode_envelope;
using sockeye::pubsub::encode_envelope;
using sockeye::pubsub::envelope_view;

std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(Envelope, RoundTripKeepsOriginTypeAndPayload) {
    const std::vector<std::uint8_t> payload{'h', 'i', 0, 0xff};
    const auto wire = encode_envelope(0x0102030405060708u, message_type::binary, payload);
    EXPECT_EQ(wire.size(), sockeye::pubsub::envelope_header_size + payload.size());
    envelope_view view{};
    ASSERT_TRUE(decode_envelope(bytes_of(wire), view));
    EXPECT_EQ(view.origin, 0x0102030405060708u);
    EXPECT_EQ(view.type, message_type::binary);
    EXPECT_EQ(std::vector<std::uint8_t>(view.payload.begin(), view.payload.end()), payload);
    // The payload is a view into the input, not a copy.
    EXPECT_EQ(view.payload.data(),
              reinterpret_cast<const std::uint8_t*>(wire.data()) + wire.size() - payload.size());
}

TEST(Envelope, OriginIsBigEndianAfterTheVersion) {
    const auto wire = encode_envelope(1, message_type::text, {});
    ASSERT_EQ(wire.size(), 10u);
    EXPECT_EQ(wire, std::string("\x01\0\0\0\0\0\0\0\x01\x01", 10));
}

TEST(Envelope, EmptyPayloadAndExtremeOrigins) {
    for (std::uint64_t origin : {std::uint64_t{0}, ~std::uint64_t{0}}) {
        const auto wire = encode_envelope(origin, message_type::text, {});
        envelope_view view{};
        ASSERT_TRUE(decode_envelope(bytes_of(wire), view));
        EXPECT_EQ(view.origin, origin);
        EXPECT_EQ(view.type, message_type::text);
        EXPECT_TRUE(view.payload.empty());
    }
}

TEST(Envelope, RefusesTruncatedInput) {
    const auto wire = encode_envelope(7, message_type::text, {});
    for (std::size_t n = 0; n < wire.size(); ++n) {
        envelope_view view{};
        EXPECT_FALSE(decode_envelope(bytes_of(wire).first(n), view)) << n;
    }
}

TEST(Envelope, RefusesUnknownVersionAndType) {
    auto wire = encode_envelope(7, message_type::text, {});
    envelope_view view{};
    for (char version : {'\0', '\x02', '\xff'}) {
        auto changed = wire;
        changed[0] = version;
        EXPECT_FALSE(decode_envelope(bytes_of(changed), view));
    }
    for (char type : {'\0', '\x03', '\x08', '\xff'}) {
        auto changed = wire;
        changed[9] = type;
        EXPECT_FALSE(decode_envelope(bytes_of(changed), view));
    }
}

}  // namespace
