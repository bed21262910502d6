#include "deadlines.hpp"

namespace sockeye::net {

// ---------------------------------------------------------------- deadline_heap

void deadline_heap::schedule(deadline_entry& e, std::uint64_t due) {
    if (!e.scheduled()) {
        e.due = due;
        heap_.push_back(&e);
        e.slot = static_cast<std::uint32_t>(heap_.size() - 1);
        sift_up(e.slot);
        return;
    }
    const bool earlier = due < e.due;
    e.due = due;
    if (earlier) {
        sift_up(e.slot);
    } else {
        sift_down(e.slot);
    }
}

void deadline_heap::cancel(deadline_entry& e) noexcept {
    if (!e.scheduled()) return;
    const std::size_t i = e.slot;
    deadline_entry* last = heap_.back();
    heap_.pop_back();
    e.slot = deadline_entry::not_scheduled;
    if (last == &e) return;
    // The last entry fills the hole and may belong above or below it.
    put(i, last);
    sift_up(i);
    sift_down(last->slot);
}

deadline_entry* deadline_heap::pop_due(std::uint64_t now) noexcept {
    deadline_entry* t = top();
    if (t == nullptr || t->due > now) return nullptr;
    cancel(*t);
    return t;
}

void deadline_heap::sift_up(std::size_t i) noexcept {
    deadline_entry* e = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (heap_[parent]->due <= e->due) break;
        put(i, heap_[parent]);
        i = parent;
    }
    put(i, e);
}

void deadline_heap::sift_down(std::size_t i) noexcept {
    deadline_entry* e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap_[child + 1]->due < heap_[child]->due) ++child;
        if (e->due <= heap_[child]->due) break;
        put(i, heap_[child]);
        i = child;
    }
    put(i, e);
}

// ---------------------------------------------------------------- loop_deadlines

void loop_deadlines::start(uv_loop_t* loop, fire_fn fire) {
    fire_ = fire;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
}

void loop_deadlines::schedule(deadline_entry& e, std::uint64_t due) {
    heap_.schedule(e, due);
    rearm();
}

void loop_deadlines::cancel(deadline_entry& e) {
    if (!e.scheduled()) return;
    heap_.cancel(e);
    rearm();
}

void loop_deadlines::rearm() {
    if (firing_) return;
    const deadline_entry* t = heap_.top();
    if (t == nullptr) {
        if (armed_for_ != 0) uv_timer_stop(&timer_);
        armed_for_ = 0;
        return;
    }
    // A due time of 0 would read as "stopped"; 1 ms later is indistinguishable.
    const std::uint64_t due = t->due == 0 ? 1 : t->due;
    if (due == armed_for_) return;
    armed_for_ = due;
    const std::uint64_t now = uv_now(timer_.loop);
    uv_timer_start(&timer_, on_timer, due > now ? due - now : 0, 0);
}

// Fires everything due, as one batch: an entry that schedules itself again for a time
// already past fires at the next loop turn instead of spinning here.
void loop_deadlines::on_timer(uv_timer_t* t) {
    auto* self = static_cast<loop_deadlines*>(t->data);
    self->armed_for_ = 0;
    const std::uint64_t now = uv_now(t->loop);
    self->batch_.clear();
    while (deadline_entry* e = self->heap_.pop_due(now)) self->batch_.push_back(e);
    self->firing_ = true;
    for (deadline_entry* e : self->batch_) self->fire_(*e);
    self->firing_ = false;
    self->batch_.clear();
    self->rearm();
}

}  // namespace sockeye::net
