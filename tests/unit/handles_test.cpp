// connection_handle, server::post and server timers against a real server on loopback,
// with raw-socket clients. The stress test is meant for TSan (make test-tsan runs every
// test named Handles*): foreign threads send through handles while clients come and go.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "loopback_server.hpp"
#include "raw_websocket.hpp"
#include <sockeye/server.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sockeye {
namespace {

using test::frames_after_head;
using test::loopback_server;
using test::open_websocket;
using test::read_until;

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// What on_open hands to the test thread.
struct opened_handles {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<connection_handle> handles;

    void add(connection_handle h) {
        std::lock_guard lock(mutex);
        handles.push_back(std::move(h));
        cv.notify_all();
    }
    connection_handle wait_first() {
        std::unique_lock lock(mutex);
        cv.wait_for(lock, 5s, [&] { return !handles.empty(); });
        return handles.empty() ? connection_handle{} : handles.front();
    }
};

TEST(Handles, EmptyHandleRefusesEverything) {
    const connection_handle h;
    EXPECT_FALSE(h);
    EXPECT_FALSE(h.send_text("x"));
    EXPECT_FALSE(h.close());
    EXPECT_FALSE(h.post([](connection&) {}));
    EXPECT_FALSE(h.alive());
    EXPECT_EQ(h.buffered_amount(), 0u);
}

TEST(Handles, ForeignThreadSendsArriveInOrder) {
    opened_handles opened;
    handlers h;
    h.on_open = [&](connection& c) { opened.add(c.handle()); };
    loopback_server s({}, h);
    const int fd = open_websocket(s.port());
    ASSERT_GE(fd, 0);
    const connection_handle handle = opened.wait_first();
    ASSERT_TRUE(handle.alive());
    constexpr int count = 2000;
    std::thread sender([handle] {
        for (int i = 0; i < count; ++i) EXPECT_TRUE(handle.send_text(std::to_string(i)));
    });
    const std::string got =
        read_until(fd, [](const std::string& b) { return frames_after_head(b).size() >= count; });
    sender.join();
    const auto frames = frames_after_head(got);
    ASSERT_EQ(frames.size(), static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) ASSERT_EQ(frames[i], std::to_string(i));
    ::close(fd);
}

TEST(Handles, PostRunsOnTheLoopWithTheConnection) {
    opened_handles opened;
    std::thread::id loop_thread;
    handlers h;
    h.on_open = [&](connection& c) {
        loop_thread = std::this_thread::get_id();
        opened.add(c.handle());
    };
    loopback_server s({}, h);
    const int fd = open_websocket(s.port());
    ASSERT_GE(fd, 0);
    const connection_handle handle = opened.wait_first();
    std::promise<bool> ran_on_loop;
    ASSERT_TRUE(handle.post([&](connection& c) {
        ran_on_loop.set_value(std::this_thread::get_id() == loop_thread);
        // On the loop a handle acts directly.
        EXPECT_TRUE(c.handle().send_text("from post"));
        EXPECT_TRUE(c.handle() == handle);
    }));
    auto f = ran_on_loop.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    const std::string got =
        read_until(fd, [](const std::string& b) { return !frames_after_head(b).empty(); });
    const auto frames = frames_after_head(got);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0], "from post");
    ::close(fd);
}

TEST(Handles, CloseFromAnotherThreadSendsTheCloseFrame) {
    opened_handles opened;
    handlers h;
    h.on_open = [&](connection& c) { opened.add(c.handle()); };
    loopback_server s({}, h);
    const int fd = open_websocket(s.port());
    ASSERT_GE(fd, 0);
    const connection_handle handle = opened.wait_first();
    ASSERT_TRUE(handle.close(4000, "bye"));
    const std::string got =
        read_until(fd, [](const std::string& b) { return !frames_after_head(b).empty(); });
    const auto frames = frames_after_head(got);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0], std::string("\x0f\xa0") + "bye");  // 4000 then the reason
    ::close(fd);
}

