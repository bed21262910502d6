#include "pubsub_hub.hpp"

#include <algorithm>

#include "protocol/message_frames.hpp"
#include "protocol/utf8.hpp"
#include "topic_registry.hpp"

namespace sockeye::server_detail {

void pubsub_hub::add_loop(topic_registry* registry, publish_inbox* inbox,
                          std::shared_ptr<loop_mailbox> mailbox) {
    loops_.push_back({registry, inbox, std::move(mailbox)});
}

void pubsub_hub::set_broker(broker_link* b) {
    broker_.store(b, std::memory_order_release);
}

bool pubsub_hub::publish(std::string_view topic, message_type type,
                         std::span<const std::uint8_t> data, std::function<void(std::size_t)> done,
                         bool from_broker) {
    if (topic.empty()) return false;
    if (type == message_type::text) {
        protocol::utf8_validator v;
        if (!v.feed(data.data(), data.size()) || !v.at_boundary()) return false;
    }
    auto p = std::make_shared<publication>();
    p->topic.assign(topic);
    p->payload_size = data.size();
    const std::size_t size = protocol::framed_size(data.size(), opts_.max_frame_size);
    net::shared_bytes* frame = net::shared_bytes::create(size);
    protocol::frame_message(static_cast<protocol::message_type>(type), data, opts_.max_frame_size,
                            frame->data());
    p->frame = net::shared_ref::adopt(frame);
    p->loops_left.store(static_cast<std::uint32_t>(loops_.size()), std::memory_order_relaxed);
    loop_entry* here = nullptr;
    for (auto& l : loops_) {
        if (l.mailbox->on_loop_thread()) here = &l;
    }
    if (done) {
        p->done = std::move(done);
        if (here) p->done_on = here->mailbox;
    }
    stats_.pubsub_published.fetch_add(1, std::memory_order_relaxed);
    // Other loops first: they work in parallel while this one queues its own.
    for (auto& l : loops_) {
        if (&l == here) continue;
        if (!l.inbox->post(p)) p->loop_finished(0);
    }
    if (here) p->loop_finished(here->registry->deliver(*p));
    if (!from_broker) {
        if (broker_link* b = broker_.load(std::memory_order_acquire)) b->publish(topic, type, data);
    }
    return true;
}

void pubsub_hub::subscribed(const std::string& topic) {
    std::lock_guard lock(mutex_);
    stats_.pubsub_subscriptions.fetch_add(1, std::memory_order_relaxed);
    if (++counts_[topic] != 1) return;
    stats_.pubsub_topics.fetch_add(1, std::memory_order_relaxed);
    if (broker_link* b = broker_.load(std::memory_order_acquire)) b->subscribe(topic);
}

void pubsub_hub::unsubscribed(const std::string& topic) {
    std::lock_guard lock(mutex_);
    const auto it = counts_.find(topic);
    if (it == counts_.end()) return;
    stats_.pubsub_subscriptions.fetch_sub(1, std::memory_order_relaxed);
    if (--it->second != 0) return;
    counts_.erase(it);
    stats_.pubsub_topics.fetch_sub(1, std::memory_order_relaxed);
    if (broker_link* b = broker_.load(std::memory_order_acquire)) b->unsubscribe(topic);
}

std::vector<topic_info> pubsub_hub::topics() const {
    std::vector<topic_info> out;
    {
        std::lock_guard lock(mutex_);
        out.reserve(counts_.size());
        for (const auto& [name, n] : counts_) out.push_back({name, n});
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
    return out;
}

std::vector<std::string> pubsub_hub::topic_names() const {
    std::vector<std::string> out;
    std::lock_guard lock(mutex_);
    out.reserve(counts_.size());
    for (const auto& [name, n] : counts_) out.push_back(name);
    return out;
}

}  // namespace sockeye::server_detail
