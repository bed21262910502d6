// The broker against a real redis-server: each node is a broker on its own uv loop, and
// the test thread turns the loops itself, so it can decide which node runs when.
#include "pubsub/redis_broker.hpp"

#include "pubsub/envelope.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sockeye::message_type;
using sockeye::pubsub::broker_settings;
using sockeye::pubsub::redis_broker;
using sockeye::test::redis_server;

struct delivery {
    std::string topic;
    message_type type;
    std::string payload;
};

std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// One server node: a loop, its broker, what it was given and what it logged.
struct node {
    uv_loop_t loop{};
    std::vector<delivery> received;
    std::vector<std::string> log;
    std::unique_ptr<redis_broker> broker;

    node(std::uint16_t port, std::uint64_t origin, broker_settings settings = {}) {
        uv_loop_init(&loop);
        if (settings.url.host.empty()) settings.url.host = "127.0.0.1";
        if (settings.url.port == 6379) settings.url.port = port;
        settings.on_log = [this, origin](std::string_view line) {
            // BROKER_TEST_LOG=1 shows what the brokers said, for a failing test.
            if (std::getenv("BROKER_TEST_LOG"))
                std::fprintf(stderr, "node %d: %.*s\n", int(origin), int(line.size()), line.data());
            log.emplace_back(line);
        };
        broker = std::make_unique<redis_broker>(
            &loop, std::move(settings), origin,
            [this](std::string_view topic, message_type type, std::span<const std::uint8_t> p) {
                received.push_back({std::string(topic), type, std::string(p.begin(), p.end())});
            });
    }

    ~node() {
        // What the server does at shutdown: stop, then let the loop finish the closes. A
        // handle the broker forgot would keep uv_loop_close() from succeeding.
        broker->stop();
        broker.reset();
        for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT) != 0; ++i)
            std::this_thread::sleep_for(1ms);
        EXPECT_EQ(uv_loop_close(&loop), 0) << "the broker left a handle open";
    }

    void publish(std::string_view topic, std::string_view payload,
                 message_type type = message_type::text) {
        broker->publish(topic, type, bytes_of(payload));
    }
    bool connected() const { return broker->stats().connected.load(); }
    bool logged(std::string_view text) const {
        for (const auto& line : log)
            if (line.find(text) != std::string::npos) return true;
        return false;
    }
};

// Turns the given loops until `done` or the timeout; true if done.
bool run_until(std::initializer_list<node*> nodes, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        for (node* n : nodes) uv_run(&n->loop, UV_RUN_NOWAIT);
        std::this_thread::sleep_for(200us);
    }
    return true;
}

class RedisBroker : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!redis_server::available()) GTEST_SKIP() << "redis-server is not installed";
        ASSERT_TRUE(redis.start());
    }

    // Subscriptions made after connecting are confirmed by Redis asynchronously; this waits
    // until Redis counts `count` subscribers on the topic's channel.
    bool wait_subscribers(std::initializer_list<node*> nodes, std::string_view topic,
                          long long count, bool sharded = false) {
        const std::string channel = "sockeye:" + std::string(topic);
        return run_until(nodes, [&] {
            return redis.command_integer({"PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", channel}) ==
                   count;
        });
    }

    redis_server redis;
};

TEST_F(RedisBroker, RoundTripBetweenTwoNodesSkipsOwnMessages) {
    node a(redis.port(), 1), b(redis.port(), 2);
    a.broker->subscribe("room");
    b.broker->subscribe("room");
    a.broker->start();
    b.broker->start();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.connected() && b.connected(); }));

    a.publish("room", "from a");
    b.publish("room", std::string("\x00\xff", 2), message_type::binary);
    ASSERT_TRUE(run_until({&a, &b}, [&] { return !a.received.empty() && !b.received.empty(); }));
    // Whatever else was in flight has arrived once both saw their message.
    run_until(
        {&a, &b}, [] { return false; }, 50ms);

    ASSERT_EQ(b.received.size(), 1u);
    EXPECT_EQ(b.received[0].topic, "room");
    EXPECT_EQ(b.received[0].type, message_type::text);
    EXPECT_EQ(b.received[0].payload, "from a");
    ASSERT_EQ(a.received.size(), 1u);
    EXPECT_EQ(a.received[0].type, message_type::binary);
    EXPECT_EQ(a.received[0].payload, std::string("\x00\xff", 2));

    EXPECT_EQ(a.broker->stats().published.load(), 1u);
    EXPECT_EQ(a.broker->stats().received.load(), 1u);
    EXPECT_EQ(a.broker->stats().held_bytes.load(), 0u);
    EXPECT_EQ(a.broker->stats().reconnects.load(), 0u);
}

