// byte_pump: the baselines the bridges are measured against — the same bytes a WebSocket
// client sends through `sockeye serve --proxy` or `--exec`, sent straight to the service.
//
//   byte_pump tcp PORT BYTES           to a TCP echo on 127.0.0.1:PORT
//   byte_pump pipe BYTES PROGRAM ARGS  into PROGRAM's stdin, out of its stdout (e.g. cat)
//
// It writes BYTES of a pseudo-random pattern in 256 KiB pieces while it reads what comes
// back, concurrently (poll on non-blocking descriptors), and compares every byte read with
// the pattern at its offset. After the last byte it ends the sending side (shutdown, or
// closing the program's stdin) and finishes when all BYTES are back. Prints one line:
// "byte_pump: BYTES B in S s: M MiB/s, client cpu C s" and exits 0, or 1 on a mismatch,
// a short echo or an error.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t piece = 256 * 1024;
// Not a power of two, so pieces and reads fall at every alignment of the pattern.
constexpr std::size_t period = (1u << 20) + 13;

// The pattern twice in a row: the `n <= period` bytes at any offset are contiguous.
std::vector<std::uint8_t> make_pattern() {
    std::vector<std::uint8_t> t(2 * period);
    std::uint64_t x = 0x9e3779b97f4a7c15ull;
    for (std::size_t i = 0; i < period; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t[i] = t[i + period] = static_cast<std::uint8_t>(x);
    }
    return t;
}

void non_blocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int fail(const char* what) {
    std::fprintf(stderr, "byte_pump: %s\n", what);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 4)
        return fail("usage: byte_pump tcp PORT BYTES | byte_pump pipe BYTES PROGRAM ARGS");
    const bool tcp = std::strcmp(argv[1], "tcp") == 0;
    const std::uint64_t total = std::strtoull(argv[tcp ? 3 : 2], nullptr, 10);
    int out_fd = -1, in_fd = -1;  // we write to out_fd and read from in_fd
    pid_t child = -1;
    if (tcp) {
        out_fd = in_fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(out_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("connect");
    } else {
        int to[2], from[2];
        if (pipe(to) != 0 || pipe(from) != 0) return fail("pipe");
        child = fork();
        if (child == 0) {
            dup2(to[0], 0);
            dup2(from[1], 1);
            close(to[0]), close(to[1]), close(from[0]), close(from[1]);
            execvp(argv[3], argv + 3);
            _exit(127);
        }
        close(to[0]), close(from[1]);
        out_fd = to[1];
        in_fd = from[0];
    }
    non_blocking(out_fd);
    if (in_fd != out_fd) non_blocking(in_fd);

    const auto pattern = make_pattern();
    std::vector<std::uint8_t> buf(piece);
    std::uint64_t sent = 0, got = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    while (got < total) {
        pollfd fds[2];
        int nfds = 0;
        const bool sending = out_fd >= 0 && sent < total;
        if (in_fd == out_fd) {
            fds[nfds++] = {in_fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
        } else {
            fds[nfds++] = {in_fd, POLLIN, 0};
            if (sending) fds[nfds++] = {out_fd, POLLOUT, 0};
        }
        if (poll(fds, static_cast<nfds_t>(nfds), 30000) <= 0) return fail("no progress for 30 s");
        for (int i = 0; i < nfds; ++i) {
            if ((fds[i].revents & POLLOUT) && sent < total) {
                const std::size_t n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(piece, total - sent));
                const ssize_t w = write(out_fd, &pattern[sent % period], n);
                if (w > 0) sent += static_cast<std::uint64_t>(w);
                if (w < 0 && errno != EAGAIN) return fail("write");
                if (sent == total) {
                    if (tcp) {
                        shutdown(out_fd, SHUT_WR);
                    } else {
                        close(out_fd);
                        out_fd = -1;
                    }
                }
            }
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                const ssize_t r = read(in_fd, buf.data(), buf.size());
                if (r == 0) return fail("the echo ended early");
                if (r < 0 && errno != EAGAIN) return fail("read");
                if (r > 0) {
                    if (std::memcmp(buf.data(), &pattern[got % period],
                                    static_cast<std::size_t>(r)) != 0)
                        return fail("the echo differs from what was sent");
                    got += static_cast<std::uint64_t>(r);
                }
            }
        }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    if (child > 0) {
        if (out_fd >= 0) close(out_fd);
        waitpid(child, nullptr, 0);
    }
    std::printf("byte_pump: %llu B in %.3f s: %.1f MiB/s, client cpu %.3f s\n",
                static_cast<unsigned long long>(total), s,
                static_cast<double>(total) / s / (1 << 20), cpu);
    return 0;
}
