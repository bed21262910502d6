// `sockeye bench pingpong --http2 --beside SIZE`: one more WebSocket stream on the first
// HTTP/2 connection that streams messages of SIZE bytes to the echo server back to back
// while the pingpong runs, so the pingpong's latency shows what a large transfer sharing
// its TCP connection costs it (the server's fairness between streams).
#pragma once
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/client.hpp"

namespace sockeye::apps {

class beside_stream {
  public:
    beside_stream(uv_loop_t* loop, client_options opts, std::uint64_t message_size);
    ~beside_stream();
    beside_stream(const beside_stream&) = delete;
    beside_stream& operator=(const beside_stream&) = delete;

    // Opens on `link` (the first pingpong connection's) and starts streaming.
    // `on_error(message)` reports a failure.
    void start(std::shared_ptr<client_detail::h2_link> link,
               std::function<void(const std::string&)> on_error);
    void stop();
    // Echoed bytes counted between mark() and now.
    void mark() noexcept { echoed_at_mark_ = echoed_; }
    std::uint64_t echoed_since_mark() const noexcept { return echoed_ - echoed_at_mark_; }
    bool done() const noexcept { return !conn_ || closed_; }
    std::unique_ptr<client_detail::client_connection> release() { return std::move(conn_); }

  private:
    void pump();

    uv_loop_t* loop_;
    client_options opts_;
    std::uint64_t size_;
    std::unique_ptr<client_detail::client_connection> conn_;
    std::function<void(const std::string&)> on_error_;
    std::vector<std::uint8_t> chunk_ = std::vector<std::uint8_t>(64 * 1024, 0x5a);
    std::uint64_t left_ = 0;  // of the message being sent
    std::uint64_t echoed_ = 0;
    std::uint64_t echoed_at_mark_ = 0;
    bool open_ = false;
    bool stopping_ = false;
    bool closed_ = false;
};

}  // namespace sockeye::apps
