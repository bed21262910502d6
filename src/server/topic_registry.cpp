#include "topic_registry.hpp"

#include <algorithm>

#include "pubsub_hub.hpp"
#include "websocket_connection.hpp"

namespace sockeye::server_detail {

topic_entry* topic_registry::subscribe(websocket_connection* c, std::string_view name) {
    auto it = topics_.find(name);
    if (it == topics_.end()) {
        auto t = std::make_unique<topic_entry>();
        t->name.assign(name);
        std::string key(name);
        it = topics_.emplace(std::move(key), std::move(t)).first;
    }
    topic_entry* t = it->second.get();
    t->subscribers.push_back(c);
    hub_.subscribed(t->name);
    return t;
}

void topic_registry::unsubscribe(websocket_connection* c, topic_entry* t) {
    auto& subs = t->subscribers;
    const auto at = std::find(subs.begin(), subs.end(), c);
    if (at == subs.end()) return;
    if (t->delivering) {
        *at = nullptr;
        t->holes = true;
    } else {
        *at = subs.back();  // order among subscribers does not matter
        subs.pop_back();
    }
    hub_.unsubscribed(t->name);
    forget_if_empty(t);
}

void topic_registry::forget_if_empty(topic_entry* t) {
    if (t->delivering || !t->subscribers.empty()) return;
    topics_.erase(t->name);  // frees t (the key is a copy of the name)
}

std::size_t topic_registry::deliver(const publication& p) {
    const auto it = topics_.find(std::string_view(p.topic));
    if (it == topics_.end()) return 0;
    topic_entry* t = it->second.get();
    t->delivering = true;
    std::size_t queued = 0;
    // Subscribers that arrive during the loop (a handler subscribing) wait for the next one.
    const std::size_t n = t->subscribers.size();
    for (std::size_t i = 0; i < n; ++i) {
        websocket_connection* c = t->subscribers[i];
        if (c != nullptr && c->deliver_published(p) == published_delivery::queued) ++queued;
    }
    t->delivering = false;
    if (t->holes) {
        std::erase(t->subscribers, nullptr);
        t->holes = false;
    }
    hub_.count_delivered(queued);
    forget_if_empty(t);
    return queued;
}

}  // namespace sockeye::server_detail
