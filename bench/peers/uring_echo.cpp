// uring_echo: a prototype ceiling for the question "what would an io_uring backend save?",
// NOT a server.
//
// The same minimal WebSocket echo as bare_echo.cpp (same handshake, same frame handling,
// same limits, same command line and ready line), but driven by io_uring (liburing) instead
// of epoll + read()/write(). On loopback almost all of a small message's server CPU time is
// kernel time, so the interesting number is how much of it goes away when one
// io_uring_enter() per loop iteration (for many messages) replaces an epoll_wait() plus a
// read() and a write() per connection per message.
//
// How the loop uses io_uring, and why:
//   - ONE io_uring_submit_and_wait() per iteration: it submits everything queued while the
//     previous batch of completions was handled (sends for every connection, re-armed
//     receives, accepts) and waits for the next completions. Nothing else enters the kernel
//     on the message path.
//   - receives are multishot recv (IORING_RECV_MULTISHOT) with buffers picked by the kernel
//     from a provided buffer ring: one SQE per connection keeps producing a completion per
//     arrival, so nothing is re-armed per message and no buffer is held per idle connection.
//     A buffer goes back to the ring as soon as its bytes are parsed (an incomplete frame is
//     copied to the connection's leftover). If the ring runs dry the kernel ends the recv
//     with -ENOBUFS and the next iteration re-arms it; no data is lost.
//   - sends: ONE send in flight per connection. Replies are written straight into the
//     connection's output chunks (fixed blocks from a shared pool, so output is never
//     copied again or re-grown); everything parsed while a send is in flight goes out with
//     the next one, and a partial send's rest is at the front of it. Sends are queued after
//     all completions of an iteration are handled, so several receives of one connection
//     in one batch leave as one send.
//   - backpressure: output above 1 MiB cancels the connection's recv; it is re-armed when
//     the output is back below 256 KiB. Completions the kernel posted before the cancel
//     still carry data, so output can overshoot by what one batch received (the chunks
//     take it without copying).
//   - accept is multishot too; the signalfd is read through the ring, so SIGTERM/SIGINT end
//     the loop between batches with exit status 0.
//   - ring setup flags are selectable (--setup, default "defer"): SINGLE_ISSUER +
//     DEFER_TASKRUN run completion work only inside our own io_uring_enter(), batched and
//     never as an interrupt of user code; COOP_TASKRUN only avoids the forced interrupt.
//     Measured with 100 connections of 16 B messages: defer slightly ahead of coop, and
//     plain (neither) costs about 1.5 times the kernel time per message.
// Closing, TCP_NODELAY and the handshake use plain syscalls: they are per connection, not
// per message.
//
// Limits exactly as bare_echo: payloads over 64 KiB, unmasked client frames and malformed
// heads close the connection; no UTF-8 or RSV checks, no timeouts, no extensions.
// Needs Linux 6.0+ (multishot recv, provided buffer rings, DEFER_TASKRUN).
//
// Usage: uring_echo --port N [--setup defer|coop|plain]   (port 0 = pick a free port).
// Prints "listening on http://127.0.0.1:PORT" when ready; exits 0 on SIGTERM/SIGINT and
// then prints loop counters to stderr.

#include <liburing.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t max_payload = 64 * 1024;
constexpr std::size_t max_head = 8 * 1024;
constexpr std::size_t high_water = 1 << 20;   // output that stops receiving
constexpr std::size_t low_water = 256 << 10;  // output that resumes it
// A leftover grown past this is freed once empty (a split 64 KiB frame stays below it).
constexpr std::size_t keep_capacity = 256 * 1024;

