// `sockeye bench MODE URL`: a load generator for WebSocket echo servers, built on the
// client library so it measures our own client code as well as the server.
//
// Everything runs on one libuv loop in one thread: the connections are the library's
// client_connection objects sharing that loop (the public sockeye::client owns one loop
// per connection, which would not scale to thousands). Nothing is allocated per message:
// the payload is one shared buffer (or, for stream, spans of a precomputed pattern table),
// latencies go into a fixed log-linear histogram, and the library corks the reply written
// inside a read into the write at the end of that read.
//
// Modes:
//   pingpong  N connections, each with exactly one message of S bytes in flight
//   stream    one message of S bytes (any size) sent in pieces with backpressure while the
//             echo is read and hashed concurrently; SHA-256 compared
//   connect   open + handshake + close, --count times, --connections at a time
//   idle      --connections idle connections; the server's VmRSS per connection, as the
//             slope over all but the first (warm-up) 10 %, at most 100
//   fanout    pub/sub: one publisher, --subscribers on a topic (bench_fanout.cpp)
// With --http2 every WebSocket is an RFC 8441 stream of an HTTP/2 connection; pingpong and
// idle can put --streams of them on each connection (--connections C --streams N opens
// C x N WebSockets over C TCP connections), through the h2_link the first stream of each
// connection dials and the others join. stream and connect use one stream per connection.
// With --server-pid the server's CPU time (utime/stime from /proc/PID/stat) is sampled at
// the start and end of the measured window, so results can be read per message.
#include <sockeye/client.hpp>

#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench_beside.hpp"
#include "bench_fanout.hpp"
#include "bench_support.hpp"
#include "client/client.hpp"
#include "client_cli.hpp"
#include "commands.hpp"
#include "common/escape.hpp"

namespace sockeye::apps {

namespace {

using bench_support::cpu_window;
using bench_support::histogram;
using bench_support::json_line;
using bench_support::read_proc_rss;
using bench_support::reaper;
using bench_support::timer;
using client_detail::client_connection;

struct bench_options {
    std::string mode;
    std::string url;
    std::size_t connections = 0;  // 0 = the mode's default
    std::uint64_t size = 0;       // 0 = the mode's default
    double duration = 10;
    double warmup = 2;
    std::uint64_t count = 1000;
    std::uint64_t fragment = 64 * 1024;  // bare_echo takes frames up to 64 KiB only
    std::string expect_sha256;
    std::string verify = "sha256";  // stream: sha256 or bytes
    int server_pid = 0;             // the first of server_pids
    std::vector<int> server_pids;
    fanout_options fanout;
    bool json = false;
    bool http2 = false;
    std::size_t streams = 1;   // WebSockets per HTTP/2 connection (pingpong, idle)
    std::uint64_t beside = 0;  // pingpong --http2: a stream of messages this large beside it
};

// ------------------------------------------------------------------ helpers

// The stream payload: a pseudo-random table stored twice in a row, so the piece at any
// offset (up to `period` bytes) is one contiguous span of it, handed to the library
// without a copy.
class pattern {
  public:
    static constexpr std::size_t period = (1 << 20) + 7;
    pattern() : table_(2 * period) {
        std::uint64_t x = 0x243f6a8885a308d3ull;
        for (std::size_t i = 0; i < period; ++i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;  // xorshift64: deterministic and cheap
            table_[i] = static_cast<std::uint8_t>(x >> 56);
        }
        std::copy_n(table_.begin(), period, table_.begin() + period);
    }
    std::span<const std::uint8_t> at(std::uint64_t offset, std::size_t n) const {
        return {table_.data() + offset % period, std::min(n, period)};
    }

  private:
    std::vector<std::uint8_t> table_;
};

// ------------------------------------------------------------------ the benchmark

class bench {
  public:
    explicit bench(bench_options o) : o_(std::move(o)), window_(o_.server_pid) {
        uv_loop_init(&loop_);
        reaper_.emplace(&loop_);
        phase_timer_.emplace(&loop_);
    }
    ~bench() { uv_loop_close(&loop_); }
    bench(const bench&) = delete;
    bench& operator=(const bench&) = delete;

