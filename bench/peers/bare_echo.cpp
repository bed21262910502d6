// bare_echo: the measurement ceiling of the benchmark setup, NOT a server.
//
// A minimal single-threaded, level-triggered epoll WebSocket echo loop in plain C++ (no
// libuv, no HTTP parser). It does only what the load generator needs, so its numbers show
// what the kernel, the loopback path and the load generator allow on this machine; a real
// server can approach them but not beat them by more than noise.
//
// What it does:
//   - handshake: read the request head, find Sec-WebSocket-Key, answer 101 with the accept
//     value. Nothing else in the request is checked.
//   - per readable event: ONE read(), parse every complete frame in the buffer, unmask each
//     payload straight into one output buffer as an unmasked server frame (same FIN bit and
//     opcode, so fragmented messages come back with the same fragmentation), answer pings
//     with pongs, drop pongs, answer a close with a close and shut down the write side.
//     Then ONE write() of the whole output buffer. If that write is partial, the rest is
//     kept and the connection stops reading until EPOLLOUT has drained it (backpressure).
// What it deliberately does not do (a server must; the ceiling must not pay for it):
//   - frames with a payload over 64 KiB close the connection (no streaming, no large
//     messages); unmasked client frames and malformed heads close it too.
//   - no UTF-8 validation of text, no checks of RSV bits, control-frame sizes or
//     fragmentation order, no timeouts, no extensions, no subprotocols.
//
// Usage: bare_echo --port N   (0 = pick a free port). Prints
// "listening on http://127.0.0.1:PORT" when ready; exits 0 on SIGTERM/SIGINT.

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t max_payload = 64 * 1024;
constexpr std::size_t max_frame = max_payload + 14;  // 14 = largest client frame header
constexpr std::size_t max_head = 8 * 1024;
// One read takes up to this much; bigger reads mean fewer syscalls per byte under
// streaming load. Shared by all connections: only leftovers are kept per connection.
constexpr std::size_t read_size = 256 * 1024;

enum class conn_state { handshake, open, closing };

struct connection {
    int fd = -1;
    conn_state state = conn_state::handshake;
    std::string leftover;  // an incomplete frame (or request head) carried to the next read
    std::string pending;   // output a partial write left behind
};

int epoll_fd = -1;
std::vector<std::unique_ptr<connection>> connections;  // indexed by fd
std::vector<char> in_buf;
std::vector<char> out_buf;

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void raise_nofile_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

void watch(int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, op, fd, &ev) != 0) die("epoll_ctl");
}

void close_connection(connection& c) {
    int fd = c.fd;
    close(fd);  // also removes it from the epoll set
    connections[fd].reset();
}

std::string accept_value(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string joined(key);
    joined += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

char lower(char ch) {
    return (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
}

// Finds the value of Sec-WebSocket-Key in a request head; empty if missing.
std::string_view find_key(std::string_view head) {
    static constexpr std::string_view name = "\r\nsec-websocket-key:";
    auto it = std::search(head.begin(), head.end(), name.begin(), name.end(),
                          [](char a, char b) { return lower(a) == b; });
    if (it == head.end()) return {};
    std::size_t pos = static_cast<std::size_t>(it - head.begin()) + name.size();
    std::size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) return {};
    std::string_view value = head.substr(pos, end - pos);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
    return value;
}

void put_header(std::size_t& out, std::uint8_t b0, std::size_t len) {
    char* o = out_buf.data() + out;
    o[0] = static_cast<char>(b0);
    if (len < 126) {
        o[1] = static_cast<char>(len);
        out += 2;
    } else if (len <= 0xffff) {
        o[1] = 126;
        o[2] = static_cast<char>(len >> 8);
        o[3] = static_cast<char>(len & 0xff);
        out += 4;
    } else {  // exactly 64 KiB needs the 64-bit form
        o[1] = 127;
        for (int i = 0; i < 8; ++i) o[2 + i] = static_cast<char>(len >> (8 * (7 - i)));
        out += 10;
    }
}

// XORs a payload with its mask key into the output, eight bytes at a time.
void unmask_into(char* dst, const char* src, std::size_t len, const unsigned char key[4]) {
    std::uint32_t k32;
    std::memcpy(&k32, key, 4);
    std::uint64_t k64 = (static_cast<std::uint64_t>(k32) << 32) | k32;
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + i, 8);
        w ^= k64;
        std::memcpy(dst + i, &w, 8);
    }
    for (; i < len; ++i) dst[i] = static_cast<char>(src[i] ^ key[i & 3]);
}

// Parses every complete frame in data[0, len) and appends the replies to out_buf at `out`.
// Returns the bytes consumed, or -1 to drop the connection.
long parse_frames(connection& c, const char* data, std::size_t len, std::size_t& out) {
    std::size_t pos = 0;
    while (c.state == conn_state::open && len - pos >= 2) {
        auto b0 = static_cast<std::uint8_t>(data[pos]);
        auto b1 = static_cast<std::uint8_t>(data[pos + 1]);
        if (!(b1 & 0x80)) return -1;  // client frames must be masked
        std::size_t payload = b1 & 0x7f;
        std::size_t header = 2;
        if (payload == 126) {
            if (len - pos < 4) break;
            payload = (static_cast<std::size_t>(static_cast<std::uint8_t>(data[pos + 2])) << 8) |
                      static_cast<std::uint8_t>(data[pos + 3]);
            header = 4;
        } else if (payload == 127) {
            if (len - pos < 10) break;
            payload = 0;
            for (int i = 0; i < 8; ++i)
                payload = (payload << 8) | static_cast<std::uint8_t>(data[pos + 2 + i]);
            header = 10;
        }
        if (payload > max_payload) return -1;
        if (len - pos < header + 4 + payload) break;
        const auto* key = reinterpret_cast<const unsigned char*>(data + pos + header);
        const char* src = data + pos + header + 4;
        pos += header + 4 + payload;

        std::uint8_t opcode = b0 & 0x0f;
        if (opcode == 0xA) continue;  // unsolicited or answered pong: nothing to do
        std::uint8_t reply = b0;      // echo keeps FIN and opcode
        if (opcode == 0x9) reply = 0x80 | 0xA;
        if (opcode == 0x8) {
            reply = 0x80 | 0x8;
            c.state = conn_state::closing;  // frames after a close are ignored
        }
        put_header(out, reply, payload);
        unmask_into(out_buf.data() + out, src, payload, key);
        out += payload;
    }
    return static_cast<long>(pos);
}