// The provided buffer ring. Each receive completion uses one whole buffer, so the count
// bounds how many completions can be in the CQ before the kernel runs dry (it then ends a
// recv with -ENOBUFS, which costs a re-arm: 32 buffers did that often with 100 busy
// connections, 64 did not), and the size bounds bytes per completion under streaming
// load. Buffers of 64 KiB made nearly every 64 KiB frame straddle two buffers and be
// copied whole into the leftover; 128 KiB halves that. More or larger buffers measured
// worse: the ring is used round-robin, so every recv lands in cache-cold memory, and
// first touches of a large ring cost page faults.
constexpr unsigned buf_count = 64;  // a power of two, as the ring requires
constexpr unsigned buf_size = 128 * 1024;
constexpr unsigned buf_group = 0;

// Output chunks: the replies to one recv are written contiguously, so a chunk holds at
// least a leftover frame plus one ring buffer plus the 101 response. Free chunks are kept
// for reuse up to chunk_pool_max (their untouched pages cost nothing).
constexpr std::size_t chunk_size = 256 * 1024;
static_assert(chunk_size >= max_payload + 14 + buf_size + 256);
constexpr std::size_t chunk_pool_max = 64;

constexpr unsigned sq_entries = 4096;
constexpr unsigned cq_entries = 16384;  // multishot ops post many CQEs per SQE

// user_data: a connection pointer (aligned to 8) with the operation in the low 3 bits, or
// a bare tag for the few ring-wide operations.
enum op : std::uint64_t { op_ignore = 0, op_accept = 1, op_signal = 2, op_recv = 3, op_send = 4 };
constexpr std::uint64_t op_mask = 7;

enum class conn_state { handshake, open, closing };

// A growable byte array without the zero-fill of std::vector::resize (it is filled by
// memcpy and the unmasking loop right after growing).
struct byte_buffer {
    std::unique_ptr<char[]> bytes;
    std::size_t size = 0;
    std::size_t capacity = 0;

    char* data() noexcept { return bytes.get(); }
    // Room for `more` bytes at the end; returns where they go (size is not changed).
    char* reserve(std::size_t more) {
        if (size + more > capacity) {
            std::size_t cap = std::max<std::size_t>({capacity * 2, size + more, 256});
            auto fresh = std::make_unique_for_overwrite<char[]>(cap);
            if (size) std::memcpy(fresh.get(), bytes.get(), size);
            bytes = std::move(fresh);
            capacity = cap;
        }
        return bytes.get() + size;
    }
    void append(const char* p, std::size_t n) {
        std::memcpy(reserve(n), p, n);
        size += n;
    }
    void release() noexcept {
        bytes.reset();
        size = capacity = 0;
    }
    void trim() noexcept {
        if (size == 0 && capacity > keep_capacity) release();
    }
};

// Output bytes [head, tail) of one block; a send reads from head, replies append at tail.
struct chunk {
    std::size_t head = 0;
    std::size_t tail = 0;
    char data[chunk_size];
};

std::vector<chunk*> chunk_pool;

chunk* take_chunk() {
    if (chunk_pool.empty()) return new chunk;
    chunk* k = chunk_pool.back();
    chunk_pool.pop_back();
    k->head = k->tail = 0;
    return k;
}

void give_chunk(chunk* k) {
    if (chunk_pool.size() < chunk_pool_max)
        chunk_pool.push_back(k);
    else
        delete k;
}

struct connection {
    int fd = -1;
    conn_state state = conn_state::handshake;
    byte_buffer leftover;      // an incomplete frame (or request head) for the next recv
    std::vector<chunk*> out;   // unsent output, oldest first; a send reads out.front()
    std::size_t queued = 0;    // unsent bytes in all chunks
    bool recv_active = false;  // a (multishot) recv is armed; its last CQE lacks F_MORE
    bool send_active = false;
    bool paused = false;   // backpressure: the recv was cancelled, do not re-arm
    bool shut_wr = false;  // our FIN is queued (after a close frame)
    bool dirty = false;    // in the list of connections to flush after this batch
    bool dead = false;     // closed; freed when no operation refers to it any more

    ~connection() {
        for (chunk* k : out) give_chunk(k);
    }
};