    int run() {
        if (o_.mode == "pingpong") {
            start_pingpong();
        } else if (o_.mode == "stream") {
            start_stream();
        } else if (o_.mode == "connect") {
            start_connect();
        } else {
            start_idle();
        }
        uv_run(&loop_, UV_RUN_DEFAULT);
        reaper_->close();
        phase_timer_->close();
        uv_run(&loop_, UV_RUN_DEFAULT);
        conns_.clear();
        if (failed_ && exit_code_ == 0) exit_code_ = 1;
        if (exit_code_ == 0) report();
        return exit_code_;
    }

  private:
    struct slot {
        bench* b = nullptr;
        std::unique_ptr<client_connection> conn;
        // --streams: the HTTP/2 connection the slots of this slot's group share (set on the
        // group's first slot, which dials it).
        std::shared_ptr<client_detail::h2_link> link;
        std::uint64_t sent_at = 0;
        std::uint64_t got = 0;
        std::size_t index = 0;  // in conns_
        bool open = false;
        bool waiting = false;  // paced pingpong: its ping is out, the echo not back yet
    };

    client_options client_opts() const {
        client_options co;
        co.url = o_.url;
        co.connect_timeout = 60;  // thousands of handshakes may queue behind each other
        co.close_timeout = 10;
        co.http2 = o_.http2;
        return co;
    }

    void error(const std::string& what) {
        // Client errors may quote the server (a reason phrase, a close reason).
        if (!failed_) {
            std::fprintf(stderr, "sockeye bench: %s\n", common::escape_for_display(what).c_str());
        }
        failed_ = true;
    }

    // Opens connection `i` of conns_ with the given handlers' extra behaviour.
    void open_slot(slot& s) {
        s.b = this;
        handlers h;
        h.on_open = [&s](connection&) {
            s.open = true;
            s.b->on_slot_open(s);
        };
        h.on_message_chunk = [&s](connection&, std::span<const std::uint8_t> d, bool fin) {
            if (s.b->echo_hash_) s.b->echo_hash_->update(d);
            if (s.b->verify_bytes_) s.b->compare_echo(s.got, d);
            s.got += d.size();
            // A stream's echo is complete with its last byte, in however many messages it
            // comes back: a bridge (--proxy, --exec) returns bytes as they arrive.
            if (fin && (s.b->o_.mode != "stream" || s.got >= s.b->o_.size)) s.b->on_slot_echo(s);
        };
        h.on_drain = [&s](connection&) {
            if (s.b->o_.mode == "stream") s.b->pump(s);
        };
        h.on_close = [&s](connection&, std::uint16_t code, std::string_view reason) {
            s.b->on_slot_close(s, code, reason);
        };
        s.conn = std::make_unique<client_connection>(
            &loop_, client_opts(), std::move(h),
            [&s](client_error, const std::string& message) { s.b->on_slot_error(s, message); });
        if (o_.http2 && o_.streams > 1) {
            // Slots are opened in order, so a group's first slot has dialed already.
            slot& first = *conns_[s.index - s.index % o_.streams];
            if (&first == &s) {
                s.conn->start();
                s.link = s.conn->link();
                return;
            }
            if (first.link) s.conn->join(first.link);
        }
        s.conn->start();
    }

    // Opens conns_ with at most `max_pending` handshakes in flight (a burst of thousands of
    // SYNs would overflow the server's accept backlog and measure retransmit timers).
    void open_more() {
        while (next_open_ < conns_.size() && pending_opens_ < max_pending) {
            ++pending_opens_;
            open_slot(*conns_[next_open_++]);
        }
    }

    void on_slot_open(slot& s) {
        --pending_opens_;
        ++open_count_;
        if (o_.mode == "connect") {
            ++handshakes_;
            s.conn->close(1000, {});
            return;
        }
        if (o_.mode == "stream") return stream_begin(s);
        open_more();
        if (open_count_ == conns_.size()) all_open();
    }

    void on_slot_error(slot& s, const std::string& message) {
        --pending_opens_;
        error(message);
        reaper_->bury(std::move(s.conn));
        if (o_.mode == "connect") {
            connect_next(s);
        } else {
            stop_all();
        }
    }

    void on_slot_close(slot& s, std::uint16_t code, std::string_view reason) {
        s.open = false;
        --open_count_;
        if (!closing_ && code != 1000) {
            error("connection closed early with " + std::to_string(code) + " " +
                  std::string(reason));
        }
        reaper_->bury(std::move(s.conn));
        if (o_.mode == "connect" && !failed_) {
            connect_next(s);
        } else if (!closing_) {
            stop_all();
        }
    }

