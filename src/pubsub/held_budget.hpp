// The bound on publishes waiting for Redis, shared by every publishing thread and the loop:
// a lock-free counter that refuses a reservation that would pass the limit.
#pragma once
#include <atomic>
#include <cstdint>

namespace sockeye::pubsub {

class held_budget {
  public:
    held_budget(std::atomic<std::uint64_t>& held, std::uint64_t limit) noexcept
        : held_(held), limit_(limit) {}

    // Takes `bytes` from the budget, or returns false and takes nothing.
    bool reserve(std::uint64_t bytes) noexcept {
        std::uint64_t now = held_.load(std::memory_order_relaxed);
        do {
            if (bytes > limit_ || now > limit_ - bytes) return false;
        } while (!held_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
        return true;
    }
    void release(std::uint64_t bytes) noexcept {
        held_.fetch_sub(bytes, std::memory_order_relaxed);
    }

  private:
    std::atomic<std::uint64_t>& held_;
    std::uint64_t limit_;
};

}  // namespace sockeye::pubsub
