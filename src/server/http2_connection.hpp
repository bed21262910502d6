// The HTTP/2 front door (RFC 9113): one nghttp2 server session over the byte channel of an
// accepted TCP (or TLS) connection, chosen by ALPN "h2" or the h2c connection preface.
// nghttp2 owns the framing, HPACK and the flow-control bookkeeping; this class feeds it the
// bytes read, moves what it produces into the transport's output only while that output
// has room (so no stream's data piles up below the scheduler), enforces the limits a
// hostile peer tests (concurrent streams, header lists, floods, rapid reset) and owns the
// streams (http2_stream): plain requests and WebSockets by extended CONNECT (RFC 8441).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "byte_channel.hpp"
#include "server_core.hpp"

typedef struct nghttp2_session nghttp2_session;

namespace sockeye::server_detail {

class http2_stream;

class http2_connection {
  public:
    // `host`: the TCP connection's channel (output, flushing, its end). `preface` holds
    // bytes already read that belong to the session (may be empty).
    http2_connection(server_core& core, byte_channel& host, bool tls, std::string server_name);
    ~http2_connection();
    http2_connection(const http2_connection&) = delete;
    http2_connection& operator=(const http2_connection&) = delete;

    // Bytes from the peer. Returns false when the session is over (a fatal error, GOAWAY
    // sent and nothing left to do): the owner ends the connection gracefully.
    bool receive(const std::uint8_t* data, std::size_t len);
    // Moves frames into the host's output while it has room. The caller flushes.
    void pump();
    // Whether nghttp2 has nothing left to read or write: the connection may end.
    bool over() const noexcept;
    // Graceful shutdown: every WebSocket gets 1001; GOAWAY once they are done.
    void shutdown();
    // The TCP connection is gone: every stream ends now (1006 for open WebSockets).
    void end_all(const char* why);
    // The TCP connection's send timeout: open WebSockets end with 1008 "send timeout".
    void note_send_timeout();
    void release_handles() noexcept;
    void note_flushed();
    // The earliest deadline of any stream; 0 = none.
    std::uint64_t next_deadline() const noexcept;
    void handle_deadline(std::uint64_t now, bool undelivered);

    // ---- for the streams
    server_core& core() noexcept { return core_; }
    nghttp2_session* session() noexcept { return session_; }
    byte_channel& host() noexcept { return host_; }
    bool tls() const noexcept { return tls_; }
    const std::string& server_name() const noexcept { return server_name_; }
    // A stream has output, or its state changed: pump once the current read is over.
    void request_flush() { host_.request_flush(); }
    void rearm() { host_.rearm(); }
    // The stream has something to act on outside nghttp2's callbacks (after_changes()).
    void stream_changed(std::int32_t stream_id) { changed_.push_back(stream_id); }
    // The stream's bytes were read: its window (and the connection's) may reopen.
    void consume(std::int32_t stream_id, std::size_t n);
    // Ends the session with GOAWAY(`error_code`), logging why.
    void fail(std::uint32_t error_code, const char* why);

    // nghttp2 callbacks
    void begin_header_block() noexcept { block_bytes_ = 0; }
    int on_begin_headers(std::int32_t stream_id);
    int on_header(std::int32_t stream_id, std::string_view name, std::string_view value);
    int on_frame_recv(std::int32_t stream_id, std::uint8_t type, std::uint8_t flags);
    int on_data_chunk(std::int32_t stream_id, const std::uint8_t* data, std::size_t len);
    int on_stream_close(std::int32_t stream_id, std::uint32_t error_code);
    void on_end_stream_sent(std::int32_t stream_id);
    long on_send(const std::uint8_t* data, std::size_t len);
    int on_send_data(std::int32_t stream_id, const std::uint8_t* frame_head, std::size_t len,
                     std::size_t padding);

  private:
    http2_stream* find(std::int32_t id) const;
    // RFC 9113 §10.5 / CVE-2023-44487: a peer that resets streams faster than any client
    // does is ended. A token bucket: `reset_burst` at once, refilled at `reset_rate`/s.
    bool allow_reset();
    // Shutting down: GOAWAY once no stream is left.
    void goaway_when_idle();
    // When a connection without streams is ended (GOAWAY NO_ERROR): `handshake_timeout`
    // after its last stream closed (or it began); 0 = never.
    std::uint64_t idle_deadline() const noexcept;
    // Sends the session's first SETTINGS frame with MAX_CONCURRENT_STREAMS added.
    bool send_first_settings(const std::uint8_t* data, std::size_t len);

    server_core& core_;
    byte_channel& host_;
    nghttp2_session* session_ = nullptr;
    std::unordered_map<std::int32_t, std::unique_ptr<http2_stream>> streams_;
    std::vector<std::int32_t> changed_;  // streams with after_changes() due
    std::vector<std::int32_t> changed_batch_;
    std::string server_name_;
    double reset_tokens_;
    std::uint64_t reset_refilled_ = 0;  // loop ms
    std::uint64_t idle_since_ = 0;      // loop ms: no stream open since
    std::size_t block_bytes_ = 0;       // the header block being decoded, as §6.5.2 counts
    bool tls_;
    bool shutting_down_ = false;
    bool goaway_sent_ = false;
    bool failed_ = false;
    bool idle_closed_ = false;  // ended for having no stream
    bool settings_sent_ = false;  // our first SETTINGS went out
};

}  // namespace sockeye::server_detail