    void stop_all() {
        if (closing_) return;
        closing_ = true;
        phase_timer_->stop();
        stop_pacing();  // its idle handle would keep the loop running
        if (beside_) {
            beside_->stop();
            if (auto c = beside_->release()) reaper_->bury(std::move(c));
        }
        for (auto& s : conns_) {
            if (s->conn && s->open) {
                s->conn->close(1000, {});
            } else if (s->conn) {
                s->conn->abort();
            }
        }
    }

    // -------------------------------------------------------------- pingpong

    void start_pingpong() {
        if (o_.connections == 0) o_.connections = 1;
        if (o_.size == 0) o_.size = 16;
        payload_.resize(static_cast<std::size_t>(o_.size));
        for (std::size_t i = 0; i < payload_.size(); ++i) {
            payload_[i] = static_cast<std::uint8_t>(i * 131 + 7);
        }
        make_slots(o_.connections * o_.streams);
        open_more();
    }

    void make_slots(std::size_t n) {
        conns_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            conns_.push_back(std::make_unique<slot>());
            conns_.back()->index = conns_.size() - 1;
        }
    }

    void all_open() {
        if (o_.mode == "idle") return idle_all_open();
        running_ = true;
        if (o_.beside != 0) {
            beside_.emplace(&loop_, client_opts(), o_.beside);
            beside_->start(conns_.front()->conn->link(), [this](const std::string& m) {
                if (!closing_) {
                    error(m);
                    stop_all();
                }
            });
        }
        if (paced()) {
            start_pacing();
        } else {
            for (auto& s : conns_) send_ping(*s);
        }
        phase_timer_->once(o_.warmup, [this] {
            hist_.reset();
            window_.start();
            if (beside_) beside_->mark();
            measuring_ = true;
            phase_timer_->once(o_.duration, [this] {
                window_.stop();
                measuring_ = false;
                running_ = false;
                messages_ = hist_.total();
                if (beside_) beside_echoed_ = beside_->echoed_since_mark();
                stop_all();
            });
        });
    }

    void send_ping(slot& s) {
        s.got = 0;
        s.sent_at = uv_hrtime();
        s.conn->send(message_type::binary, payload_);
    }

    void on_slot_echo(slot& s) {
        if (o_.mode == "stream") return stream_echo_done();
        if (s.got != o_.size) {
            error("echo of " + std::to_string(o_.size) + " bytes came back with " +
                  std::to_string(s.got));
            stop_all();
            return;
        }
        if (measuring_) hist_.record(uv_hrtime() - s.sent_at);
        if (paced()) {
            s.waiting = false;
        } else if (running_) {
            send_ping(s);
        }
    }

    // ------------------------------------------------- pingpong --rate: paced sends

    // With --rate the pings leave evenly spaced in time (R per second over all the
    // connections, each waiting for its echo before its next), not as fast as echoes come
    // back: the server then gets few events per wake-up, so a cost paid per read or per
    // wake-up shows, where the saturated pingpong hides it in batches. libuv's timers are
    // millisecond-grained, so the pacing runs from an idle handle (the loop polls without
    // blocking; the generator's core spins, as it nearly does when saturated).
    bool paced() const { return o_.mode == "pingpong" && o_.fanout.rate > 0; }

    void start_pacing() {
        uv_idle_init(&loop_, &pacer_);
        pacer_.data = this;
        pacing_ = true;
        pace_start_ = uv_hrtime();
        uv_idle_start(&pacer_, [](uv_idle_t* h) { static_cast<bench*>(h->data)->pace(); });
    }

    void stop_pacing() {
        if (!pacing_) return;
        pacing_ = false;
        uv_idle_stop(&pacer_);
        uv_close(reinterpret_cast<uv_handle_t*>(&pacer_), nullptr);
    }

    void pace() {
        const double due = static_cast<double>(uv_hrtime() - pace_start_) * 1e-9 * o_.fanout.rate;
        while (static_cast<double>(paced_sent_) < due) {
            slot* free = nullptr;
            for (std::size_t tried = 0; tried < conns_.size() && !free; ++tried) {
                slot& s = *conns_[next_paced_];
                next_paced_ = (next_paced_ + 1) % conns_.size();
                if (!s.waiting) free = &s;
            }
            if (!free) {
                // Every connection has a ping out: the server is behind the rate. The
                // send is skipped, not owed (no burst to catch up), and counted.
                ++paced_late_;
                ++paced_sent_;
                continue;
            }
            free->waiting = true;
            ++paced_sent_;
            send_ping(*free);
        }
    }

