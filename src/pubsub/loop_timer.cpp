#include "pubsub/loop_timer.hpp"

#include <utility>

namespace sockeye::pubsub {

struct loop_timer::block {
    uv_timer_t handle;
    std::function<void()> fn;
};

loop_timer::loop_timer(uv_loop_t* loop) : block_(new block) {
    uv_timer_init(loop, &block_->handle);
    block_->handle.data = block_;
}

loop_timer::~loop_timer() {
    close();
}

void loop_timer::start(std::uint64_t ms, std::function<void()> fn) {
    if (!block_) return;
    block_->fn = std::move(fn);
    uv_timer_start(
        &block_->handle,
        [](uv_timer_t* handle) {
            auto* b = static_cast<block*>(handle->data);
            // Moved out first: the callback may start the timer again.
            auto call = std::move(b->fn);
            if (call) call();
        },
        ms, 0);
}

void loop_timer::stop() {
    if (block_) uv_timer_stop(&block_->handle);
}

void loop_timer::close() {
    if (!block_) return;
    block_->fn = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->handle),
             [](uv_handle_t* handle) { delete static_cast<block*>(handle->data); });
    block_ = nullptr;
}

}  // namespace sockeye::pubsub
