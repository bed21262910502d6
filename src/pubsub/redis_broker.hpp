// Pub/sub between server nodes through Redis: a node publishes each message once to the
// channel prefix + topic, and every node subscribed to it hands it to its local subscribers.
//
// Threads: construct, start(), stop() and destroy on the loop's thread; publish(),
// subscribe(), unsubscribe() and stats() from any thread. Calls from other threads are
// queued under a mutex and picked up on the loop through a uv_async_t, in call order.
// A Redis outage never blocks a caller: publishes wait (up to max_held_bytes) and the
// connections come back on their own.
#pragma once
#include "pubsub/broker_settings.hpp"
#include "pubsub/broker_url.hpp"

#include <sockeye/message_type.hpp>

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

namespace sockeye::pubsub {

class redis_broker {
  public:
    // Called on the broker's loop: a message another node published (own-origin envelopes
    // are skipped, malformed ones counted/logged and skipped).
    using message_fn = std::function<void(std::string_view topic, sockeye::message_type type,
                                          std::span<const std::uint8_t> payload)>;

    redis_broker(uv_loop_t* loop, broker_settings settings, std::uint64_t origin,
                 message_fn on_message);
    // Calls stop() if it was not: on the loop thread, like stop().
    ~redis_broker();
    redis_broker(const redis_broker&) = delete;
    redis_broker& operator=(const redis_broker&) = delete;

    void start();  // loop thread: connect (and keep reconnecting)
    // Loop thread: disconnect and close every handle it owns; after this the loop may end
    // (run it once more so libuv can finish the closes). Idempotent.
    void stop();

    // Any thread:
    void publish(std::string_view topic, sockeye::message_type type,
                 std::span<const std::uint8_t> payload);
    void subscribe(std::string_view topic);    // the node's first local subscriber arrived
    void unsubscribe(std::string_view topic);  // the node's last local subscriber left

    const broker_stats& stats() const noexcept;

  private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace sockeye::pubsub
