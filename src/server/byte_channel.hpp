// What a WebSocket connection needs under it, and nothing more: a place for its frames,
// flow control both ways, a way to end, and the deadline machinery of its owner. On
// HTTP/1.1 that is the upgraded TCP (or TLS) stream (http1_connection); an HTTP/2 stream
// can be one too. Nothing above this interface knows which it has.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "net/output_queue.hpp"

namespace sockeye::server_detail {

class byte_channel {
  public:
    // Frames go here; they leave at the next flush.
    virtual net::output_queue& output() noexcept = 0;
    // Output was added: flush it (at once if outside a read, else at the read's end).
    virtual void request_flush() = 0;
    // Our bytes not yet taken by the transport: what buffered_amount() reports.
    virtual std::size_t buffered() const noexcept = 0;
    // Our bytes the peer has not received yet, in our queues or below them.
    virtual std::uint64_t undelivered() const = 0;
    // When the peer last received bytes of ours (loop milliseconds), as last looked at.
    virtual std::uint64_t last_progress() const noexcept = 0;
    // Start judging the peer by the progress of our output (the send timeout).
    virtual void watch_progress() = 0;
    // Whether the peer's input is being read now.
    virtual bool reading() const noexcept = 0;
    // The application's flow control: stop or restart reading.
    virtual void set_paused(bool paused) = 0;
    // The WebSocket is over (close exchanged, or failed): flush and end the stream.
    virtual void finish() = 0;
    // Drop at once (a timeout).
    virtual void abort(const char* why) = 0;
    // The WebSocket's deadlines changed: its owner asks for the next one again.
    virtual void rearm() = 0;
    virtual const std::string& peer() const noexcept = 0;  // "ip:port"

  protected:
    ~byte_channel() = default;
};

}  // namespace sockeye::server_detail
