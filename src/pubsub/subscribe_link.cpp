#include "pubsub/subscribe_link.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace sockeye::pubsub {

// One TCP connection's worth of state. It lives on the heap until libuv has closed the
// handle, which may be after the link moved on (or was destroyed); `owner` is cleared then,
// and the callbacks of a session without owner only clean up.
struct subscribe_link::session {
    uv_tcp_t tcp{};
    uv_connect_t connect{};
    subscribe_link* owner = nullptr;
    redisReader* reader = nullptr;
    std::array<char, 64 * 1024> buffer{};

    ~session() {
        if (reader) redisReaderFree(reader);
    }
};

namespace {

struct write_request {
    uv_write_t req{};
    char* command = nullptr;  // hiredis-formatted, freed with redisFreeCommand

    ~write_request() { redisFreeCommand(command); }
};

bool is_string(const redisReply* r) {
    return r && r->type == REDIS_REPLY_STRING;
}

std::string_view text_of(const redisReply* r) {
    return {r->str, r->len};
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

subscribe_link::subscribe_link(uv_loop_t* loop, const broker_settings& settings, log_fn log,
                               std::function<void()> on_ready_change, push_fn on_push)
    : loop_(loop),
      settings_(settings),
      log_(std::move(log)),
      on_ready_change_(std::move(on_ready_change)),
      on_push_(std::move(on_push)),
      resolver_(loop),
      retry_timer_(loop) {}

subscribe_link::~subscribe_link() {
    stop();
}

void subscribe_link::start() {
    if (!stopped_ && state_ == state::idle && !session_) connect();
}

void subscribe_link::stop() {
    if (stopped_) return;
    stopped_ = true;
    resolver_.cancel();
    retry_timer_.close();
    end_session();
    state_ = state::idle;
}

void subscribe_link::subscribe(std::string_view topic) {
    if (!wanted_.emplace(topic).second) return;
    // While connecting, the handshake will send the whole set.
    if (state_ == state::handshaking || state_ == state::ready)
        send_subscription(command::subscribe, topic);
}

void subscribe_link::unsubscribe(std::string_view topic) {
    const auto it = wanted_.find(topic);
    if (it == wanted_.end()) return;
    wanted_.erase(it);
    if (state_ == state::handshaking || state_ == state::ready)
        send_subscription(command::unsubscribe, topic);
}

void subscribe_link::connect() {
    set_state(state::connecting);
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

void subscribe_link::connect_to(const resolved_address& address) {
    auto* s = new session;
    s->owner = this;
    s->tcp.data = s;
    s->connect.data = s;
    uv_tcp_init(loop_, &s->tcp);
    session_ = s;
    const int rc =
        uv_tcp_connect(&s->connect, &s->tcp, reinterpret_cast<const sockaddr*>(&address.address),
                       [](uv_connect_t* req, int status) {
                           auto* done = static_cast<session*>(req->data);
                           if (!done->owner) return;  // abandoned: its handle is closing
                           if (status != 0) {
                               done->owner->lost(std::string("connect: ") + uv_strerror(status));
                               return;
                           }
                           done->owner->on_connected();
                       });
    if (rc != 0) lost(std::string("connect: ") + uv_strerror(rc));
}

void subscribe_link::on_connected() {
    session_->reader = redisReaderCreate();
    if (!session_->reader) {
        lost("out of memory");
        return;
    }
    // Notices a Redis host that vanished without closing the connection.
    uv_tcp_keepalive(&session_->tcp, 1, 15);
    uv_tcp_nodelay(&session_->tcp, 1);
    const int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&session_->tcp),
        [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
            auto* s = static_cast<session*>(handle->data);
            *buf = uv_buf_init(s->buffer.data(), static_cast<unsigned>(s->buffer.size()));
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
            auto* s = static_cast<session*>(stream->data);
            if (!s->owner || nread == 0) return;
            if (nread < 0) {
                s->owner->lost(nread == UV_EOF
                                   ? std::string("closed by Redis")
                                   : std::string("read: ") + uv_strerror(static_cast<int>(nread)));
                return;
            }
            s->owner->on_read(buf->base, static_cast<std::size_t>(nread));
        });
    if (rc != 0) {
        lost(std::string("read: ") + uv_strerror(rc));
        return;
    }
    set_state(state::handshaking);
    const std::string& password = settings_.url.password;
    if (!password.empty()) {
        const std::string_view argv[] = {"AUTH", password};
        send(command::auth, argv);
    }
    if (settings_.url.db != 0) {
        // Pub/sub ignores the database, but SELECT still proves it exists, as for publishing.
        const std::string db = std::to_string(settings_.url.db);
        const std::string_view argv[] = {"SELECT", db};
        send(command::select, argv);
    }
    for (const auto& topic : wanted_) send_subscription(command::subscribe, topic);
    // Answered after everything above: the link is ready then.
    const std::string_view argv[] = {"PING"};
    send(command::ping, argv);
}

void subscribe_link::on_read(const char* data, std::size_t size) {
    session* s = session_;
    if (redisReaderFeed(s->reader, data, size) != REDIS_OK) {
        lost("reader out of memory");
        return;
    }
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(s->reader, &raw) != REDIS_OK) {
            lost(std::string("protocol error: ") + s->reader->errstr);
            return;
        }
        if (!raw) return;
        auto* reply = static_cast<redisReply*>(raw);
        const bool go_on = handle_reply(*reply);
        freeReplyObject(reply);
        // on_message may have stopped the broker: the session is then closing.
        if (!go_on || s->owner == nullptr) return;
    }
}

