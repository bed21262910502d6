// Authentication at the upgrade: a client presents a token in a `token` cookie or as
// `?token=`; without one the upgrade is refused with 401, with an unknown one with 403.
// An accepted connection carries its user as typed per-connection state, and every reply
// names that user. With --async, the token is checked on a worker thread that answers
// after 50 ms (as a lookup in a database or an auth service would), while the event loop
// goes on serving everyone else.
//
// Run: build/examples/auth_server [--async] [port], then
//   websocat 'ws://127.0.0.1:PORT/?token=alice-secret'   (or any WebSocket client)
#include <sockeye/server.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace {

// The demo's user directory; a real server asks its database.
const std::map<std::string, std::string, std::less<>> users = {
    {"alice-secret", "alice"},
    {"bob-secret", "bob"},
};

struct session_user {
    std::string name;
};

std::optional<std::string_view> token_of(const sockeye::upgrade_request& req) {
    if (auto t = req.cookie("token")) return t;
    return req.query_param("token");
}

// Decides one upgrade: the same code runs on the loop or on the worker.
void decide(const sockeye::upgrade_request& req, sockeye::upgrade_reply reply) {
    const auto token = token_of(req);
    if (!token) {
        reply.reject(401, "a token is required (cookie or ?token=)\n",
                     {{"WWW-Authenticate", "Bearer"}});
        return;
    }
    const auto user = users.find(*token);
    if (user == users.end()) {
        reply.reject(403, "unknown token\n");
        return;
    }
    sockeye::accept_options accept;
    accept.state = sockeye::app_state::make<session_user>(session_user{user->second});
    reply.accept(std::move(accept));
}

// One worker thread answering upgrades after a delay, like a slow auth lookup.
class auth_worker {
  public:
    auth_worker() : thread_([this] { run(); }) {}
    ~auth_worker() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    void submit(sockeye::upgrade_request req, sockeye::upgrade_reply reply) {
        {
            std::lock_guard lock(mutex_);
            jobs_.push_back({std::move(req), std::move(reply)});
        }
        wake_.notify_one();
    }

  private:
    struct job {
        sockeye::upgrade_request req;
        sockeye::upgrade_reply reply;
    };
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job j = std::move(jobs_.front());
            jobs_.pop_front();
            lock.unlock();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            decide(j.req, j.reply);  // a client gone meanwhile makes this a no-op
            lock.lock();
        }
    }
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<job> jobs_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
    bool async = false;
    sockeye::server_options options;
    options.port = 8091;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--async") == 0) {
            async = true;
        } else {
            options.port = static_cast<std::uint16_t>(std::atoi(argv[i]));
        }
    }
    options.max_message_size = 64 * 1024;

    sockeye::handlers h;
    h.on_open = [](sockeye::connection& c) {
        c.send_text("hello, " + c.state.get<session_user>()->name);
    };
    h.on_message = [](sockeye::connection& c, sockeye::message_type type,
                      std::span<const std::uint8_t> data) {
        if (type != sockeye::message_type::text) {
            c.close(1003, "text only");
            return;
        }
        c.send_text(c.state.get<session_user>()->name + ": " +
                    std::string(reinterpret_cast<const char*>(data.data()), data.size()));
    };

    try {
        auth_worker worker;  // outlives the server: its answers find the loop gone, safely
        sockeye::server srv(options, h);
        if (async) {
            srv.on_upgrade(
                [&worker](const sockeye::upgrade_request& req, sockeye::upgrade_reply r) {
                    worker.submit(req, std::move(r));
                });
        } else {
            srv.on_upgrade(decide);
        }
        srv.handle_signals();
        srv.listen();
        std::printf("listening on ws://127.0.0.1:%u/%s\n", srv.port(), async ? " (async)" : "");
        std::fflush(stdout);
        return srv.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "auth_server: %s\n", e.what());
        return 1;
    }
}
