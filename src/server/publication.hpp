// One published message on its way to the loops of this node: the topic, the message framed
// once (every subscriber's queue takes a reference to these bytes), and the count of local
// deliveries for the publisher's `done`.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "loop_mailbox.hpp"
#include "net/shared_bytes.hpp"

namespace sockeye::server_detail {

// What became of a published message at one subscriber.
enum class published_delivery : std::uint8_t {
    queued,
    dropped,  // too slow (policy drop) or in the middle of a streamed send: skipped, counted
    closed,   // too slow (policy close): closed with 1008
    skipped,  // closing already
};

struct publication {
    std::string topic;
    net::shared_ref frame;
    std::size_t payload_size = 0;
    // Loops that have not queued the message yet, and what those that did queued it to.
    std::atomic<std::uint32_t> loops_left{0};
    std::atomic<std::size_t> delivered{0};
    std::function<void(std::size_t)> done;  // optional
    std::shared_ptr<loop_mailbox> done_on;  // the publisher's loop; null: the last loop

    // A loop queued the message to `n` subscribers (or could not take it: n = 0).
    void loop_finished(std::size_t n) {
        delivered.fetch_add(n, std::memory_order_relaxed);
        if (loops_left.fetch_sub(1, std::memory_order_acq_rel) != 1 || !done) return;
        // Read after the last decrement, which acquires every other loop's count: a total
        // taken from this loop's own add could miss a loop that added later but finished
        // first.
        const std::size_t total = delivered.load(std::memory_order_relaxed);
        if (done_on) {
            // A loop that is gone has no one left to tell.
            done_on->post([fn = std::move(done), total] { fn(total); });
        } else {
            done(total);
        }
    }
};

}  // namespace sockeye::server_detail
