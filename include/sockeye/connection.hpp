// What the server and the client share: a WebSocket connection as the application sees
// it, the handlers it calls, and the message types. Included by <sockeye/server.hpp> and
// <sockeye/client.hpp>; nothing here depends on which side of the wire a connection is.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace sockeye {

enum class message_type : std::uint8_t { text = 1, binary = 2 };

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
    void* user_data = nullptr;                    // free for the application
};

}  // namespace sockeye