io_uring ring;
io_uring_buf_ring* buf_ring = nullptr;
char* buf_base = nullptr;
unsigned buffers_returned = 0;  // recycled in this batch, published at its end
std::vector<connection*> dirty;
int listen_fd = -1;
int sig_fd = -1;
signalfd_siginfo sig_info;

struct counters {
    unsigned long long enters = 0, cqes = 0, recvs = 0, sends = 0, rearms = 0, nobufs = 0;
} stats;

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void die_errno(const char* what, int negative_errno) {
    errno = -negative_errno;
    die(what);
}

void raise_nofile_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

// An SQE; if the submission queue is full, what is queued is submitted first (an extra
// syscall, only when one batch queues more than sq_entries operations).
io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (!sqe) die("io_uring_get_sqe");
    }
    return sqe;
}

std::uint64_t tag(connection& c, op o) {
    return reinterpret_cast<std::uint64_t>(&c) | o;
}

void arm_accept() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, op_accept);
}

void arm_signal() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, sig_fd, &sig_info, sizeof sig_info, 0);
    io_uring_sqe_set_data64(sqe, op_signal);
}

void arm_recv(connection& c) {
    io_uring_sqe* sqe = get_sqe();
    // No buffer of our own: the kernel takes one from the group when data is there.
    io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buf_group;
    io_uring_sqe_set_data64(sqe, tag(c, op_recv));
    c.recv_active = true;
    ++stats.rearms;
}

// Sends everything in the oldest chunk: a partial send's rest first, then what was
// appended behind it meanwhile. The kernel only reads [head, tail) as it was now, so
// replies may keep being appended at the tail while it is in flight.
void queue_send(connection& c) {
    chunk* k = c.out.front();
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, c.fd, k->data + k->head, k->tail - k->head, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(c, op_send));
    c.send_active = true;
    ++stats.sends;
}

void mark_dirty(connection& c) {
    if (c.dirty) return;
    c.dirty = true;
    dirty.push_back(&c);
}

void maybe_free(connection& c) {
    if (c.dead && !c.recv_active && !c.send_active && !c.dirty) delete &c;
}

// Closes at once; the object lives on until its last operation completes. It is freed
// only in flush_dirty(), never under a completion handler that still uses it.
void close_connection(connection& c) {
    if (c.dead) return;
    c.dead = true;
    // A send queued in this batch must reach the kernel (which resolves the descriptor at
    // submission) before the number is closed and possibly reused.
    if (c.send_active) io_uring_submit(&ring);
    // shutdown() ends the recv and the send still in flight (they hold the socket open
    // past close()); their final completions then let the connection be freed.
    shutdown(c.fd, SHUT_RDWR);
    close(c.fd);
    c.leftover.release();  // the chunks may be read by a send in flight: freed with c
    mark_dirty(c);
}

void return_buffer(unsigned bid) {
    io_uring_buf_ring_add(buf_ring, buf_base + std::size_t{bid} * buf_size, buf_size,
                          static_cast<unsigned short>(bid), io_uring_buf_ring_mask(buf_count),
                          static_cast<int>(buffers_returned));
    ++buffers_returned;
}

// ---------------------------------------------------------------- WebSocket

