// A connection as other threads see it. A sockeye::connection& is valid only on its loop
// and only until on_close returns; a connection_handle (from connection::handle()) is a
// copyable value that any thread may keep and use at any time. Once the connection is gone
// every call returns false (buffered_amount() 0): no dangling pointer, no data race.
//
// From another thread each call is posted to the connection's loop (posts are FIFO per
// loop, so the sends of one thread arrive in the order it made them); a send copies its
// payload once into the posted task. On the connection's own loop thread send() and
// close() act at once, in order with the loop's other sends; post() is queued even there.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include <sockeye/message_type.hpp>

namespace sockeye {

class connection;

namespace detail {

// What a handle talks to: one per connection that handed out a handle, implemented by the
// side (server) that owns the connection. Every member may be called from any thread.
class handle_target {
  public:
    virtual ~handle_target() = default;
    virtual bool send(message_type type, std::span<const std::uint8_t> data) = 0;
    virtual bool close(std::uint16_t code, std::string_view reason) = 0;
    virtual std::size_t buffered_amount() const = 0;
    virtual bool post(std::function<void(connection&)> fn) = 0;
    virtual bool alive() const = 0;
};

}  // namespace detail

class connection_handle {
  public:
    // An empty handle: every call returns false.
    connection_handle() = default;
    explicit connection_handle(std::shared_ptr<detail::handle_target> t) : t_(std::move(t)) {}

    // Queues a whole message (sent at once on the loop's thread). True if it was queued
    // or sent; a connection that ends before the loop gets to it drops it.
    bool send(message_type type, std::span<const std::uint8_t> data) const {
        return t_ && t_->send(type, data);
    }
    // send() of a text message.
    bool send_text(std::string_view text) const {
        return send(message_type::text,
                    {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    }
    // Starts the closing handshake (like connection::close) on the connection's loop.
    bool close(std::uint16_t code = 1000, std::string_view reason = {}) const {
        return t_ && t_->close(code, reason);
    }
    // Output not yet taken by the kernel, as of the loop's last flush, plus what other
    // threads have queued for it; 0 once the connection is gone.
    std::size_t buffered_amount() const { return t_ ? t_->buffered_amount() : 0; }
    // Runs fn(connection&) on the connection's loop, later, if the connection still exists
    // then. Always queued, even on the loop's own thread. False if it cannot run anymore.
    bool post(std::function<void(connection&)> fn) const { return t_ && t_->post(std::move(fn)); }
    // The connection has not ended yet (it may end right after this returns).
    bool alive() const { return t_ && t_->alive(); }
    // Not an empty handle.
    explicit operator bool() const noexcept { return t_ != nullptr; }
    // Handles of the same connection compare equal.
    friend bool operator==(const connection_handle& a, const connection_handle& b) noexcept {
        return a.t_ == b.t_;
    }

  private:
    std::shared_ptr<detail::handle_target> t_;
};

}  // namespace sockeye