bool subscribe_link::handle_reply(const redisReply& reply) {
    if (reply.type == REDIS_REPLY_ARRAY && reply.elements == 3 && is_string(reply.element[0])) {
        const std::string_view kind = text_of(reply.element[0]);
        if ((equals_ignoring_case(kind, "message") || equals_ignoring_case(kind, "smessage")) &&
            is_string(reply.element[1]) && is_string(reply.element[2])) {
            std::string_view channel = text_of(reply.element[1]);
            const std::string_view& prefix = settings_.channel_prefix;
            if (channel.substr(0, prefix.size()) != prefix) return true;
            channel.remove_prefix(prefix.size());
            // Between UNSUBSCRIBE and its answer messages still come: not wanted, not given.
            if (wanted_.find(channel) == wanted_.end()) return true;
            const std::string_view payload = text_of(reply.element[2]);
            on_push_(channel,
                     {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
            return true;
        }
    }

    if (awaiting_.empty()) {
        lost("unexpected reply from Redis");
        return false;
    }
    const command what = awaiting_.front();
    awaiting_.pop_front();
    if (reply.type == REDIS_REPLY_ERROR) {
        const std::string message(reply.str, reply.len);
        switch (what) {
            case command::auth:
                lost("AUTH refused: " + message);
                return false;
            case command::select:
                lost("SELECT refused: " + message);
                return false;
            case command::ping:
                lost("not ready: " + message);  // LOADING, or NOAUTH
                return false;
            case command::subscribe:
            case command::unsubscribe:
                // The topic stays wanted; the next connection asks again.
                log_("redis refused a subscription change: " + message);
                return true;
        }
    }
    if (what == command::ping) {
        backoff_.reset();
        down_logged_ = false;
        set_state(state::ready);
    }
    return true;
}

void subscribe_link::send_subscription(command what, std::string_view topic) {
    const bool on = what == command::subscribe;
    const std::string_view verb = settings_.sharded ? (on ? "SSUBSCRIBE" : "SUNSUBSCRIBE")
                                                    : (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
    const std::string channel = settings_.channel_prefix + std::string(topic);
    const std::string_view argv[] = {verb, channel};
    send(what, argv);
}

void subscribe_link::send(command what, std::span<const std::string_view> argv) {
    if (!session_) return;  // an earlier send in the same batch failed and ended it
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* w = new write_request;
    const int len = redisFormatCommandArgv(&w->command, static_cast<int>(args.size()), args.data(),
                                           lens.data());
    if (len < 0) {
        delete w;
        lost("out of memory");
        return;
    }
    uv_buf_t buf = uv_buf_init(w->command, static_cast<unsigned>(len));
    const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&session_->tcp), &buf, 1,
                            [](uv_write_t* req, int) {
                                // A failed write shows up as a read error as well.
                                delete reinterpret_cast<write_request*>(req);
                            });
    if (rc != 0) {
        delete w;
        lost(std::string("write: ") + uv_strerror(rc));
        return;
    }
    awaiting_.push_back(what);
}

void subscribe_link::lost(std::string_view why) {
    end_session();
    set_state(state::idle);
    if (stopped_) return;
    if (!down_logged_) {
        down_logged_ = true;
        log_("redis subscribe connection down: " + std::string(why));
    }
    retry_timer_.start(backoff_.next(), [this] {
        if (!stopped_ && !session_) connect();
    });
}

void subscribe_link::end_session() {
    resolver_.cancel();
    awaiting_.clear();
    session* s = session_;
    if (!s) return;
    session_ = nullptr;
    s->owner = nullptr;
    // Pending connect and write requests are cancelled by the close, before its callback.
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp),
             [](uv_handle_t* handle) { delete static_cast<session*>(handle->data); });
}

void subscribe_link::set_state(state next) {
    if (state_ == next) return;
    const bool was_ready = state_ == state::ready;
    state_ = next;
    if (was_ready != (next == state::ready) && on_ready_change_) on_ready_change_();
}

}  // namespace sockeye::pubsub
