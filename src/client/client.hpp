// The client side of one WebSocket connection: DNS (libuv's resolver), TCP connect with
// fallback over the resolved addresses, TLS (client tls_engine), the HTTP upgrade
// (build_client_request / response_parser / verify_server_response), then a
// protocol::session in the client role over a net::transport.
//
// With client_options::http2 the WebSocket is an RFC 8441 stream of an h2_link instead:
// the connection dials as above and hands the transport to the link, or joins the link of
// another connection (join()) so several WebSockets share one HTTP/2 connection.
#pragma once
#include <uv.h>

#include <sockeye/client.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/h2_link.hpp"
#include "client/trace_text.hpp"
#include "client/url.hpp"
#include "common/message_delivery.hpp"
#include "http/response_parser.hpp"
#include "net/tls_context.hpp"
#include "net/transport.hpp"
#include "protocol/session.hpp"

namespace sockeye::client_detail {

class client_connection final : public sockeye::connection,
                                private protocol::session_handler,
                                private net::transport_handler,
                                private h2_stream_handler {
  public:
    using error_callback = std::function<void(client_error, const std::string&)>;

    client_connection(uv_loop_t* loop, client_options options, handlers h, error_callback on_error);
    ~client_connection() override = default;

    // Starts resolving and connecting; problems are reported through on_error.
    void start();
    // HTTP/2 only, before start(): open this WebSocket as another stream of `link` (another
    // connection's, see link()) instead of dialing a connection of its own.
    void join(std::shared_ptr<h2_link> link) {
        link_ = std::move(link);
        joined_ = true;
    }
    // The HTTP/2 connection this WebSocket is a stream of (null without http2).
    const std::shared_ptr<h2_link>& link() const noexcept { return link_; }
    // Ends everything at once: on_close(1006) if open, nothing more if not.
    void abort();
    bool opened() const noexcept { return opened_; }
    client_error error() const noexcept { return error_; }
    const std::string& error_message() const noexcept { return error_message_; }

    // sockeye::connection
    bool send(message_type type, std::span<const std::uint8_t> data) override;
    bool begin_message(message_type type) override;
    bool write_message(std::span<const std::uint8_t> piece, bool fin) override;
    bool ping(std::span<const std::uint8_t> payload) override;
    bool close(std::uint16_t code, std::string_view reason) override;
    std::size_t buffered_amount() const override;
    void pause() override;
    void resume() override;
    const std::string& subprotocol() const override { return subprotocol_; }
    const std::string& path() const override { return url_.target; }
    const std::string& peer() const override { return peer_; }
    uv_loop_s* loop() const noexcept override { return loop_; }

  private:
    enum class phase : std::uint8_t {
        idle,
        resolving,
        connecting,   // TCP connect to addrs_[next_addr_ - 1]
        handshaking,  // TLS and the HTTP upgrade
        open,
        closing,  // closing handshake done or given up: FIN sent, waiting for EOF
        done,     // handles closing or closed
    };

    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
    static void on_connected(uv_connect_t* req, int status);
    static void on_timer(uv_timer_t* t);
    static void on_prepare(uv_prepare_t* p);

    void connect_next();
    void connection_established();
    void handle_response(std::uint8_t* data, std::size_t len);
    void open_session(std::string subprotocol);
    net::output_queue* output();  // where frames go; null once nothing can be sent
    bool reading_wanted() const noexcept { return !user_paused_ && !input_paused_; }
    void deliver_h2(const std::uint8_t* data, std::size_t len);
    void drain_held_input();
    void receive_frames(std::uint8_t* data, std::size_t len);
    void fail(client_error e, std::string message);
    void teardown();
    void begin_close();
    void after_session_event();
    void request_flush();
    void note_buffered();
    void check_drain();
    void check_input_backpressure();
    void apply_reading();
    void arm_timer(double seconds);
    void trace_written();
    std::string tls_failure(const char* transport_error) const;
    std::string where() const;  // "host:port" for messages

    // net::transport_handler
    void on_transport_data(std::uint8_t* data, std::size_t len) override;
    void on_transport_end(const char* error) override;
    void on_transport_writable() override;
    void on_transport_flushed() override;
    void on_transport_closed() override;

    // h2_stream_handler
    void on_h2_response(int status, std::span<const protocol::owned_header> headers) override;
    void on_h2_data(std::span<const std::uint8_t> data) override;
    void on_h2_remote_end() override;
    void on_h2_closed(const std::string& why) override;
    void on_h2_failed(client_error e, const std::string& message) override;
    void on_h2_writable() override;
    net::output_queue& h2_output() override { return h2_out_; }

    // protocol::session_handler
    void on_message_begin(protocol::message_type type) override;
    void on_message_data(std::span<const std::uint8_t> data, bool fin) override;
    void on_pong(std::span<const std::uint8_t> payload) override;
    void on_close(std::uint16_t code, std::string_view reason) override;
    void on_error(protocol::error e) override;
    void on_send(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload,
                 bool urgent) override;
    std::uint8_t* reserve_send(std::size_t n) override;
    void commit_send() override;

    uv_loop_t* loop_;
    client_options opts_;
    handlers h_;
    error_callback on_error_;
    url url_;

    phase phase_ = phase::idle;
    client_error error_ = client_error::none;
    std::string error_message_;
    bool opened_ = false;
    bool user_paused_ = false;
    // Reading held off because what handling the server's input produced (pongs, replies
    // sent from handlers) is piling up unsent; see check_input_backpressure().
    bool input_paused_ = false;
    // Output queued while handling input since the output was last at the low-water mark.
    std::size_t reply_bytes_ = 0;
    bool above_high_ = false;  // buffered output reached the high-water mark: on_drain owed
    bool dirty_ = false;       // output waits for the flusher
    bool close_received_ = false;
    std::uint16_t final_code_ = protocol::close_code::abnormal;
    std::string final_reason_;

    uv_getaddrinfo_t resolver_{};
    uv_connect_t connect_req_{};
    uv_timer_t timer_{};
    uv_prepare_t flusher_{};
    bool handles_open_ = false;
    bool resolver_busy_ = false;
    std::vector<sockaddr_storage> addrs_;
    std::size_t next_addr_ = 0;
    std::string last_connect_error_;

    // What the transport reads into; shared with the h2_link that takes the transport over.
    struct io_buffers {
        std::vector<std::uint8_t> read;
        std::vector<std::uint8_t> plain;
        net::transport_shared shared;
    };
    std::shared_ptr<io_buffers> io_;
    std::unique_ptr<net::transport> transport_;
    std::shared_ptr<net::tls_context> tls_ctx_;
    net::tls_engine* tls_ = nullptr;  // owned by transport_

    // HTTP/2 (RFC 8441): the link this WebSocket is a stream of, and the stream's state.
    std::shared_ptr<h2_link> link_;
    bool joined_ = false;   // the link is another connection's
    bool dialing_ = false;  // this connection dials the link's transport
    std::vector<protocol::owned_header> h2_request_;
    net::output_queue h2_out_;              // our frames, until the link takes them
    std::vector<std::uint8_t> held_input_;  // stream data received while reading is held
    std::size_t held_off_ = 0;              // of held_input_, already delivered
    std::vector<std::uint8_t> scratch_;     // stream data to parse (unmasked in place)
    bool in_prepare_ = false;
    bool remote_ended_ = false;  // the server's END_STREAM came

    std::string key_;      // Sec-WebSocket-Key sent
    std::string request_;  // the upgrade request
    std::unique_ptr<http::response_parser> response_;
    std::optional<protocol::session> session_;
    std::string subprotocol_;
    std::string peer_;

    // Whole-message delivery when no streaming handlers are set.
    common::message_delivery delivery_;

    // client_options::trace: the session's frames as records, the records as lines. The
    // recorder learns of writes from how much of what the session queued has left the
    // output queue (queued counts from the queue's size when the session opened, which
    // may still hold the tail of the upgrade request).
    struct tracing {
        explicit tracing(std::function<void(std::string_view)> out)
            : sink(std::move(out)), recorder(sink) {}
        trace_text_sink sink;
        protocol::frame_recorder recorder;
    };
    std::unique_ptr<tracing> trace_;
};

}  // namespace sockeye::client_detail
