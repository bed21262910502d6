// `sockeye bench fanout`: N subscriber connections and one publisher connection on one
// libuv loop in one thread, like the other modes.
//
// Every payload starts with a sequence number and the publisher's send time (uv_hrtime:
// one process, one clock, so publish -> delivery latency needs no clock sync). Pacing:
// with --window W, message k is sent only once every subscriber has received k - W, so the
// run measures how fast the server fans out rather than how deep it lets queues grow; with
// --rate R, messages go out at R per second whatever happens (latency runs), up to
// `ring_size` in flight.
//
// The receive path allocates nothing: each connection keeps the first 16 bytes of the
// message being received in its slot, an order check of 32 bytes (fanout_sequence.hpp)
// and counters; completion of message k is a countdown in a fixed ring.
//
// The publisher is subscribed too (its URL names the topic): like Redis, the server sends
// it its own messages. They are read and counted (self_deliveries) but are not
// deliveries and are not required to arrive.
#include "bench_fanout.hpp"

#include <uv.h>

#include <sockeye/client.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "client/client.hpp"
#include "common/escape.hpp"
#include "fanout_sequence.hpp"

namespace sockeye::apps {

namespace {

using bench_support::cpu_window;
using bench_support::histogram;
using bench_support::json_line;
using bench_support::reaper;
using bench_support::timer;
using client_detail::client_connection;

constexpr std::size_t header_bytes = 16;  // sequence number, send time (ns)
constexpr std::size_t ring_size = 1 << 16;
constexpr std::size_t max_pending_opens = 200;
constexpr double settle_s = 0.5;  // between the last subscription and the first message
constexpr double stall_s = 3;     // no message completed this long with some outstanding
constexpr double rate_tick_s = 0.001;

std::uint64_t load_u64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);  // little-endian on both sides: one process
    return v;
}

class fanout_bench {
  public:
    explicit fanout_bench(const fanout_options& o)
        : o_(o), window_(o.server_pids), ring_(ring_size, 0) {
        uv_loop_init(&loop_);
        reaper_.emplace(&loop_);
        phase_.emplace(&loop_);
        watchdog_.emplace(&loop_);
        ticker_.emplace(&loop_);
    }
    ~fanout_bench() { uv_loop_close(&loop_); }
    fanout_bench(const fanout_bench&) = delete;
    fanout_bench& operator=(const fanout_bench&) = delete;

    int run() {
        payload_.resize(static_cast<std::size_t>(o_.size));
        for (std::size_t i = header_bytes; i < payload_.size(); ++i) {
            payload_[i] = static_cast<std::uint8_t>(i * 131 + 7);
        }
        members_.reserve(o_.subscribers + 1);
        for (std::size_t i = 0; i <= o_.subscribers; ++i) {
            members_.push_back(std::make_unique<member>());
        }
        open_more();
        uv_run(&loop_, UV_RUN_DEFAULT);
        for (auto* t : {&*phase_, &*watchdog_, &*ticker_}) t->close();
        reaper_->close();
        uv_run(&loop_, UV_RUN_DEFAULT);
        members_.clear();
        if (!publishing_started_) return 1;  // nothing measured; the error is printed
        const bool clean = lost_ == 0 && duplicated_ == 0 && reordered_ == 0;
        report(clean);
        if (!clean) {
            std::fprintf(stderr,
                         "sockeye bench: fanout: %llu lost, %llu duplicated, %llu reordered "
                         "deliveries\n",
                         static_cast<unsigned long long>(lost_),
                         static_cast<unsigned long long>(duplicated_),
                         static_cast<unsigned long long>(reordered_));
            return 8;
        }
        return failed_ ? 1 : 0;
    }

  private:
    // A subscriber, or (the last one) the publisher.
    struct member {
        fanout_bench* b = nullptr;
        std::unique_ptr<client_connection> conn;
        fanout_sequence order;
        std::array<std::uint8_t, header_bytes> head{};
        std::uint32_t head_len = 0;
        std::uint64_t bytes = 0;  // of the message being received
        std::uint64_t received = 0;
        bool open = false;
    };

    bool is_publisher(const member& m) const { return &m == members_.back().get(); }

    const std::string& url_of(std::size_t i) const {
        if (i == o_.subscribers) return o_.publish_url.empty() ? o_.url : o_.publish_url;
        if (o_.subscriber_urls.empty()) return o_.url;
        return o_.subscriber_urls[i % o_.subscriber_urls.size()];
    }

