// Resolves the broker's host on the loop without blocking it (uv_getaddrinfo runs in
// libuv's thread pool); IP literals are answered at once. A lookup abandoned by cancel()
// or a new start() finishes on its own and frees itself, never calling back.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace sockeye::pubsub {

struct resolved_address {
    sockaddr_storage address{};  // with the port set
    std::string ip;              // numeric form, for hiredis
};

class host_resolver {
  public:
    // status 0 and the first address found, or a libuv error code.
    using done_fn = std::function<void(int status, const resolved_address& address)>;

    explicit host_resolver(uv_loop_t* loop) : loop_(loop) {}
    ~host_resolver() { cancel(); }
    host_resolver(const host_resolver&) = delete;
    host_resolver& operator=(const host_resolver&) = delete;

    // May call `done` before returning (IP literals, immediate failures).
    void start(const std::string& host, std::uint16_t port, done_fn done);
    void cancel();

  private:
    struct lookup;
    void finish(int status, const addrinfo* result);

    uv_loop_t* loop_;
    lookup* pending_ = nullptr;
    std::uint16_t port_ = 0;
    done_fn done_;
};

}  // namespace sockeye::pubsub
