// The application's timers on one loop (server::set_timer): one uv_timer_t each, since an
// application has few of them, unlike connections, whose deadlines share one heap.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <unordered_map>

namespace sockeye::server_detail {

class app_timers {
  public:
    explicit app_timers(uv_loop_t* loop) : loop_(loop) {}
    ~app_timers() = default;  // close_all() has run, while the loop was still open
    app_timers(const app_timers&) = delete;
    app_timers& operator=(const app_timers&) = delete;

    // Loop thread: fn runs after delay_ms, then every repeat_ms (0 = once).
    void start(std::uint64_t id, std::uint64_t delay_ms, std::uint64_t repeat_ms,
               std::function<void()> fn);
    // Loop thread: the timer runs no more. False if it is unknown (fired once, cancelled).
    bool cancel(std::uint64_t id);
    // Loop thread, before the loop closes: every timer stops and is freed by the close
    // callbacks the loop runs next.
    void close_all();

  private:
    struct timer;
    static void on_fire(uv_timer_t* t);
    void forget(timer* t);

    uv_loop_t* loop_;
    std::unordered_map<std::uint64_t, timer*> timers_;
};

}  // namespace sockeye::server_detail
