// A one-shot libuv timer whose handle lives on the heap and frees itself once closed, so
// its owner may be destroyed right after close() even though libuv finishes closing on a
// later loop iteration.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>

namespace sockeye::pubsub {

class loop_timer {
  public:
    explicit loop_timer(uv_loop_t* loop);
    ~loop_timer();
    loop_timer(const loop_timer&) = delete;
    loop_timer& operator=(const loop_timer&) = delete;

    // Calls `fn` once after `ms`; replaces any pending start. No-op after close().
    void start(std::uint64_t ms, std::function<void()> fn);
    void stop();
    // Closes the handle; `fn` is never called afterwards. Idempotent.
    void close();

  private:
    struct block;
    block* block_;
};

}  // namespace sockeye::pubsub
