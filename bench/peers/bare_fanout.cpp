// bare_fanout: the measurement ceiling of the fan-out benchmark, NOT a server.
//
// A minimal single-threaded, level-triggered epoll loop (no libuv, no HTTP parser) that
// does only what `sockeye bench fanout` needs, so its numbers show what the kernel, the
// loopback path and the load generator allow when one message goes to many sockets.
//
// What it does:
//   - handshake: read the request head, take the topic from the request target
//     (/topics/NAME, or the first topic= of /topics?topic=NAME; any other target is a
//     topic of its own), answer 101 with the accept value. Nothing else is checked.
//   - per readable event: ONE read(); every complete data frame in it is unmasked and
//     framed ONCE, as a server frame (same FIN bit and opcode), into one buffer; then that
//     same buffer is written to every socket on the sender's topic, the sender included
//     (as Redis does), with one writev() each. A socket that would block keeps the
//     remainder (and whatever comes after it) in its own buffer and is written on EPOLLOUT.
//     Pings get pongs, a close gets a close and a shutdown of the write side.
// What it deliberately does not do (a server must; the ceiling must not pay for it):
//   - no backlog limit and no slow-subscriber policy: a socket that stops reading buffers
//     without bound.
//   - one topic per connection; no HTTP publish endpoint; no unsubscribe but closing.
//   - frames over 64 KiB close the sender; continuation frames are forwarded as they come,
//     so two publishers sending fragmented messages to one topic would interleave them.
//   - no UTF-8 validation, no RSV, control-frame or fragmentation checks, no timeouts.
//
// Fault injection, for testing the generator's checks (never in benchmarks):
//   --drop K       message K (0-based, counted over all topics) is not written to one
//                  subscriber (the first on the topic other than the sender)
//   --duplicate K  message K is written twice to that subscriber
//
// Usage: bare_fanout --port N [--drop K | --duplicate K]   (port 0 picks a free one).
// Prints "listening on http://127.0.0.1:PORT" when ready; exits 0 on SIGTERM/SIGINT.

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
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
#include <unordered_map>
#include <vector>

namespace {

constexpr std::size_t max_payload = 64 * 1024;
constexpr std::size_t max_client_header = 14;
constexpr std::size_t max_head = 8 * 1024;
constexpr std::size_t read_size = 256 * 1024;  // shared by all connections
constexpr std::uint64_t no_fault = ~std::uint64_t{0};

enum class conn_state { handshake, open, closing };

struct connection {
    int fd = -1;
    conn_state state = conn_state::handshake;
    int topic = -1;
    std::size_t topic_slot = 0;  // index in its topic's member list
    bool watching_out = false;
    bool doomed = false;   // a write failed: closed once the fan-out loop is done
    std::string leftover;  // an incomplete frame or request head, carried to the next read
    std::string pending;   // output the socket would not take yet, in order
};

struct fault {
    enum { none, drop, duplicate } kind = none;
    std::uint64_t message = no_fault;
};

int epoll_fd = -1;
fault injected;
std::uint64_t messages = 0;                            // data frames with FIN seen, over all topics
std::vector<std::unique_ptr<connection>> connections;  // indexed by fd
std::unordered_map<std::string, int> topic_ids;
std::vector<std::vector<int>> topics;  // fds per topic id
std::vector<char> in_buf;
std::vector<char> fan_buf;  // the frames of one read, framed once for every subscriber
std::string control_reply;  // pongs and close replies for the sender only
std::vector<int> doomed_fds;

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void watch(int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, op, fd, &ev) != 0) die("epoll_ctl");
}

void close_connection(connection& c) {
    if (c.topic >= 0) {
        auto& members = topics[static_cast<std::size_t>(c.topic)];
        const int last = members.back();
        members[c.topic_slot] = last;  // swap-and-pop keeps removal O(1)
        connections[static_cast<std::size_t>(last)]->topic_slot = c.topic_slot;
        members.pop_back();
    }
    const int fd = c.fd;
    close(fd);  // also leaves the epoll set
    connections[static_cast<std::size_t>(fd)].reset();
}