TEST_F(RedisBroker, OwnOriginIsNotDeliveredAndStrangersAreSkipped) {
    node a(redis.port(), 7);
    a.broker->subscribe("t");
    a.broker->start();
    ASSERT_TRUE(run_until({&a}, [&] { return a.connected(); }));
    a.publish("t", "mine");
    ASSERT_TRUE(run_until({&a}, [&] { return a.broker->stats().published.load() == 1; }));
    // Not an envelope: someone else writing to our channel.
    EXPECT_EQ(redis.command_integer({"PUBLISH", "sockeye:t", "garbage"}), 1);
    // A well-formed message from another node after both, so its arrival proves the two
    // before it were seen and skipped.
    const auto other = sockeye::pubsub::encode_envelope(8, message_type::text, bytes_of("theirs"));
    EXPECT_EQ(redis.command_integer({"PUBLISH", "sockeye:t", other}), 1);
    ASSERT_TRUE(run_until({&a}, [&] { return !a.received.empty(); }));
    ASSERT_EQ(a.received.size(), 1u);
    EXPECT_EQ(a.received[0].payload, "theirs");
    EXPECT_EQ(a.broker->stats().malformed.load(), 1u);
    EXPECT_EQ(a.broker->stats().received.load(), 1u);
}

TEST_F(RedisBroker, UnsubscribeStopsDelivery) {
    node a(redis.port(), 1), b(redis.port(), 2);
    b.broker->subscribe("news");
    b.broker->subscribe("sentinel");
    a.broker->start();
    b.broker->start();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.connected() && b.connected(); }));
    a.publish("news", "1");
    ASSERT_TRUE(run_until({&a, &b}, [&] { return b.received.size() == 1; }));

    b.broker->unsubscribe("news");
    ASSERT_TRUE(wait_subscribers({&a, &b}, "news", 0));
    a.publish("news", "2");
    a.publish("sentinel", "3");
    // One publishing connection, one subscribing connection: the sentinel comes after "2"
    // would have.
    ASSERT_TRUE(run_until({&a, &b}, [&] { return b.received.size() == 2; }));
    EXPECT_EQ(b.received[1].topic, "sentinel");

    // Subscribing again works on the live connection.
    b.broker->subscribe("news");
    ASSERT_TRUE(wait_subscribers({&a, &b}, "news", 1));
    a.publish("news", "4");
    ASSERT_TRUE(run_until({&a, &b}, [&] { return b.received.size() == 3; }));
    EXPECT_EQ(b.received[2].payload, "4");
}

TEST_F(RedisBroker, ThousandMessagesOnSeveralTopicsKeepTheirOrder) {
    node a(redis.port(), 1), b(redis.port(), 2);
    const std::vector<std::string> topics{"t0", "t1", "t2", "t3", "t4"};
    for (const auto& t : topics) b.broker->subscribe(t);
    a.broker->start();
    b.broker->start();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.connected() && b.connected(); }));
    for (int i = 0; i < 1000; ++i) a.publish(topics[i % topics.size()], std::to_string(i));
    ASSERT_TRUE(run_until(
        {&a, &b}, [&] { return b.received.size() == 1000; }, 5s));
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(b.received[i].payload, std::to_string(i));
        ASSERT_EQ(b.received[i].topic, topics[i % topics.size()]);
    }
    // a counts when Redis answers it, which may be after b got the message.
    EXPECT_TRUE(run_until({&a, &b}, [&] { return a.broker->stats().published.load() == 1000; }));
    EXPECT_EQ(a.broker->stats().dropped.load(), 0u);
}

TEST_F(RedisBroker, PublishFromManyThreadsKeepsEachThreadsOrder) {
    node a(redis.port(), 1), b(redis.port(), 2);
    b.broker->subscribe("t");
    a.broker->start();
    b.broker->start();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.connected() && b.connected(); }));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 250; ++i)
                a.publish("t", std::to_string(t) + ":" + std::to_string(i));
        });
    }
    // The loops turn while the threads publish.
    const bool all = run_until(
        {&a, &b}, [&] { return b.received.size() == 1000; }, 5s);
    for (auto& th : threads) th.join();
    ASSERT_TRUE(all);
    std::vector<int> next(4, 0);
    for (const auto& d : b.received) {
        const int t = d.payload[0] - '0';
        ASSERT_EQ(d.payload.substr(2), std::to_string(next[t])) << "thread " << t;
        ++next[t];
    }
}

