// The connection a node receives on: (S)SUBSCRIBE for every wanted topic, messages out.
//
// It is driven here on a libuv TCP handle, with hiredis' reply reader and command
// formatter doing all of RESP, rather than through hiredis' async API: in 0.14 that API's
// subscribe mode knows subscribe/message but not SSUBSCRIBE/smessage, and a reply it
// cannot match to a callback hits an assert in redisProcessCallbacks. One driver serves
// both modes, so the plain mode exercises the same code the sharded mode relies on.
//
// Every command sent gets exactly one reply (one channel per (S)SUBSCRIBE keeps that true
// for subscriptions), so replies are matched to a FIFO of what was sent; the only other
// replies are pushed messages.
#pragma once
#include "pubsub/broker_settings.hpp"
#include "pubsub/host_resolver.hpp"
#include "pubsub/loop_timer.hpp"
#include "pubsub/reconnect_backoff.hpp"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <string_view>

struct redisReply;

namespace sockeye::pubsub {

class subscribe_link {
  public:
    // A message on one of our channels: the topic (prefix removed) and the raw envelope.
    using push_fn = std::function<void(std::string_view topic, std::span<const std::uint8_t>)>;

    subscribe_link(uv_loop_t* loop, const broker_settings& settings, log_fn log,
                   std::function<void()> on_ready_change, push_fn on_push);
    ~subscribe_link();
    subscribe_link(const subscribe_link&) = delete;
    subscribe_link& operator=(const subscribe_link&) = delete;

    void start();
    void stop();  // closes the TCP handle and the timer; idempotent
    bool ready() const noexcept { return state_ == state::ready; }

    // The wanted set: kept across reconnects and sent again on each one.
    void subscribe(std::string_view topic);
    void unsubscribe(std::string_view topic);

  private:
    enum class state { idle, connecting, handshaking, ready };
    enum class command { auth, select, subscribe, unsubscribe, ping };
    struct session;

    void connect();
    void connect_to(const resolved_address& address);
    void on_connected();
    void on_read(const char* data, std::size_t size);
    // False when the session ended while handling it (stop() or a fatal reply).
    bool handle_reply(const redisReply& reply);
    void send(command what, std::span<const std::string_view> argv);
    void send_subscription(command what, std::string_view topic);
    void lost(std::string_view why);
    void end_session();
    void set_state(state next);

    uv_loop_t* loop_;
    const broker_settings& settings_;
    log_fn log_;
    std::function<void()> on_ready_change_;
    push_fn on_push_;
    host_resolver resolver_;
    loop_timer retry_timer_;
    reconnect_backoff backoff_;

    std::set<std::string, std::less<>> wanted_;
    session* session_ = nullptr;
    state state_ = state::idle;
    bool stopped_ = false;
    bool down_logged_ = false;
    std::deque<command> awaiting_;  // commands sent, oldest first, whose reply is due
};

}  // namespace sockeye::pubsub