std::string accept_value(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string joined(key);
    joined += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    const int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

// The value of a header (name given in lower case) in a request head; empty if missing.
std::string_view header_value(std::string_view head, std::string_view lower_name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const std::size_t start = pos + 2;
        const std::size_t end = head.find("\r\n", start);
        const std::string_view line = head.substr(start, end - start);
        const std::size_t colon = line.find(':');
        if (colon == lower_name.size() &&
            std::equal(lower_name.begin(), lower_name.end(), line.begin(), [](char a, char b) {
                return a == ((b >= 'A' && b <= 'Z') ? static_cast<char>(b - 'A' + 'a') : b);
            })) {
            return trim(line.substr(colon + 1));
        }
        pos = end;
    }
    return {};
}

// The topic named by the request target of "GET TARGET HTTP/1.1".
std::string topic_of(std::string_view head) {
    const std::size_t a = head.find(' ');
    const std::size_t b = head.find(' ', a + 1);
    if (a == std::string_view::npos || b == std::string_view::npos) return {};
    std::string_view target = head.substr(a + 1, b - a - 1);
    static constexpr std::string_view by_path = "/topics/";
    static constexpr std::string_view by_query = "/topics?topic=";
    if (target.starts_with(by_path)) return std::string(target.substr(by_path.size()));
    if (target.starts_with(by_query)) {
        target.remove_prefix(by_query.size());
        return std::string(target.substr(0, target.find('&')));
    }
    return std::string(target);
}

void join_topic(connection& c, const std::string& name) {
    auto [it, added] = topic_ids.try_emplace(name, static_cast<int>(topics.size()));
    if (added) topics.emplace_back();
    c.topic = it->second;
    auto& members = topics[static_cast<std::size_t>(c.topic)];
    c.topic_slot = members.size();
    members.push_back(c.fd);
}

// Writes an unmasked server frame header for a payload of `len` bytes; returns its size.
std::size_t put_header(char* o, std::uint8_t b0, std::size_t len) {
    o[0] = static_cast<char>(b0);
    if (len < 126) {
        o[1] = static_cast<char>(len);
        return 2;
    }
    if (len <= 0xffff) {
        o[1] = 126;
        o[2] = static_cast<char>(len >> 8);
        o[3] = static_cast<char>(len & 0xff);
        return 4;
    }
    o[1] = 127;  // exactly 64 KiB needs the 64-bit form
    for (int i = 0; i < 8; ++i) o[2 + i] = static_cast<char>(len >> (8 * (7 - i)));
    return 10;
}

// XORs a payload with its mask key into dst, eight bytes at a time.
void unmask_into(char* dst, const char* src, std::size_t len, const unsigned char key[4]) {
    std::uint32_t k32;
    std::memcpy(&k32, key, 4);
    const std::uint64_t k64 = (static_cast<std::uint64_t>(k32) << 32) | k32;
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + i, 8);
        w ^= k64;
        std::memcpy(dst + i, &w, 8);
    }
    for (; i < len; ++i) dst[i] = static_cast<char>(src[i] ^ key[i & 3]);
}

// Where the injected fault's frame lies in fan_buf, when it is in this read.
struct fault_span {
    std::size_t begin = 0, end = 0;
    bool present = false;
};

