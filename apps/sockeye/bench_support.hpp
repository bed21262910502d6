// What every mode of `sockeye bench` measures with and reports through: the server's and
// the generator's CPU over the measured window, a fixed-size latency histogram, timers
// and a reaper on the generator's one libuv loop, and a JSON line.
#pragma once
#include <uv.h>

#include <array>
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/client.hpp"

namespace sockeye::apps::bench_support {

double now_s();

struct cpu_sample {
    std::uint64_t utime = 0;  // clock ticks
    std::uint64_t stime = 0;
    bool ok = false;
};

// utime and stime of a process from /proc/PID/stat; ok = false if it cannot be read.
cpu_sample read_proc_cpu(int pid);
// VmRSS of a process in bytes (0 if unknown).
std::uint64_t read_proc_rss(int pid);

// Server and load-generator CPU over one window. Several server processes (nodes of one
// cluster) are summed: per-delivery cost is what the whole cluster spends.
class cpu_window {
  public:
    explicit cpu_window(std::vector<int> pids) : pids_(std::move(pids)) {}
    explicit cpu_window(int pid) : cpu_window(std::vector<int>{pid}) {}
    void start();
    void stop();
    double seconds() const { return t1_ - t0_; }
    bool have_server() const { return have_; }
    double server_user_s() const { return user_s_; }
    double server_sys_s() const { return sys_s_; }
    double server_cpu_pct() const;
    double client_cpu_pct() const;

  private:
    cpu_sample sum() const;
    std::vector<int> pids_;
    double t0_ = 0, t1_ = 0, self0_ = 0, self1_ = 0;
    cpu_sample c0_;
    double user_s_ = 0, sys_s_ = 0;
    bool have_ = false;
};

// Latencies in nanoseconds, log-linear: values below 128 exactly, above that 128 buckets
// per power of two (< 0.8 % error), up to 2^34 ns (17 s). Fixed size: recording is a
// bit_width and an increment.
class histogram {
  public:
    void record(std::uint64_t ns) {
        ++counts_[index(std::min<std::uint64_t>(ns, max_value))];
        ++total_;
    }
    void reset() {
        counts_.fill(0);
        total_ = 0;
    }
    std::uint64_t total() const { return total_; }
    // The value at quantile q (0..1), in microseconds (bucket midpoint).
    double quantile_us(double q) const;

  private:
    static constexpr int sub_bits = 7;
    static constexpr std::uint64_t sub = 1u << sub_bits;
    static constexpr std::uint64_t max_value = (std::uint64_t{1} << 34) - 1;
    static std::size_t index(std::uint64_t v) {
        if (v < sub) return static_cast<std::size_t>(v);
        const int k = static_cast<int>(std::bit_width(v)) - (sub_bits + 1);
        return static_cast<std::size_t>(sub + static_cast<std::uint64_t>(k) * sub +
                                        ((v >> k) - sub));
    }
    static std::uint64_t midpoint(std::size_t i);
    std::array<std::uint64_t, sub + 27 * sub + sub> counts_{};
    std::uint64_t total_ = 0;
};

// Frees finished connections. A client_connection must outlive the close callbacks of its
// libuv handles, which run at the end of the loop iteration in which on_close/on_error
// fired (or of the next one): objects are deleted two timer runs after they were buried.
// A timer rather than a check handle: an active check handle keeps the loop alive but does
// not stop it from blocking in poll, so it would never run once the last socket went. Its
// timeout is 1 ms, not 0: libuv runs a timer restarted with 0 inside its own callback again
// in the same pass, and two runs there freed connections whose handles were still closing.
class reaper {
  public:
    explicit reaper(uv_loop_t* loop);
    void bury(std::unique_ptr<client_detail::client_connection> c);
    void close() { uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr); }

  private:
    static void on_timer(uv_timer_t* h);
    uv_timer_t timer_{};
    std::vector<std::unique_ptr<client_detail::client_connection>> young_;
    std::vector<std::unique_ptr<client_detail::client_connection>> old_;
};

// One callback after a delay, or repeated every `seconds` with every().
class timer {
  public:
    explicit timer(uv_loop_t* loop);
    void once(double seconds, std::function<void()> f) { start(seconds, 0, std::move(f)); }
    void every(double seconds, std::function<void()> f) { start(seconds, seconds, std::move(f)); }
    void stop() { uv_timer_stop(&t_); }
    void close() { uv_close(reinterpret_cast<uv_handle_t*>(&t_), nullptr); }

  private:
    void start(double first, double repeat, std::function<void()> f);
    uv_timer_t t_{};
    std::function<void()> fn_;
};

// JSON output without a library: numbers and plain strings only.
class json_line {
  public:
    json_line& num(const char* k, double v);
    json_line& str(const char* k, const std::string& v) { return raw(k, "\"" + v + "\""); }
    json_line& boolean(const char* k, bool v) { return raw(k, v ? "true" : "false"); }
    std::string text() const { return "{" + body_ + "}"; }

  private:
    json_line& raw(const char* k, const std::string& v);
    std::string body_;
};

}  // namespace sockeye::apps::bench_support