    void error(const std::string& what) {
        // Client errors may quote the server (a reason phrase, a close reason).
        if (!failed_) {
            std::fprintf(stderr, "sockeye bench: %s\n", common::escape_for_display(what).c_str());
        }
        failed_ = true;
    }

    // -------------------------------------------------------------- connections

    void open_member(std::size_t i) {
        member& m = *members_[i];
        m.b = this;
        client_options co;
        co.url = url_of(i);
        co.connect_timeout = 60;  // thousands of handshakes may queue behind each other
        co.close_timeout = 10;
        handlers h;
        h.on_open = [&m](connection&) { m.b->on_open(m); };
        h.on_message_begin = [&m](connection&, message_type type) {
            m.head_len = 0;
            m.bytes = 0;
            if (type != message_type::binary) m.b->error("a delivery came as text, not binary");
        };
        h.on_message_chunk = [&m](connection&, std::span<const std::uint8_t> d, bool fin) {
            if (m.head_len < header_bytes) {
                const auto n = std::min<std::size_t>(header_bytes - m.head_len, d.size());
                std::memcpy(m.head.data() + m.head_len, d.data(), n);
                m.head_len += static_cast<std::uint32_t>(n);
            }
            m.bytes += d.size();
            if (fin) m.b->on_delivery(m);
        };
        h.on_close = [&m](connection&, std::uint16_t code, std::string_view reason) {
            m.b->on_close(m, code, reason);
        };
        m.conn = std::make_unique<client_connection>(
            &loop_, std::move(co), std::move(h),
            [&m](client_error, const std::string& message) { m.b->on_connect_error(m, message); });
        m.conn->start();
    }

    // Subscribers first, at most max_pending_opens handshakes at a time (a burst of
    // thousands of SYNs would overflow the accept backlog and measure retransmit timers);
    // the publisher once they are all subscribed.
    void open_more() {
        while (next_open_ < o_.subscribers && pending_opens_ < max_pending_opens) {
            ++pending_opens_;
            open_member(next_open_++);
        }
    }

    void on_open(member& m) {
        --pending_opens_;
        m.open = true;
        if (finishing_) return void(m.conn->close(1000, {}));
        if (is_publisher(m)) {
            phase_->once(settle_s, [this] { start_publishing(); });
            return;
        }
        ++subscribed_;
        open_more();
        if (subscribed_ == o_.subscribers) open_member(o_.subscribers);
    }

    void on_connect_error(member& m, const std::string& message) {
        --pending_opens_;
        error(message);
        reaper_->bury(std::move(m.conn));
        finish();
    }

    void on_close(member& m, std::uint16_t code, std::string_view reason) {
        m.open = false;
        if (!finishing_) {
            error((is_publisher(m) ? "the publisher" : "a subscriber") +
                  std::string(" was closed early with ") + std::to_string(code) + " " +
                  std::string(reason));
        }
        reaper_->bury(std::move(m.conn));
        finish();
    }

    // -------------------------------------------------------------- publishing

    void start_publishing() {
        publishing_started_ = true;
        last_progress_ = uv_hrtime();
        watchdog_->every(0.5, [this] { check_progress(); });
        if (o_.rate > 0) {
            rate_t0_ = uv_hrtime();
            ticker_->every(rate_tick_s, [this] { on_tick(); });
        } else {
            pump();
        }
        phase_->once(o_.warmup, [this] {
            hist_.reset();
            window_deliveries_ = 0;
            window_published_ = 0;
            max_lag_ = 0;
            measuring_ = true;
            window_.start();
            phase_->once(o_.duration, [this] { end_window(); });
        });
    }

    void end_window() {
        if (!measuring_) return;
        window_.stop();
        measuring_ = false;
        stopping_ = true;  // send no more; finish once everything sent has arrived
        ticker_->stop();
        if (completed_ == sent_) finish();
    }

    void send_one() {
        auto* p = payload_.data();
        const std::uint64_t now = uv_hrtime();
        std::memcpy(p, &sent_, 8);
        std::memcpy(p + 8, &now, 8);
        if (sent_ == completed_) last_progress_ = now;  // the stall clock starts now
        ring_[sent_ & (ring_size - 1)] = static_cast<std::uint32_t>(o_.subscribers);
        ++sent_;
        if (measuring_) ++window_published_;
        members_.back()->conn->send(message_type::binary, payload_);
    }

    // Window pacing: called at the start and whenever a message has reached everyone.
    void pump() {
        while (!stopping_ && !finishing_ && sent_ < completed_ + o_.window) send_one();
    }