// Parses every complete frame in data[0, len): data frames are framed into fan_buf,
// control replies into control_reply. Returns the bytes consumed, or -1 to drop.
long parse_frames(connection& c, const char* data, std::size_t len, std::size_t& fan,
                  fault_span& fs) {
    std::size_t pos = 0;
    while (c.state == conn_state::open && len - pos >= 2) {
        const auto b0 = static_cast<std::uint8_t>(data[pos]);
        const auto b1 = static_cast<std::uint8_t>(data[pos + 1]);
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

        const std::uint8_t opcode = b0 & 0x0f;
        if (opcode == 0xA) continue;  // pongs need nothing
        if (opcode == 0x9 || opcode == 0x8) {
            char head[10];
            control_reply.append(head, put_header(head, opcode == 0x9 ? 0x8A : 0x88, payload));
            const std::size_t at = control_reply.size();
            control_reply.resize(at + payload);
            unmask_into(control_reply.data() + at, src, payload, key);
            if (opcode == 0x8) c.state = conn_state::closing;  // later frames are ignored
            continue;
        }
        const std::size_t begin = fan;
        fan += put_header(fan_buf.data() + fan, b0, payload);
        unmask_into(fan_buf.data() + fan, src, payload, key);
        fan += payload;
        if (b0 & 0x80) {
            if (messages == injected.message) fs = {begin, fan, true};
            ++messages;
        }
    }
    return static_cast<long>(pos);
}

// Queues or writes iov[0, n) to one connection, keeping order behind anything pending.
void deliver(connection& d, const iovec* iov, int n) {
    if (d.doomed || d.state == conn_state::handshake) return;
    std::size_t skip = 0;
    if (d.pending.empty()) {
        const ssize_t w = writev(d.fd, iov, n);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            d.doomed = true;
            doomed_fds.push_back(d.fd);
            return;
        }
        skip = w > 0 ? static_cast<std::size_t>(w) : 0;
    }
    for (int i = 0; i < n; ++i) {
        const std::size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        d.pending.append(static_cast<const char*>(iov[i].iov_base) + skip, len - skip);
        skip = 0;
    }
    if (!d.pending.empty() && !d.watching_out) {
        d.watching_out = true;
        watch(d.fd, EPOLLIN | EPOLLRDHUP | EPOLLOUT, EPOLL_CTL_MOD);
    }
}

// Writes fan_buf[0, len) to every member of the sender's topic.
void fan_out(const connection& sender, std::size_t len, const fault_span& fs) {
    const auto& members = topics[static_cast<std::size_t>(sender.topic)];
    int victim = -1;
    if (fs.present) {
        for (int fd : members) {
            if (fd != sender.fd) {
                victim = fd;
                break;
            }
        }
    }
    char* base = fan_buf.data();
    const iovec whole{base, len};
    for (int fd : members) {
        connection& d = *connections[static_cast<std::size_t>(fd)];
        if (fd != victim) {
            deliver(d, &whole, 1);
            continue;
        }
        // The victim gets the frames before the faulty one, it once more (duplicate) or
        // not at all (drop), then the rest.
        const iovec before{base, fs.begin};
        const iovec frame{base + fs.begin, fs.end - fs.begin};
        const iovec after{base + fs.end, len - fs.end};
        if (injected.kind == fault::duplicate) {
            const iovec parts[4] = {before, frame, frame, after};
            deliver(d, parts, 4);
        } else {
            const iovec parts[2] = {before, after};
            deliver(d, parts, 2);
        }
    }
}

void send_to_sender(connection& c) {
    if (control_reply.empty()) return;
    const iovec v{control_reply.data(), control_reply.size()};
    deliver(c, &v, 1);
    control_reply.clear();
    if (c.state == conn_state::closing && c.pending.empty()) shutdown(c.fd, SHUT_WR);
}

bool handshake(connection& c, const char*& data, std::size_t& len) {
    const std::string_view view(data, len);
    const std::size_t end = view.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (len > max_head) return false;
        c.leftover.assign(data, len);
        len = 0;
        return true;
    }
    const std::string_view head = view.substr(0, end + 2);
    const std::string_view key = header_value(head, "sec-websocket-key");
    if (key.empty()) return false;
    const std::string resp =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        accept_value(key) + "\r\n\r\n";
    if (write(c.fd, resp.data(), resp.size()) != static_cast<ssize_t>(resp.size())) return false;
    c.state = conn_state::open;
    join_topic(c, topic_of(head));
    data += end + 4;
    len -= end + 4;
    return true;
}

