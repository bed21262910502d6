#include "bench_support.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sockeye::apps::bench_support {

double now_s() {
    return static_cast<double>(uv_hrtime()) / 1e9;
}

cpu_sample read_proc_cpu(int pid) {
    cpu_sample s;
    if (pid <= 0) return s;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return s;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream in(line.substr(close + 2));
    std::string field;
    // Field 3 (state) is the first here; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 13; ++i) in >> field;
    in >> s.utime >> s.stime;
    s.ok = static_cast<bool>(in);
    return s;
}

std::uint64_t read_proc_rss(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    }
    return 0;
}

namespace {

double self_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double ticks_to_s(std::uint64_t t) {
    return static_cast<double>(t) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

cpu_sample cpu_window::sum() const {
    cpu_sample total;
    total.ok = !pids_.empty();
    for (int pid : pids_) {
        const auto s = read_proc_cpu(pid);
        total.ok = total.ok && s.ok;
        total.utime += s.utime;
        total.stime += s.stime;
    }
    return total;
}

void cpu_window::start() {
    t0_ = now_s();
    c0_ = sum();
    self0_ = self_cpu_s();
}

void cpu_window::stop() {
    t1_ = now_s();
    const auto c1 = sum();
    self1_ = self_cpu_s();
    have_ = c0_.ok && c1.ok;
    if (have_) {
        user_s_ = ticks_to_s(c1.utime - c0_.utime);
        sys_s_ = ticks_to_s(c1.stime - c0_.stime);
    }
}

double cpu_window::server_cpu_pct() const {
    return seconds() > 0 ? 100.0 * (user_s_ + sys_s_) / seconds() : 0;
}

double cpu_window::client_cpu_pct() const {
    return seconds() > 0 ? 100.0 * (self1_ - self0_) / seconds() : 0;
}

double histogram::quantile_us(double q) const {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) return static_cast<double>(midpoint(i)) / 1e3;
    }
    return static_cast<double>(max_value) / 1e3;
}

std::uint64_t histogram::midpoint(std::size_t i) {
    if (i < sub) return i;
    const std::uint64_t k = (i - sub) / sub;
    const std::uint64_t m = (i - sub) % sub + sub;
    return (m << k) + ((std::uint64_t{1} << k) >> 1);
}

reaper::reaper(uv_loop_t* loop) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
}

void reaper::bury(std::unique_ptr<client_detail::client_connection> c) {
    young_.push_back(std::move(c));
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) {
        uv_timer_start(&timer_, on_timer, 1, 0);
    }
}

void reaper::on_timer(uv_timer_t* h) {
    auto* self = static_cast<reaper*>(h->data);
    self->old_.clear();
    std::swap(self->old_, self->young_);
    // 1 ms, not 0: libuv runs a timer restarted with 0 from its own callback again in the
    // same pass, which would free `old_` before the loop has closed its handles.
    if (!self->old_.empty()) uv_timer_start(h, on_timer, 1, 0);
}

timer::timer(uv_loop_t* loop) {
    uv_timer_init(loop, &t_);
    t_.data = this;
}

void timer::start(double first, double repeat, std::function<void()> f) {
    fn_ = std::move(f);
    const auto ms = [](double s) {
        return static_cast<std::uint64_t>(std::max(0.0, s) * 1000.0 + 0.5);
    };
    uv_timer_start(
        &t_,
        [](uv_timer_t* h) {
            auto* self = static_cast<timer*>(h->data);
            if (uv_timer_get_repeat(h) != 0) return self->fn_();
            // A one-shot callback often arms the next phase, which replaces fn_: run it
            // from a local so it is not destroyed while it runs.
            auto run = std::move(self->fn_);
            run();
        },
        ms(first), ms(repeat));
}

json_line& json_line::num(const char* k, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return raw(k, buf);
}

json_line& json_line::raw(const char* k, const std::string& v) {
    if (!body_.empty()) body_ += ", ";
    // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on "\"" + std::string.
    body_ += '"';
    body_ += k;
    body_ += "\": ";
    body_ += v;
    return *this;
}

}  // namespace sockeye::apps::bench_support