    // Rate pacing: every tick sends what the schedule says is due by now. Messages the
    // ring or the publisher's buffer cannot take yet are sent late and show as lag.
    void on_tick() {
        if (stopping_ || finishing_) return;
        const double elapsed = static_cast<double>(uv_hrtime() - rate_t0_) / 1e9;
        const auto due = static_cast<std::uint64_t>(elapsed * o_.rate);
        auto& pub = *members_.back()->conn;
        while (sent_ < due && sent_ - completed_ < ring_size &&
               pub.buffered_amount() < pub_high_water_) {
            send_one();
        }
        if (measuring_ && due > sent_) max_lag_ = std::max(max_lag_, due - sent_);
    }

    void check_progress() {
        if (finishing_ || sent_ == completed_) return;
        if (static_cast<double>(uv_hrtime() - last_progress_) / 1e9 < stall_s) return;
        const auto waiting = ring_[completed_ & (ring_size - 1)];
        error("stalled: message " + std::to_string(completed_) + " has not reached " +
              std::to_string(waiting) + " subscriber(s) in " +
              std::to_string(static_cast<int>(stall_s)) + " s");
        if (measuring_) {
            window_.stop();
            measuring_ = false;
        }
        finish();
    }

    // -------------------------------------------------------------- receiving

    void on_delivery(member& m) {
        if (m.bytes != o_.size || m.head_len < header_bytes) {
            error("a delivery of " + std::to_string(m.bytes) + " bytes, not " +
                  std::to_string(o_.size));
            return finish();
        }
        const std::uint64_t seq = load_u64(m.head.data());
        if (seq >= sent_) {
            error("a delivery numbered " + std::to_string(seq) + " was never published");
            return finish();
        }
        ++m.received;
        const auto verdict = m.order.arrive(seq);
        if (is_publisher(m)) {
            ++self_deliveries_;
            return;
        }
        ++deliveries_;
        if (measuring_) {
            ++window_deliveries_;
            hist_.record(uv_hrtime() - load_u64(m.head.data() + 8));
        }
        if (verdict == fanout_sequence::verdict::duplicate || seq < completed_) return;
        if (--ring_[seq & (ring_size - 1)] == 0 && seq == completed_) advance();
    }

    void advance() {
        while (completed_ < sent_ && ring_[completed_ & (ring_size - 1)] == 0) ++completed_;
        last_progress_ = uv_hrtime();
        if (stopping_ && completed_ == sent_) return finish();
        if (o_.rate <= 0) pump();
    }

    // -------------------------------------------------------------- the end

    void finish() {
        if (finishing_) return;
        finishing_ = true;
        phase_->stop();
        watchdog_->stop();
        ticker_->stop();
        if (measuring_) {
            window_.stop();
            measuring_ = false;
        }
        if (publishing_started_) {
            for (std::size_t i = 0; i < o_.subscribers; ++i) {
                const auto& order = members_[i]->order;
                lost_ += order.lost(sent_);
                duplicated_ += order.duplicated();
                reordered_ += order.reordered();
            }
        }
        for (auto& m : members_) {
            if (m->conn && m->open) {
                m->conn->close(1000, {});
            } else if (m->conn) {
                m->conn->abort();
            }
        }
    }