void on_readable(connection& c) {
    // Leftover bytes go to the front so frames are parsed from one contiguous buffer.
    const std::size_t have = c.leftover.size();
    std::memcpy(in_buf.data(), c.leftover.data(), have);
    c.leftover.clear();
    const ssize_t n = read(c.fd, in_buf.data() + have, read_size);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        return close_connection(c);
    }
    const char* data = in_buf.data();
    std::size_t len = have + static_cast<std::size_t>(n);
    if (c.state == conn_state::handshake) {
        if (!handshake(c, data, len)) return close_connection(c);
        if (c.state == conn_state::handshake) return;
    }
    if (c.state == conn_state::closing) return;  // after our close only the TCP close matters

    std::size_t fan = 0;
    fault_span fs;
    const long used = parse_frames(c, data, len, fan, fs);
    if (used < 0) return close_connection(c);
    if (c.state == conn_state::open)
        c.leftover.assign(data + used, len - static_cast<std::size_t>(used));
    if (fan > 0) fan_out(c, fan, fs);
    send_to_sender(c);
    for (int fd : doomed_fds) {
        if (connections[static_cast<std::size_t>(fd)])
            close_connection(*connections[static_cast<std::size_t>(fd)]);
    }
    doomed_fds.clear();
}

void on_writable(connection& c) {
    const ssize_t n = write(c.fd, c.pending.data(), c.pending.size());
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return close_connection(c);
    }
    c.pending.erase(0, static_cast<std::size_t>(n));
    if (!c.pending.empty()) return;
    // Idle subscribers should not hold output memory after a burst.
    if (c.pending.capacity() > 64 * 1024) c.pending.shrink_to_fit();
    c.watching_out = false;
    if (c.state == conn_state::closing) shutdown(c.fd, SHUT_WR);
    watch(c.fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
}

void on_accept(int listen_fd) {
    for (;;) {
        const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            std::perror("accept4");  // e.g. EMFILE: the limit is too low for the run
            return;
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const auto i = static_cast<std::size_t>(fd);
        if (i >= connections.size()) connections.resize(i * 2 + 1);
        connections[i] = std::make_unique<connection>();
        connections[i]->fd = fd;
        watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }
}

[[noreturn]] void usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s --port N [--drop K | --duplicate K]\n", argv0);
    std::exit(2);
}

int parse_args(int argc, char** argv) {
    int port = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) usage(argv[0]);
        if (arg == "--port") {
            port = std::atoi(argv[++i]);
        } else if (arg == "--drop" || arg == "--duplicate") {
            injected.kind = arg == "--drop" ? fault::drop : fault::duplicate;
            injected.message = std::strtoull(argv[++i], nullptr, 10);
        } else {
            usage(argv[0]);
        }
    }
    return port;
}

}  // namespace

int main(int argc, char** argv) {
    const int port = parse_args(argc, argv);
    rlimit lim{};  // one descriptor per subscriber: take what the hard limit allows
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    std::signal(SIGPIPE, SIG_IGN);

    // Signals arrive through a signalfd so the loop exits cleanly between events.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0) die("signalfd");

    const int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) die("socket");
    const int one = 1;
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

    // A read of read_size bytes plus a carried partial frame; server frames are never
    // longer than the masked client frames they came from.
    in_buf.resize(read_size + max_payload + max_client_header);
    fan_buf.resize(in_buf.size());
    connections.resize(1024);

    std::printf("listening on http://127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    epoll_event events[256];
    for (;;) {
        const int n = epoll_wait(epoll_fd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            const std::uint32_t ev = events[i].events;
            if (fd == sig_fd) return 0;
            if (fd == listen_fd) {
                on_accept(listen_fd);
                continue;
            }
            const auto idx = static_cast<std::size_t>(fd);
            connection* c = idx < connections.size() ? connections[idx].get() : nullptr;
            if (!c) continue;  // closed earlier in this batch
            if (ev & EPOLLERR) {
                close_connection(*c);
                continue;
            }
            if (ev & EPOLLOUT) on_writable(*c);
            c = connections[idx].get();
            // EPOLLRDHUP still goes through read(): it returns the last data, then 0.
            if (c && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) on_readable(*c);
        }
    }
}
