// The connection a node publishes on: hiredis' async API on the broker's loop (through
// attach_to_loop, see hiredis_uv.hpp). Publishes are sent in the order given; while the connection
// is down (or not yet through AUTH and SELECT) they are held, and sent first once it is back.
//
// A publish in flight when the connection breaks is counted as dropped, not sent again:
// Redis may already have fanned it out, and resending could deliver it twice.
#pragma once
#include "pubsub/broker_settings.hpp"
#include "pubsub/held_budget.hpp"
#include "pubsub/host_resolver.hpp"
#include "pubsub/loop_timer.hpp"
#include "pubsub/reconnect_backoff.hpp"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

struct redisAsyncContext;

namespace sockeye::pubsub {

class publish_link {
  public:
    publish_link(uv_loop_t* loop, const broker_settings& settings, broker_stats& stats,
                 held_budget& budget, log_fn log, std::function<void()> on_ready_change);
    ~publish_link();
    publish_link(const publish_link&) = delete;
    publish_link& operator=(const publish_link&) = delete;

    void start();
    // Frees the hiredis context (which closes its poll handle) and the timer; held
    // publishes are dropped. Idempotent.
    void stop();
    bool ready() const noexcept { return ready_; }

    // `bytes` were reserved from the budget for this publish; they are released once Redis
    // answers or the publish is given up.
    void publish(std::string channel, std::string envelope, std::uint64_t bytes);

  private:
    struct held {
        std::string channel;
        std::string envelope;
        std::uint64_t bytes;
    };
    enum class reply_kind { auth, select, ping, publish };

    void connect();
    void connect_to(const resolved_address& address);
    void send_handshake();
    bool send(const held& message);
    void flush();
    void lost(std::string_view why);
    void set_ready(bool ready);

    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    void handle_reply(reply_kind kind, void* reply);

    uv_loop_t* loop_;
    const broker_settings& settings_;
    broker_stats& stats_;
    held_budget& budget_;
    log_fn log_;
    std::function<void()> on_ready_change_;
    host_resolver resolver_;
    loop_timer retry_timer_;
    reconnect_backoff backoff_;

    redisAsyncContext* ac_ = nullptr;
    bool ready_ = false;
    bool stopped_ = false;
    bool down_logged_ = false;   // one line per outage, not one per attempt
    std::uint64_t refused_ = 0;  // publishes Redis answered with an error
    std::deque<held> held_;
    std::deque<std::uint64_t> in_flight_;  // bytes of each publish awaiting its reply
};

}  // namespace sockeye::pubsub
