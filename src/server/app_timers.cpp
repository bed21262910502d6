#include "app_timers.hpp"

#include <utility>

namespace sockeye::server_detail {

struct app_timers::timer {
    uv_timer_t handle{};
    app_timers* owner = nullptr;
    std::uint64_t id = 0;
    bool repeating = false;
    std::function<void()> fn;
};

void app_timers::start(std::uint64_t id, std::uint64_t delay_ms, std::uint64_t repeat_ms,
                       std::function<void()> fn) {
    auto* t = new timer;
    t->owner = this;
    t->id = id;
    t->repeating = repeat_ms != 0;
    t->fn = std::move(fn);
    uv_timer_init(loop_, &t->handle);
    t->handle.data = t;
    timers_.emplace(id, t);
    uv_timer_start(&t->handle, on_fire, delay_ms, repeat_ms);
}

void app_timers::on_fire(uv_timer_t* h) {
    auto* t = static_cast<timer*>(h->data);
    if (t->repeating) {
        // If fn cancels its own timer, the handle only closes: t lives until the close
        // callback, after fn has returned.
        t->fn();
        return;
    }
    // A one-shot timer is done before fn runs, so that cancelling it from fn is a no-op.
    std::function<void()> fn = std::move(t->fn);
    t->owner->forget(t);
    fn();
}

bool app_timers::cancel(std::uint64_t id) {
    const auto it = timers_.find(id);
    if (it == timers_.end()) return false;
    forget(it->second);
    return true;
}

void app_timers::forget(timer* t) {
    timers_.erase(t->id);
    uv_timer_stop(&t->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&t->handle),
             [](uv_handle_t* h) { delete static_cast<timer*>(h->data); });
}

void app_timers::close_all() {
    while (!timers_.empty()) forget(timers_.begin()->second);
}

}  // namespace sockeye::server_detail
