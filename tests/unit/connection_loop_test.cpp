// connection::loop() on both sides: the application's own libuv handles beside a
// connection run on the same thread as its handlers; and server::log() records.
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <gtest/gtest.h>

#include "loopback_server.hpp"
#include "raw_websocket.hpp"
#include <sockeye/client.hpp>
#include <sockeye/server.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace sockeye {
namespace {

using test::frames_after_head;
using test::loopback_server;
using test::open_websocket;
using test::read_until;

// A timer the application adds to the connection's loop: it fires on the handlers'
// thread and sends from there.
struct app_timer {
    uv_timer_t timer{};
    connection* c = nullptr;
    std::thread::id opened_on;
    std::atomic<bool> same_thread{false};
};

TEST(ConnectionLoop, ServerConnectionTimerRunsOnItsLoop) {
    app_timer t;
    std::atomic<bool> had_loop{false};
    handlers h;
    h.on_open = [&](connection& c) {
        uv_loop_s* loop = c.loop();
        had_loop = loop != nullptr;
        if (!loop) return;
        t.c = &c;
        t.opened_on = std::this_thread::get_id();
        uv_timer_init(loop, &t.timer);
        t.timer.data = &t;
        uv_timer_start(&t.timer, [](uv_timer_t* timer) {
            auto* self = static_cast<app_timer*>(timer->data);
            self->same_thread = std::this_thread::get_id() == self->opened_on;
            if (self->c) self->c->send_text("from the timer");
            uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
        }, 20, 0);
    };
    h.on_close = [&](connection&, std::uint16_t, std::string_view) { t.c = nullptr; };
    loopback_server s({}, h);
    const int fd = open_websocket(s.port());
    ASSERT_GE(fd, 0);
    const std::string got = read_until(fd, [](const std::string& b) {
        return !frames_after_head(b).empty();
    });
    const auto frames = frames_after_head(got);
    ASSERT_EQ(frames.size(), 1u) << got;
    EXPECT_EQ(frames[0], "from the timer");
    EXPECT_TRUE(had_loop);
    EXPECT_TRUE(t.same_thread);
    ::close(fd);
}

TEST(ConnectionLoop, ClientConnectionLoopIsTheClientsLoop) {
    handlers sh;
    sh.on_message = [](connection& c, message_type type, std::span<const std::uint8_t> d) {
        c.send(type, d);
    };
    loopback_server s({}, sh);
    client_options o;
    o.url = "ws://127.0.0.1:" + std::to_string(s.port()) + "/";
    uv_loop_s* seen = nullptr;
    handlers h;
    h.on_open = [&](connection& c) {
        seen = c.loop();
        c.close();
    };
    client cl(o, h, [](client_error, const std::string&) {});
    EXPECT_EQ(cl.run(), 0);
    EXPECT_NE(seen, nullptr);
    EXPECT_EQ(seen, cl.loop());
}

// Runs fn with the process's stderr going to a file; returns what was written.
template <class Fn>
std::string capture_stderr(Fn fn) {
    std::fflush(stderr);
    char path[] = "/tmp/sockeye-log-XXXXXX";
    const int fd = ::mkstemp(path);
    const int saved = ::dup(2);
    ::dup2(fd, 2);
    fn();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    ::close(fd);
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    ::unlink(path);
    return ss.str();
}

TEST(ServerLog, OneEscapedLinePerCallAndLevelsFiltered) {
    server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.log = log_level::info;
    server srv(o, {});
    const std::string out = capture_stderr([&] {
        srv.log(log_level::debug, "not shown");
        srv.log(log_level::info, std::string_view("a line\nwith a forged record\x1b[31m\0nul", 36));
        srv.log(log_level::warn, std::string(5000, 'x'));
    });
    EXPECT_EQ(out.find("not shown"), std::string::npos) << out;
    // Exactly two records, each one line.
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
    EXPECT_NE(out.find("info  a line\\nwith a forged record\\x1b[31m\\x00nul\n"), std::string::npos) << out;
    EXPECT_NE(out.find("warn  " + std::string(1000, 'x') + "\n"), std::string::npos);
    EXPECT_EQ(out.find(std::string(1001, 'x')), std::string::npos);
}

}  // namespace
}  // namespace sockeye
