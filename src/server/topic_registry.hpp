// The topics of one loop: for each topic with subscribers on this loop, who they are. A
// published message reaches a loop once and is queued here to each of its subscribers by
// reference (no copy, no framing per subscriber). Loop thread only; what the loops share
// (subscriber counts for the broker and GET /topics) is the pubsub_hub's.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "publication.hpp"

namespace sockeye::server_detail {

class websocket_connection;
class pubsub_hub;

struct topic_entry {
    std::string name;
    std::vector<websocket_connection*> subscribers;
    // While a message is being queued to the subscribers, leaving only clears the slot (a
    // subscriber closed as too slow may end at once): the list is compacted afterwards.
    bool delivering = false;
    bool holes = false;
};

class topic_registry {
  public:
    explicit topic_registry(pubsub_hub& hub) : hub_(hub) {}
    topic_registry(const topic_registry&) = delete;
    topic_registry& operator=(const topic_registry&) = delete;

    // Adds `c` to the topic (the caller knows it is not subscribed yet).
    topic_entry* subscribe(websocket_connection* c, std::string_view name);
    void unsubscribe(websocket_connection* c, topic_entry* t);
    // Queues the message to this loop's subscribers of its topic; returns how many took it.
    std::size_t deliver(const publication& p);

  private:
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    void forget_if_empty(topic_entry* t);

    pubsub_hub& hub_;
    std::unordered_map<std::string, std::unique_ptr<topic_entry>, name_hash, std::equal_to<>>
        topics_;
};

}  // namespace sockeye::server_detail
