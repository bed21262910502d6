// tcp_relay: the floor of any proxy on this machine, NOT a proxy. Each accepted connection
// is paired with a new connection to the target, and bytes are copied both ways through
// user space (read() then write(), one 256 KiB buffer per direction), as a WebSocket proxy
// must (it unmasks and frames) — no splice, no framing, no checks. A direction stops
// reading while its buffer is unwritten; EOF is passed on with shutdown(SHUT_WR).
//
// `byte_pump tcp` through it against `byte_pump tcp` straight to the echo shows what the
// extra hop costs by itself: on a small machine the proxy, the client and the echo share
// the cores, so a relayed stream cannot run at the direct one's speed.
//
// Usage: tcp_relay --port N --target PORT (127.0.0.1). Prints "listening on 127.0.0.1:N".

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
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

// One direction: bytes read from `from`, written to `to`.
struct pipe_half {
    int from, to;
    std::unique_ptr<char[]> buf{new char[buffer_size]};
    std::size_t start = 0, end = 0;
    bool eof = false, done = false;
};

struct pair {
    pipe_half up, down;  // client -> target, target -> client
    int live = 2;
};

int ep;
std::unordered_map<int, pair*> by_fd;

void rearm(pair& p) {
    for (int fd : {p.up.from, p.down.from}) {
        std::uint32_t ev = 0;
        pipe_half& in = fd == p.up.from ? p.up : p.down;   // reads from fd
        pipe_half& out = fd == p.up.from ? p.down : p.up;  // writes to fd
        if (!in.eof && in.start == in.end) ev |= EPOLLIN;
        if (out.start < out.end) ev |= EPOLLOUT;
        epoll_event e{};
        e.events = ev;
        e.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
    }
}

// Writes what the half holds; passes EOF on once empty. False on an error.
bool flush(pipe_half& h) {
    while (h.start < h.end) {
        const ssize_t n = write(h.to, h.buf.get() + h.start, h.end - h.start);
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        h.start += static_cast<std::size_t>(n);
    }
    h.start = h.end = 0;
    if (h.eof && !h.done) {
        shutdown(h.to, SHUT_WR);
        h.done = true;
    }
    return true;
}

bool fill(pipe_half& h) {
    const ssize_t n = read(h.from, h.buf.get(), buffer_size);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) h.eof = true;
    h.end = static_cast<std::size_t>(n);
    return flush(h);
}

void finish(pair* p) {
    for (int fd : {p->up.from, p->down.from}) {
        by_fd.erase(fd);
        close(fd);
    }
    delete p;
}

int listen_on(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0) {
        std::perror("tcp_relay: bind/listen");
        std::exit(1);
    }
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0, target = 0;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--target") == 0) target = std::atoi(argv[i + 1]);
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);
    const int sfd = signalfd(-1, &mask, SFD_NONBLOCK);
    const int lfd = listen_on(port);
    ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = sfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

    epoll_event events[64];
    for (;;) {
        const int n = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == sfd) return 0;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
                    // A blocking connect: on loopback it completes at once.
                    const int t = socket(AF_INET, SOCK_STREAM, 0);
                    sockaddr_in a{};
                    a.sin_family = AF_INET;
                    a.sin_port = htons(static_cast<std::uint16_t>(target));
                    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                    if (connect(t, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                        close(c);
                        close(t);
                        continue;
                    }
                    fcntl(t, F_SETFL, fcntl(t, F_GETFL) | O_NONBLOCK);
                    auto* p = new pair{{c, t}, {t, c}};
                    by_fd[c] = by_fd[t] = p;
                    for (int s : {c, t}) {
                        epoll_event e{};
                        e.events = EPOLLIN;
                        e.data.fd = s;
                        epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
                    }
                }
                continue;
            }
            auto it = by_fd.find(fd);
            if (it == by_fd.end()) continue;
            pair* p = it->second;
            pipe_half& in = fd == p->up.from ? p->up : p->down;
            pipe_half& out = fd == p->up.from ? p->down : p->up;
            bool ok = true;
            if (events[i].events & EPOLLOUT) ok = flush(out);
            if (ok && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !in.eof &&
                in.start == in.end)
                ok = fill(in);
            if (!ok || (p->up.done && p->down.done)) {
                finish(p);
            } else {
                rearm(*p);
            }
        }
    }
}
