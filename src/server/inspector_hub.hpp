// The frame inspector's inspectors (`--inspect`): WebSockets on /_sockeye/inspect, on any
// loop, each watching the connections of one tag or all of them. Connections on every loop
// publish their events here as JSON; an inspector that does not keep up loses events
// (counted, then told) instead of slowing anyone down.
#pragma once
#include <sockeye/handle.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::server_detail {

class inspector_hub {
  public:
    // `dropped`: the counter of events dropped for slow inspectors (metrics).
    explicit inspector_hub(std::atomic<std::uint64_t>& dropped) noexcept : dropped_total_(dropped) {}

    // Events waiting for one inspector beyond which new ones are dropped.
    static constexpr std::size_t max_backlog = 4 << 20;

    // Whether some inspector is connected: connections record nothing otherwise.
    bool active() const noexcept { return count_.load(std::memory_order_relaxed) != 0; }
    // Numbers for the connections, from 1, across loops.
    std::uint64_t next_connection() noexcept { return ids_.fetch_add(1, std::memory_order_relaxed) + 1; }
    // Milliseconds since the server started.
    double now_ms() const noexcept;

    // An inspector came; it sees the connections tagged `tag` ("" = every connection).
    void add(connection_handle h, std::string tag);
    void remove(const connection_handle& h);
    // One event of a connection tagged `tag`, to every inspector watching it.
    void publish(std::string_view tag, std::string_view json);

  private:
    struct inspector {
        connection_handle handle;
        std::string tag;
        std::atomic<std::uint64_t> dropped{0};
    };
    using list = std::vector<std::shared_ptr<inspector>>;
    std::shared_ptr<const list> snapshot() const;

    mutable std::mutex mu_;
    std::shared_ptr<const list> inspectors_ = std::make_shared<list>();
    std::atomic<int> count_{0};
    std::atomic<std::uint64_t> ids_{0};
    std::atomic<std::uint64_t>& dropped_total_;
    const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Whether `peer` ("ip:port", "[v6]:port" or "v6:port" forms) is a loopback address.
bool is_loopback_peer(std::string_view peer) noexcept;

}  // namespace sockeye::server_detail
