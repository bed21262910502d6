// Bytes waiting to be written to one peer. Two buffers: the one handed to the kernel
// (stable while a write is in flight) and the one that collects what comes next. Everything
// produced while handling one read lands in the pending buffer and goes out in one write
// (corking). "Urgent" bytes (pongs, closes) go ahead of pending data that has not started
// yet, in the order they were added; the pending buffer always starts at a frame boundary
// because whole frames are appended before a write begins, so the insertion point is too.
// What was queued before seal() (an HTTP response, the 101) is never overtaken.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sockeye::net {

class output_queue {
  public:
    void append(std::span<const std::uint8_t> bytes);
    void append(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
    void append_urgent(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
    // Room for `n` more bytes at the end, for a producer that writes in place (TLS output);
    // give back what it did not fill with unfill().
    std::uint8_t* grow(std::size_t n);
    // Nothing urgent goes ahead of what is queued now: the 101 must precede every frame.
    void seal() noexcept { urgent_end_ = pending_.size(); }
    void unfill(std::size_t n) noexcept { pending_.resize(pending_.size() - n); }

    // Unsent bytes in all: the rest of the in-flight write plus everything pending.
    std::size_t size() const noexcept { return (writing_.size() - written_) + pending_.size(); }
    bool empty() const noexcept { return size() == 0; }
    bool writing() const noexcept { return in_flight_ != 0; }
    bool has_pending() const noexcept { return !pending_.empty(); }

    // Moves the pending bytes into the write buffer and returns them. Only when no write is
    // in flight. The span stays valid until finish_write().
    std::span<const std::uint8_t> start_write();
    // The bytes to write next, when no write is in flight: the rest of the current write,
    // or once that is all out, the pending bytes (which become the current write). Empty
    // when there is nothing to send. Valid until the next call.
    std::span<const std::uint8_t> next_write();
    // The kernel took `n` more bytes of the current write (a partial try-write).
    void advance(std::size_t n) noexcept { written_ += n; }
    // The rest of the current write, after advance().
    std::span<const std::uint8_t> unwritten() const noexcept {
        return {writing_.data() + written_, writing_.size() - written_};
    }
    // The next `n` unwritten bytes were handed to an asynchronous write; write_done() when
    // it completes.
    void mark_in_flight(std::size_t n) noexcept { in_flight_ = n; }
    std::size_t in_flight() const noexcept { return in_flight_; }
    void write_done() noexcept {
        written_ += in_flight_;
        in_flight_ = 0;
    }
    // The current write is complete.
    void finish_write() noexcept;

    // Hands empty buffers back to the thread's pool: a queue with nothing to send keeps
    // no memory, so idle connections stay small.
    void release() noexcept;
    // Buffer memory held (for tests and accounting).
    std::size_t capacity() const noexcept { return writing_.capacity() + pending_.capacity(); }

  private:
    std::vector<std::uint8_t> writing_;
    std::vector<std::uint8_t> pending_;
    std::size_t written_ = 0;
    std::size_t urgent_end_ = 0;  // where the next urgent bytes go in pending_
    std::size_t in_flight_ = 0;   // bytes of writing_ in an asynchronous write
};

}  // namespace sockeye::net