std::string accept_value(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string joined(key);
    joined += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

// Finds the value of Sec-WebSocket-Key (name matched case-insensitively); empty if missing.
std::string_view find_key(std::string_view head) {
    static constexpr std::string_view name = "\r\nsec-websocket-key:";
    auto lower = [](char ch) {
        return (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    };
    auto it = std::search(head.begin(), head.end(), name.begin(), name.end(),
                          [&](char a, char b) { return lower(a) == b; });
    if (it == head.end()) return {};
    std::size_t from = static_cast<std::size_t>(it - head.begin()) + name.size();
    std::size_t to = head.find("\r\n", from);
    if (to == std::string_view::npos) return {};
    std::string_view value = head.substr(from, to - from);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return value;
}

// Writes a server frame header at `o`; returns its length.
std::size_t write_header(char* o, std::uint8_t b0, std::size_t len) {
    o[0] = static_cast<char>(b0);
    if (len < 126) {
        o[1] = static_cast<char>(len);
        return 2;
    }
    if (len <= 0xffff) {
        o[1] = 126;
        o[2] = static_cast<char>(len >> 8);
        o[3] = static_cast<char>(len & 0xff);
        return 4;
    }
    o[1] = 127;  // exactly 64 KiB needs the 64-bit form
    for (int i = 0; i < 8; ++i) o[2 + i] = static_cast<char>(len >> (8 * (7 - i)));
    return 10;
}

// XORs a payload with its mask key into dst, eight bytes at a time.
void unmask_into(char* dst, const char* src, std::size_t len, const unsigned char key[4]) {
    std::uint32_t k32;
    std::memcpy(&k32, key, 4);
    const std::uint64_t k64 = (static_cast<std::uint64_t>(k32) << 32) | k32;
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + i, 8);
        w ^= k64;
        std::memcpy(dst + i, &w, 8);
    }
    for (; i < len; ++i) dst[i] = static_cast<char>(src[i] ^ key[i & 3]);
}

// Parses every complete frame in data[0, len) and writes the replies at `out`, which has
// room for at least `len` bytes (a reply is never longer than the masked frame it answers).
// Returns the bytes consumed, or -1 to drop the connection; `written` gets the reply bytes.
long parse_frames(connection& c, const char* data, std::size_t len, char* out,
                  std::size_t& written) {
    std::size_t pos = 0;
    written = 0;
    while (c.state == conn_state::open && len - pos >= 2) {
        const auto b0 = static_cast<std::uint8_t>(data[pos]);
        const auto b1 = static_cast<std::uint8_t>(data[pos + 1]);
        if (!(b1 & 0x80)) return -1;  // client frames must be masked
        std::size_t payload = b1 & 0x7f;
        std::size_t header = 2;
        if (payload == 126) {
            if (len - pos < 4) break;
            payload = (std::size_t{static_cast<std::uint8_t>(data[pos + 2])} << 8) |
                      static_cast<std::uint8_t>(data[pos + 3]);
            header = 4;
        } else if (payload == 127) {
            if (len - pos < 10) break;
            payload = 0;
            for (int i = 0; i < 8; ++i)
                payload = (payload << 8) | static_cast<std::uint8_t>(data[pos + 2 + i]);
            header = 10;
        }
        if (payload > max_payload) return -1;
        if (len - pos < header + 4 + payload) break;
        const auto* key = reinterpret_cast<const unsigned char*>(data + pos + header);
        const char* src = data + pos + header + 4;
        pos += header + 4 + payload;

        const std::uint8_t opcode = b0 & 0x0f;
        if (opcode == 0xA) continue;  // pongs need no answer
        std::uint8_t reply = b0;      // an echo keeps FIN and opcode (and so fragmentation)
        if (opcode == 0x9) reply = 0x80 | 0xA;
        if (opcode == 0x8) {
            reply = 0x80 | 0x8;
            c.state = conn_state::closing;  // frames after a close are ignored
        }
        written += write_header(out + written, reply, payload);
        unmask_into(out + written, src, payload, key);
        written += payload;
    }
    return static_cast<long>(pos);
}

// Bytes of the frame at the start of data[0, len) as far as its header tells: the whole
// frame once the header is there, else the header bytes needed to know more. A frame that
// parse_frames() will reject never asks for more than its header.
std::size_t frame_need(const char* data, std::size_t len) {
    if (len < 2) return 2;
    const std::size_t code = static_cast<std::uint8_t>(data[1]) & 0x7f;
    const std::size_t header = (code == 126 ? 4 : code == 127 ? 10 : 2) + 4;  // + mask key
    if (len < header) return header;
    std::size_t payload = code;
    if (code == 126) {
        payload = (std::size_t{static_cast<std::uint8_t>(data[2])} << 8) |
                  static_cast<std::uint8_t>(data[3]);
    } else if (code == 127) {
        payload = 0;
        for (int i = 0; i < 8; ++i)
            payload = (payload << 8) | static_cast<std::uint8_t>(data[2 + i]);
    }
    if (payload > max_payload) return header;
    return header + payload;
}