TEST(RedisBrokerAuth, PasswordAndDatabase) {
    if (!redis_server::available()) GTEST_SKIP() << "redis-server is not installed";
    redis_server redis("s3cret");
    ASSERT_TRUE(redis.start());
    broker_settings good;
    good.url.password = "s3cret";
    good.url.db = 3;
    broker_settings bad;
    bad.url.password = "wrong";
    node a(redis.port(), 1, good), b(redis.port(), 2, good), c(redis.port(), 3, bad);
    b.broker->subscribe("t");
    c.broker->subscribe("t");
    a.broker->start();
    b.broker->start();
    c.broker->start();
    ASSERT_TRUE(run_until({&a, &b, &c}, [&] { return a.connected() && b.connected(); }));
    a.publish("t", "hi");
    ASSERT_TRUE(run_until({&a, &b, &c}, [&] { return b.received.size() == 1; }));
    run_until(
        {&a, &b, &c}, [] { return false; }, 300ms);
    EXPECT_FALSE(c.connected());
    EXPECT_TRUE(c.received.empty());
    bool refused = false;
    for (const auto& line : c.log) refused |= line.find("AUTH refused") != std::string::npos;
    EXPECT_TRUE(refused) << "the refused password is logged";

    // A database that does not exist is refused too: SELECT is checked on connect.
    broker_settings no_db = good;
    no_db.url.db = 999;
    node d(redis.port(), 4, no_db);
    d.broker->start();
    run_until(
        {&d}, [] { return false; }, 300ms);
    EXPECT_FALSE(d.connected());
}

TEST_F(RedisBroker, ReconnectsAfterRedisIsKilledAndDeliversWhatWasHeld) {
    node a(redis.port(), 1), b(redis.port(), 2);
    b.broker->subscribe("t");
    a.broker->start();
    b.broker->start();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.connected() && b.connected(); }));
    for (int i = 0; i < 100; ++i) a.publish("t", "before " + std::to_string(i));
    ASSERT_TRUE(run_until({&a, &b}, [&] { return b.received.size() == 100; }));

    redis.kill_hard();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return !a.connected() && !b.connected(); }));
    // connected falls with the first connection to notice; a publish before the publishing
    // one noticed would be written to the dead socket and lost (counted as dropped).
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.logged("publish connection down"); }));
    for (int i = 0; i < 50; ++i) a.publish("t", "held " + std::to_string(i));
    run_until(
        {&a, &b}, [] { return false; }, 200ms);
    EXPECT_GT(a.broker->stats().held_bytes.load(), 0u);
    EXPECT_EQ(b.received.size(), 100u);

    ASSERT_TRUE(redis.start());
    const auto restarted = std::chrono::steady_clock::now();
    // Node b first, so it is subscribed again before a sends what it held: Redis keeps no
    // message for a channel nobody is subscribed to.
    ASSERT_TRUE(run_until(
        {&b}, [&] { return b.connected(); }, 2s))
        << "b within 2 s";
    ASSERT_TRUE(run_until(
        {&a, &b}, [&] { return a.connected(); }, 2s))
        << "a within 2 s";
    EXPECT_LE(std::chrono::steady_clock::now() - restarted, 2s);
    ASSERT_TRUE(run_until({&a, &b}, [&] { return b.received.size() == 150; }));
    for (int i = 0; i < 50; ++i)
        EXPECT_EQ(b.received[100 + i].payload, "held " + std::to_string(i));

    EXPECT_TRUE(run_until({&a, &b}, [&] { return a.broker->stats().published.load() == 150; }));
    for (node* n : {&a, &b}) {
        EXPECT_EQ(n->broker->stats().reconnects.load(), 1u);
        EXPECT_EQ(n->broker->stats().held_bytes.load(), 0u);
    }
    EXPECT_EQ(a.broker->stats().dropped.load(), 0u);
    EXPECT_EQ(b.broker->stats().received.load(), 150u);
}

TEST_F(RedisBroker, HeldBoundExceededDropsAndCounts) {
    redis.kill_hard();  // down from the start
    broker_settings small;
    small.max_held_bytes = 1000;
    node a(redis.port(), 1, small), b(redis.port(), 2);
    b.broker->subscribe("t");
    a.broker->start();
    const std::string payload(300, 'x');
    // Each takes prefix + topic + envelope header + payload = 8 + 1 + 10 + 301 bytes:
    // three fit in 1000, the other seven are dropped.
    for (int i = 0; i < 10; ++i) a.publish("t", std::to_string(i) + payload);
    run_until(
        {&a}, [] { return false; }, 200ms);
    EXPECT_FALSE(a.connected());
    EXPECT_EQ(a.broker->stats().dropped.load(), 7u);
    EXPECT_EQ(a.broker->stats().held_bytes.load(), 3u * 320u);

    ASSERT_TRUE(redis.start());
    b.broker->start();
    ASSERT_TRUE(run_until({&b}, [&] { return b.connected(); }));
    ASSERT_TRUE(run_until(
        {&a, &b}, [&] { return b.received.size() == 3; }, 3s));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(b.received[i].payload, std::to_string(i) + payload);
    EXPECT_TRUE(run_until({&a, &b}, [&] { return a.broker->stats().held_bytes.load() == 0; }));
    EXPECT_EQ(a.broker->stats().reconnects.load(), 0u) << "never connected before: no reconnect";
}

