// One HTTP/2 connection of the client (an nghttp2 client session over a net::transport)
// carrying one or many WebSockets as RFC 8441 extended-CONNECT streams.
//
// The first WebSocket dials (DNS, TCP, TLS as on HTTP/1.1) and hands the connected
// transport over with attach(); every WebSocket, the first included, is a stream that
// registers with open_stream() and hears of its stream through h2_stream_handler. The
// link sends the preface, waits for the server's SETTINGS and opens the streams only if
// the server offers SETTINGS_ENABLE_CONNECT_PROTOCOL; until then streams wait.
//
// Flow control is backpressure on both sides:
//   - received DATA is given back to the server's windows (nghttp2_session_consume) only
//     when the stream says it consumed it, so a paused WebSocket stops the server once
//     the stream window (stream_window) is full, without holding up the other streams;
//   - what a stream sends waits in its own output queue, which a deferred data provider
//     reads from as far as the server's windows allow (nghttp2 enforces them), and nghttp2
//     output is produced only while the transport's unsent bytes are below a bound.
//
// The link keeps itself alive while its socket is open; the streams hold shared_ptrs.
// When the last stream leaves, it sends GOAWAY and closes the connection.
#pragma once
#include <uv.h>

#include <sockeye/client.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/output_queue.hpp"
#include "net/transport.hpp"
#include "protocol/handshake.hpp"

typedef struct nghttp2_session nghttp2_session;

namespace sockeye::client_detail {

// What one WebSocket stream hears from its link. None of these is called from inside a
// call the stream made into the link.
class h2_stream_handler {
  public:
    virtual ~h2_stream_handler() = default;
    // The final response to the extended CONNECT (1xx are skipped). `headers` are the
    // regular ones, names lower-case.
    virtual void on_h2_response(int status, std::span<const protocol::owned_header> headers) = 0;
    // Stream payload (WebSocket frames). Call h2_link::consume() once it is used.
    virtual void on_h2_data(std::span<const std::uint8_t> data) = 0;
    // The server ended its side of the stream (END_STREAM).
    virtual void on_h2_remote_end() = 0;
    // The stream is gone: RST_STREAM, GOAWAY, or the connection ended or failed. After a
    // clean end of both sides this comes with an empty `why`.
    virtual void on_h2_closed(const std::string& why) = 0;
    // The link could not be set up for streams (TCP, TLS, ALPN, SETTINGS): the same error
    // reaches every waiting stream.
    virtual void on_h2_failed(client_error e, const std::string& message) = 0;
    // Output of this stream moved on: look at buffered amounts again.
    virtual void on_h2_writable() = 0;
    // The stream's outgoing bytes, read by the link as the windows allow.
    virtual net::output_queue& h2_output() = 0;
};

struct h2_link_settings {
    std::string where;  // "host:port", for messages
    bool secure = false;
    double close_timeout = 5;  // seconds to wait for the server's EOF after GOAWAY
    // Receive window of each stream: what a paused WebSocket may hold unconsumed.
    std::uint32_t stream_window = 1u << 20;
};

class h2_link final : private net::transport_handler {
  public:
    static std::shared_ptr<h2_link> create(uv_loop_t* loop, h2_link_settings s);
    ~h2_link() override;
    h2_link(const h2_link&) = delete;
    h2_link& operator=(const h2_link&) = delete;

    // The dialing stream hands over the connected transport (TLS engine set for wss);
    // `keep` holds the buffers the transport reads into.
    // `tls` is the transport's engine (null for h2c), `peer` the address connected to.
    void attach(std::unique_ptr<net::transport> t, std::shared_ptr<void> keep, net::tls_engine* tls,
                std::string peer);
    // Dialing failed: every registered stream gets on_h2_failed.
    void fail(client_error e, const std::string& message);

    // Registers a stream; the CONNECT goes out once the server's SETTINGS allow it.
    void open_stream(h2_stream_handler& h, std::vector<protocol::owned_header> request);
    // The stream's output queue has new bytes.
    void output_ready(h2_stream_handler& h);
    // Ends our side of the stream (END_STREAM) once its queued output is sent.
    void end_stream(h2_stream_handler& h);
    // The stream used `n` received bytes: the windows may open by as much.
    void consume(h2_stream_handler& h, std::size_t n);
    // Forgets the stream, resetting it (RST_STREAM CANCEL) if it is still open.
    void leave(h2_stream_handler& h);

    // Our bytes not yet written to the socket (all streams).
    std::size_t buffered() const noexcept { return transport_ ? transport_->buffered() : 0; }
    bool failed() const noexcept { return failed_; }
    // The server's address ("ip:port") once connected.
    const std::string& peer() const noexcept { return peer_; }

  private:
    struct stream {
        h2_stream_handler* handler = nullptr;
        std::vector<protocol::owned_header> request;
        std::int32_t id = -1;   // -1 until submitted
        bool deferred = false;  // the data provider is waiting for output_ready()
        bool end_requested = false;
        bool response_seen = false;
        bool moved = false;   // the link took output since the stream last heard of it
        bool doomed = false;  // registered after the link gave up: fails at once
        int status = 0;
        std::vector<protocol::owned_header> response;
    };

    h2_link(uv_loop_t* loop, h2_link_settings s);
    void start_session();
    void check_alpn_and_start();
    void settings_received(bool connect_protocol);
    void submit(stream& s);
    void submit_waiting();
    void pump();
    void produce_output();
    void request_pump();
    std::string tls_failure(const char* transport_error) const;
    void notify_writable();
    void fail_all(client_error e, const std::string& message);
    void close_all(const std::string& why);
    void shut_down();
    void close_handles();
    void maybe_release();
    stream* find(std::int32_t id);

    static void on_prepare(uv_prepare_t* p);
    static void on_timer(uv_timer_t* t);

    // nghttp2's callbacks, in the .cpp
    friend struct h2_callbacks;

    // net::transport_handler
    void on_transport_data(std::uint8_t* data, std::size_t len) override;
    void on_transport_end(const char* error) override;
    void on_transport_writable() override;
    void on_transport_flushed() override;
    void on_transport_closed() override;

    uv_loop_t* loop_;
    h2_link_settings settings_;
    std::shared_ptr<h2_link> self_;  // while handles or the socket are open
    std::unique_ptr<net::transport> transport_;
    std::shared_ptr<void> keep_;
    net::tls_engine* tls_ = nullptr;
    std::string peer_;
    nghttp2_session* session_ = nullptr;
    std::unordered_map<h2_stream_handler*, std::unique_ptr<stream>> streams_;

    uv_prepare_t pumper_{};
    uv_timer_t timer_{};
    int open_handles_ = 0;
    bool handles_closing_ = false;
    bool started_ = false;  // preface and SETTINGS queued
    bool ready_ = false;    // the server's SETTINGS allow extended CONNECT
    bool failed_ = false;
    bool shutting_down_ = false;
    bool pumping_ = false;
    bool pump_again_ = false;
    bool receiving_ = false;  // inside nghttp2_session_mem_recv (its callbacks run)
    bool transport_closed_ = false;
};

}  // namespace sockeye::client_detail
