// What the loops of one server share for topics: how many subscribers each topic has on
// this node (for GET /topics, the gauges, and the broker, which subscribes a node to a
// topic when its first subscriber arrives and unsubscribes when the last one leaves), the
// loops to publish to, and the broker link to other nodes. Publishing frames the message
// once and hands the same publication to every loop: directly to the caller's own loop,
// through the loop's inbox to the others.
#pragma once
#include <sockeye/message_type.hpp>
#include <sockeye/server.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loop_mailbox.hpp"
#include "metrics.hpp"
#include "publication.hpp"
#include "publish_inbox.hpp"

namespace sockeye::server_detail {

class topic_registry;

// The other nodes, as the hub sees them (the Redis broker). Any thread.
class broker_link {
  public:
    virtual ~broker_link() = default;
    virtual void publish(std::string_view topic, message_type type,
                         std::span<const std::uint8_t> payload) = 0;
    virtual void subscribe(std::string_view topic) = 0;
    virtual void unsubscribe(std::string_view topic) = 0;
};

class pubsub_hub {
  public:
    pubsub_hub(metrics& stats, const server_options& opts) : stats_(stats), opts_(opts) {}

    // One loop, before any runs: its registry, inbox and mailbox.
    void add_loop(topic_registry* registry, publish_inbox* inbox,
                  std::shared_ptr<loop_mailbox> mailbox);
    // Before any loop runs, or null to detach: where local publishes go besides the loops,
    // and who hears of first/last subscribers.
    void set_broker(broker_link* b);

    // Any thread: see server::publish. `from_broker`: another node's message (not sent
    // back to the broker).
    bool publish(std::string_view topic, message_type type, std::span<const std::uint8_t> data,
                 std::function<void(std::size_t)> done, bool from_broker = false);

    // Loop threads (registries): a subscriber arrived / left on some loop.
    void subscribed(const std::string& topic);
    void unsubscribed(const std::string& topic);
    // Once per message and loop, not per subscriber: the counters are shared by the loops.
    void count_delivered(std::size_t n) noexcept {
        if (n == 0) return;
        stats_.pubsub_delivered.fetch_add(n, std::memory_order_relaxed);
        stats_.messages_out.fetch_add(n, std::memory_order_relaxed);
    }

    std::vector<topic_info> topics() const;
    // Topics with subscribers now (the broker's resubscription after a reconnect).
    std::vector<std::string> topic_names() const;

  private:
    struct loop_entry {
        topic_registry* registry;
        publish_inbox* inbox;
        std::shared_ptr<loop_mailbox> mailbox;
    };
    metrics& stats_;
    const server_options& opts_;  // max_frame_size: published frames split as any send
    std::vector<loop_entry> loops_;
    std::atomic<broker_link*> broker_{nullptr};
    mutable std::mutex mutex_;  // guards counts_ (and orders broker subscribe/unsubscribe)
    std::unordered_map<std::string, std::size_t> counts_;
};

}  // namespace sockeye::server_detail
