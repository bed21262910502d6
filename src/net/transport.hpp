// A TCP stream under libuv with optional TLS, as the WebSocket and HTTP code sees it:
// plaintext in (handed to a handler), plaintext out (an output_queue), and underneath the
// mechanics every connection needs on either side of the wire:
//   - corking: output produced while handling a read goes out in one write at its end;
//   - uv_try_write first, the rest through uv_write, with the write buffer kept stable;
//   - backpressure: reading stops while unsent output is above the high-water mark and
//     resumes below the low-water mark (on_transport_drain then);
//   - TLS through tls_engine (ciphertext queue, close_notify);
//   - finishing: flush, close_notify, FIN, and keep reading until the peer's EOF.
#pragma once
#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "output_queue.hpp"
#include "tls_engine.hpp"

namespace sockeye::net {

class transport_handler {
  public:
    virtual ~transport_handler() = default;
    // Plaintext from the peer (decrypted with TLS); may be modified in place.
    virtual void on_transport_data(std::uint8_t* data, std::size_t len) = 0;
    // The stream ended: `error` is null for the peer's EOF (or TLS close_notify), else why
    // it failed. The owner decides whether to close().
    virtual void on_transport_end(const char* error) = 0;
    // Output went out and what is left is at or below the low-water mark: room for more
    // (a file being sent, held requests). Called after synchronous writes too; output
    // appended here goes out in the same flush.
    virtual void on_transport_writable() {}
    // Unsent output passed the high-water mark (reading stops until it drains).
    virtual void on_transport_congested() {}
    // Unsent output fell below the low-water mark after being above the high-water mark.
    virtual void on_transport_drain() {}
    // A flush ended (after a write completed, a read's corked output, or flush()): the
    // owner may look at buffered() now. Called often: keep it cheap.
    virtual void on_transport_flushed() {}
    // The handle is closed; the owner may free the transport now.
    virtual void on_transport_closed() = 0;
};

// What every transport of one loop shares: buffers (reads are handled completely before
// the next read, so no connection needs its own), the loop's byte counters and the
// backpressure marks. Transports keep a pointer to it, so it must outlive them.
struct transport_shared {
    std::uint8_t* read = nullptr;
    std::size_t read_size = 0;
    std::uint8_t* plain = nullptr;  // decrypted bytes (TLS only)
    std::size_t plain_size = 0;
    std::atomic<std::uint64_t>* total_in = nullptr;   // optional: bytes read, all connections
    std::atomic<std::uint64_t>* total_out = nullptr;  // optional: bytes written
    // Reading stops while unsent output is above high_water, resumes at low_water.
    std::size_t high_water = 1 << 20;
    std::size_t low_water = 256 << 10;
};

class transport {
  public:
    transport(uv_loop_t* loop, transport_handler& handler, const transport_shared& shared);
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    uv_tcp_t* tcp() noexcept { return &tcp_; }
    uv_stream_t* stream() noexcept { return reinterpret_cast<uv_stream_t*>(&tcp_); }
    void set_tls(std::unique_ptr<tls_engine> tls);
    // Hands the events to another owner: the client dials with one handler and gives the
    // connected stream to the HTTP/2 link that multiplexes WebSockets over it.
    void set_handler(transport_handler& handler) noexcept { handler_ = &handler; }
    // Whether the handler hears on_transport_writable (on by default). An owner with nothing
    // waiting for room (an upgraded WebSocket, whose producers follow buffered_amount and
    // the drain) turns it off: a virtual call per flush saved.
    void set_writable_events(bool on) noexcept { writable_events_ = on; }
    bool tls() const noexcept { return tls_ != nullptr; }
    // The TLS server name the client sent (SNI); "" without TLS or SNI.
    std::string tls_server_name() const { return tls_ ? tls_->engine->server_name() : ""; }
    // The protocol TLS's ALPN selected ("h2", "http/1.1"); "" without TLS or ALPN.
    std::string tls_alpn() const { return tls_ ? tls_->engine->alpn() : ""; }

