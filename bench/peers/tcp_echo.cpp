// tcp_echo: the TCP service behind `sockeye serve --proxy` in the bridge benchmarks, and the
// far end of the direct-TCP baseline the proxy is compared with.
//
// A single-threaded, level-triggered epoll echo in plain C++: per readable event ONE read()
// into the connection's 256 KiB buffer, then write() what is buffered; while anything is
// left unwritten the connection stops reading (EPOLLOUT drains it first), so a slow reader
// slows the writer instead of growing memory. The peer's EOF is passed on (shutdown of the
// write side once everything is written); the socket is closed when both ways are done.
//
// Usage: tcp_echo --port N   (0 = pick a free port). Prints "listening on 127.0.0.1:PORT"
// when ready; exits 0 on SIGTERM/SIGINT.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace {

constexpr std::size_t buffer_size = 256 * 1024;

struct conn {
    int fd;
    std::unique_ptr<char[]> buf{new char[buffer_size]};
    std::size_t start = 0, end = 0;  // unwritten bytes are buf[start, end)
    bool peer_eof = false;
};

void watch(int ep, int op, conn& c) {
    epoll_event ev{};
    ev.events = c.start < c.end ? EPOLLOUT : (c.peer_eof ? 0u : EPOLLIN);
    ev.data.fd = c.fd;
    epoll_ctl(ep, op, c.fd, &ev);
}

// Writes what is buffered; false when the connection is finished (error, or EOF passed on).
bool flush(conn& c) {
    while (c.start < c.end) {
        const ssize_t n = write(c.fd, c.buf.get() + c.start, c.end - c.start);
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        c.start += static_cast<std::size_t>(n);
    }
    c.start = c.end = 0;
    if (c.peer_eof) {
        shutdown(c.fd, SHUT_WR);
        return false;
    }
    return true;
}

bool on_readable(conn& c) {
    const ssize_t n = read(c.fd, c.buf.get(), buffer_size);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) c.peer_eof = true;
    c.end = static_cast<std::size_t>(n);
    return flush(c);
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);

    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);
    const int sfd = signalfd(-1, &mask, SFD_NONBLOCK);

    const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        std::perror("tcp_echo: bind/listen");
        return 1;
    }
    socklen_t len = sizeof addr;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    const int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = sfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

    std::unordered_map<int, conn> conns;
    epoll_event events[64];
    for (;;) {
        const int n = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == sfd) return 0;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
                    auto& c = conns.try_emplace(cfd).first->second;
                    c.fd = cfd;
                    watch(ep, EPOLL_CTL_ADD, c);
                }
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end()) continue;
            conn& c = it->second;
            const bool alive = (events[i].events & EPOLLOUT) ? flush(c) : on_readable(c);
            if (!alive) {
                close(fd);
                conns.erase(it);
            } else {
                watch(ep, EPOLL_CTL_MOD, c);
            }
        }
    }
}
