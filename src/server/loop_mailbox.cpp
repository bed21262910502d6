#include "loop_mailbox.hpp"

namespace sockeye::server_detail {

namespace {
// The mailbox of the loop this thread is running, if any.
thread_local const loop_mailbox* running_here = nullptr;
}  // namespace

bool loop_mailbox::on_loop_thread() const noexcept {
    return running_here == this;
}

loop_mailbox::loop_scope::loop_scope(const loop_mailbox& m) noexcept : previous_(running_here) {
    running_here = &m;
}

loop_mailbox::loop_scope::~loop_scope() {
    running_here = previous_;
}

bool loop_mailbox::post(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    if (!open_) return false;
    tasks_.push_back(std::move(task));
    // Under the lock: close() cannot run between the check above and the wake-up, so the
    // async handle is still alive here.
    uv_async_send(wake_);
    return true;
}

void loop_mailbox::run_pending() {
    {
        std::lock_guard lock(mutex_);
        running_.swap(tasks_);
    }
    // Tasks run without the lock: they may post again (to this loop or another).
    for (auto& t : running_) t();
    running_.clear();
}

void loop_mailbox::close() {
    std::vector<std::function<void()>> dropped;
    {
        std::lock_guard lock(mutex_);
        open_ = false;
        dropped.swap(tasks_);
    }
    // Destroyed outside the lock: a task's captures may post (and fail) as they go.
}

}  // namespace sockeye::server_detail