    // Whether the owner wants input now; backpressure may still hold reading off.
    void set_reading(bool want);
    // Whether the socket is being read now (not held off by the owner or backpressure).
    bool reading() const noexcept { return reading_; }
    // Plaintext to send; goes out at the next flush().
    output_queue& output() noexcept { return output_; }
    // Unsent bytes, plaintext and ciphertext.
    std::size_t buffered() const noexcept {
        return output_.size() + (tls_ ? tls_->cipher.size() : 0);
    }
    // True inside the read callback: output waits for its end (one write per read).
    bool in_read() const noexcept { return in_read_; }
    // Writes what is pending. May call on_transport_end() on a write error.
    void flush();
    // Ends the stream gracefully: flush, close_notify, FIN; reading continues until EOF.
    void finish();
    bool finishing() const noexcept { return finishing_; }
    // Closes the handle at once (on_transport_closed follows). Safe to call twice.
    void close();
    bool closed() const noexcept { return closed_; }

    std::uint64_t bytes_in() const noexcept { return bytes_in_; }
    std::uint64_t bytes_out() const noexcept { return bytes_out_; }
    // Bytes of ours the peer has received so far (TCP acknowledgements): the progress the
    // send timeout looks for, which a large write shows long before it completes.
    // System calls: for deadlines, not for every write.
    std::uint64_t bytes_delivered() const noexcept;
    // Keeps at most about `bytes` not yet sent in the kernel's send queue (TCP_NOTSENT_LOWAT:
    // the socket reports writable only below it, and takes little more): bytes queued
    // there can't be overtaken, which matters where several streams share the connection.
    // Bytes in flight (sent, not acknowledged) are not limited. False if it can't be set.
    bool limit_unsent(int bytes) noexcept;
    // Bytes in the kernel's send queue that the peer has not acknowledged yet.
    std::size_t kernel_queued() const noexcept;
    // Everything of ours the peer has not received: our queue and the kernel's.
    std::uint64_t undelivered() const noexcept { return buffered() + kernel_queued(); }

  private:
    static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void on_write(uv_write_t* req, int status);
    static void on_shutdown(uv_shutdown_t* req, int status);
    static void on_closed(uv_handle_t* h);

    void receive_tls(const std::uint8_t* data, std::size_t len);
    bool write_out();
    bool write_now(const uv_buf_t* bufs, std::size_t n, uv_os_fd_t& fd, std::size_t& written);
    void flush_after(bool progress);
    bool encrypt_output();
    output_queue& wire() noexcept { return tls_ ? tls_->cipher : output_; }
    void apply_reading();
    // Passing high water pauses reading and tells the handler; falling to low water
    // undoes both. Inline for the usual case, neither flag set and the queue below high
    // water, where there is nothing to do.
    void check_backpressure() {
        if (!above_high_ && !bp_paused_ && buffered() <= shared_->high_water) return;
        update_backpressure();
    }
    void update_backpressure();
    void fail(const char* why);
    void count_out(std::size_t n) noexcept {
        bytes_out_ += n;
        if (shared_->total_out) shared_->total_out->fetch_add(n, std::memory_order_relaxed);
    }

    uv_tcp_t tcp_{};
    transport_handler* handler_;
    const transport_shared* shared_;
    output_queue output_;  // plaintext
    // TLS only, allocated with it: a plain connection pays one pointer for TLS.
    struct tls_link {
        std::unique_ptr<tls_engine> engine;
        output_queue cipher;  // TLS records to send
    };
    std::unique_ptr<tls_link> tls_;
    std::uint64_t bytes_in_ = 0;
    std::uint64_t bytes_out_ = 0;
    // Flags in two bytes (bit-fields): every connection carries a transport, and as bytes
    // they padded it by a word.
    bool want_read_ : 1 = false;
    bool reading_ : 1 = false;
    bool bp_paused_ : 1 = false;
    bool above_high_ : 1 = false;
    bool in_read_ : 1 = false;
    bool flushing_ : 1 = false;  // flush() is running (a handler called from it may flush again)
    bool finishing_ : 1 = false;
    bool close_notify_sent_ : 1 = false;
    bool shutdown_sent_ : 1 = false;
    bool closed_ : 1 = false;
    bool writable_events_ : 1 = true;
};

}  // namespace sockeye::net
