#include "transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace sockeye::net {

transport::transport(uv_loop_t* loop, transport_handler& handler, const transport_shared& shared)
    : handler_(&handler), shared_(&shared) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
}

void transport::set_tls(std::unique_ptr<tls_engine> tls) {
    tls_ = std::make_unique<tls_link>();
    tls_->engine = std::move(tls);
}

// ---------------------------------------------------------------- reading

void transport::set_reading(bool want) {
    want_read_ = want;
    apply_reading();
}

void transport::apply_reading() {
    // While finishing, read regardless: the peer's EOF ends the connection.
    const bool want = !closed_ && (finishing_ || (want_read_ && !bp_paused_));
    if (want && !reading_) {
        reading_ = uv_read_start(stream(), on_alloc, on_read) == 0;
    } else if (!want && reading_) {
        uv_read_stop(stream());
        reading_ = false;
    }
}

void transport::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* t = static_cast<transport*>(h->data);
    *buf = uv_buf_init(reinterpret_cast<char*>(t->shared_->read),
                       static_cast<unsigned>(t->shared_->read_size));
}

void transport::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* t = static_cast<transport*>(s->data);
    if (nread == 0) return;  // EAGAIN
    if (nread < 0) {
        t->handler_->on_transport_end(nread == UV_EOF ? nullptr
                                                     : uv_strerror(static_cast<int>(nread)));
        return;
    }
    const auto n = static_cast<std::size_t>(nread);
    t->bytes_in_ += n;
    if (t->shared_->total_in) t->shared_->total_in->fetch_add(n, std::memory_order_relaxed);
    t->in_read_ = true;
    if (t->tls_) {
        t->receive_tls(reinterpret_cast<const std::uint8_t*>(buf->base), n);
    } else {
        t->handler_->on_transport_data(reinterpret_cast<std::uint8_t*>(buf->base), n);
    }
    t->in_read_ = false;
    t->flush();
}

// Decrypts what arrived and hands the plaintext on piece by piece (in the loop's shared
// plaintext buffer, so TLS allocates nothing per read either).
void transport::receive_tls(const std::uint8_t* data, std::size_t len) {
    tls_->engine->feed(data, len);
    while (!closed_) {
        const long n = tls_->engine->read(shared_->plain, shared_->plain_size);
        if (n > 0) {
            handler_->on_transport_data(shared_->plain, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0) handler_->on_transport_end(tls_->engine->peer_closed() ? nullptr : "TLS error");
        return;
    }
}

// ---------------------------------------------------------------- writing

// Turns pending plaintext into TLS records in the TLS link's queue. False after a fatal TLS error.
bool transport::encrypt_output() {
    if (tls_->engine->handshake_done()) {
        if (output_.has_pending() &&
            !output_.take_pending([this](output_queue::piece p) {
                return tls_->engine->write(p.data(), p.size());
            })) {
            return false;
        }
        if (finishing_ && output_.empty() && !close_notify_sent_) {
            close_notify_sent_ = true;
            tls_->engine->close_notify();
        }
    }
    // Handshake messages and records: move them to the socket queue.
    while (const std::size_t n = tls_->engine->pending()) {
        std::uint8_t* at = tls_->cipher.grow(n);
        tls_->cipher.unfill(n - tls_->engine->take(at, n));
    }
    return true;
}

void transport::fail(const char* why) {
    if (closed_) return;
    handler_->on_transport_end(why);
}

// uv_buf_t lengths are unsigned int: a queue of 4 GiB or more goes out in pieces. A write
// gathers up to max_pieces pieces (owned bytes and the shared frames between them).
constexpr std::size_t max_write = std::size_t{1} << 30;
constexpr std::size_t max_pieces = 64;
static_assert(sizeof(uv_buf_t) == sizeof(iovec) && offsetof(uv_buf_t, base) == offsetof(iovec, iov_base) &&
              offsetof(uv_buf_t, len) == offsetof(iovec, iov_len));

// One write(2) (one piece, every echo, as uv_try_write makes it too) or writev(2), retried
// on EINTR; a full socket takes 0 bytes. `fd` is looked up on the first call. False after
// fail() on an error.
// Inlined into write_out's two paths: as a call it cost about 30 instructions per echo.
[[gnu::always_inline]] inline bool transport::write_now(const uv_buf_t* bufs, std::size_t n,
                                                     uv_os_fd_t& fd, std::size_t& written) {
    if (fd < 0 && uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) {
        fail("socket closed");
        return false;
    }
    ssize_t r;
    do {
        r = n == 1 ? ::write(fd, bufs[0].base, bufs[0].len)
                   : ::writev(fd, reinterpret_cast<const iovec*>(bufs), static_cast<int>(n));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            fail(uv_strerror(uv_translate_sys_error(errno)));
            return false;
        }
        r = 0;
    }
    written = static_cast<std::size_t>(r);
    count_out(written);
    return true;
}

