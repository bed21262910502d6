// server::current_loop() (an application's own libuv handles on a connection's loop) and
// server::on_reload() (SIGHUP for the application's configuration), on a real server.
#include <signal.h>
#include <uv.h>

#include <gtest/gtest.h>

#include <sockeye/server.hpp>
#include "loopback_server.hpp"
#include "raw_websocket.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace sockeye {
namespace {

using namespace std::chrono_literals;
using test::loopback_server;
using test::open_websocket;
using test::read_until;

// The hook answers from a uv_timer_t of its own on the loop current_loop() names: a
// deferred answer made without any other thread, and on the thread of the hook.
struct deferred_accept {
    uv_timer_t timer{};
    upgrade_reply reply;
    std::thread::id hook_thread;
    std::atomic<bool>* same_thread;
    explicit deferred_accept(upgrade_reply r) : reply(std::move(r)) {}
};

TEST(AppLoop, HookAddsItsOwnHandleToTheConnectionsLoop) {
    std::atomic<bool> had_loop{false};
    std::atomic<bool> same_thread{false};
    std::atomic<bool> off_loop_null{false};
    handlers h;
    h.on_open = [](connection& c) { c.send_text("opened"); };
    server_options o;
    o.threads = 2;
    loopback_server srv(o, h, [&](server& s) {
        off_loop_null = s.current_loop() == nullptr;  // the test's own thread
        s.on_upgrade([&, &s = s](const upgrade_request&, upgrade_reply reply) {
            uv_loop_s* loop = s.current_loop();
            had_loop = loop != nullptr;
            if (!loop) {
                reply.reject(500);
                return;
            }
            auto* d = new deferred_accept(std::move(reply));
            d->hook_thread = std::this_thread::get_id();
            d->same_thread = &same_thread;
            uv_timer_init(loop, &d->timer);
            d->timer.data = d;
            uv_timer_start(
                &d->timer,
                [](uv_timer_t* t) {
                    auto* self = static_cast<deferred_accept*>(t->data);
                    *self->same_thread = std::this_thread::get_id() == self->hook_thread;
                    self->reply.accept();
                    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* hd) {
                        delete static_cast<deferred_accept*>(hd->data);
                    });
                },
                20, 0);
        });
    });
    EXPECT_TRUE(off_loop_null);
    EXPECT_EQ(srv.get().current_loop(), nullptr);
    for (int i = 0; i < 4; ++i) {  // connections land on both loops
        const int fd = open_websocket(srv.port());
        ASSERT_GE(fd, 0);
        const std::string got = read_until(
            fd, [](const std::string& s) { return s.find("opened") != std::string::npos; });
        EXPECT_NE(got.find("101 Switching Protocols"), std::string::npos) << got;
        EXPECT_NE(got.find("opened"), std::string::npos);
        ::close(fd);
    }
    EXPECT_TRUE(had_loop);
    EXPECT_TRUE(same_thread);
}

TEST(AppLoop, SighupRunsTheReloadFunctionsWithoutTls) {
    std::atomic<int> reloads{0};
    server_options o;
    loopback_server srv(o, handlers{}, [&](server& s) {
        s.on_reload([&] { ++reloads; });
        s.handle_signals();
    });
    std::this_thread::sleep_for(50ms);
    ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
    for (int i = 0; i < 200 && reloads.load() == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(reloads.load(), 1);
    srv.stop();
}

}  // namespace
}  // namespace sockeye