    // -------------------------------------------------------------- stream

    void start_stream() {
        if (o_.size == 0) o_.size = 64 << 20;
        pattern_ = std::make_unique<pattern>();
        if (o_.verify == "bytes") {
            // Each echoed piece is compared with the generated bytes at its offset: exact,
            // and about ten times cheaper than hashing, which leaves the generator's core
            // for the I/O. Nothing to hash before the window either.
            verify_bytes_ = true;
            make_slots(1);
            ++pending_opens_;
            open_slot(*conns_[0]);
            return;
        }
        expected_ = o_.expect_sha256;
        if (expected_.empty()) {
            // Hashed before the window, not during it: the load generator's core would
            // otherwise spend as long hashing what it sends as what it receives.
            sha256 h;
            for (std::uint64_t off = 0; off < o_.size;) {
                const auto piece =
                    pattern_->at(off, static_cast<std::size_t>(
                                          std::min<std::uint64_t>(pattern::period, o_.size - off)));
                h.update(piece);
                off += piece.size();
            }
            expected_ = h.hex();
        }
        echo_hash_ = std::make_unique<sha256>();
        make_slots(1);
        ++pending_opens_;
        open_slot(*conns_[0]);
    }

    // Records the offset of the first echoed byte that differs from the generated message.
    void compare_echo(std::uint64_t offset, std::span<const std::uint8_t> d) {
        while (!d.empty() && echo_mismatch_ == no_mismatch) {
            const auto want = pattern_->at(offset, d.size());
            if (std::memcmp(d.data(), want.data(), want.size()) != 0) {
                std::size_t i = 0;
                while (d[i] == want[i]) ++i;
                echo_mismatch_ = offset + i;
            }
            offset += want.size();
            d = d.subspan(want.size());
        }
    }

    void stream_begin(slot& s) {
        window_.start();
        s.conn->begin_message(message_type::binary);
        pump(s);
    }

    void pump(slot& s) {
        while (sent_ < o_.size && s.conn->buffered_amount() < high_water_) {
            const auto n = static_cast<std::size_t>(std::min(o_.fragment, o_.size - sent_));
            const auto piece = pattern_->at(sent_, n);
            sent_ += piece.size();
            if (!s.conn->write_message(piece, sent_ == o_.size)) return;
        }
    }

    void stream_echo_done() {
        window_.stop();
        conns_echoed_ = conns_[0]->got;
        echoed_done_ = true;
        stop_all();
    }

    // -------------------------------------------------------------- connect

    void start_connect() {
        if (o_.connections == 0) o_.connections = 50;
        make_slots(std::min<std::uint64_t>(o_.connections, o_.count));
        window_.start();
        for (auto& s : conns_) connect_next(*s);
    }

    void connect_next(slot& s) {
        if (started_ >= o_.count) {
            if (--connect_active_ == 0 || failed_) {
                window_.stop();
            }
            return;
        }
        if (s.b == nullptr) ++connect_active_;
        ++started_;
        ++pending_opens_;
        s.open = false;
        open_slot(s);
    }

    // -------------------------------------------------------------- idle

    void start_idle() {
        if (o_.connections == 0) o_.connections = 10000;
        if (o_.server_pid <= 0) {
            error("idle mode needs --server-pid to read the server's memory");
            exit_code_ = 2;
            return;
        }
        // Memory per connection is the slope over the measured connections: a first few are
        // opened before the baseline is read, so one-time costs that the first connections
        // trigger (code pages touched, per-loop buffers, allocator arenas) are not divided
        // among the measured ones. The total stays --connections.
        idle_warmup_ = std::min<std::size_t>(idle_warmup, o_.connections / 10);
        if (idle_warmup_ == 0) return idle_measure();
        make_slots(idle_warmup_ * o_.streams);
        open_more();
    }

    void idle_measure() {
        idle_measuring_ = true;
        rss_before_ = read_proc_rss(o_.server_pid);
        make_slots((o_.connections - idle_warmup_) * o_.streams);
        window_.start();
        open_more();
    }

    void idle_all_open() {
        if (!idle_measuring_) {
            phase_timer_->once(0.5, [this] { idle_measure(); });
            return;
        }
        window_.stop();  // the window of idle mode is the opening of the measured connections
        // Settle a moment so the server has finished whatever the last handshakes started.
        phase_timer_->once(1.0, [this] {
            rss_after_ = read_proc_rss(o_.server_pid);
            phase_timer_->once(1.0, [this] { stop_all(); });
        });
    }