// Answers the request head at the start of the leftover or of data[0, len) (the 101
// response goes to `out`) and drops it; false to drop the connection. A head that is not
// complete yet is kept in the leftover. Rare path: once per connection.
bool handshake(connection& c, const char*& data, std::size_t& len, char* out,
               std::size_t& produced) {
    const bool gathered = c.leftover.size > 0;
    if (gathered) {
        c.leftover.append(data, len);
        len = 0;
    }
    const std::string_view view = gathered ? std::string_view(c.leftover.data(), c.leftover.size)
                                           : std::string_view(data, len);
    const std::size_t end = view.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (view.size() > max_head) return false;
        if (!gathered) c.leftover.append(data, len);
        len = 0;
        return true;
    }
    const std::string_view key = find_key(view.substr(0, end + 2));
    if (key.empty()) return false;
    const std::string resp =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
        accept_value(key) + "\r\n\r\n";
    std::memcpy(out, resp.data(), resp.size());
    produced = resp.size();
    c.state = conn_state::open;
    if (gathered) {  // frames sent right behind the head stay in the leftover
        c.leftover.size -= end + 4;
        std::memmove(c.leftover.data(), c.leftover.data() + end + 4, c.leftover.size);
    } else {
        data += end + 4;
        len -= end + 4;
    }
    return true;
}

// Handles bytes one recv delivered, in a ring buffer that is recycled right after.
void on_input(connection& c, const char* data, std::size_t len) {
    if (c.state == conn_state::closing) return;  // after our close only the peer's EOF counts
    // Replies are never longer than the frames they answer, so this much room is enough.
    constexpr std::size_t response_room = 256;  // the 101 response is about 130 bytes
    const std::size_t room = c.leftover.size + len + response_room;
    if (c.out.empty() || chunk_size - c.out.back()->tail < room) c.out.push_back(take_chunk());
    chunk* dst = c.out.back();
    char* out = dst->data + dst->tail;
    std::size_t produced = 0;
    std::size_t written = 0;

    if (c.state == conn_state::handshake && !handshake(c, data, len, out, produced))
        return close_connection(c);

    // A frame split across recvs waits in the leftover. Only as many new bytes as complete
    // it are copied there; everything after it is parsed in place in the ring buffer, so
    // at most one frame per recv is copied.
    if (c.leftover.size && c.state == conn_state::open) {
        for (;;) {
            const std::size_t need = frame_need(c.leftover.data(), c.leftover.size);
            if (need <= c.leftover.size || len == 0) break;
            const std::size_t take = std::min(need - c.leftover.size, len);
            c.leftover.append(data, take);
            data += take;
            len -= take;
        }
        const long used =
            parse_frames(c, c.leftover.data(), c.leftover.size, out + produced, written);
        if (used < 0) return close_connection(c);
        produced += written;
        c.leftover.size -= static_cast<std::size_t>(used);
        std::memmove(c.leftover.data(), c.leftover.data() + used, c.leftover.size);
        // Still incomplete means every new byte went into it (len is 0 then).
    }
    if (len && c.state == conn_state::open) {
        const long used = parse_frames(c, data, len, out + produced, written);
        if (used < 0) return close_connection(c);
        produced += written;
        c.leftover.append(data + used, len - static_cast<std::size_t>(used));
    }
    dst->tail += produced;
    c.queued += produced;
    if (dst->tail == dst->head) {  // nothing to send (never the case for one in flight)
        c.out.pop_back();
        give_chunk(dst);
    }
    // After a close, unread frames are dropped.
    if (c.state == conn_state::closing) c.leftover.size = 0;
    c.leftover.trim();

    if (c.queued) mark_dirty(c);
    if (c.queued > high_water && c.recv_active && !c.paused) {
        // Stop receiving until the peer reads: cancel the multishot recv. CQEs already
        // posted still carry data and are handled; the cancelled recv's last CQE
        // (-ECANCELED, no F_MORE) clears recv_active.
        c.paused = true;
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, tag(c, op_recv), 0);
        io_uring_sqe_set_data64(sqe, op_ignore);
    }
}