// Sends out_buf[0, out) with one write(); keeps what does not fit. Returns false to drop.
bool send_output(connection& c, std::size_t out) {
    if (out == 0) return true;
    ssize_t n = write(c.fd, out_buf.data(), out);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        n = 0;
    }
    if (static_cast<std::size_t>(n) < out) {
        c.pending.assign(out_buf.data() + n, out - static_cast<std::size_t>(n));
        watch(c.fd, EPOLLOUT, EPOLL_CTL_MOD);  // stop reading until the rest is out
        return true;
    }
    if (c.state == conn_state::closing) shutdown(c.fd, SHUT_WR);
    return true;
}

void on_readable(connection& c) {
    // Leftover bytes go to the front so frames are parsed from one contiguous buffer.
    std::size_t have = c.leftover.size();
    std::memcpy(in_buf.data(), c.leftover.data(), have);
    ssize_t n = read(c.fd, in_buf.data() + have, read_size);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        close_connection(c);
        return;
    }
    std::size_t len = have + static_cast<std::size_t>(n);
    const char* data = in_buf.data();
    std::size_t out = 0;

    if (c.state == conn_state::handshake) {
        std::string_view view(data, len);
        std::size_t end = view.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            if (len > max_head) return close_connection(c);
            c.leftover.assign(data, len);
            return;
        }
        std::string_view key = find_key(view.substr(0, end + 2));
        if (key.empty()) return close_connection(c);
        std::string resp =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(key) + "\r\n\r\n";
        std::memcpy(out_buf.data(), resp.data(), resp.size());
        out = resp.size();
        c.state = conn_state::open;
        data += end + 4;
        len -= end + 4;
    }
    if (c.state == conn_state::closing) {
        c.leftover.clear();  // after our close only the peer's TCP close matters
        return;
    }

    long used = parse_frames(c, data, len, out);
    if (used < 0) return close_connection(c);
    // After a close, unread frames are dropped (and must be: the leftover has to fit in
    // front of the next read).
    if (c.state == conn_state::closing)
        c.leftover.clear();
    else
        c.leftover.assign(data + used, len - static_cast<std::size_t>(used));
    if (!send_output(c, out)) close_connection(c);
}

void on_writable(connection& c) {
    ssize_t n = write(c.fd, c.pending.data(), c.pending.size());
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return close_connection(c);
    }
    c.pending.erase(0, static_cast<std::size_t>(n));
    if (!c.pending.empty()) return;
    c.pending.shrink_to_fit();  // idle connections should not hold output memory
    if (c.state == conn_state::closing) shutdown(c.fd, SHUT_WR);
    watch(c.fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
}

void on_accept(int listen_fd) {
    for (;;) {
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            std::perror("accept4");  // e.g. EMFILE: the limit is too low for the test
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (static_cast<std::size_t>(fd) >= connections.size())
            connections.resize(static_cast<std::size_t>(fd) * 2 + 1);
        connections[fd] = std::make_unique<connection>();
        connections[fd]->fd = fd;
        watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }
}

int parse_port(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) return std::atoi(argv[++i]);
        if (arg.starts_with("--port=")) return std::atoi(argv[i] + 7);
        std::fprintf(stderr, "usage: %s --port N\n", argv[0]);
        std::exit(2);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
    raise_nofile_limit();
    std::signal(SIGPIPE, SIG_IGN);

    // Signals arrive through a signalfd so the loop exits cleanly between events.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    int sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0) die("signalfd");

    int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) die("socket");
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (listen(listen_fd, SOMAXCONN) != 0) die("listen");
    socklen_t addr_len = sizeof addr;
    getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &addr_len);

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1");
    watch(listen_fd, EPOLLIN, EPOLL_CTL_ADD);
    watch(sig_fd, EPOLLIN, EPOLL_CTL_ADD);

    // Output of one read is never larger than its input (server headers are shorter than
    // masked client headers) plus the handshake response.
    in_buf.resize(max_frame + read_size);
    out_buf.resize(max_frame + read_size + 512);
    connections.resize(1024);

    std::printf("listening on http://127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            std::uint32_t ev = events[i].events;
            if (fd == sig_fd) return 0;
            if (fd == listen_fd) {
                on_accept(listen_fd);
                continue;
            }
            connection* c = static_cast<std::size_t>(fd) < connections.size()
                                ? connections[fd].get()
                                : nullptr;
            if (!c) continue;  // closed earlier in this batch
            if (ev & EPOLLERR) {
                close_connection(*c);
            } else if (ev & EPOLLOUT) {
                on_writable(*c);
            } else if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
                // EPOLLRDHUP still goes through read(): it returns the last data, then 0.
                on_readable(*c);
            }
        }
    }
}
