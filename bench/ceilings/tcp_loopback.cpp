// tcp_loopback: the raw-TCP ceiling over 127.0.0.1, for the comparison benchmarks.
//
// No WebSocket server can echo faster than plain TCP can, so this measures the two shapes
// the benchmarks use, on real TCP connections over loopback (not socketpair, which skips
// the TCP stack):
//   tcp_oneway_gbps  a sender thread writes N bytes, a receiver thread reads them.
//   tcp_echo_gbps    like a WebSocket echo under `stream` load: a sender thread writes N
//                    bytes, an echo thread (the "server") reads and writes each chunk back
//                    on the same connection, and a reader thread on the client side reads
//                    the echo concurrently. The rate is N bytes per second, i.e. payload
//                    echoed per second, as the load generator reports it.
// GB/s here are 10^9 bytes per second. Writes are 256 KiB; every thread reuses one buffer
// touched before timing (fresh pages fault in at ≈0.4 GB/s and would swamp the result).
// With two or more CPUs allowed, the client-side threads are pinned to one CPU and the
// receiving/echoing thread to another, as the load generator and the server would be.
// Each figure is the best of --runs runs after one short warm-up.
//
// Usage: tcp_loopback [--bytes N[K|M|G]] [--runs R] [--no-pin]
//        prints "tcp_echo_gbps=<x> tcp_oneway_gbps=<y>"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t chunk = 256 * 1024;

struct options {
    std::uint64_t bytes = std::uint64_t{4} << 30;
    int runs = 3;
    bool pin = true;
};

// The CPUs to pin to: client side on cpus[0], server side on cpus[1]; empty = no pinning.
std::vector<int> cpus;

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void pin_to(int which) {
    if (cpus.size() < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[which], &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

std::vector<char> touched_buffer() {
    return std::vector<char>(chunk, 'x');
}

void write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Reads and discards exactly `total` bytes.
void read_exactly(int fd, std::uint64_t total, std::vector<char>& buf) {
    while (total > 0) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(total, buf.size()));
        ssize_t r = read(fd, buf.data(), want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("read");
        total -= static_cast<std::uint64_t>(r);
    }
}

void send_bytes(int fd, std::uint64_t total, std::vector<char>& buf) {
    while (total > 0) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(total, buf.size()));
        write_all(fd, buf.data(), n);
        total -= n;
    }
}

void echo_bytes(int fd, std::uint64_t total, std::vector<char>& buf) {
    while (total > 0) {
        ssize_t r = read(fd, buf.data(), buf.size());
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("echo read");
        write_all(fd, buf.data(), static_cast<std::size_t>(r));
        total -= static_cast<std::uint64_t>(r);
    }
}

struct conn_pair {
    int client = -1;
    int server = -1;
};

// A fresh TCP connection over loopback for each run, so no run inherits another's state.
conn_pair connect_pair() {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (listen(lfd, 1) != 0) die("listen");
    socklen_t len = sizeof addr;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

    conn_pair p;
    p.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p.client < 0) die("socket");
    if (connect(p.client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    p.server = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (p.server < 0) die("accept");
    close(lfd);
    // Same socket options as the servers under test use.
    int one = 1;
    setsockopt(p.client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(p.server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return p;
}

// Starts the threads, releases them together, and times until all of them are done.
template <class... Fns>
double timed_run(std::uint64_t bytes, Fns... fns) {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    auto wrap = [&go](auto fn) {
        return [&go, fn]() mutable {
            fn.prepare();
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            fn.run();
        };
    };
    (threads.emplace_back(wrap(fns)), ...);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let them pin and park
    auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    return static_cast<double>(bytes) / dt.count() / 1e9;
}

// One thread's job: pin, touch its buffer, then move `bytes` in the given role.
struct job {
    enum kind { send, recv, echo } what;
    int fd;
    int cpu_side;  // 0 = client CPU, 1 = server CPU
    std::uint64_t bytes;
    std::vector<char> buf;

    void prepare() {
        pin_to(cpu_side);
        buf = touched_buffer();
    }
    void run() {
        switch (what) {
            case send: send_bytes(fd, bytes, buf); break;
            case recv: read_exactly(fd, bytes, buf); break;
            case echo: echo_bytes(fd, bytes, buf); break;
        }
    }
};

double oneway_once(std::uint64_t bytes) {
    conn_pair p = connect_pair();
    double rate = timed_run(bytes, job{job::send, p.client, 0, bytes, {}},
                            job{job::recv, p.server, 1, bytes, {}});
    close(p.client);
    close(p.server);
    return rate;
}

double echo_once(std::uint64_t bytes) {
    conn_pair p = connect_pair();
    double rate = timed_run(bytes, job{job::send, p.client, 0, bytes, {}},
                            job{job::echo, p.server, 1, bytes, {}},
                            job{job::recv, p.client, 0, bytes, {}});
    close(p.client);
    close(p.server);
    return rate;
}

std::uint64_t parse_size(const char* s) {
    char* end = nullptr;
    std::uint64_t v = std::strtoull(s, &end, 10);
    switch (*end) {
        case 'K': case 'k': v <<= 10; break;
        case 'M': case 'm': v <<= 20; break;
        case 'G': case 'g': v <<= 30; break;
        default: break;
    }
    return v;
}

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--bytes" && i + 1 < argc) {
            o.bytes = parse_size(argv[++i]);
        } else if (a == "--runs" && i + 1 < argc) {
            o.runs = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--no-pin") {
            o.pin = false;
        } else {
            std::fprintf(stderr, "usage: %s [--bytes N[K|M|G]] [--runs R] [--no-pin]\n",
                         argv[0]);
            std::exit(2);
        }
    }
    if (o.bytes == 0) o.bytes = 1;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    options opt = parse_args(argc, argv);
    std::signal(SIGPIPE, SIG_IGN);
    if (opt.pin) {
        cpu_set_t allowed;
        if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
            for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
                if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
        if (cpus.size() < 2) cpus.clear();
    }

    // Warm-up: brings the TCP memory pools and the code paths up to speed.
    std::uint64_t warm = std::min<std::uint64_t>(opt.bytes, std::uint64_t{256} << 20);
    oneway_once(warm);
    echo_once(warm);

    double best_echo = 0;
    double best_oneway = 0;
    for (int r = 0; r < opt.runs; ++r) {
        best_echo = std::max(best_echo, echo_once(opt.bytes));
        best_oneway = std::max(best_oneway, oneway_once(opt.bytes));
    }
    std::printf("tcp_echo_gbps=%.2f tcp_oneway_gbps=%.2f\n", best_echo, best_oneway);
    return 0;
}