// ---------------------------------------------------------------- completions

void on_recv_cqe(connection& c, const io_uring_cqe* cqe) {
    const int res = cqe->res;
    if (!(cqe->flags & IORING_CQE_F_MORE)) c.recv_active = false;  // this recv is over
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0 && !c.dead) {
            ++stats.recvs;
            on_input(c, buf_base + std::size_t{bid} * buf_size, static_cast<std::size_t>(res));
        }
        return_buffer(bid);
    }
    if (c.dead) return maybe_free(c);
    if (res == 0) return close_connection(c);  // the peer's EOF
    if (res < 0 && res != -ENOBUFS && res != -ECANCELED) return close_connection(c);
    if (res == -ENOBUFS) ++stats.nobufs;
    // A recv that ended without EOF (ring ran dry, cancelled for backpressure, or the
    // kernel stopped the multishot) is re-armed unless backpressure holds it off.
    if (!c.recv_active && !c.paused) arm_recv(c);
}

void on_send_cqe(connection& c, const io_uring_cqe* cqe) {
    c.send_active = false;
    if (c.dead) return maybe_free(c);
    if (cqe->res < 0) return close_connection(c);
    const auto n = static_cast<std::size_t>(cqe->res);
    chunk* k = c.out.front();
    k->head += n;
    c.queued -= n;
    // A drained chunk goes back to the pool, so idle connections hold none. (A partial
    // send leaves its rest at the front: flush_dirty() sends it before anything newer.)
    if (k->head == k->tail) {
        c.out.erase(c.out.begin());
        give_chunk(k);
    }
    if (c.paused && c.queued <= low_water) {
        c.paused = false;
        if (!c.recv_active) arm_recv(c);
    }
    mark_dirty(c);  // the rest, output collected meanwhile, or the FIN after a close
}

void on_accept_cqe(const io_uring_cqe* cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
    if (cqe->res < 0) {
        errno = -cqe->res;
        std::perror("accept");  // e.g. EMFILE: the limit is too low for the test
        return;
    }
    auto* c = new connection;
    c->fd = cqe->res;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    arm_recv(*c);
}

// After a batch of completions: start one send per connection that has output and no send
// in flight; all of them reach the kernel together with the next io_uring_enter().
void flush_dirty() {
    for (connection* c : dirty) {
        c->dirty = false;
        if (c->dead) {
            maybe_free(*c);
            continue;
        }
        if (c->send_active) continue;  // its completion marks it dirty again
        if (c->queued) {
            queue_send(*c);
        } else if (c->state == conn_state::closing && !c->shut_wr) {
            c->shut_wr = true;  // our close frame is out: send FIN, wait for the peer's EOF
            // A plain syscall, not IORING_OP_SHUTDOWN: that op is always handed to an io-wq
            // worker, which resolves the descriptor number later; if the peer's EOF closed
            // it meanwhile and an accept reused the number, the FIN hit the new connection.
            shutdown(c->fd, SHUT_WR);
        }
    }
    dirty.clear();
}

// ---------------------------------------------------------------- setup

