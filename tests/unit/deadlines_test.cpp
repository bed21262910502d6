// The loop's deadline heap (ordering under schedule/move/cancel, checked against a sorted
// reference) and the one-timer glue on a real libuv loop.
#include "net/deadlines.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace sockeye::net {
namespace {

TEST(DeadlineHeap, PopsInDueOrderOnlyWhatIsDue) {
    deadline_heap h;
    deadline_entry a, b, c;
    h.schedule(a, 30);
    h.schedule(b, 10);
    h.schedule(c, 20);
    EXPECT_EQ(h.pop_due(5), nullptr);
    EXPECT_EQ(h.pop_due(25), &b);
    EXPECT_EQ(h.pop_due(25), &c);
    EXPECT_EQ(h.pop_due(25), nullptr);
    EXPECT_FALSE(b.scheduled());
    EXPECT_TRUE(a.scheduled());
    EXPECT_EQ(h.pop_due(30), &a);
    EXPECT_EQ(h.size(), 0u);
}

TEST(DeadlineHeap, MovingAndCancellingKeepTheOrder) {
    deadline_heap h;
    deadline_entry a, b, c;
    h.schedule(a, 10);
    h.schedule(b, 20);
    h.schedule(c, 30);
    h.schedule(a, 40);  // later
    h.schedule(c, 5);   // earlier
    h.cancel(b);
    h.cancel(b);  // twice is harmless
    EXPECT_EQ(h.pop_due(100), &c);
    EXPECT_EQ(h.pop_due(100), &a);
    EXPECT_EQ(h.pop_due(100), nullptr);
}

// Random schedules, moves and cancels against a reference map: the heap must always pop
// the earliest due entry.
TEST(DeadlineHeap, MatchesAReferenceUnderRandomOperations) {
    std::mt19937 rng(7);
    std::vector<deadline_entry> entries(200);
    std::map<deadline_entry*, std::uint64_t> ref;
    deadline_heap h;
    for (int step = 0; step < 20000; ++step) {
        deadline_entry& e = entries[rng() % entries.size()];
        const auto op = rng() % 10;
        if (op < 6) {
            const std::uint64_t due = 1 + rng() % 1000;
            h.schedule(e, due);
            ref[&e] = due;
        } else if (op < 8) {
            h.cancel(e);
            ref.erase(&e);
        } else {
            const std::uint64_t now = rng() % 1000;
            while (deadline_entry* p = h.pop_due(now)) {
                ASSERT_TRUE(ref.count(p));
                ASSERT_LE(ref[p], now);
                // Nothing left in the reference is earlier than what was popped.
                for (const auto& [q, due] : ref) ASSERT_GE(due, ref[p]);
                ref.erase(p);
            }
            for (const auto& [q, due] : ref) ASSERT_GT(due, now);
        }
        ASSERT_EQ(h.size(), ref.size());
        for (auto& x : entries) ASSERT_EQ(x.scheduled(), ref.count(&x) == 1);
    }
}

std::vector<deadline_entry*> fired;
void record(deadline_entry& e) { fired.push_back(&e); }

TEST(LoopDeadlines, OneTimerFiresEachEntryAtItsTime) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    fired.clear();
    {
        loop_deadlines d;
        d.start(&loop, record);
        deadline_entry late, early, cancelled;
        const std::uint64_t now = uv_now(&loop);
        d.schedule(late, now + 40);
        d.schedule(early, now + 10);
        d.schedule(cancelled, now + 20);
        d.cancel(cancelled);
        // The timer does not keep the loop alive by itself: hold it open for the test.
        uv_timer_t hold;
        uv_timer_init(&loop, &hold);
        uv_timer_start(&hold, [](uv_timer_t*) {}, 100, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        EXPECT_EQ(fired, (std::vector<deadline_entry*>{&early, &late}));
        EXPECT_GE(uv_now(&loop), now + 40);
        EXPECT_EQ(d.size(), 0u);
        uv_walk(
            &loop, [](uv_handle_t* h, void*) { uv_close(h, nullptr); }, nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace sockeye::net
