// Hands received messages to the application's handlers, the same way on the server and
// the client side: streamed (on_message_begin / on_message_chunk) when those handlers are
// set, otherwise gathered whole for on_message. Header-only: both the server and the client
// library use it, and neither depends on the other.
#pragma once
#include <sockeye/server.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "protocol/opcode.hpp"

namespace sockeye::common {

inline message_type public_type(protocol::message_type t) noexcept {
    return t == protocol::message_type::text ? message_type::text : message_type::binary;
}

inline protocol::message_type protocol_type(message_type t) noexcept {
    return t == message_type::text ? protocol::message_type::text : protocol::message_type::binary;
}

class message_delivery {
  public:
    void begin(connection& c, const handlers& h, protocol::message_type type) {
        type_ = public_type(type);
        if (h.on_message_begin) {
            h.on_message_begin(c, type_);
        } else if (buffer_) {
            buffer_->clear();
        }
    }

    void data(connection& c, const handlers& h, std::span<const std::uint8_t> piece, bool fin) {
        if (h.on_message_chunk) {
            h.on_message_chunk(c, piece, fin);
            return;
        }
        if (!h.on_message) return;
        if (fin && (!buffer_ || buffer_->empty())) {
            h.on_message(c, type_, piece);  // a message in one piece needs no copy
            return;
        }
        if (!buffer_) buffer_ = std::make_unique<std::string>();
        buffer_->append(reinterpret_cast<const char*>(piece.data()), piece.size());
        if (!fin) return;
        h.on_message(c, type_,
                     {reinterpret_cast<const std::uint8_t*>(buffer_->data()), buffer_->size()});
        buffer_->clear();
        // A one-off big message should not pin its buffer for the connection's lifetime.
        if (buffer_->capacity() > 64 * 1024) buffer_.reset();
    }

  private:
    // Whole-message mode only, for messages that arrive in more than one piece; allocated
    // the first time one does, so connections that never need it don't carry it.
    std::unique_ptr<std::string> buffer_;
    // Last, so that an owner's small members can take the padding after it
    // ([[no_unique_address]]).
    message_type type_ = message_type::binary;
};

}  // namespace sockeye::common