void setup_ring(std::string_view mode) {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = cq_entries;
    if (mode == "defer") {
        p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    } else if (mode == "coop") {
        p.flags |= IORING_SETUP_COOP_TASKRUN;
    } else if (mode != "plain") {
        std::fprintf(stderr, "unknown --setup %.*s (defer, coop, plain)\n",
                     static_cast<int>(mode.size()), mode.data());
        std::exit(2);
    }
    if (int r = io_uring_queue_init_params(sq_entries, &ring, &p); r < 0)
        die_errno("io_uring_queue_init_params", r);
    // A registered ring fd spares the kernel the fd lookup on every io_uring_enter().
    io_uring_register_ring_fd(&ring);

    // The buffer ring: page-aligned shared memory the kernel reads buffer addresses from.
    // (liburing 2.3 has no io_uring_setup_buf_ring helper, so it is mapped and registered
    // here.)
    const std::size_t ring_bytes = buf_count * sizeof(io_uring_buf);
    void* mem =
        mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) die("mmap");
    buf_ring = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring);
    reg.ring_entries = buf_count;
    reg.bgid = buf_group;
    if (int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0)
        die_errno("io_uring_register_buf_ring", r);
    io_uring_buf_ring_init(buf_ring);
    // The buffers themselves: one mapping, so untouched ones cost no memory.
    mem = mmap(nullptr, std::size_t{buf_count} * buf_size, PROT_READ | PROT_WRITE,
               MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) die("mmap");
    buf_base = static_cast<char*>(mem);
    for (unsigned bid = 0; bid < buf_count; ++bid) return_buffer(bid);
    io_uring_buf_ring_advance(buf_ring, static_cast<int>(buffers_returned));
    buffers_returned = 0;
}

struct options {
    int port = 0;
    std::string_view setup = "defer";
};

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            o.port = std::atoi(argv[++i]);
        } else if (arg.starts_with("--port=")) {
            o.port = std::atoi(argv[i] + 7);
        } else if (arg == "--setup" && i + 1 < argc) {
            o.setup = argv[++i];
        } else if (arg.starts_with("--setup=")) {
            o.setup = arg.substr(8);
        } else {
            std::fprintf(stderr, "usage: %s --port N [--setup defer|coop|plain]\n", argv[0]);
            std::exit(2);
        }
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const options opt = parse_args(argc, argv);
    raise_nofile_limit();
    std::signal(SIGPIPE, SIG_IGN);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sig_fd < 0) die("signalfd");

    // Blocking sockets: io_uring tries each operation without blocking and, if it cannot
    // complete, waits for readiness internally.
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) die("socket");
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(opt.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (listen(listen_fd, SOMAXCONN) != 0) die("listen");
    socklen_t addr_len = sizeof addr;
    getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &addr_len);

    setup_ring(opt.setup);
    arm_accept();
    arm_signal();
    dirty.reserve(1024);

    std::printf("listening on http://127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    for (;;) {
        // The only syscall of an iteration: submit what the last batch queued, wait for one
        // completion at least.
        int r = io_uring_submit_and_wait(&ring, 1);
        ++stats.enters;
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            die_errno("io_uring_submit_and_wait", r);

        unsigned head;
        unsigned seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            const std::uint64_t data = io_uring_cqe_get_data64(cqe);
            const auto o = static_cast<op>(data & op_mask);
            auto* c = reinterpret_cast<connection*>(data & ~op_mask);
            switch (o) {
                case op_recv:
                    on_recv_cqe(*c, cqe);
                    break;
                case op_send:
                    on_send_cqe(*c, cqe);
                    break;
                case op_accept:
                    on_accept_cqe(cqe);
                    break;
                case op_signal:
                    if (cqe->res == static_cast<int>(sizeof sig_info)) {
                        std::fprintf(stderr,
                                     "uring_echo: %llu enters, %llu completions, %llu recvs, "
                                     "%llu sends, %llu recv arms (%llu after ENOBUFS)\n",
                                     stats.enters, stats.cqes + seen, stats.recvs, stats.sends,
                                     stats.rearms, stats.nobufs);
                        return 0;
                    }
                    arm_signal();
                    break;
                case op_ignore:
                    break;
            }
        }
        io_uring_cq_advance(&ring, seen);
        stats.cqes += seen;
        // Recycled buffers become visible to the kernel in one store.
        if (buffers_returned) {
            io_uring_buf_ring_advance(buf_ring, static_cast<int>(buffers_returned));
            buffers_returned = 0;
        }
        flush_dirty();
    }
}