TEST_F(RedisBroker, UnreachableBrokersNeverCrashAndStopCleanly) {
    broker_settings unresolvable;
    unresolvable.url.host = "no-such-host.invalid";
    unresolvable.url.port = 1;
    broker_settings refused;
    refused.url.port = 1;  // nothing listens on loopback port 1
    node a(redis.port(), 1, unresolvable), b(redis.port(), 2, refused);
    for (node* n : {&a, &b}) {
        n->broker->subscribe("t");
        n->broker->start();
        n->publish("t", "nobody hears this");
    }
    run_until(
        {&a, &b}, [] { return false; }, 500ms);
    for (node* n : {&a, &b}) {
        EXPECT_FALSE(n->connected());
        EXPECT_EQ(n->broker->stats().published.load(), 0u);
        ASSERT_FALSE(n->log.empty());
    }
    EXPECT_NE(a.log[0].find("resolve"), std::string::npos) << a.log[0];
    EXPECT_NE(b.log[0].find("down"), std::string::npos) << b.log[0];
    // The held publish is given up at stop (counted); ~node checks every handle closed.
    b.broker->stop();
    EXPECT_EQ(b.broker->stats().dropped.load(), 1u);
    EXPECT_EQ(b.broker->stats().held_bytes.load(), 0u);
}

TEST_F(RedisBroker, StopWhileConnectedAndAfterStopPublishIsDropped) {
    node a(redis.port(), 1);
    a.broker->subscribe("t");
    a.broker->start();
    ASSERT_TRUE(run_until({&a}, [&] { return a.connected(); }));
    a.broker->stop();
    a.broker->stop();  // idempotent
    EXPECT_FALSE(a.connected());
    a.publish("t", "late");
    a.broker->subscribe("u");
    EXPECT_EQ(a.broker->stats().dropped.load(), 1u);
}

TEST_F(RedisBroker, PublishRefusedByRedisIsDroppedAndLogged) {
    node a(redis.port(), 1);
    a.broker->start();
    ASSERT_TRUE(run_until({&a}, [&] { return a.connected(); }));
    // Redis 7 ACLs: the default user may no longer publish to any channel.
    redis.command_integer({"ACL", "SETUSER", "default", "resetchannels"});
    a.publish("t", "refused");
    ASSERT_TRUE(run_until({&a}, [&] { return a.broker->stats().dropped.load() == 1; }));
    EXPECT_EQ(a.broker->stats().published.load(), 0u);
    EXPECT_EQ(a.broker->stats().held_bytes.load(), 0u);
    EXPECT_TRUE(a.logged("refused a publish"));
    EXPECT_TRUE(a.connected()) << "a refused command is no reason to reconnect";
}

TEST_F(RedisBroker, ShardedRoundTripAndUnsubscribe) {
    broker_settings sharded;
    sharded.sharded = true;
    node a(redis.port(), 1, sharded), b(redis.port(), 2, sharded);
    a.broker->subscribe("s");
    b.broker->subscribe("s");
    a.broker->start();
    b.broker->start();
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.connected() && b.connected(); }));
    EXPECT_EQ(redis.command_integer({"PUBSUB", "SHARDNUMSUB", "sockeye:s"}), 2);
    EXPECT_EQ(redis.command_integer({"PUBSUB", "NUMSUB", "sockeye:s"}), 0)
        << "sharded mode must not use plain SUBSCRIBE";

    a.publish("s", "one");
    b.publish("s", "two");
    ASSERT_TRUE(
        run_until({&a, &b}, [&] { return a.received.size() == 1 && b.received.size() == 1; }));
    EXPECT_EQ(b.received[0].payload, "one");
    EXPECT_EQ(a.received[0].payload, "two");

    b.broker->unsubscribe("s");
    ASSERT_TRUE(wait_subscribers({&a, &b}, "s", 1, true));
    // A plain PUBLISH does not reach sharded subscribers; SPUBLISH from a does not reach b.
    a.publish("s", "three");
    b.publish("s", "four");
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.received.size() == 2; }));
    EXPECT_EQ(a.received[1].payload, "four");
    EXPECT_EQ(b.received.size(), 1u);
}

}  // namespace
