#include "pubsub/redis_broker.hpp"

#include "pubsub/envelope.hpp"
#include "pubsub/held_budget.hpp"
#include "pubsub/publish_link.hpp"
#include "pubsub/subscribe_link.hpp"

#include <cstdio>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sockeye::pubsub {
namespace {

struct queued {
    enum class kind : std::uint8_t { publish, subscribe, unsubscribe };
    kind what;
    std::string topic_or_channel;
    std::string envelope;
    std::uint64_t bytes = 0;
};

// The async handle lives on the heap and frees itself once closed, so the broker may be
// destroyed right after stop().
struct async_block {
    uv_async_t handle{};
    std::function<void()> fn;
};

}  // namespace

struct redis_broker::state {
    uv_loop_t* loop;
    broker_settings settings;
    std::uint64_t origin;
    message_fn on_message;
    broker_stats stats;
    held_budget budget{stats.held_bytes, settings.max_held_bytes};
    log_fn log;
    bool ever_connected = false;

    std::mutex mutex;  // guards the three below
    std::vector<queued> inbox;
    async_block* async = nullptr;
    bool stopped = false;

    publish_link publisher;
    subscribe_link subscriber;

    state(uv_loop_t* l, broker_settings s, std::uint64_t o, message_fn m)
        : loop(l),
          settings(std::move(s)),
          origin(o),
          on_message(std::move(m)),
          log(make_log(settings)),
          publisher(l, settings, stats, budget, log, [this] { on_ready_change(); }),
          subscriber(
              l, settings, log, [this] { on_ready_change(); },
              [this](std::string_view topic, std::span<const std::uint8_t> bytes) {
                  on_push(topic, bytes);
              }) {}

    static log_fn make_log(const broker_settings& s) {
        if (s.on_log) return s.on_log;
        return [](std::string_view line) {
            std::fprintf(stderr, "broker: %.*s\n", static_cast<int>(line.size()), line.data());
        };
    }

    void on_ready_change() {
        const bool now = publisher.ready() && subscriber.ready();
        if (now == stats.connected.load()) return;
        stats.connected.store(now);
        if (now) {
            if (ever_connected) stats.reconnects.fetch_add(1, std::memory_order_relaxed);
            ever_connected = true;
            log("connected to redis " + settings.url.host + ":" +
                std::to_string(settings.url.port));
        } else {
            log("lost redis: local delivery goes on, publishes for other nodes are held");
        }
    }

    void on_push(std::string_view topic, std::span<const std::uint8_t> bytes) {
        envelope_view envelope{};
        if (!decode_envelope(bytes, envelope)) {
            const auto n = stats.malformed.fetch_add(1, std::memory_order_relaxed);
            // The first, then one in 1024: a stranger flooding the channel cannot flood the log.
            if (n % 1024 == 0)
                log("skipped a malformed message on topic '" + std::string(topic) + "' (" +
                    std::to_string(n + 1) + " so far)");
            return;
        }
        if (envelope.origin == origin) return;
        stats.received.fetch_add(1, std::memory_order_relaxed);
        if (on_message) on_message(topic, envelope.type, envelope.payload);
    }

    void drain() {
        std::vector<queued> batch;
        {
            std::lock_guard lock(mutex);
            batch.swap(inbox);
        }
        for (auto& item : batch) {
            switch (item.what) {
                case queued::kind::publish:
                    publisher.publish(std::move(item.topic_or_channel), std::move(item.envelope),
                                      item.bytes);
                    break;
                case queued::kind::subscribe:
                    subscriber.subscribe(item.topic_or_channel);
                    break;
                case queued::kind::unsubscribe:
                    subscriber.unsubscribe(item.topic_or_channel);
                    break;
            }
        }
    }

    // False once stopped: the caller then gives the item up.
    bool enqueue(queued item) {
        std::lock_guard lock(mutex);
        if (stopped) return false;
        inbox.push_back(std::move(item));
        // Before start() there is no handle yet; start() drains what came early.
        if (async) uv_async_send(&async->handle);
        return true;
    }
};

redis_broker::redis_broker(uv_loop_t* loop, broker_settings settings, std::uint64_t origin,
                           message_fn on_message)
    : state_(std::make_unique<state>(loop, std::move(settings), origin, std::move(on_message))) {}

redis_broker::~redis_broker() {
    stop();
}

void redis_broker::start() {
    state& s = *state_;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopped || s.async) return;
        auto* block = new async_block;
        block->handle.data = block;
        block->fn = [&s] { s.drain(); };
        uv_async_init(s.loop, &block->handle,
                      [](uv_async_t* handle) { static_cast<async_block*>(handle->data)->fn(); });
        s.async = block;
    }
    s.drain();
    s.publisher.start();
    s.subscriber.start();
}

void redis_broker::stop() {
    state& s = *state_;
    std::vector<queued> left;
    async_block* block = nullptr;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopped) return;
        s.stopped = true;
        left.swap(s.inbox);
        block = std::exchange(s.async, nullptr);
    }
    for (const auto& item : left) {
        if (item.what != queued::kind::publish) continue;
        s.budget.release(item.bytes);
        s.stats.dropped.fetch_add(1, std::memory_order_relaxed);
    }
    if (block) {
        block->fn = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&block->handle),
                 [](uv_handle_t* handle) { delete static_cast<async_block*>(handle->data); });
    }
    s.publisher.stop();
    s.subscriber.stop();
    s.stats.connected.store(false);
}

void redis_broker::publish(std::string_view topic, sockeye::message_type type,
                           std::span<const std::uint8_t> payload) {
    state& s = *state_;
    queued item{queued::kind::publish, s.settings.channel_prefix + std::string(topic),
                encode_envelope(s.origin, type, payload)};
    item.bytes = item.topic_or_channel.size() + item.envelope.size();
    if (!s.budget.reserve(item.bytes)) {
        s.stats.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::uint64_t bytes = item.bytes;
    if (!s.enqueue(std::move(item))) {
        s.budget.release(bytes);
        s.stats.dropped.fetch_add(1, std::memory_order_relaxed);
    }
}

void redis_broker::subscribe(std::string_view topic) {
    state_->enqueue({queued::kind::subscribe, std::string(topic), {}});
}

void redis_broker::unsubscribe(std::string_view topic) {
    state_->enqueue({queued::kind::unsubscribe, std::string(topic), {}});
}

const broker_stats& redis_broker::stats() const noexcept {
    return state_->stats;
}

}  // namespace sockeye::pubsub
