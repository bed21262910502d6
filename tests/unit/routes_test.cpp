// Application routes against a real server on loopback, driven by raw sockets: matching
// (parameters, 404, 405 with Allow, HEAD), streamed request bodies (Content-Length and
// chunked, limits), responses (Content-Length and chunked), keep-alive and pipelining,
// and the application's mistakes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <sockeye/server.hpp>
#include "loopback_server.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace sockeye {
namespace {

// The loopback server with the routes `setup` registers.
struct running_server : test::loopback_server {
    explicit running_server(void (*setup)(server&), server_options o = {})
        : loopback_server(std::move(o), {}, setup) {}
};

// Sends `request` and reads until the server closes or `ms` pass without data.
std::string exchange(std::uint16_t port, const std::string& request, int ms = 1500) {
    const int fd = test::connect_loopback(port);
    if (fd < 0) return "connect failed";
    std::size_t sent = 0;
    std::string got;
    char buf[65536];
    for (;;) {
        pollfd p{fd, static_cast<short>(POLLIN | (sent < request.size() ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, ms) != 1) break;
        if ((p.revents & POLLOUT) && sent < request.size()) {
            const ssize_t n =
                ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<std::size_t>(n);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return got;
}

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

void echo_routes(server& s) {
    s.route("GET", "/users/:id", [](http_exchange& ex) {
        ex.respond(200, "user " + std::string(*ex.request().param("id")) + "\n");
    });
    s.route("GET", "/files/*", [](http_exchange& ex) {
        ex.respond(200, "rest=" + std::string(*ex.request().param("*")) + "\n");
    });
    // Echoes the body back as it arrives, chunked: constant memory for any size.
    route_options unlimited;
    unlimited.max_body = 0;
    s.route(
        "POST", "/echo",
        [](http_exchange& ex) {
            ex.begin_response(200, {{"Content-Type", "application/octet-stream"}});
            ex.on_body([&ex](std::span<const std::uint8_t> piece, bool last) {
                ex.write(piece);
                if (last) ex.end();
            });
        },
        unlimited);
    // Counts the body and answers with its size: limits apply here (1 MiB default).
    s.route("PUT", "/count", [](http_exchange& ex) {
        auto total = std::make_shared<std::uint64_t>(0);
        ex.on_body([&ex, total](std::span<const std::uint8_t> piece, bool last) {
            *total += piece.size();
            if (last) ex.respond(200, std::to_string(*total) + "\n");
        });
    });
    s.route("GET", "/throws", [](http_exchange&) { throw std::runtime_error("bug"); });
    s.route("GET", "/bad-header", [](http_exchange& ex) {
        ex.respond(200, "x", {{"X-A", "1\r\nInjected: yes"}});
    });
    s.route("GET", "/stream", [](http_exchange& ex) {
        ex.begin_response(200, {}, 10);
        ex.write({reinterpret_cast<const std::uint8_t*>("01234"), 5});
        ex.write({reinterpret_cast<const std::uint8_t*>("56789"), 5});
        ex.end();
    });
}

TEST(Routes, ParametersAndWildcard) {
    running_server s(echo_routes);
    const std::string got = exchange(s.port(),
                                     "GET /users/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /files/x/y%20z HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(got.find("user a/b\n"), std::string::npos) << got;
    EXPECT_NE(got.find("rest=x/y z\n"), std::string::npos) << got;
}

TEST(Routes, NotFoundMethodNotAllowedAndHead) {
    running_server s(echo_routes);
    std::string got = exchange(s.port(), "DELETE /users/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 405 ", 0), 0u) << got;
    EXPECT_NE(got.find("Allow: GET, HEAD\r\n"), std::string::npos) << got;
    got = exchange(s.port(), "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 404 ", 0), 0u) << got;
    // HEAD on a GET route: the head with the GET's Content-Length, no body; the next
    // response on the same connection parses.
    got = exchange(
        s.port(),
        "HEAD /users/7 HTTP/1.1\r\nHost: x\r\n\r\nGET /users/8 HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got;
    EXPECT_NE(got.find("Content-Length: 7\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("user 7"), std::string::npos) << got;
    EXPECT_NE(got.find("user 8\n"), std::string::npos) << got;
}

TEST(Routes, ChunkedRequestBodyEchoedChunked) {
    running_server s(echo_routes);
    const std::string got =
        exchange(s.port(),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                 "GET /users/2 HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("5\r\nhello\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("6\r\n world\r\n0\r\n\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("user 2\n"), std::string::npos) << got;  // keep-alive went on
}

TEST(Routes, LargeBodyStreamsThrough) {
    running_server s(echo_routes);
    const std::string body(8 << 20, 'z');
    const std::string got = exchange(
        s.port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got.substr(0, 200);
    EXPECT_EQ(count(got, "z"), body.size());
    EXPECT_NE(got.find("0\r\n\r\n"), std::string::npos);
}

TEST(Routes, BodyLimitIs413ByLengthAndWhileChunked) {
    running_server s(echo_routes);
    std::string got =
        exchange(s.port(), "PUT /count HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 413 ", 0), 0u) << got;
    std::string chunked = "PUT /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string piece(100000, 'q');
    for (int i = 0; i < 12; ++i) chunked += "186a0\r\n" + piece + "\r\n";
    chunked += "0\r\n\r\n";
    got = exchange(s.port(), chunked);
    EXPECT_EQ(got.rfind("HTTP/1.1 413 ", 0), 0u) << got.substr(0, 200);
    got = exchange(s.port(), "PUT /count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde");
    EXPECT_NE(got.find("\r\n\r\n5\n"), std::string::npos) << got;
}

TEST(Routes, StreamedResponseWithContentLength) {
    running_server s(echo_routes);
    const std::string got = exchange(s.port(), "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(got.find("Content-Length: 10\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("\r\n\r\n0123456789"), std::string::npos) << got;
}

TEST(Routes, MistakesAre500AndTheServerGoesOn) {
    running_server s(echo_routes);
    std::string got = exchange(s.port(), "GET /throws HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 500 ", 0), 0u) << got;
    got = exchange(s.port(), "GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 500 ", 0), 0u) << got;
    EXPECT_EQ(got.find("Injected"), std::string::npos) << got;
    got = exchange(s.port(), "GET /users/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(got.find("user 3\n"), std::string::npos) << got;
}

TEST(Routes, MalformedBodyAndPathAre400) {
    running_server s(echo_routes);
    std::string got =
        exchange(s.port(),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "zz\r\nhello\r\n");
    EXPECT_NE(got.find("400 "), std::string::npos) << got;
    got = exchange(s.port(), "GET /users/%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 400 ", 0), 0u) << got;
}

TEST(Routes, AbortReachesTheApplication) {
    static std::atomic<int> aborted{0};
    aborted = 0;
    running_server s([](server& srv) {
        srv.route("POST", "/slow", [](http_exchange& ex) {
            ex.on_abort([] { aborted++; });
            ex.on_body([](std::span<const std::uint8_t>, bool) {});
        });
    });
    // Half a body, then the client leaves.
    exchange(s.port(), "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", 200);
    for (int i = 0; i < 100 && aborted.load() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(aborted.load(), 1);
}

TEST(Routes, AnExchangeWithoutProgressTimesOut) {
    running_server s([](server& srv) {
        route_options quick;
        quick.idle_timeout = 0.3;
        // Never answers: the application owes the answer → 503.
        srv.route(
            "GET", "/never", [](http_exchange&) {}, quick);
        // Reads the body, answers at its end: a client that stops sending owes it → 408.
        srv.route(
            "POST", "/body",
            [](http_exchange& ex) {
                ex.on_body([&ex](std::span<const std::uint8_t>, bool last) {
                    if (last) ex.respond(200, "done\n");
                });
            },
            quick);
    });
    auto t0 = std::chrono::steady_clock::now();
    std::string got = exchange(s.port(), "GET /never HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
    EXPECT_EQ(got.rfind("HTTP/1.1 503 ", 0), 0u) << got;
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
    got =
        exchange(s.port(), "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 3000);
    EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
}

TEST(Routes, InvalidPatternsThrowAtRegistration) {
    server srv({}, {});
    EXPECT_THROW(srv.route("GET", "no-slash", [](http_exchange&) {}), std::invalid_argument);
    EXPECT_THROW(srv.route("GET", "/a/*/b", [](http_exchange&) {}), std::invalid_argument);
    srv.route("GET", "/a/:x", [](http_exchange&) {});
    EXPECT_THROW(srv.route("GET", "/a/:y", [](http_exchange&) {}), std::invalid_argument);
}

}  // namespace
}  // namespace sockeye
