// What the server and the client share: a WebSocket connection as the application sees
// it, the handlers it calls, and the message types. Included by <sockeye/server.hpp> and
// <sockeye/client.hpp>; nothing here depends on which side of the wire a connection is.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <sockeye/handle.hpp>
#include <sockeye/message_type.hpp>

struct uv_loop_s;

namespace sockeye {

// One application object of any type, owned: what an application keeps per connection
// (the user, a room) without void* casts. Movable, not copyable; get<T>() is null unless
// the object is a T.
class app_state {
  public:
    app_state() = default;
    template <class T, class... Args>
    static app_state make(Args&&... args) {
        app_state s;
        s.p_ = std::make_unique<holder<T>>(std::forward<Args>(args)...);
        return s;
    }
    template <class T>
    T* get() const noexcept {
        if (!p_ || p_->tag != type_tag<T>()) return nullptr;
        return &static_cast<holder<T>*>(p_.get())->value;
    }
    bool has_value() const noexcept { return p_ != nullptr; }
    void reset() noexcept { p_.reset(); }

  private:
    struct base {
        explicit base(const void* t) : tag(t) {}
        virtual ~base() = default;
        const void* tag;
    };
    template <class T>
    struct holder final : base {
        template <class... Args>
        explicit holder(Args&&... args) : base(type_tag<T>()), value(std::forward<Args>(args)...) {}
        T value;
    };
    // One address per type, without RTTI.
    template <class T>
    static const void* type_tag() noexcept {
        static const char t = 0;
        return &t;
    }
    std::unique_ptr<base> p_;
};

class connection;

// Handlers for everything that happens on a connection. Unset handlers are ignored.
// A message arrives either whole (on_message: buffered up to max_message_size) or, if
// on_message_begin/on_message_chunk are set, streamed in pieces as they arrive.
struct handlers {
    std::function<void(connection&)> on_open;
    std::function<void(connection&, message_type, std::span<const std::uint8_t>)> on_message;
    std::function<void(connection&, message_type)> on_message_begin;
    std::function<void(connection&, std::span<const std::uint8_t>, bool fin)> on_message_chunk;
    std::function<void(connection&, std::span<const std::uint8_t>)> on_pong;
    // Called once when the connection ends, however it ends (code 1006 if no close frame
    // was received). The connection object is gone after this returns.
    std::function<void(connection&, std::uint16_t code, std::string_view reason)> on_close;
    // Buffered output fell below the low-water mark after being above the high-water mark.
    std::function<void(connection&)> on_drain;
};

// A WebSocket connection, valid from on_open until on_close returns.
class connection {
  public:
    virtual ~connection() = default;
    // Send a whole message. False when the connection is closing or a streamed send is open.
    virtual bool send(message_type type, std::span<const std::uint8_t> data) = 0;
    bool send_text(std::string_view text) {
        return send(message_type::text,
                    {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    }
    // Streamed send: begin, then pieces; the piece with fin = true ends the message.
    virtual bool begin_message(message_type type) = 0;
    virtual bool write_message(std::span<const std::uint8_t> piece, bool fin) = 0;
    virtual bool ping(std::span<const std::uint8_t> payload = {}) = 0;
    virtual bool close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;
    // Bytes queued for the peer but not yet taken by the kernel.
    virtual std::size_t buffered_amount() const = 0;
    // Stop / restart reading from the peer (flow control for slow consumers downstream).
    virtual void pause() = 0;
    virtual void resume() = 0;
    virtual const std::string& subprotocol() const = 0;
    virtual const std::string& path() const = 0;  // request target of the upgrade
    virtual const std::string& peer() const = 0;  // "ip:port"
    // The HTTP version the WebSocket was opened over: "1.1" (or "1.0"), or "2" (RFC 8441).
    virtual std::string_view http_version() const { return "1.1"; }
    // The libuv loop this connection runs on (server: its loop for life; client: the
    // client's loop), for the application's own handles beside it — a child process, a
    // pipe, a timer — whose callbacks then run on the same thread as this connection's
    // handlers. Use it on that thread only. Handles must be closed by the application
    // before the loop ends (server: when run() returns, see server::run()). Null where a
    // side has no loop to offer.
    virtual uv_loop_s* loop() const noexcept { return nullptr; }
    // A handle other threads may keep and use (see <sockeye/handle.hpp>); call on the
    // loop. Empty where a side does not support handles (the client, for now).
    virtual connection_handle handle() { return {}; }
    // Topics (server side, on the loop): from subscribe() until unsubscribe() or the end,
    // every message published to `topic` (server::publish, from anywhere) is sent to this
    // connection. False for an empty topic, a connection that is closing, or a side without
    // topics (the client). Subscribing twice is one subscription.
    virtual bool subscribe(std::string_view /*topic*/) { return false; }
    virtual bool unsubscribe(std::string_view /*topic*/) { return false; }
    // Published messages skipped because this subscriber was too slow (policy drop).
    virtual std::uint64_t published_dropped() const { return 0; }
    void* user_data = nullptr;  // free for the application
    // The application's object for this connection (set when accepting the upgrade, or
    // any time on the loop); destroyed after on_close returns.
    app_state state;
};

}  // namespace sockeye
