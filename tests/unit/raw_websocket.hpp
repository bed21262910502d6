// Raw-socket WebSocket clients for unit tests against a loopback_server: an upgrade
// request sent without waiting, reading until a condition holds, and the payloads of the
// unmasked server frames that follow the 101.
#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "loopback_server.hpp"

namespace sockeye::test {

using namespace std::chrono_literals;

// Connects and sends an upgrade request without waiting for the answer; -1 on failure.
inline int open_websocket(std::uint16_t port, const std::string& path = "/") {
    const int fd = test::connect_loopback(port);
    if (fd < 0) return -1;
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Reads from `fd` until `done(received)` holds, the peer closes, or `limit` passes.
template <class Done>
inline std::string read_until(int fd, Done done, std::chrono::milliseconds limit = 5000ms) {
    std::string got;
    char buf[16384];
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done(got)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

// The payloads of the unmasked server frames after the HTTP head; stops at a partial one.
inline std::vector<std::string> frames_after_head(const std::string& bytes) {
    std::vector<std::string> out;
    std::size_t at = bytes.find("\r\n\r\n");
    if (at == std::string::npos) return out;
    at += 4;
    while (at + 2 <= bytes.size()) {
        std::size_t len = static_cast<unsigned char>(bytes[at + 1]) & 0x7f;
        std::size_t head = 2;
        if (len == 126) {
            if (at + 4 > bytes.size()) break;
            len = (static_cast<std::size_t>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
                  static_cast<unsigned char>(bytes[at + 3]);
            head = 4;
        }
        if (at + head + len > bytes.size()) break;
        out.push_back(bytes.substr(at + head, len));
        at += head + len;
    }
    return out;
}

// The unmasked server frames after the 101, one at a time, each byte parsed once (for
// long streams, where frames_after_head() on everything read so far would be quadratic).
class frame_stream {
  public:
    explicit frame_stream(int fd) : fd_(fd) {}

    // The next frame's payload; nullopt if none is complete within `limit` or the peer
    // closed the connection.
    std::optional<std::string> next(std::chrono::milliseconds limit = 5000ms) {
        const auto until = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto f = parse()) return f;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            pollfd p{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
                return std::nullopt;
            }
            char chunk[65536];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return std::nullopt;
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

  private:
    std::optional<std::string> parse() {
        if (!head_) {
            const auto end = buf_.find("\r\n\r\n");
            if (end == std::string::npos) return std::nullopt;
            at_ = end + 4;
            head_ = true;
        }
        auto byte = [&](std::size_t i) { return static_cast<unsigned char>(buf_[at_ + i]); };
        if (buf_.size() < at_ + 2) return std::nullopt;
        std::size_t len = byte(1) & 0x7f;
        std::size_t head = 2;
        if (len >= 126) {
            const std::size_t ext = len == 126 ? 2 : 8;
            if (buf_.size() < at_ + 2 + ext) return std::nullopt;
            len = 0;
            for (std::size_t i = 0; i < ext; ++i) len = (len << 8) | byte(2 + i);
            head += ext;
        }
        if (buf_.size() < at_ + head + len) return std::nullopt;
        std::string payload = buf_.substr(at_ + head, len);
        at_ += head + len;
        if (at_ > (1u << 20)) {  // drop what was parsed
            buf_.erase(0, at_);
            at_ = 0;
        }
        return payload;
    }

    int fd_;
    std::string buf_;
    std::size_t at_ = 0;
    bool head_ = false;
};

}  // namespace sockeye::test
