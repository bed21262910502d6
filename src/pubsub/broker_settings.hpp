// The broker's options and its counters; apart from redis_broker.hpp so that the two
// connections' code can use them without the broker's class.
#pragma once
#include "pubsub/broker_url.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sockeye::pubsub {

struct broker_settings {
    broker_url url;
    bool sharded = false;  // SSUBSCRIBE/SPUBLISH (Redis 7 sharded pub/sub, for Redis Cluster)
    // Bytes of publishes not yet accepted by Redis (held while it is down, or in flight);
    // a publish that would pass it is dropped and counted, so an outage costs bounded memory.
    std::size_t max_held_bytes = 8 << 20;
    std::string channel_prefix = "sockeye:";  // Redis channel = prefix + topic
    // One line per event (lost, reconnected, refused AUTH, ...), called on the loop thread;
    // empty: lines go to stderr.
    std::function<void(std::string_view)> on_log;
};

struct broker_stats {  // read from any thread (for /metrics, /healthz)
    std::atomic<bool> connected{
        false};  // both connections (publish and subscribe) are up and subscribed
    std::atomic<std::uint64_t> reconnects{0};  // successful reconnects after a loss
    std::atomic<std::uint64_t> published{0};   // envelopes Redis accepted from this node
    std::atomic<std::uint64_t> received{0};    // messages from other nodes handed to on_message
    std::atomic<std::uint64_t> dropped{
        0};  // publishes given up (held bound exceeded, lost in flight)
    std::atomic<std::uint64_t> held_bytes{0};  // waiting for Redis now
    std::atomic<std::uint64_t> malformed{0};   // messages on our channels that were no envelope
};

using log_fn = std::function<void(std::string_view)>;

}  // namespace sockeye::pubsub