    // -------------------------------------------------------------- report

    void report() {
        json_line j;
        j.str("mode", o_.mode).str("url", o_.url);
        char line[512];
        const double secs = window_.seconds();
        double ops = 0;
        const char* unit = "op";
        if (o_.mode == "pingpong") {
            ops = static_cast<double>(messages_);
            unit = "msg";
            const double rate = secs > 0 ? ops / secs : 0;
            j.num("connections", static_cast<double>(o_.connections))
                .num("size", static_cast<double>(o_.size))
                .num("messages", ops)
                .num("seconds", secs)
                .num("msgs_per_s", rate)
                .num("p50_us", hist_.quantile_us(0.5))
                .num("p99_us", hist_.quantile_us(0.99))
                .num("p999_us", hist_.quantile_us(0.999));
            std::snprintf(line, sizeof line,
                          "pingpong %zu conn x %llu B: %.0f msgs/s over %.1f s, latency p50 %.1f "
                          "us p99 %.1f us p99.9 %.1f us",
                          o_.connections, static_cast<unsigned long long>(o_.size), rate, secs,
                          hist_.quantile_us(0.5), hist_.quantile_us(0.99),
                          hist_.quantile_us(0.999));
            if (paced()) {
                j.num("rate", o_.fanout.rate).num("late", static_cast<double>(paced_late_));
                const std::size_t used = std::strlen(line);
                std::snprintf(line + used, sizeof line - used,
                              "; paced at %.0f msgs/s, %llu sends skipped (all connections "
                              "waiting)",
                              o_.fanout.rate, static_cast<unsigned long long>(paced_late_));
            }
        } else if (o_.mode == "stream") {
            const bool whole = echoed_done_ && conns_echoed_ == o_.size;
            const bool ok = whole && (verify_bytes_ ? echo_mismatch_ == no_mismatch
                                                    : echo_hash_->hex() == expected_);
            ops = static_cast<double>(o_.size) / 1e6;
            unit = "MB";
            const double mbps = secs > 0 ? ops / secs : 0;
            j.num("size", static_cast<double>(o_.size))
                .num("seconds", secs)
                .num("mb_per_s", mbps)
                .str("verify", o_.verify)
                .boolean("echo_ok", ok);
            if (verify_bytes_) {
                if (echo_mismatch_ != no_mismatch) {
                    j.num("first_mismatch", static_cast<double>(echo_mismatch_));
                }
            } else {
                j.boolean("sha256_ok", ok).str("sha256", expected_);
            }
            std::snprintf(line, sizeof line, "stream %llu B: %.0f MB/s (%.2f s), echo %s %s",
                          static_cast<unsigned long long>(o_.size), mbps, secs,
                          verify_bytes_ ? "compared byte for byte:" : "SHA-256",
                          ok ? "matches" : "MISMATCH");
            if (!ok) exit_code_ = 7;
        } else if (o_.mode == "connect") {
            ops = static_cast<double>(handshakes_);
            unit = "handshake";
            const double rate = secs > 0 ? ops / secs : 0;
            j.num("connections", static_cast<double>(o_.connections))
                .num("handshakes", ops)
                .num("seconds", secs)
                .num("handshakes_per_s", rate);
            std::snprintf(line, sizeof line,
                          "connect: %llu handshakes (+close) in %.2f s, %.0f/s with %zu at a time",
                          static_cast<unsigned long long>(handshakes_), secs, rate, o_.connections);
        } else {
            const double per =
                o_.connections > idle_warmup_
                    ? (static_cast<double>(rss_after_) - static_cast<double>(rss_before_)) /
                          static_cast<double>(o_.connections - idle_warmup_)
                    : 0;
            ops = static_cast<double>(o_.connections - idle_warmup_);
            unit = "connection opened";
            j.num("connections", static_cast<double>(o_.connections))
                .num("measured_connections", ops)
                .num("seconds", secs)
                .num("rss_before", static_cast<double>(rss_before_))
                .num("rss_after", static_cast<double>(rss_after_))
                .num("warmup_connections", static_cast<double>(idle_warmup_))
                .num("bytes_per_conn", per);
            std::snprintf(line, sizeof line,
                          "idle: %zu connections open (%zu opened first as warm-up, then %zu "
                          "in %.2f s); server RSS %.1f -> %.1f MiB, %.0f bytes per connection",
                          o_.connections, idle_warmup_, o_.connections - idle_warmup_, secs,
                          static_cast<double>(rss_before_) / 1048576.0,
                          static_cast<double>(rss_after_) / 1048576.0, per);
        }
        std::string text = line;
        if (beside_) {
            const double mbps = secs > 0 ? static_cast<double>(beside_echoed_) / 1e6 / secs : 0;
            j.num("beside_message_size", static_cast<double>(o_.beside))
                .num("beside_mb_per_s", mbps);
            char b[160];
            std::snprintf(b, sizeof b,
                          "; beside a stream of %llu-byte messages echoed at %.0f MB/s",
                          static_cast<unsigned long long>(o_.beside), mbps);
            text += b;
        }
        if (o_.http2) {
            j.boolean("http2", true).num("streams_per_connection", static_cast<double>(o_.streams));
            text += "; over HTTP/2, " + std::to_string(o_.streams) + " WebSocket stream" +
                    (o_.streams == 1 ? "" : "s") + " per connection";
        }
        j.num("client_cpu_pct", window_.client_cpu_pct());
        if (window_.have_server()) {
            const double u = ops > 0 ? window_.server_user_s() * 1e6 / ops : 0;
            const double s = ops > 0 ? window_.server_sys_s() * 1e6 / ops : 0;
            j.num("server_cpu_pct", window_.server_cpu_pct())
                .num("server_user_us_per_op", u)
                .num("server_sys_us_per_op", s)
                .str("op", unit);
            char extra[200];
            std::snprintf(extra, sizeof extra,
                          "; server CPU %.0f%% (user %.2f + sys %.2f us/%s), client CPU %.0f%%",
                          window_.server_cpu_pct(), u, s, unit, window_.client_cpu_pct());
            text += extra;
        }
        std::printf("%s\n", text.c_str());
        if (o_.json) std::printf("%s\n", j.text().c_str());
    }

