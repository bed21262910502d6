// The count of local deliveries a publisher's done() gets: each loop adds its own and the
// last loop to finish reports the total. Two threads finish the same publications at once,
// over and over: the total must always be both loops' deliveries, whichever adds first and
// whichever finishes last.
#include "server/publication.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sockeye::server_detail {
namespace {

TEST(TopicsPublication, DoneGetsEveryLoopsDeliveriesWhoeverFinishesLast) {
    constexpr int rounds = 100000;
    std::vector<publication> pubs(rounds);
    std::vector<std::size_t> totals(rounds, 0);
    for (int i = 0; i < rounds; ++i) {
        pubs[i].loops_left.store(2);
        pubs[i].done = [&totals, i](std::size_t n) { totals[i] = n; };
    }
    std::atomic<int> go{0};
    auto loop = [&](std::size_t delivered) {
        go.fetch_add(1);
        while (go.load() < 2) {
        }
        for (auto& p : pubs) p.loop_finished(delivered);
    };
    std::thread a(loop, 3);
    std::thread b(loop, 5);
    a.join();
    b.join();
    int wrong = 0;
    for (const std::size_t t : totals) wrong += t != 8;
    EXPECT_EQ(wrong, 0) << "of " << rounds << " publications";
}

}  // namespace
}  // namespace sockeye::server_detail
