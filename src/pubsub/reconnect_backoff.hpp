// Delays between reconnect attempts: 100 ms, doubling, at most 1 s. The cap is what makes
// a restarted Redis be used again within about a second of coming back.
#pragma once
#include <algorithm>
#include <cstdint>

namespace sockeye::pubsub {

class reconnect_backoff {
  public:
    static constexpr std::uint64_t first_ms = 100;
    static constexpr std::uint64_t max_ms = 1000;

    std::uint64_t next() noexcept {
        const std::uint64_t delay = delay_;
        delay_ = std::min(delay_ * 2, max_ms);
        return delay;
    }
    void reset() noexcept { delay_ = first_ms; }

  private:
    std::uint64_t delay_ = first_ms;
};

}  // namespace sockeye::pubsub