TEST(Handles, GoneConnectionRefusesEverything) {
    opened_handles opened;
    std::promise<void> closed;
    handlers h;
    h.on_open = [&](connection& c) { opened.add(c.handle()); };
    h.on_close = [&](connection& c, std::uint16_t, std::string_view) {
        EXPECT_FALSE(c.handle());  // nothing to hand out anymore
        closed.set_value();
    };
    loopback_server s({}, h);
    const int fd = open_websocket(s.port());
    ASSERT_GE(fd, 0);
    const connection_handle handle = opened.wait_first();
    ASSERT_TRUE(handle.send_text("before"));
    ::close(fd);
    ASSERT_EQ(closed.get_future().wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(handle.alive());
    EXPECT_FALSE(handle.send_text("after"));
    EXPECT_FALSE(handle.close());
    EXPECT_FALSE(handle.post([](connection&) { ADD_FAILURE() << "ran after the end"; }));
    EXPECT_EQ(handle.buffered_amount(), 0u);
    s.stop();
    EXPECT_FALSE(handle.send_text("after the server"));
}

TEST(HandlesPost, RunsOnEveryLoopAndRefusesAfterShutdown) {
    server_options o;
    o.threads = 3;
    loopback_server s(o, {});
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::thread::id> seen;
    ASSERT_TRUE(s.get().post_to_all([&] {
        std::lock_guard lock(mutex);
        seen.push_back(std::this_thread::get_id());
        cv.notify_all();
    }));
    std::atomic<int> posted{0};
    for (int i = 0; i < 30; ++i) EXPECT_TRUE(s.get().post([&] { posted++; }));
    {
        std::unique_lock lock(mutex);
        cv.wait_for(lock, 5s, [&] { return seen.size() == 3; });
        ASSERT_EQ(seen.size(), 3u);
        EXPECT_NE(seen[0], seen[1]);
        EXPECT_NE(seen[1], seen[2]);
        EXPECT_NE(seen[0], seen[2]);
    }
    const auto until = clock_type::now() + 5s;
    while (posted.load() < 30 && clock_type::now() < until) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(posted.load(), 30);
    s.stop();
    EXPECT_FALSE(s.get().post([] {}));
    EXPECT_FALSE(s.get().set_timer(1ms, 0ms, [] {}));
}

TEST(HandlesTimers, OneShotRepeatingAndCancel) {
    server_options o;
    o.threads = 2;
    loopback_server s(o, {});
    std::atomic<int> once{0}, repeated{0}, self_cancelled{0};
    const auto t0 = clock_type::now();
    std::atomic<std::int64_t> once_after_ms{-1};
    ASSERT_TRUE(s.get().set_timer(50ms, 0ms, [&] {
        once_after_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count();
        once++;
    }));
    const timer_id rep = s.get().set_timer(5ms, 5ms, [&] { repeated++; });
    ASSERT_TRUE(rep);
    // A timer set on the loop runs there and may cancel itself from its own callback.
    server& srv = s.get();
    ASSERT_TRUE(srv.post([&] {
        auto id = std::make_shared<timer_id>();
        *id = srv.set_timer(1ms, 1ms, [&, id] {
            if (++self_cancelled == 3) {
                EXPECT_TRUE(srv.cancel_timer(*id));
            }
        });
        EXPECT_TRUE(*id);
    }));
    const auto until = clock_type::now() + 5s;
    while ((repeated.load() < 5 || once.load() == 0) && clock_type::now() < until)
        std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(s.get().cancel_timer(rep));
    std::this_thread::sleep_for(100ms);  // the cancel is posted: let it land
    const int after_cancel = repeated.load();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(repeated.load(), after_cancel);
    EXPECT_GE(after_cancel, 5);
    EXPECT_EQ(once.load(), 1);
    EXPECT_GE(once_after_ms.load(), 45);  // libuv's clock is the loop's, cached per turn
    EXPECT_EQ(self_cancelled.load(), 3);
    EXPECT_FALSE(s.get().cancel_timer(timer_id{}));
}

// A timer still set when the server ends is freed with its loop (ASan/LSan would see it).
TEST(HandlesTimers, LeftSetWhenTheServerEnds) {
    loopback_server s({}, {});
    ASSERT_TRUE(s.get().set_timer(1h, 0ms, [] {}));
    ASSERT_TRUE(s.get().set_timer(1ms, 1ms, [] {}));
    std::this_thread::sleep_for(20ms);
}

// 8 threads send through handles to about 1,000 connections while the clients close and
// reconnect at random and the senders close some connections themselves. Nothing may race
// (TSan), leak (LSan) or reach a connection after its end.
TEST(HandlesStress, ForeignSendersWhileClientsComeAndGo) {
    constexpr int client_threads = 4;
    constexpr int per_client = 250;
    constexpr int senders = 8;
    const auto run_for = 5s;

    std::mutex registry_mutex;
    std::map<connection*, connection_handle> registry;
    std::atomic<long> opens{0}, closes{0};
    handlers h;
    h.on_open = [&](connection& c) {
        opens++;
        std::lock_guard lock(registry_mutex);
        registry.emplace(&c, c.handle());
    };
    h.on_close = [&](connection& c, std::uint16_t, std::string_view) {
        closes++;
        std::lock_guard lock(registry_mutex);
        registry.erase(&c);
    };
    server_options o;
    o.threads = 2;
    o.close_timeout = 0.3;  // raw clients never answer a close frame
    o.ping_interval = 0;
    auto s = std::make_unique<loopback_server>(o, h);
    const std::uint16_t port = s->port();

    std::atomic<bool> stop{false};
    std::atomic<long> reconnects{0}, bytes_received{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < client_threads; ++t) {
        clients.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) + 1);
            std::vector<int> fds(per_client, -1);
            for (int& fd : fds) fd = open_websocket(port);
            std::vector<pollfd> polled(per_client);
            char buf[65536];
            while (!stop.load()) {
                for (int i = 0; i < per_client; ++i) polled[i] = {fds[i], POLLIN, 0};
                ::poll(polled.data(), polled.size(), 5);
                for (int i = 0; i < per_client; ++i) {
                    bool reopen = fds[i] < 0;
                    if (!reopen && (polled[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                        const ssize_t n = ::recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
                        if (n > 0) bytes_received += n;
                        reopen = n == 0 || (n < 0 && errno != EAGAIN);
                    }
                    // About every 4 s per connection, a client leaves (often with unread
                    // data: a reset) and comes back.
                    if (!reopen && rng() % 800 == 0) reopen = true;
                    if (reopen) {
                        if (fds[i] >= 0) ::close(fds[i]);
                        fds[i] = open_websocket(port);
                        reconnects++;
                    }
                }
            }
            for (int fd : fds) {
                if (fd >= 0) ::close(fd);
            }
        });
    }

    std::vector<connection_handle> kept;  // some handles outlive their connections
    std::mutex kept_mutex;
    std::atomic<long> sent{0}, refused{0};
    std::vector<std::thread> sending;
    for (int t = 0; t < senders; ++t) {
        sending.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) + 100);
            std::vector<connection_handle> batch;
            const std::string payload(static_cast<std::size_t>(16 + t * 40),
                                      static_cast<char>('a' + t));
            while (!stop.load()) {
                batch.clear();
                {
                    std::lock_guard lock(registry_mutex);
                    for (auto& [c, handle] : registry) {
                        if (rng() % 8 == 0) batch.push_back(handle);
                    }
                }
                for (const auto& handle : batch) {
                    const auto pick = rng() % 1024;
                    switch (pick) {
                        case 0:
                        case 1:
                            handle.close(4000, "sender");
                            break;
                        case 2: {
                            std::lock_guard lock(kept_mutex);
                            if (kept.size() < 2000) kept.push_back(handle);
                            break;
                        }
                        default:
                            if (pick < 64) {
                                handle.post([](connection& c) { c.send_text("posted"); });
                                break;
                            }
                            // A slow client is skipped rather than buffered without bound.
                            if (handle.buffered_amount() > (256u << 10)) break;
                            (handle.send_text(payload) ? sent : refused)++;
                    }
                }
                {
                    // Handles whose connection may be gone are used too.
                    std::lock_guard lock(kept_mutex);
                    for (std::size_t i = 0; i < kept.size(); i += 16) {
                        (kept[i].send_text(payload) ? sent : refused)++;
                    }
                }
                std::this_thread::sleep_for(1ms);
            }
        });
    }

    std::this_thread::sleep_for(run_for);
    stop = true;
    for (auto& t : sending) t.join();
    for (auto& t : clients) t.join();

    EXPECT_GT(sent.load(), 0);
    EXPECT_GT(bytes_received.load(), 0);
    EXPECT_GT(reconnects.load(), 0);
    EXPECT_GE(opens.load(), client_threads * per_client);
    std::printf("opens=%ld reconnects=%ld sent=%ld refused=%ld received=%ld bytes\n", opens.load(),
                reconnects.load(), sent.load(), refused.load(), bytes_received.load());

    // Every client is gone: each connection ends (EOF or close timeout), then the server.
    const auto until = clock_type::now() + 10s;
    while (closes.load() < opens.load() && clock_type::now() < until)
        std::this_thread::sleep_for(5ms);
    EXPECT_EQ(closes.load(), opens.load());
    s.reset();
    {
        std::lock_guard lock(registry_mutex);
        EXPECT_TRUE(registry.empty());
    }
    for (const auto& handle : kept) {
        EXPECT_FALSE(handle.alive());
        EXPECT_FALSE(handle.send_text("late"));
        EXPECT_EQ(handle.buffered_amount(), 0u);
    }
}

}  // namespace
}  // namespace sockeye
