#include "broker_bridge.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "log.hpp"
#include "pubsub/redis_broker.hpp"

namespace sockeye::server_detail {

namespace {
// Tells this node's messages from the others' when Redis hands them back.
std::uint64_t random_origin() {
    std::uint64_t id = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1 || id == 0) {
        throw std::runtime_error("no random bytes for the broker origin id");
    }
    return id;
}
}  // namespace

broker_bridge::broker_bridge(uv_loop_t* loop, const server_options::pubsub_options& o,
                             pubsub_hub& hub, metrics& stats)
    : stats_(stats) {
    pubsub::broker_settings s;
    std::string error;
    if (!pubsub::parse_broker_url(o.broker, s.url, error)) {
        throw std::runtime_error("--broker: " + error);
    }
    s.sharded = o.broker_sharded;
    s.max_held_bytes = o.broker_backlog;
    s.channel_prefix = o.broker_prefix;
    s.on_log = [](std::string_view line) {
        log(log_level::warn, "broker: %.*s", static_cast<int>(line.size()), line.data());
    };
    broker_ = std::make_unique<pubsub::redis_broker>(
        loop, std::move(s), random_origin(),
        [&hub](std::string_view topic, message_type type, std::span<const std::uint8_t> payload) {
            hub.publish(topic, type, payload, {}, /*from_broker=*/true);
        });
    stats_.render_broker = [this](std::string& out) { render(out); };
    stats_.broker_connected = [this] { return connected(); };
}

broker_bridge::~broker_bridge() {
    stats_.render_broker = nullptr;
    stats_.broker_connected = nullptr;
}

void broker_bridge::start() {
    broker_->start();
}

void broker_bridge::stop() {
    broker_->stop();
}

bool broker_bridge::connected() const noexcept {
    return broker_->stats().connected.load(std::memory_order_relaxed);
}

void broker_bridge::publish(std::string_view topic, message_type type,
                            std::span<const std::uint8_t> payload) {
    broker_->publish(topic, type, payload);
}

void broker_bridge::subscribe(std::string_view topic) {
    broker_->subscribe(topic);
}

void broker_bridge::unsubscribe(std::string_view topic) {
    broker_->unsubscribe(topic);
}

void broker_bridge::render(std::string& out) const {
    const auto& s = broker_->stats();
    auto value = [](const auto& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    append_metric(out, "sockeye_broker_connected", "1 while both Redis connections are up.",
                  "gauge", s.connected.load(std::memory_order_relaxed) ? 1 : 0);
    append_metric(out, "sockeye_broker_reconnects_total", "Reconnects to Redis after a loss.",
                  "counter", value(s.reconnects));
    append_metric(out, "sockeye_broker_published_total", "Messages Redis took from this node.",
                  "counter", value(s.published));
    append_metric(out, "sockeye_broker_received_total",
                  "Messages from other nodes delivered here.", "counter", value(s.received));
    append_metric(out, "sockeye_broker_dropped_total",
                  "Messages for Redis given up (held too long or too many while it was away).",
                  "counter", value(s.dropped));
    append_metric(out, "sockeye_broker_held_bytes", "Bytes waiting for Redis now.", "gauge",
                  value(s.held_bytes));
    append_metric(out, "sockeye_broker_malformed_total",
                  "Messages on this node's Redis channels that were not from a node.", "counter",
                  value(s.malformed));
}

}  // namespace sockeye::server_detail
