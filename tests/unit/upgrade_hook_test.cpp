// The upgrade hook against a real server on loopback, driven by a raw socket: what the hook
// sees, and every way an answer can go (accept with a subprotocol and headers, reject,
// throw, never answer, answer after the client left, answer from another thread).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "loopback_server.hpp"
#include <sockeye/server.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace sockeye {
namespace {

// The loopback server with `hook` as its upgrade hook.
struct running_server : test::loopback_server {
    running_server(server_options o, handlers h, upgrade_hook hook)
        : loopback_server(std::move(o), std::move(h),
                          [&hook](server& s) { s.on_upgrade(std::move(hook)); }) {}
};

std::string upgrade(std::string_view target, std::string_view extra = "") {
    return "GET " + std::string(target) +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
           std::string(extra) + "\r\n";
}

// Sends `request`, returns what arrives until the head is complete (plus what came with it)
// or the server closes; every wait is bounded by `ms`.
std::string exchange(std::uint16_t port, const std::string& request, int ms = 5000) {
    const int fd = test::connect_loopback(port);
    if (fd < 0) return "connect failed";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string got;
    char buf[4096];
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (got.find("\r\n\r\n") == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return got;
}

TEST(UpgradeHook, SeesTheWholeRequest) {
    std::promise<upgrade_request> seen;
    running_server s({}, {}, [&](const upgrade_request& r, upgrade_reply reply) {
        seen.set_value(r);
        reply.reject(403);
    });
    const std::string head =
        exchange(s.port(), upgrade("/a%20b/c?x=1&y=two&x=3",
                                   "Sec-WebSocket-Protocol: chat, superchat\r\nX-Trace: one\r\n"
                                   "x-trace: two\r\nCookie: a=1; b=\"two "
                                   "words\"\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                   "client_max_window_bits, x-other\r\n"));
    EXPECT_EQ(head.rfind("HTTP/1.1 403 ", 0), 0u) << head;
    auto f = seen.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    const upgrade_request r = f.get();
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/a%20b/c?x=1&y=two&x=3");
    EXPECT_EQ(r.path, "/a b/c");
    EXPECT_EQ(r.query, "x=1&y=two&x=3");
    ASSERT_EQ(r.query_params.size(), 3u);
    EXPECT_EQ(r.query_param("x"), "1");
    EXPECT_EQ(r.query_params[2].value, "3");
    EXPECT_EQ(r.cookie("b"), "two words");
    EXPECT_EQ(r.cookie("a"), "1");
    EXPECT_EQ(r.header("HOST"), "x");
    ASSERT_EQ(r.header_values("X-Trace").size(), 2u);
    EXPECT_EQ(r.header_values("X-Trace")[1], "two");
    EXPECT_EQ(r.subprotocols, (std::vector<std::string>{"chat", "superchat"}));
    EXPECT_EQ(r.extensions, (std::vector<std::string>{"permessage-deflate", "x-other"}));
    EXPECT_EQ(r.peer.rfind("127.0.0.1:", 0), 0u);
    EXPECT_FALSE(r.tls);
}

TEST(UpgradeHook, AMalformedQueryIs400BeforeTheHook) {
    std::atomic<int> called{0};
    running_server s({}, {}, [&](const upgrade_request&, upgrade_reply reply) {
        called++;
        reply.accept();
    });
    for (const char* target : {"/?token=%zz", "/a%2", "/?x=%"}) {
        const std::string got = exchange(s.port(), upgrade(target));
        EXPECT_EQ(got.rfind("HTTP/1.1 400 ", 0), 0u) << target << ": " << got;
    }
    EXPECT_EQ(called.load(), 0);
}

TEST(UpgradeHook, AcceptChoosesASubprotocolAndAddsHeaders) {
    running_server s({}, {}, [](const upgrade_request&, upgrade_reply reply) {
        accept_options a;
        a.subprotocol = "superchat";
        a.headers = {{"Set-Cookie", "session=1; HttpOnly"}};
        EXPECT_TRUE(reply.accept(std::move(a)));
        EXPECT_FALSE(reply.reject(500));  // the first answer wins
    });
    const std::string head =
        exchange(s.port(), upgrade("/", "Sec-WebSocket-Protocol: chat, superchat\r\n"));
    EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
    EXPECT_NE(head.find("Sec-WebSocket-Protocol: superchat\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Set-Cookie: session=1; HttpOnly\r\n"), std::string::npos) << head;
}

TEST(UpgradeHook, RejectSendsTheStatusHeadersAndBody) {
    running_server s({}, {}, [](const upgrade_request&, upgrade_reply reply) {
        reply.reject(429, "slow down\n", {{"Retry-After", "7"}});
    });
    const std::string got = exchange(s.port(), upgrade("/"));
    EXPECT_EQ(got.rfind("HTTP/1.1 429 ", 0), 0u) << got;
    EXPECT_NE(got.find("Retry-After: 7\r\n"), std::string::npos) << got;
}

TEST(UpgradeHook, MistakesOfTheApplicationAre500) {
    struct mistake {
        const char* what;
        upgrade_hook hook;
    };
    const mistake mistakes[] = {
        {"throws", [](const upgrade_request&, upgrade_reply) { throw std::runtime_error("x"); }},
        {"unoffered subprotocol",
         [](const upgrade_request&, upgrade_reply r) {
             accept_options a;
             a.subprotocol = "not-offered";
             r.accept(std::move(a));
         }},
        {"header splitting",
         [](const upgrade_request&, upgrade_reply r) {
             accept_options a;
             a.headers = {{"X-Evil", "a\r\nSet-Cookie: injected=1"}};
             r.accept(std::move(a));
         }},
        {"status out of range", [](const upgrade_request&, upgrade_reply r) { r.reject(200); }},
    };
    for (const auto& m : mistakes) {
        running_server s({}, {}, m.hook);
        const std::string got =
            exchange(s.port(), upgrade("/", "Sec-WebSocket-Protocol: chat\r\n"));
        EXPECT_EQ(got.rfind("HTTP/1.1 500 ", 0), 0u) << m.what << ": " << got;
        EXPECT_EQ(got.find("injected"), std::string::npos) << got;
    }
}

TEST(UpgradeHook, AnUnansweredUpgradeGets503AtTheHandshakeTimeout) {
    std::mutex mu;
    std::optional<upgrade_reply> kept;
    server_options o;
    o.handshake_timeout = 0.3;
    running_server s(o, {}, [&](const upgrade_request&, upgrade_reply reply) {
        std::lock_guard lock(mu);
        kept.emplace(std::move(reply));
    });
    const auto t0 = std::chrono::steady_clock::now();
    const std::string got = exchange(s.port(), upgrade("/"));
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(got.rfind("HTTP/1.1 503 ", 0), 0u) << got;
    EXPECT_GE(waited, std::chrono::milliseconds(250));
    std::lock_guard lock(mu);
    ASSERT_TRUE(kept);
    EXPECT_FALSE(kept->pending());
    EXPECT_FALSE(kept->accept());  // too late: a no-op
}

TEST(UpgradeHook, AnswersFromAnotherThreadAndAfterTheClientLeft) {
    std::atomic<int> opened{0};
    std::atomic<int> late_accepts{0};
    std::vector<std::thread> workers;
    std::mutex mu;
    handlers h;
    h.on_open = [&](connection& c) {
        opened++;
        c.send_text("hi");
    };
    {
        running_server s({}, h, [&](const upgrade_request& r, upgrade_reply reply) {
            const bool leaves = r.path == "/leaves";
            std::lock_guard lock(mu);
            workers.emplace_back([reply, leaves, &late_accepts]() mutable {
                std::this_thread::sleep_for(std::chrono::milliseconds(leaves ? 300 : 50));
                if (reply.accept()) late_accepts++;
            });
        });
        // The client that waits gets its 101 from the worker thread's answer.
        const std::string got = exchange(s.port(), upgrade("/stays"));
        EXPECT_EQ(got.rfind("HTTP/1.1 101 ", 0), 0u) << got;
        // The one that leaves first: its late answer is refused, nothing opens.
        const int fd = test::connect_loopback(s.port());
        const std::string req = upgrade("/leaves");
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        std::lock_guard lock(mu);
        for (auto& w : workers) w.join();
        workers.clear();
    }
    EXPECT_EQ(opened.load(), 1);
    EXPECT_EQ(late_accepts.load(), 1);
}

TEST(UpgradeHook, TypedStateLivesUntilOnCloseReturns) {
    struct tracked {
        std::atomic<int>* destroyed;
        std::string name;
        ~tracked() { ++*destroyed; }
    };
    std::atomic<int> destroyed{0};
    std::promise<std::string> seen_in_close;
    handlers h;
    h.on_close = [&](connection& c, std::uint16_t, std::string_view) {
        const tracked* t = c.state.get<tracked>();
        EXPECT_EQ(c.state.get<int>(), nullptr);  // another type: null, not a bad cast
        seen_in_close.set_value(t ? t->name + " alive=" + std::to_string(destroyed.load()) : "-");
    };
    {
        running_server s({}, h, [&](const upgrade_request&, upgrade_reply reply) {
            accept_options a;
            a.state = app_state::make<tracked>(tracked{&destroyed, "carol"});
            destroyed = 0;  // the temporary moved from above
            reply.accept(std::move(a));
        });
        const std::string got = exchange(s.port(), upgrade("/"));
        EXPECT_EQ(got.rfind("HTTP/1.1 101 ", 0), 0u) << got;
        auto f = seen_in_close.get_future();
        ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
        EXPECT_EQ(f.get(), "carol alive=0");
    }
    EXPECT_EQ(destroyed.load(), 1);
}

}  // namespace
}  // namespace sockeye
