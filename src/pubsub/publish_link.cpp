#include "pubsub/publish_link.hpp"

#include "pubsub/hiredis_uv.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <cstring>
#include <string>
#include <utility>

namespace sockeye::pubsub {
namespace {

// Reply callbacks get one of these as privdata; their address names the command.
constexpr int auth_tag = 0, select_tag = 1, ping_tag = 2, publish_tag = 3;
const int tags[] = {auth_tag, select_tag, ping_tag, publish_tag};

void* tag_of(int tag) {
    return const_cast<int*>(&tags[tag]);
}

}  // namespace

publish_link::publish_link(uv_loop_t* loop, const broker_settings& settings, broker_stats& stats,
                           held_budget& budget, log_fn log, std::function<void()> on_ready_change)
    : loop_(loop),
      settings_(settings),
      stats_(stats),
      budget_(budget),
      log_(std::move(log)),
      on_ready_change_(std::move(on_ready_change)),
      resolver_(loop),
      retry_timer_(loop) {}

publish_link::~publish_link() {
    stop();
}

void publish_link::start() {
    if (!stopped_ && !ac_) connect();
}

void publish_link::stop() {
    if (stopped_) return;
    stopped_ = true;
    resolver_.cancel();
    retry_timer_.close();
    if (ac_) {
        // Runs the pending reply callbacks with no reply (releasing in-flight bytes), then
        // closes the adapter's poll handle and the socket.
        redisAsyncContext* ac = ac_;
        ac_ = nullptr;
        redisAsyncFree(ac);
    }
    for (const auto& message : held_) {
        budget_.release(message.bytes);
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    }
    held_.clear();
    ready_ = false;
}

void publish_link::publish(std::string channel, std::string envelope, std::uint64_t bytes) {
    held message{std::move(channel), std::move(envelope), bytes};
    if (stopped_) {
        budget_.release(bytes);
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // Behind held ones even when ready, so order is kept while they drain.
    if (!ready_ || !held_.empty()) {
        held_.push_back(std::move(message));
        return;
    }
    if (!send(message)) {
        budget_.release(bytes);
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    }
}

void publish_link::connect() {
    resolver_.start(settings_.url.host, settings_.url.port,
                    [this](int status, const resolved_address& address) {
                        if (status != 0) {
                            lost(std::string("cannot resolve ") + settings_.url.host + ": " +
                                 uv_strerror(status));
                            return;
                        }
                        connect_to(address);
                    });
}

void publish_link::connect_to(const resolved_address& address) {
    redisAsyncContext* ac = redisAsyncConnect(address.ip.c_str(), settings_.url.port);
    if (!ac) {
        lost("out of memory");
        return;
    }
    if (ac->err) {
        const std::string why = ac->errstr;
        redisAsyncFree(ac);
        lost(why);
        return;
    }
    if (!attach_to_loop(ac, loop_)) {
        redisAsyncFree(ac);
        lost("cannot watch the socket");
        return;
    }
    ac->data = this;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ac_ = ac;
    // hiredis buffers commands until the TCP connect completes.
    send_handshake();
}

void publish_link::send_handshake() {
    const std::string& password = settings_.url.password;
    if (!password.empty()) {
        const char* argv[] = {"AUTH", password.data()};
        const std::size_t lens[] = {4, password.size()};
        redisAsyncCommandArgv(ac_, on_reply, tag_of(auth_tag), 2, argv, lens);
    }
    if (settings_.url.db != 0) {
        const std::string db = std::to_string(settings_.url.db);
        const char* argv[] = {"SELECT", db.data()};
        const std::size_t lens[] = {6, db.size()};
        redisAsyncCommandArgv(ac_, on_reply, tag_of(select_tag), 2, argv, lens);
    }
    // Its answer says everything before it was accepted: the link is ready.
    const char* argv[] = {"PING"};
    const std::size_t lens[] = {4};
    redisAsyncCommandArgv(ac_, on_reply, tag_of(ping_tag), 1, argv, lens);
}

bool publish_link::send(const held& message) {
    const char* verb = settings_.sharded ? "SPUBLISH" : "PUBLISH";
    const char* argv[] = {verb, message.channel.data(), message.envelope.data()};
    const std::size_t lens[] = {std::strlen(verb), message.channel.size(), message.envelope.size()};
    if (redisAsyncCommandArgv(ac_, on_reply, tag_of(publish_tag), 3, argv, lens) != REDIS_OK)
        return false;
    in_flight_.push_back(message.bytes);
    return true;
}

void publish_link::flush() {
    while (ready_ && !held_.empty()) {
        held message = std::move(held_.front());
        held_.pop_front();
        if (!send(message)) {
            budget_.release(message.bytes);
            stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

void publish_link::lost(std::string_view why) {
    set_ready(false);
    if (stopped_) return;
    if (!down_logged_) {
        down_logged_ = true;
        log_(std::string("redis publish connection down: ") + std::string(why));
    }
    retry_timer_.start(backoff_.next(), [this] { connect(); });
}

void publish_link::set_ready(bool ready) {
    if (ready_ == ready) return;
    ready_ = ready;
    if (on_ready_change_) on_ready_change_();
}

void publish_link::on_connect(const redisAsyncContext* ac, int status) {
    if (status == REDIS_OK) return;
    auto* self = static_cast<publish_link*>(ac->data);
    // hiredis frees the context after this returns.
    self->ac_ = nullptr;
    self->lost(ac->errstr);
}

void publish_link::on_disconnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<publish_link*>(ac->data);
    if (self->ac_ != ac) return;  // our own redisAsyncFree in stop()
    self->ac_ = nullptr;
    self->lost(status == REDIS_OK ? "closed" : ac->errstr);
}

void publish_link::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    auto* self = static_cast<publish_link*>(ac->data);
    const int tag = *static_cast<const int*>(privdata);
    self->handle_reply(static_cast<reply_kind>(tag), reply);
}

void publish_link::handle_reply(reply_kind kind, void* raw) {
    const auto* reply = static_cast<const redisReply*>(raw);
    const bool error = reply && reply->type == REDIS_REPLY_ERROR;
    switch (kind) {
        case reply_kind::auth:
        case reply_kind::select:
        case reply_kind::ping:
            if (error) {
                // PING is refused too after a refused AUTH, or with LOADING while Redis
                // reads its data: either way, retry later on a new connection.
                if (kind != reply_kind::ping)
                    log_(std::string(kind == reply_kind::auth ? "redis AUTH" : "redis SELECT") +
                         " refused: " + std::string(reply->str, reply->len));
                // Answers still pending arrive first, then on_disconnect retries later.
                if (ac_) redisAsyncDisconnect(ac_);
                return;
            }
            if (kind != reply_kind::ping || !reply || !ac_ || (ac_->c.flags & REDIS_DISCONNECTING))
                return;
            backoff_.reset();
            down_logged_ = false;
            set_ready(true);
            flush();
            return;
        case reply_kind::publish:
            break;
    }
    // Replies come in the order the publishes were sent.
    if (!in_flight_.empty()) {
        budget_.release(in_flight_.front());
        in_flight_.pop_front();
    }
    if (!reply || error) {
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        // The first, then one in 1024: a misconfigured Redis (MOVED in a cluster, ACLs)
        // refuses every publish, which must not flood the log.
        if (error && !stopped_ && refused_++ % 1024 == 0)
            log_("redis refused a publish (" + std::to_string(refused_) +
                 " so far): " + std::string(reply->str, reply->len));
        return;
    }
    stats_.published.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace sockeye::pubsub