// Writes as much as the kernel takes now; the rest of a write it did not take goes through
// uv_write. True if any byte went out.
bool transport::write_out() {
    output_queue& out = wire();
    bool progress = false;
    // Left uninitialised: zeroing 64 pieces on every flush was a tenth of the instructions
    // of a small echo. next_write fills what is used.
    union piece_slots {
        piece_slots() noexcept {}
        output_queue::piece at[max_pieces];
    } pieces;
    uv_buf_t bufs[max_pieces];
    uv_os_fd_t fd = -1;
    if (out.writing()) return false;
    // Every small echo: the pending bytes, owned and in one buffer, go out as they are.
    if (const output_queue::piece p = out.pending_only(); !p.empty() && p.size() <= max_write) {
        bufs[0].base = const_cast<char*>(reinterpret_cast<const char*>(p.data()));
        bufs[0].len = p.size();
        std::size_t written = 0;
        if (!write_now(bufs, 1, fd, written)) return false;
        out.pending_written(written);
        if (written == p.size()) return true;
        progress = written > 0;
        // The rest is the current write now: on below, through uv_write.
    }
    while (!out.writing()) {
        const std::size_t n = out.next_write(pieces.at, max_pieces, max_write);
        if (n == 0) break;
        std::size_t total = 0;
        for (std::size_t i = 0; i < n; ++i) {
            bufs[i].base = const_cast<char*>(reinterpret_cast<const char*>(pieces.at[i].data()));
            bufs[i].len = pieces.at[i].size();
            total += pieces.at[i].size();
        }
        // With nothing of ours in libuv's write queue (out.writing() is false), the bytes
        // may go straight to the socket: writev(2) is what uv_try_write does underneath,
        // without its checks for what this stream never has (a pending connect, a handle to
        // send) and two calls into the library per write. uv_buf_t is struct iovec's layout
        // on Unix, as libuv documents.
        std::size_t written = 0;
        if (!write_now(bufs, n, fd, written)) return progress;
        out.advance(written);
        progress = progress || written > 0;
        if (written == total) {
            if (out.empty()) break;  // all out: the queue lets go of it in release()
            continue;
        }
        // The rest of these pieces, from where the kernel stopped.
        std::size_t skip = written;
        std::size_t first = 0;
        while (skip >= bufs[first].len) skip -= bufs[first++].len;
        bufs[first].base += skip;
        bufs[first].len -= skip;
        auto* req = new uv_write_t;
        req->data = this;
        if (const int e = uv_write(req, stream(), bufs + first, static_cast<unsigned>(n - first),
                                   on_write);
            e != 0) {
            delete req;
            fail(uv_strerror(e));
            return progress;
        }
        out.mark_in_flight(total - written);
    }
    return progress;
}

void transport::flush() {
    flush_after(false);
}

