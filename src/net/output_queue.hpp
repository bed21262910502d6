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
//
// An empty queue is one null pointer: its state (the buffers, the shared-piece list and the
// offsets, 136 bytes) comes from a per-thread pool when bytes are queued and goes back when
// all is written (release()), so an idle connection carries 8 bytes of output queue.
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
        if (n == 0) return;
        s_->pending.resize(s_->pending.size() - n);
        s_->pending_size -= n;
    }
    // Nothing urgent goes ahead of what is queued now: the 101 must precede every frame.
    // (Only owned bytes are queued before it.)
    void seal() noexcept {
        if (s_) s_->urgent_end = s_->pending.size();
    }

    // Unsent bytes in all: the rest of the current write plus everything pending.
    std::size_t size() const noexcept {
        return s_ ? (s_->writing_size - s_->written) + s_->pending_size : 0;
    }
    bool empty() const noexcept { return size() == 0; }
    bool writing() const noexcept { return s_ && s_->in_flight != 0; }
    bool has_pending() const noexcept { return s_ && s_->pending_size != 0; }

    // The bytes to write next, as up to `max_pieces` pieces of at most `max_bytes` in all,
    // when no write is in flight: the rest of the current write, or once that is all out,
    // the pending bytes (which become the current write). Returns the pieces filled; 0
    // when there is nothing to send. Valid until the bytes are written.
    std::size_t next_write(piece* out, std::size_t max_pieces, std::size_t max_bytes);
    // The kernel took `n` more bytes of the current write.
    void advance(std::size_t n) noexcept;
    // The common case of a write, without the generation swap: when nothing of a current
    // write is left and the pending bytes are all owned (no shared piece, nothing in
    // flight), they are written from where they are. Empty otherwise (or when nothing is
    // pending): then next_write() is the way. Valid until pending_written().
    piece pending_only() const noexcept {
        if (!s_ || s_->written != s_->writing_size || !s_->shared.empty()) return {};
        return {s_->pending.data(), s_->pending.size()};
    }
    // The kernel took `n` bytes of pending_only(): all of them (the usual case) leaves the
    // queue empty; fewer makes them the current write, `n` of it written.
    void pending_written(std::size_t n) noexcept;
    // The next `n` unwritten bytes were handed to an asynchronous write; write_done() when
    // it completes.
    void mark_in_flight(std::size_t n) noexcept { s_->in_flight = n; }
    std::size_t in_flight() const noexcept { return s_ ? s_->in_flight : 0; }
    void write_done() noexcept {
        if (!s_) return;
        advance(s_->in_flight);
        s_->in_flight = 0;
    }

    // Hands every pending byte, in order, to `consume(piece)` (which returns false to stop
    // on an error) and forgets them: for a TLS engine that copies what it encrypts. Only
    // for a queue that is never written to a socket itself. False if consume failed.
    template <class Consume>
    bool take_pending(Consume&& consume);

    // Called when the queue may be empty: buffers of an empty generation go back to the
    // thread's pool, and once nothing at all is queued, so does the queue's state.
    void release() noexcept;
    // Bytes of buffer memory held (for tests and memory accounting).
    std::size_t capacity() const noexcept {
        if (!s_) return 0;
        return s_->writing.capacity() + s_->pending.capacity() +
               s_->shared.capacity() * sizeof(shared_at);
    }
    // The queue holds its state (something was queued and not yet all released).
    bool holds_state() const noexcept { return s_ != nullptr; }

    struct shared_at {
        shared_bytes* bytes;  // null once written
        std::size_t at;       // offset in the owned bytes of its generation where it goes
    };
    // What a non-empty queue holds.
    struct state {
        std::vector<std::uint8_t> writing;  // owned bytes of the current write
        std::vector<std::uint8_t> pending;  // owned bytes of the next one
        // Shared pieces: those of the current write first (writing_shared of them), then the
        // pending ones.
        std::vector<shared_at> shared;
        std::size_t writing_shared = 0;
        std::size_t writing_size = 0;  // bytes of the current write, owned and shared
        std::size_t pending_size = 0;  // bytes pending, owned and shared
        std::size_t written = 0;       // of the current write
        std::size_t segment = 0;       // where `written` is: segment index and offset in it
        std::size_t segment_off = 0;
        std::size_t urgent_end = 0;  // where the next urgent bytes go in `pending`
        std::size_t in_flight = 0;   // bytes of the current write in an asynchronous write
    };

  private:
    // The state, taken from the thread's pool if the queue has none.
    state& need();
    void return_state() noexcept;
    // Segments of the current write alternate owned and shared: owned 0, shared 0, owned 1,
    // ... (2 * writing_shared + 1 of them; owned ones may be empty).
    piece segment(std::size_t k) const noexcept;
    void start_write();
    void end_write() noexcept;

    state* s_ = nullptr;
};

template <class Consume>
bool output_queue::take_pending(Consume&& consume) {
    if (!s_) return true;
    state& s = *s_;
    std::size_t from = 0;
    bool ok = true;
    for (std::size_t i = s.writing_shared; i < s.shared.size(); ++i) {
        shared_at& sh = s.shared[i];
        if (ok && sh.at > from) ok = consume(piece(s.pending.data() + from, sh.at - from));
        from = sh.at;
        if (ok) ok = consume(sh.bytes->bytes());
        sh.bytes->release();
    }
    if (ok && s.pending.size() > from) {
        ok = consume(piece(s.pending.data() + from, s.pending.size() - from));
    }
    s.shared.resize(s.writing_shared);
    s.pending.clear();
    s.pending_size = 0;
    s.urgent_end = 0;
    return ok;
}

}  // namespace sockeye::net
