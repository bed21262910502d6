// Bytes waiting to be written to one peer. Two generations: the current write (stable while
// the kernel or an asynchronous write holds it) and the pending bytes that collect what
// comes next. Everything produced while handling one read lands in the pending generation
// and goes out in one write (corking). "Urgent" bytes (pongs, closes) go ahead of pending
// data that has not started yet, in the order they were added; the pending bytes always
// start at a frame boundary because whole frames are appended before a write begins, so the
// insertion point is too. What was queued before seal() (an HTTP response, the 101) is
// never overtaken.
//
// Bytes are either owned (copied in) or shared: a shared_bytes buffer (a published message,
// framed once for every subscriber) is queued by reference and written from where it is,
// with the owned bytes around it, in one gathering write. A shared buffer is let go once
// the kernel has taken all of it (at the latest when the next write starts, or release()).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "shared_bytes.hpp"

namespace sockeye::net {

class output_queue {
  public:
    using piece = std::span<const std::uint8_t>;

    output_queue() = default;
    output_queue(const output_queue&) = delete;
    output_queue& operator=(const output_queue&) = delete;
    ~output_queue();

    void append(piece bytes);
    void append(piece a, piece b);
    void append_urgent(piece a, piece b);
    // Queues all of `b` by reference (it is retained until written or the queue dies).
    void append_shared(shared_bytes* b);
    // Room for `n` more bytes at the end, for a producer that writes in place (TLS output);
    // give back what it did not fill with unfill().
    std::uint8_t* grow(std::size_t n);
    void unfill(std::size_t n) noexcept {
        pending_.resize(pending_.size() - n);
        pending_size_ -= n;
    }
    // Nothing urgent goes ahead of what is queued now: the 101 must precede every frame.
    // (Only owned bytes are queued before it.)
    void seal() noexcept { urgent_end_ = pending_.size(); }

    // Unsent bytes in all: the rest of the current write plus everything pending.
    std::size_t size() const noexcept { return (writing_size_ - written_) + pending_size_; }
    bool empty() const noexcept { return size() == 0; }
    bool writing() const noexcept { return in_flight_ != 0; }
    bool has_pending() const noexcept { return pending_size_ != 0; }

    // The bytes to write next, as up to `max_pieces` pieces of at most `max_bytes` in all,
    // when no write is in flight: the rest of the current write, or once that is all out,
    // the pending bytes (which become the current write). Returns the pieces filled; 0
    // when there is nothing to send. Valid until the bytes are written.
    std::size_t next_write(piece* out, std::size_t max_pieces, std::size_t max_bytes);
    // The kernel took `n` more bytes of the current write.
    void advance(std::size_t n) noexcept;
    // The next `n` unwritten bytes were handed to an asynchronous write; write_done() when
    // it completes.
    void mark_in_flight(std::size_t n) noexcept { in_flight_ = n; }
    std::size_t in_flight() const noexcept { return in_flight_; }
    void write_done() noexcept {
        advance(in_flight_);
        in_flight_ = 0;
    }

    // Hands every pending byte, in order, to `consume(piece)` (which returns false to stop
    // on an error) and forgets them: for a TLS engine that copies what it encrypts. Only
    // for a queue that is never written to a socket itself. False if consume failed.
    template <class Consume>
    bool take_pending(Consume&& consume);

    // Hands empty buffers back to the thread's pool: a queue with nothing to send keeps
    // no memory, so idle connections stay small.
    void release() noexcept;
    // Buffer memory held (for tests and accounting).
    std::size_t capacity() const noexcept {
        return writing_.capacity() + pending_.capacity() + shared_.capacity() * sizeof(shared_at);
    }

  private:
    // A shared buffer, placed before owned byte `at` of its generation.
    struct shared_at {
        shared_bytes* bytes;  // null once written
        std::size_t at;
    };
    // Segment k of the current write: even k = owned bytes between shared pieces, odd k =
    // shared piece k / 2. There are 2 * writing_shared_ + 1 segments.
    piece segment(std::size_t k) const noexcept;
    void start_write();
    void end_write() noexcept;

    std::vector<std::uint8_t> writing_;
    std::vector<std::uint8_t> pending_;
    // Shared pieces: the first writing_shared_ belong to the current write, the rest are
    // pending (their `at` indexes pending_).
    std::vector<shared_at> shared_;
    std::size_t writing_shared_ = 0;
    std::size_t writing_size_ = 0;  // bytes of the current write, owned and shared
    std::size_t pending_size_ = 0;  // bytes pending, owned and shared
    std::size_t written_ = 0;       // of the current write
    std::size_t segment_ = 0;       // where written_ is: segment index and offset in it
    std::size_t segment_off_ = 0;
    std::size_t urgent_end_ = 0;  // where the next urgent bytes go in pending_
    std::size_t in_flight_ = 0;   // bytes of the current write in an asynchronous write
};

template <class Consume>
bool output_queue::take_pending(Consume&& consume) {
    std::size_t from = 0;
    bool ok = true;
    for (std::size_t i = writing_shared_; i < shared_.size(); ++i) {
        shared_at& s = shared_[i];
        if (ok && s.at > from) ok = consume(piece(pending_.data() + from, s.at - from));
        from = s.at;
        if (ok) ok = consume(s.bytes->bytes());
        s.bytes->release();
    }
    if (ok && pending_.size() > from) {
        ok = consume(piece(pending_.data() + from, pending_.size() - from));
    }
    shared_.resize(writing_shared_);
    pending_.clear();
    pending_size_ = 0;
    urgent_end_ = 0;
    return ok;
}

}  // namespace sockeye::net
