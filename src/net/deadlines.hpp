// Deadlines of many connections on one event loop through a single libuv timer.
//
// A uv_timer_t per connection costs 152 bytes, about a sixth of an idle connection. Here a
// connection embeds a 16-byte deadline_entry, the loop keeps the entries in a binary
// min-heap (8 bytes a slot) and one uv_timer_t waits for the earliest. Connections move
// their deadline rarely (on state changes, not per frame), so O(log n) updates are cheap.
#pragma once
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sockeye::net {

// Embedded in whatever has a deadline; owned by at most one heap at a time.
struct deadline_entry {
    static constexpr std::uint32_t not_scheduled = UINT32_MAX;
    std::uint64_t due = 0;                // loop milliseconds, while scheduled
    std::uint32_t slot = not_scheduled;  // position in the heap
    bool scheduled() const noexcept { return slot != not_scheduled; }
};

// A binary min-heap of entries by due time. No I/O: the caller supplies the clock.
class deadline_heap {
  public:
    // Inserts `e`, or moves it if it is already scheduled.
    void schedule(deadline_entry& e, std::uint64_t due);
    // Removes `e` if scheduled; harmless otherwise.
    void cancel(deadline_entry& e) noexcept;
    // The earliest entry, or null when empty.
    deadline_entry* top() const noexcept { return heap_.empty() ? nullptr : heap_.front(); }
    // Removes and returns the earliest entry if it is due at `now`, else null.
    deadline_entry* pop_due(std::uint64_t now) noexcept;
    std::size_t size() const noexcept { return heap_.size(); }

  private:
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void put(std::size_t i, deadline_entry* e) noexcept {
        heap_[i] = e;
        e->slot = static_cast<std::uint32_t>(i);
    }
    std::vector<deadline_entry*> heap_;
};

// One libuv timer that fires the due entries of a deadline_heap on its loop.
class loop_deadlines {
  public:
    using fire_fn = void (*)(deadline_entry& e);

    loop_deadlines() = default;
    loop_deadlines(const loop_deadlines&) = delete;
    loop_deadlines& operator=(const loop_deadlines&) = delete;

    // Initialises the timer handle on `loop`. It never keeps the loop alive by itself, and
    // is closed like any handle of the loop (uv_walk) before the loop is.
    void start(uv_loop_t* loop, fire_fn fire);
    // Sets `e` to fire at `due` (loop milliseconds; in the past = at the next loop turn).
    void schedule(deadline_entry& e, std::uint64_t due);
    void cancel(deadline_entry& e);
    std::size_t size() const noexcept { return heap_.size(); }

  private:
    static void on_timer(uv_timer_t* t);
    void rearm();

    uv_timer_t timer_{};
    deadline_heap heap_;
    fire_fn fire_ = nullptr;
    std::uint64_t armed_for_ = 0;  // due time the timer waits for; 0 = stopped
    bool firing_ = false;          // rearm once after a batch, not per change inside it
    std::vector<deadline_entry*> batch_;  // reused: no allocation per firing
};

}  // namespace sockeye::net
