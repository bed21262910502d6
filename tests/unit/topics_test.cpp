// Topics against a real server on loopback with raw-socket subscribers: publish from any
// thread to subscribers on every loop, order, the framing of published messages, the
// backlog policies for slow subscribers, and the subscriber counts. Named Topics* so that
// make test-tsan runs them too.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "loopback_server.hpp"
#include "raw_websocket.hpp"
#include <sockeye/server.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
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

std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Handlers that subscribe every connection to the topic named by its path ("/news" → news).
handlers subscribe_by_path() {
    handlers h;
    h.on_open = [](connection& c) { c.subscribe(c.path().substr(1)); };
    return h;
}

// Waits until `topic` has `n` subscribers on the server (0: until it is gone).
bool wait_subscribers(server& s, const std::string& topic, std::size_t n) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
        std::size_t have = 0;
        for (const auto& t : s.topics()) {
            if (t.name == topic) have = t.subscribers;
        }
        if (have == n) return true;
        std::this_thread::sleep_for(2ms);
    }
    return false;
}

// Sends `fd` one masked client text frame (mask 0: payload sent as is).
void send_text(int fd, const std::string& text) {
    std::string f;
    f += static_cast<char>(0x81);
    f += static_cast<char>(0x80 | text.size());
    f.append(4, '\0');
    f += text;
    ASSERT_EQ(::send(fd, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
}

TEST(Topics, PublishFromAnyThreadReachesSubscribersOnEveryLoopInOrder) {
    server_options o;
    o.threads = 2;
    loopback_server srv(o, subscribe_by_path());
    std::vector<int> fds;
    for (int i = 0; i < 8; ++i) fds.push_back(open_websocket(srv.port(), "/news"));
    const int other = open_websocket(srv.port(), "/sport");
    ASSERT_TRUE(wait_subscribers(srv.get(), "news", 8));
    ASSERT_TRUE(wait_subscribers(srv.get(), "sport", 1));

    std::promise<std::size_t> delivered;
    constexpr int count = 200;
    std::thread publisher([&] {
        for (int i = 0; i < count; ++i) {
            const std::string m = "m" + std::to_string(i);
            if (i + 1 < count) {
                EXPECT_TRUE(srv.get().publish_text("news", m));
            } else {
                EXPECT_TRUE(srv.get().publish_text("news", m, [&](std::size_t n) {
                    delivered.set_value(n);
                }));
            }
        }
    });
    publisher.join();
    auto done = delivered.get_future();
    ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(done.get(), 8u);  // this node's subscribers of "news", on both loops
    for (const int fd : fds) {
        const auto got = read_until(fd, [](const std::string& b) {
            return frames_after_head(b).size() >= count;
        });
        const auto frames = frames_after_head(got);
        ASSERT_EQ(frames.size(), std::size_t{count});
        for (int i = 0; i < count; ++i) ASSERT_EQ(frames[i], "m" + std::to_string(i));
        ::close(fd);
    }
    // The other topic's subscriber got none of it.
    const auto quiet = read_until(other, [](const std::string&) { return false; }, 200ms);
    EXPECT_TRUE(frames_after_head(quiet).empty());
    ::close(other);
    EXPECT_TRUE(wait_subscribers(srv.get(), "news", 0));
    EXPECT_TRUE(wait_subscribers(srv.get(), "sport", 0));
    EXPECT_TRUE(srv.get().topics().empty());
}

TEST(Topics, PublishedBytesAreOneUnmaskedFrameAsASendWouldBe) {
    server_options o;
    o.max_frame_size = 4;  // split like any other send
    loopback_server srv(o, subscribe_by_path());
    const int fd = open_websocket(srv.port(), "/t");
    ASSERT_TRUE(wait_subscribers(srv.get(), "t", 1));
    ASSERT_TRUE(srv.get().publish(
        "t", message_type::binary, bytes("abcdefghij")));
    const auto got = read_until(fd, [](const std::string& b) {
        const auto at = b.find("\r\n\r\n");
        return at != std::string::npos && b.size() >= at + 4 + 3 * 2 + 10;  // 3 frames
    });
    const std::string wire = got.substr(got.find("\r\n\r\n") + 4);
    EXPECT_EQ(wire, std::string("\x02\x04" "abcd" "\x00\x04" "efgh" "\x80\x02" "ij", 16));
    ::close(fd);
}

TEST(Topics, InvalidPublishesAreRefused) {
    loopback_server srv(server_options{}, subscribe_by_path());
    EXPECT_FALSE(srv.get().publish_text("", "x"));
    EXPECT_FALSE(srv.get().publish("t", message_type::text, bytes("\xff\xfe")));
    EXPECT_FALSE(srv.get().publish("t", message_type::text, bytes("\xe2\x82")));  // cut short
    EXPECT_TRUE(srv.get().publish("t", message_type::binary, bytes("\xff\xfe")));
    srv.stop();
    EXPECT_FALSE(srv.get().publish_text("t", "after the end"));
}

TEST(Topics, SubscribeIsIdempotentAndUnsubscribeStopsDelivery) {
    handlers h;
    h.on_open = [](connection& c) {
        EXPECT_TRUE(c.subscribe("a"));
        EXPECT_TRUE(c.subscribe("a"));
        EXPECT_TRUE(c.subscribe("b"));
        EXPECT_FALSE(c.subscribe(""));
    };
    h.on_message = [](connection& c, message_type, std::span<const std::uint8_t> data) {
        const std::string text(data.begin(), data.end());
        if (text == "leave a") {
            EXPECT_TRUE(c.unsubscribe("a"));
            EXPECT_FALSE(c.unsubscribe("a"));
            c.send_text("left");
        }
    };
    loopback_server srv(server_options{}, h);
    const int fd = open_websocket(srv.port());
    ASSERT_TRUE(wait_subscribers(srv.get(), "a", 1));
    ASSERT_TRUE(wait_subscribers(srv.get(), "b", 1));
    send_text(fd, "leave a");
    read_until(fd, [](const std::string& b) {
        const auto f = frames_after_head(b);
        return !f.empty() && f.back() == "left";
    });
    ASSERT_TRUE(wait_subscribers(srv.get(), "a", 0));
    std::promise<std::size_t> none;
    srv.get().publish_text("a", "to a", [&](std::size_t n) { none.set_value(n); });
    EXPECT_EQ(none.get_future().get(), 0u);
    srv.get().publish_text("b", "to b");
    // (The head and "left" were read already.)
    const auto got = read_until(fd, [](const std::string& b) {
        const auto f = frames_after_head("\r\n\r\n" + b);
        return !f.empty() && f.back() == "to b";
    });
    const auto frames = frames_after_head("\r\n\r\n" + got);
    ASSERT_EQ(frames.size(), 1u);  // only b's message
    EXPECT_EQ(frames[0], "to b");
    ::close(fd);
}

TEST(Topics, DoneRunsOnThePublishingLoop) {
    std::promise<bool> same_thread;
    handlers h;
    h.on_open = [](connection& c) { c.subscribe("t"); };
    server* s = nullptr;
    h.on_message = [&](connection&, message_type, std::span<const std::uint8_t>) {
        const auto loop_thread = std::this_thread::get_id();
        s->publish_text("t", "from the loop", [&, loop_thread](std::size_t n) {
            same_thread.set_value(std::this_thread::get_id() == loop_thread && n == 1);
        });
    };
    loopback_server srv(server_options{}, h, [&](server& x) { s = &x; });
    const int fd = open_websocket(srv.port());
    ASSERT_TRUE(wait_subscribers(srv.get(), "t", 1));
    send_text(fd, "go");
    auto f = same_thread.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    ::close(fd);
}

// A subscriber that reads nothing, with a small receive buffer so the backlog fills soon.
int stalled_subscriber(std::uint16_t port, const std::string& path) {
    const int fd = test::connect_loopback(port);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    return fd;
}

struct close_record {
    std::mutex mutex;
    std::vector<std::pair<std::uint16_t, std::uint64_t>> closes;  // code, published_dropped

    // A connection leaves its topics before on_close runs: wait for the record itself.
    bool wait_for(std::size_t n) {
        const auto until = std::chrono::steady_clock::now() + 5s;
        for (;;) {
            {
                std::lock_guard lock(mutex);
                if (closes.size() >= n) return true;
            }
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(2ms);
        }
    }
};

TEST(Topics, ASlowSubscriberIsClosedWhileTheOthersGetEverything) {
    server_options o;
    o.pubsub.backlog = 256 * 1024;
    o.close_timeout = 0.5;
    auto rec = std::make_shared<close_record>();
    handlers h = subscribe_by_path();
    h.on_close = [rec](connection& c, std::uint16_t code, std::string_view) {
        std::lock_guard lock(rec->mutex);
        rec->closes.push_back({code, c.published_dropped()});
    };
    loopback_server srv(o, h);
    const int slow = stalled_subscriber(srv.port(), "/feed");
    const int fast = open_websocket(srv.port(), "/feed");
    ASSERT_TRUE(wait_subscribers(srv.get(), "feed", 2));
    // 8 MB: more than the backlog and what the kernel buffers (its send buffer grows to
    // 4 MiB here) for a peer that reads nothing.
    constexpr int count = 2000;
    std::atomic<int> frames_seen{0};
    std::thread reader([&] {
        test::frame_stream frames(fast);
        for (int i = 0; i < count; ++i) {
            const auto f = frames.next(10s);
            ASSERT_TRUE(f.has_value()) << "message " << i;
            ASSERT_EQ(f->substr(0, 8), "message-") << "message " << i;  // not a close
            ASSERT_EQ(std::stoi(f->substr(8, 5)), i);
            frames_seen = i + 1;
        }
    });
    const auto until = std::chrono::steady_clock::now() + 30s;
    for (int i = 0; i < count; ++i) {
        std::string m = "message-" + std::to_string(100000 + i).substr(1);
        m.resize(4096, '.');
        ASSERT_TRUE(srv.get().publish_text("feed", m));
        // The reader keeps up whatever the machine's speed (a sanitizer build is slow): at
        // most 32 messages ahead of it, far below the backlog.
        while (frames_seen.load() < i - 32 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(1ms);
        }
    }
    reader.join();
    EXPECT_EQ(frames_seen.load(), count);
    // The stalled one was closed as too slow (and dropped once its close waited too long).
    ASSERT_TRUE(wait_subscribers(srv.get(), "feed", 1));
    ASSERT_TRUE(rec->wait_for(1));
    {
        std::lock_guard lock(rec->mutex);
        ASSERT_EQ(rec->closes.size(), 1u);
        EXPECT_EQ(rec->closes[0].first, 1008);
    }
    ::close(slow);
    ::close(fast);
}

TEST(Topics, TheDropPolicySkipsMessagesForASlowSubscriberAndCountsThem) {
    server_options o;
    o.pubsub.backlog = 32 * 1024;
    o.pubsub.slow = server_options::pubsub_options::slow_policy::drop;
    o.ping_interval = 0;  // only published messages on the wire
    auto rec = std::make_shared<close_record>();
    handlers h = subscribe_by_path();
    h.on_close = [rec](connection& c, std::uint16_t code, std::string_view) {
        std::lock_guard lock(rec->mutex);
        rec->closes.push_back({code, c.published_dropped()});
    };
    loopback_server srv(o, h);
    // It reads nothing until all is published (with a normal receive buffer, so that it
    // takes its backlog quickly afterwards).
    const int slow = open_websocket(srv.port(), "/feed");
    ASSERT_TRUE(wait_subscribers(srv.get(), "feed", 1));
    // 8 MB, more than the kernel buffers for a peer that reads nothing (its send buffer
    // grows to 4 MiB) and the backlog, however fast the server runs.
    constexpr int count = 2000;
    for (int i = 0; i < count; ++i) {
        std::string m = "message-" + std::to_string(100000 + i).substr(1);
        m.resize(4096, '.');
        ASSERT_TRUE(srv.get().publish_text("feed", m));
    }
    std::this_thread::sleep_for(200ms);
    // Still subscribed; what it reads now is in order, with gaps where messages were skipped.
    EXPECT_TRUE(wait_subscribers(srv.get(), "feed", 1));
    std::promise<std::size_t> last;
    srv.get().publish_text("feed", "message-99999", [&](std::size_t n) { last.set_value(n); });
    last.get_future().get();
    // Everything queued for it arrives; the last message too unless it was skipped as well
    // (then reading ends when nothing more comes).
    std::vector<std::string> frames;
    test::frame_stream stream(slow);
    while (auto f = stream.next(3s)) {
        frames.push_back(*f);
        if (*f == "message-99999") break;
    }
    ASSERT_GE(frames.size(), 2u);
    ASSERT_LT(frames.size(), std::size_t{count});
    int previous = -1;
    for (const auto& f : frames) {
        const int n = std::stoi(f.substr(8, 5));
        EXPECT_GT(n, previous);
        previous = n;
    }
    ::close(slow);
    ASSERT_TRUE(wait_subscribers(srv.get(), "feed", 0));
    ASSERT_TRUE(rec->wait_for(1));
    std::lock_guard lock(rec->mutex);
    ASSERT_EQ(rec->closes.size(), 1u);
    EXPECT_EQ(rec->closes[0].second, static_cast<std::uint64_t>(count + 1 - frames.size()));
}

}  // namespace
}  // namespace sockeye
