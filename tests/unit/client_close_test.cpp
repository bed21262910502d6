// The client library against a hand-made loopback server: handlers must not run after
// on_close, even when the server sent more frames in the same TCP write as the one whose
// handler ended the connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sockeye/client.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "protocol/handshake.hpp"
#include "wire.hpp"

namespace sockeye {
namespace {

using test::bytes;
using test::concat;
using test::make_frame;

// Waits for `fd` to become readable; false after `ms` (every wait in these tests is bounded).
bool wait_readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
}

// Accepts one connection, answers the upgrade and sends `after_101` right behind the 101 in
// a single write, then reads (discarding) until the client is gone or 5 s have passed.
class one_shot_server {
  public:
    explicit one_shot_server(bytes after_101) : after_101_(std::move(after_101)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(fd_, 1) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            throw std::runtime_error("cannot listen on loopback");
        }
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~one_shot_server() {
        thread_.join();
        ::close(fd_);
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }

  private:
    void run() {
        if (!wait_readable(fd_, 10000)) return;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
            if (!wait_readable(c, 10000)) break;
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            head.append(buf, static_cast<std::size_t>(n));
        }
        std::string key;
        if (const auto at = head.find("Sec-WebSocket-Key: "); at != std::string::npos) {
            const auto from = at + std::strlen("Sec-WebSocket-Key: ");
            key = head.substr(from, head.find("\r\n", from) - from);
        }
        const std::string response =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: " +
            protocol::compute_accept(key) + "\r\n\r\n";
        bytes out(response.begin(), response.end());
        out.insert(out.end(), after_101_.begin(), after_101_.end());
        std::size_t sent = 0;
        while (sent < out.size()) {
            const ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline && wait_readable(c, 100)) {
            if (::recv(c, buf, sizeof buf, 0) <= 0) break;
        }
        ::close(c);
    }

    bytes after_101_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

std::string text_of(std::span<const std::uint8_t> d) {
    return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// The server's frames (unmasked, as a server sends them), all in one write.
bytes burst() {
    return concat({make_frame(0x1, "one", true, false), make_frame(0x1, "two", true, false),
                   make_frame(0x9, "p", true, false), make_frame(0x1, "three", true, false)});
}

TEST(ClientClose, AbortInOnMessageDeliversNothingAfterOnClose) {
    one_shot_server server(burst());
    std::vector<std::string> events;
    client* cl = nullptr;
    handlers h;
    h.on_message = [&](connection&, message_type, std::span<const std::uint8_t> d) {
        events.push_back("message " + text_of(d));
        cl->abort();  // drops the connection in the middle of the read
    };
    h.on_close = [&](connection&, std::uint16_t code, std::string_view) {
        events.push_back("close " + std::to_string(code));
    };
    client_options o;
    o.url = server.url();
    o.connect_timeout = 10;
    client c(o, std::move(h),
             [&](client_error, const std::string& m) { events.push_back("error " + m); });
    cl = &c;
    EXPECT_EQ(c.run(), 0);
    EXPECT_EQ(events, (std::vector<std::string>{"message one", "close 1006"}));
}

TEST(ClientClose, AbortInStreamedChunkDeliversNothingAfterOnClose) {
    one_shot_server server(burst());
    std::vector<std::string> events;
    client* cl = nullptr;
    handlers h;
    h.on_message_begin = [&](connection&, message_type) { events.push_back("begin"); };
    h.on_message_chunk = [&](connection&, std::span<const std::uint8_t> d, bool) {
        events.push_back("chunk " + text_of(d));
        cl->abort();
    };
    h.on_pong = [&](connection&, std::span<const std::uint8_t>) { events.push_back("pong"); };
    h.on_close = [&](connection&, std::uint16_t code, std::string_view) {
        events.push_back("close " + std::to_string(code));
    };
    client_options o;
    o.url = server.url();
    o.connect_timeout = 10;
    client c(o, std::move(h), nullptr);
    cl = &c;
    EXPECT_EQ(c.run(), 0);
    EXPECT_EQ(events, (std::vector<std::string>{"begin", "chunk one", "close 1006"}));
}

}  // namespace
}  // namespace sockeye
