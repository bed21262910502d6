// Pushes from a thread that is not the server's: a worker thread sends a tick (a counter
// and a timestamp, as JSON) to every client every 100 ms through connection handles, which
// any thread may use, and which turn into no-ops once their connection is gone.
// Run: build/examples/ticker [port] (0 picks a free port), then connect a WebSocket client.
#include <sockeye/server.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// The clients to tick, keyed by connection: on_open adds, on_close removes (on the loops),
// the worker copies the handles out under the lock and sends without it.
class subscribers {
  public:
    void add(sockeye::connection& c) {
        std::lock_guard lock(mutex_);
        handles_.emplace(&c, c.handle());
    }
    void remove(sockeye::connection& c) {
        std::lock_guard lock(mutex_);
        handles_.erase(&c);
    }
    std::vector<sockeye::connection_handle> snapshot() {
        std::lock_guard lock(mutex_);
        std::vector<sockeye::connection_handle> out;
        out.reserve(handles_.size());
        for (const auto& [c, h] : handles_) out.push_back(h);
        return out;
    }

  private:
    std::mutex mutex_;
    std::map<sockeye::connection*, sockeye::connection_handle> handles_;
};

}  // namespace

int main(int argc, char** argv) {
    sockeye::server_options options;
    options.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 8091;

    subscribers subs;
    sockeye::handlers h;
    h.on_open = [&](sockeye::connection& c) { subs.add(c); };
    h.on_close = [&](sockeye::connection& c, std::uint16_t, std::string_view) { subs.remove(c); };

    std::mutex stop_mutex;
    std::condition_variable stop_cv;
    bool stopping = false;
    // Started before the server runs and stopped after it returns: a handle of a client
    // that left in between (or of a server that is gone) simply refuses the send.
    std::thread worker([&] {
        using clock = std::chrono::steady_clock;
        auto next = clock::now();
        for (std::uint64_t tick = 0;; ++tick) {
            next += std::chrono::milliseconds(100);
            {
                std::unique_lock lock(stop_mutex);
                if (stop_cv.wait_until(lock, next, [&] { return stopping; })) return;
            }
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
            const std::string json =
                "{\"tick\":" + std::to_string(tick) + ",\"ms\":" + std::to_string(ms) + "}";
            for (const auto& client : subs.snapshot()) {
                // A client that does not keep up misses ticks instead of piling them up.
                if (client.buffered_amount() < (64u << 10)) client.send_text(json);
            }
        }
    });
    auto stop_worker = [&] {
        {
            std::lock_guard lock(stop_mutex);
            stopping = true;
        }
        stop_cv.notify_all();
        worker.join();
    };

    int rc = 0;
    try {
        sockeye::server srv(options, h);
        srv.handle_signals();
        srv.listen();
        std::printf("listening on ws://127.0.0.1:%u/\n", srv.port());
        std::fflush(stdout);
        rc = srv.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ticker: %s\n", e.what());
        rc = 1;
    }
    stop_worker();
    return rc;
}
