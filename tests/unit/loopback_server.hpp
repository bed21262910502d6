// A real sockeye::server on 127.0.0.1 (a free port) running on its own thread, for tests
// that drive it with raw sockets. `setup` registers hooks and routes before listen().
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sockeye/server.hpp>

#include <functional>
#include <memory>
#include <thread>

namespace sockeye::test {

class loopback_server {
  public:
    loopback_server(server_options o, handlers h, const std::function<void(server&)>& setup = {}) {
        o.host = "127.0.0.1";
        o.port = 0;
        o.log = log_level::off;
        srv_ = std::make_unique<server>(std::move(o), std::move(h));
        if (setup) setup(*srv_);
        srv_->listen();
        thread_ = std::thread([this] { srv_->run(); });
    }
    ~loopback_server() { stop(); }
    loopback_server(const loopback_server&) = delete;
    loopback_server& operator=(const loopback_server&) = delete;

    // Shuts the server down and waits for its loop to end; safe to call twice.
    void stop() {
        if (!thread_.joinable()) return;
        srv_->shutdown();
        thread_.join();
    }
    server& get() { return *srv_; }
    std::uint16_t port() const { return srv_->port(); }

  private:
    std::unique_ptr<server> srv_;
    std::thread thread_;
};

// A TCP connection to 127.0.0.1:port, or -1.
inline int connect_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (fd >= 0) ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace sockeye::test