    static constexpr std::size_t max_pending = 200;
    const std::size_t high_water_ = client_options{}.high_water_mark;

    bench_options o_;
    uv_loop_t loop_{};
    std::optional<reaper> reaper_;
    std::optional<timer> phase_timer_;
    // Declared after the reaper (destroyed before it): it may hand it its connection.
    std::optional<beside_stream> beside_;
    std::uint64_t beside_echoed_ = 0;
    cpu_window window_;
    histogram hist_;
    std::vector<std::unique_ptr<slot>> conns_;
    std::vector<std::uint8_t> payload_;
    std::size_t next_open_ = 0;
    std::size_t pending_opens_ = 0;
    std::size_t open_count_ = 0;
    bool running_ = false;
    bool measuring_ = false;
    // pingpong --rate
    uv_idle_t pacer_{};
    bool pacing_ = false;
    std::uint64_t pace_start_ = 0;
    std::uint64_t paced_sent_ = 0;  // sends due so far, made or skipped
    std::uint64_t paced_late_ = 0;  // ... skipped: every connection was waiting
    std::size_t next_paced_ = 0;
    bool closing_ = false;
    bool failed_ = false;
    int exit_code_ = 0;
    std::uint64_t messages_ = 0;
    // stream
    std::unique_ptr<pattern> pattern_;
    std::unique_ptr<sha256> echo_hash_;
    std::string expected_;
    bool verify_bytes_ = false;
    static constexpr std::uint64_t no_mismatch = ~std::uint64_t{0};
    std::uint64_t echo_mismatch_ = no_mismatch;
    std::uint64_t sent_ = 0;
    std::uint64_t conns_echoed_ = 0;
    bool echoed_done_ = false;
    // connect
    std::uint64_t started_ = 0;
    std::uint64_t handshakes_ = 0;
    std::size_t connect_active_ = 0;
    // idle
    static constexpr std::size_t idle_warmup = 100;
    std::size_t idle_warmup_ = 0;
    bool idle_measuring_ = false;
    std::uint64_t rss_before_ = 0;
    std::uint64_t rss_after_ = 0;
};

}  // namespace

