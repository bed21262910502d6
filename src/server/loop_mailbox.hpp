// Work handed to one event loop from any thread. Tasks wait in a queue under a mutex and
// the loop is woken through its uv_async_t. Kept by shared_ptr by whoever may post later
// (an upgrade answered on a worker thread, a connection handle): once the loop is gone the
// mailbox is closed and post() returns false instead of touching a freed handle.
#pragma once
#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace sockeye::server_detail {

class loop_mailbox {
  public:
    explicit loop_mailbox(uv_async_t* wake) : wake_(wake) {}
    loop_mailbox(const loop_mailbox&) = delete;
    loop_mailbox& operator=(const loop_mailbox&) = delete;

    // Any thread: queues `task` for the loop. False once the loop has closed the mailbox.
    bool post(std::function<void()> task);
    // The loop (from its async callback): runs what was posted, in order.
    void run_pending();
    // The loop, before its async handle closes: later posts fail; queued tasks are dropped.
    void close();
    // True on the thread that is running this mailbox's loop right now.
    bool on_loop_thread() const noexcept;

    // Marks the calling thread as running `m`'s loop while it lives (around uv_run), so
    // that code called from any thread can tell whether it may act on the loop directly.
    class loop_scope {
      public:
        explicit loop_scope(const loop_mailbox& m) noexcept;
        ~loop_scope();
        loop_scope(const loop_scope&) = delete;
        loop_scope& operator=(const loop_scope&) = delete;

      private:
        const loop_mailbox* previous_;
    };

  private:
    std::mutex mutex_;
    std::vector<std::function<void()>> tasks_;
    std::vector<std::function<void()>> running_;  // reused: no allocation per wake-up
    uv_async_t* wake_;
    bool open_ = true;
};

}  // namespace sockeye::server_detail
