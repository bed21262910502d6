// websocket_connection's topics: subscribing through the loop's registry, and taking (or
// refusing) a published message by the backlog policy.
#include "log.hpp"
#include "pubsub_hub.hpp"
#include "topic_registry.hpp"
#include "websocket_connection.hpp"

namespace sockeye::server_detail {

bool websocket_connection::subscribe(std::string_view topic) {
    if (topic.empty() || ended_ || session_.close_sent()) return false;
    if (!subs_) subs_ = std::make_unique<subscriptions>();
    for (topic_entry* t : subs_->topics) {
        if (t->name == topic) return true;
    }
    subs_->topics.push_back(core_.topics.subscribe(this, topic));
    return true;
}

bool websocket_connection::unsubscribe(std::string_view topic) {
    if (!subs_) return false;
    auto& list = subs_->topics;
    for (auto it = list.begin(); it != list.end(); ++it) {
        if ((*it)->name == topic) {
            topic_entry* t = *it;
            list.erase(it);
            core_.topics.unsubscribe(this, t);
            return true;
        }
    }
    return false;
}

void websocket_connection::unsubscribe_all() noexcept {
    if (!subs_) return;
    // Taken first: the registry may free an entry as its last subscriber leaves.
    std::vector<topic_entry*> list;
    list.swap(subs_->topics);
    for (topic_entry* t : list) core_.topics.unsubscribe(this, t);
}

published_delivery websocket_connection::deliver_published(const publication& p) {
    if (ended_ || session_.close_sent()) return published_delivery::skipped;
    auto skip = [this] {
        ++subs_->dropped;
        core_.stats.pubsub_dropped.fetch_add(1, std::memory_order_relaxed);
        return published_delivery::dropped;
    };
    // A data frame cannot go between the frames of the message being streamed.
    if (session_.sending_message()) return skip();
    const std::size_t queued = channel_.buffered();
    const auto& o = core_.opts.pubsub;
    if (queued != 0 && queued + p.frame->size() > o.backlog) {
        if (o.slow == server_options::pubsub_options::slow_policy::drop) return skip();
        core_.stats.pubsub_slow_closed.fetch_add(1, std::memory_order_relaxed);
        log(log_level::info, "subscriber too slow peer=%s queued=%zu: closing", peer().c_str(),
            queued);
        close(protocol::close_code::policy_violation, "subscriber too slow");
        return published_delivery::closed;
    }
    channel_.output().append_shared(p.frame.get());
    if (connection_tap* t = tap()) t->queued_framed(p.frame->bytes());
    channel_.request_flush();
    return published_delivery::queued;  // counted per message by the registry
}

}  // namespace sockeye::server_detail