command_runner add_bench_command(CLI::App& app) {
    auto o = std::make_shared<bench_options>();
    auto* cmd = app.add_subcommand(
        "bench",
        "Load generator: pingpong, stream, connect or idle against an echo server; fanout "
        "against a pub/sub server");
    cmd->add_option("mode", o->mode, "pingpong, stream, connect, idle or fanout")
        ->required()
        ->check(CLI::IsMember({"pingpong", "stream", "connect", "idle", "fanout"}));
    cmd->add_option("url", o->url,
                    "ws:// URL of an echo server (fanout: of a topic, e.g. ws://HOST/topics/T)")
        ->required();
    cmd->add_option("--connections", o->connections,
                    "Connections (pingpong: 1, connect: at a time, 50; idle: 10000)");
    cmd->add_option("--size", o->size, "Message bytes (pingpong, fanout: 16; stream: 64 MiB)");
    cmd->add_option("--duration", o->duration, "Measured seconds (pingpong, fanout)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--warmup", o->warmup, "Seconds before measuring (pingpong, fanout)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--count", o->count, "Handshakes (connect)")->capture_default_str();
    cmd->add_option("--fragment", o->fragment, "Frame size of the stream message")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{pattern::period}));
    cmd->add_option("--verify", o->verify,
                    "stream: how the echo is checked: sha256 (hashed as it arrives) or bytes "
                    "(compared with the generated message, cheaper for the generator)")
        ->check(CLI::IsMember({"sha256", "bytes"}));
    cmd->add_option("--expect-sha256", o->expect_sha256,
                    "stream: the SHA-256 of the generated message, if known (skips hashing it)");
    cmd->add_option("--server-pid", o->server_pids,
                    "Server process: report its CPU time and (idle) memory from /proc "
                    "(fanout: several, comma-separated or repeated, are summed)")
        ->delimiter(',');
    auto& fo = o->fanout;
    cmd->add_option("--subscribers", fo.subscribers, "fanout: subscriber connections")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--window", fo.window,
                    "fanout: messages in flight (message k waits until every subscriber has "
                    "received k - W)")
        ->capture_default_str();
    cmd->add_option("--rate", fo.rate,
                    "fanout: publish this many messages per second instead of a window; "
                    "pingpong: send this many per second in all, evenly spaced, instead of "
                    "as fast as echoes return")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--publish-url", fo.publish_url, "fanout: the publisher's URL (default: url)");
    cmd->add_option("--subscriber-urls", fo.subscriber_urls,
                    "fanout: subscribers connect round-robin to these (several nodes)")
        ->delimiter(',');
    cmd->add_flag("--json", o->json, "Also print one JSON object line");
    cmd->add_flag("--http2", o->http2,
                  "WebSockets over HTTP/2 (RFC 8441): wss via TLS ALPN h2, ws via h2c");
    cmd->add_option("--beside", o->beside,
                    "With --http2 (pingpong): one more stream on the first connection "
                    "streams messages of this many bytes while the pingpong runs");
    cmd->add_option("--streams", o->streams,
                    "With --http2 (pingpong, idle): WebSocket streams per HTTP/2 connection; "
                    "--connections counts the HTTP/2 connections")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    return [o, cmd]() -> int {
        if (!cmd->parsed()) return -1;
        if (!o->server_pids.empty()) o->server_pid = o->server_pids.front();
        if (o->streams > 1 && (!o->http2 || (o->mode != "pingpong" && o->mode != "idle"))) {
            std::fprintf(stderr, "sockeye bench: --streams needs --http2 and pingpong or idle\n");
            return 2;
        }
        if (o->beside != 0 && (!o->http2 || o->mode != "pingpong")) {
            std::fprintf(stderr, "sockeye bench: --beside needs --http2 and pingpong\n");
            return 2;
        }
        if (o->http2 && o->mode == "fanout") {
            std::fprintf(stderr, "sockeye bench: fanout does not support --http2\n");
            return 2;
        }
        // An echo server that closes mid-write must not kill the generator.
        std::signal(SIGPIPE, SIG_IGN);
        // One descriptor per connection: take everything the hard limit allows.
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        try {
            if (o->mode == "fanout") {
                auto& f = o->fanout;
                f.url = o->url;
                if (o->size != 0) f.size = o->size;
                f.duration = o->duration;
                f.warmup = o->warmup;
                f.server_pids = o->server_pids;
                f.json = o->json;
                return run_fanout(f);
            }
            bench b(*o);
            return b.run();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "sockeye bench: %s\n", e.what());
            return 1;
        }
    };
}

}  // namespace sockeye::apps