    void report(bool clean) const {
        const double secs = window_.seconds();
        const auto deliveries = static_cast<double>(window_deliveries_);
        const double rate = secs > 0 ? deliveries / secs : 0;
        const double published = secs > 0 ? static_cast<double>(window_published_) / secs : 0;
        const double lag_ms = o_.rate > 0 ? static_cast<double>(max_lag_) / o_.rate * 1e3 : 0;
        json_line j;
        j.str("mode", "fanout")
            .str("url", o_.url)
            .num("subscribers", static_cast<double>(o_.subscribers))
            .num("size", static_cast<double>(o_.size))
            .num("window", o_.rate > 0 ? 0 : static_cast<double>(o_.window))
            .num("rate", o_.rate)
            .num("seconds", secs)
            .num("messages", static_cast<double>(window_published_))
            .num("deliveries", deliveries)
            .num("deliveries_per_s", rate)
            .num("msgs_per_s", published)
            .num("p50_us", hist_.quantile_us(0.5))
            .num("p99_us", hist_.quantile_us(0.99))
            .num("p999_us", hist_.quantile_us(0.999))
            .num("max_send_lag_ms", lag_ms)
            .num("published_total", static_cast<double>(sent_))
            .num("deliveries_total", static_cast<double>(deliveries_))
            .num("self_deliveries", static_cast<double>(self_deliveries_))
            .num("lost", static_cast<double>(lost_))
            .num("duplicated", static_cast<double>(duplicated_))
            .num("reordered", static_cast<double>(reordered_))
            .boolean("complete", clean)
            .num("client_cpu_pct", window_.client_cpu_pct());
        char line[600];
        std::snprintf(line, sizeof line,
                      "fanout %zu subscribers x %llu B (%s): %.0f deliveries/s (%.0f msgs/s "
                      "published) over %.1f s, latency p50 %.1f us p99 %.1f us; %llu lost, "
                      "%llu duplicated, %llu reordered%s",
                      o_.subscribers, static_cast<unsigned long long>(o_.size),
                      o_.rate > 0 ? ("rate " + std::to_string(static_cast<long>(o_.rate))).c_str()
                                  : ("window " + std::to_string(o_.window)).c_str(),
                      rate, published, secs, hist_.quantile_us(0.5), hist_.quantile_us(0.99),
                      static_cast<unsigned long long>(lost_),
                      static_cast<unsigned long long>(duplicated_),
                      static_cast<unsigned long long>(reordered_), clean ? "" : " - INCOMPLETE");
        std::string text = line;
        if (window_.have_server()) {
            const double u = deliveries > 0 ? window_.server_user_s() * 1e6 / deliveries : 0;
            const double s = deliveries > 0 ? window_.server_sys_s() * 1e6 / deliveries : 0;
            j.num("server_cpu_pct", window_.server_cpu_pct())
                .num("server_user_us_per_op", u)
                .num("server_sys_us_per_op", s)
                .str("op", "delivery");
            char extra[200];
            std::snprintf(extra, sizeof extra,
                          "; server CPU %.0f%% (user %.3f + sys %.3f us/delivery), client CPU "
                          "%.0f%%",
                          window_.server_cpu_pct(), u, s, window_.client_cpu_pct());
            text += extra;
        } else {
            char extra[64];
            std::snprintf(extra, sizeof extra, "; client CPU %.0f%%", window_.client_cpu_pct());
            text += extra;
        }
        std::printf("%s\n", text.c_str());
        if (o_.json) std::printf("%s\n", j.text().c_str());
    }

    const fanout_options& o_;
    const std::size_t pub_high_water_ = client_options{}.high_water_mark;
    uv_loop_t loop_{};
    std::optional<reaper> reaper_;
    std::optional<timer> phase_, watchdog_, ticker_;
    cpu_window window_;
    histogram hist_;
    std::vector<std::unique_ptr<member>> members_;
    std::vector<std::uint8_t> payload_;
    // ring_[k % ring_size]: subscribers still to receive message k, for k in
    // [completed_, sent_). Messages complete in order: a subscriber gets k - 1 before k.
    std::vector<std::uint32_t> ring_;
    std::size_t next_open_ = 0;
    std::size_t pending_opens_ = 0;
    std::size_t subscribed_ = 0;
    std::uint64_t sent_ = 0;
    std::uint64_t completed_ = 0;  // messages every subscriber has received
    std::uint64_t last_progress_ = 0;
    std::uint64_t rate_t0_ = 0;
    std::uint64_t max_lag_ = 0;  // most messages behind the rate schedule, in the window
    std::uint64_t deliveries_ = 0;
    std::uint64_t self_deliveries_ = 0;
    std::uint64_t window_deliveries_ = 0;
    std::uint64_t window_published_ = 0;
    std::uint64_t lost_ = 0, duplicated_ = 0, reordered_ = 0;
    bool publishing_started_ = false;
    bool measuring_ = false;
    bool stopping_ = false;
    bool finishing_ = false;
    bool failed_ = false;
};

}  // namespace

int run_fanout(const fanout_options& o) {
    if (o.size < header_bytes) {
        std::fprintf(stderr, "sockeye bench fanout: --size must be at least %zu\n", header_bytes);
        return 2;
    }
    if (o.subscribers == 0) {
        std::fprintf(stderr, "sockeye bench fanout: --subscribers must be at least 1\n");
        return 2;
    }
    if (o.rate <= 0 && (o.window == 0 || o.window > ring_size)) {
        std::fprintf(stderr, "sockeye bench fanout: --window must be 1..%zu\n", ring_size);
        return 2;
    }
    fanout_bench b(o);
    return b.run();
}

}  // namespace sockeye::apps
