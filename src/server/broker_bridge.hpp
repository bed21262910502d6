// The server's side of the Redis broker: what the topics hub publishes goes to Redis, what
// other nodes publish comes back into the hub (not to be sent on again), the hub's first
// and last subscribers of a topic become SUBSCRIBE and UNSUBSCRIBE, and the broker's state
// shows in /metrics and /healthz. Lives on the first loop.
#pragma once
#include <uv.h>

#include <sockeye/server.hpp>

#include <memory>
#include <string>

#include "metrics.hpp"
#include "pubsub_hub.hpp"

namespace sockeye::pubsub {
class redis_broker;
}

namespace sockeye::server_detail {

class broker_bridge final : public broker_link {
  public:
    // Throws std::runtime_error for a broker URL that does not parse.
    broker_bridge(uv_loop_t* loop, const server_options::pubsub_options& o, pubsub_hub& hub,
                  metrics& stats);
    ~broker_bridge() override;

    void start();  // the loop's thread, before or while it runs
    void stop();   // the loop's thread; idempotent
    bool connected() const noexcept;

    void publish(std::string_view topic, message_type type,
                 std::span<const std::uint8_t> payload) override;
    void subscribe(std::string_view topic) override;
    void unsubscribe(std::string_view topic) override;

  private:
    void render(std::string& out) const;

    std::unique_ptr<pubsub::redis_broker> broker_;
    metrics& stats_;
};

}  // namespace sockeye::server_detail