// `progress`: a write completed just before. Whenever output went out and what is left is
// at or below the low-water mark, the handler hears of it (on_transport_writable), whether
// the kernel took the bytes at once or a write completed later: a producer that waits for
// room must never wait for a completion that a synchronous write made unnecessary.
void transport::flush_after(bool progress) {
    if (closed_ || in_read_ || flushing_) return;
    // An upgraded plain stream below high water (every echo): write, look at the
    // backpressure once, let go of an emptied queue. The same steps as below, without the
    // loop that feeds a handler waiting for room, TLS and the FIN.
    if (!tls_ && !writable_events_ && !finishing_ && !above_high_ && !bp_paused_ &&
        output_.size() <= shared_->high_water) [[likely]] {
        flushing_ = true;
        write_out();
        flushing_ = false;
        if (closed_) return;
        check_backpressure();
        if (closed_) return;
        if (output_.empty()) output_.release();
        handler_->on_transport_flushed();
        return;
    }
    flushing_ = true;
    check_backpressure();  // a send that passed high water counts, even if it all goes out now
    for (;;) {
        if (tls_ && !encrypt_output()) {
            flushing_ = false;
            fail("TLS error");
            return;
        }
        progress = write_out() || progress;
        if (closed_) {
            flushing_ = false;
            return;
        }
        if (!progress || !writable_events_ || buffered() > shared_->low_water) break;
        progress = false;
        const std::size_t before = buffered();
        handler_->on_transport_writable();
        if (closed_) {
            flushing_ = false;
            return;
        }
        if (buffered() == before) break;  // the handler had nothing more to send
    }
    flushing_ = false;
    check_backpressure();
    if (closed_) return;
    const bool tls_done = !tls_ || close_notify_sent_ || !tls_->engine->handshake_done();
    if (finishing_ && buffered() == 0 && tls_done && !shutdown_sent_) {
        shutdown_sent_ = true;
        auto* req = new uv_shutdown_t;
        req->data = this;
        if (uv_shutdown(req, stream(), on_shutdown) != 0) {
            delete req;
            fail(nullptr);
            return;
        }
    }
    if (output_.empty()) output_.release();
    if (tls_ && tls_->cipher.empty()) tls_->cipher.release();
    handler_->on_transport_flushed();
}

std::size_t transport::kernel_queued() const noexcept {
    uv_os_fd_t fd{};
    int n = 0;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return 0;
    if (ioctl(fd, TIOCOUTQ, &n) != 0 || n < 0) return 0;  // SIOCOUTQ: unsent + unacked
    return static_cast<std::size_t>(n);
}

bool transport::limit_unsent(int bytes) noexcept {
    uv_os_fd_t fd{};
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return false;
    return setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes) == 0;
}

std::uint64_t transport::bytes_delivered() const noexcept {
    // What the kernel took, counting the part of a write in flight that libuv has already
    // written (its write queue holds the rest)...
    const output_queue& out = tls_ ? tls_->cipher : output_;
    std::uint64_t taken = bytes_out_;
    if (out.writing()) {
        const std::size_t queued =
            uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
        taken += out.in_flight() - std::min(out.in_flight(), queued);
    }
    // ...less what the peer has not acknowledged. The kernel's send buffer (megabytes on
    // loopback) is refilled from our queue only in large steps, so what it takes from us
    // can stand still for seconds while a slow reader reads steadily; the ACKs do not.
    return taken - std::min<std::uint64_t>(taken, kernel_queued());
}

void transport::on_write(uv_write_t* req, int status) {
    auto* t = static_cast<transport*>(req->data);
    delete req;
    if (status == UV_ECANCELED || t->closed_) return;
    if (status < 0) {
        t->fail(uv_strerror(status));
        return;
    }
    // Output queued since the last flush may have passed high water: that counts before the
    // completed write takes its bytes off, or a send that crossed it would never be
    // followed by on_transport_drain.
    t->check_backpressure();
    output_queue& out = t->wire();
    t->count_out(out.in_flight());
    out.write_done();
    t->flush_after(true);
}

void transport::on_shutdown(uv_shutdown_t* req, int) {
    delete req;  // reading goes on until EOF; the owner bounds it with a timer
}

void transport::update_backpressure() {
    const std::size_t queued = buffered();
    if (queued > shared_->high_water) {
        if (!above_high_) {
            above_high_ = true;
            handler_->on_transport_congested();
        }
        if (!bp_paused_) {
            bp_paused_ = true;
            apply_reading();
        }
    } else if (queued <= shared_->low_water) {
        if (bp_paused_) {
            bp_paused_ = false;
            apply_reading();
        }
        if (above_high_) {
            above_high_ = false;
            handler_->on_transport_drain();
        }
    }
}

// ---------------------------------------------------------------- ending

void transport::finish() {
    if (finishing_ || closed_) return;
    finishing_ = true;
    apply_reading();
    flush();
}

void transport::close() {
    if (closed_) return;
    closed_ = true;
    if (reading_) uv_read_stop(stream());
    reading_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
}

void transport::on_closed(uv_handle_t* h) {
    auto* t = static_cast<transport*>(h->data);
    t->handler_->on_transport_closed();
}

}  // namespace sockeye::net
