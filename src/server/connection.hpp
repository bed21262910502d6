// One accepted TCP connection: first an HTTP/1.1 exchange (static files, health, metrics,
// or the upgrade request), then, once upgraded, a WebSocket connection driven by the
// sans-I/O protocol::session. Owns its libuv handles and deletes itself once they close.
#pragma once
#include <uv.h>

#include <sockeye/server.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/message_delivery.hpp"
#include "handle_block.hpp"
#include "http/request_parser.hpp"
#include "http_request_view.hpp"
#include "net/deadlines.hpp"
#include "net/transport.hpp"
#include "protocol/extensions.hpp"
#include "protocol/session.hpp"
#include "route_exchange.hpp"
#include "server_core.hpp"
#include "upgrade_wait.hpp"

namespace sockeye::server_detail {

class connection_impl final : public sockeye::connection,
                              private protocol::session_handler,
                              private net::transport_handler,
                              private net::deadline_entry {
  public:
    explicit connection_impl(server_core& core);
    ~connection_impl() override;

    // Accepts from `listener` and starts reading; deletes itself on failure. Over the
    // connection limit the client gets a 503 (or, with TLS, is closed) instead.
    static void accept_from(server_core& core, uv_stream_t* listener, bool over_limit);

    // Graceful shutdown: WebSocket peers get close 1001, idle HTTP connections are closed.
    void shutdown_for_server();
    // Writes whatever output is pending (called for dirty connections).
    void flush() {
        if (http_ && http_->exchange) after_exchange_event();
        transport_.flush();
    }
    // The loop's deadline timer calls this for a connection whose deadline came.
    static void on_deadline(net::deadline_entry& e);
    // The application answered a waiting upgrade (on this loop, after the hook returned).
    void apply_upgrade_answer();

    // For the route exchange: response bytes, and a change worth looking at (ended,
    // paused, resumed) that the connection acts on once it is safe to.
    void exchange_output(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
    void exchange_changed();
    int http_minor_version() const noexcept { return http_ ? http_->parser.version_minor() : 1; }

    // sockeye::connection
    bool send(message_type type, std::span<const std::uint8_t> data) override;
    bool begin_message(message_type type) override;
    bool write_message(std::span<const std::uint8_t> piece, bool fin) override;
    bool ping(std::span<const std::uint8_t> payload) override;
    bool close(std::uint16_t code, std::string_view reason) override;
    std::size_t buffered_amount() const override { return transport_.buffered(); }
    void pause() override;
    void resume() override;
    const std::string& subprotocol() const override { return subprotocol_; }
    const std::string& path() const override { return path_; }
    const std::string& peer() const override { return peer_; }
    connection_handle handle() override;  // connection_handle.cpp

    // The connection ended (or its loop is going away): its handles find it gone.
    void release_handle() noexcept;

    connection_impl* prev_ = nullptr;  // server_core's list
    connection_impl* next_ = nullptr;
    // In server_core::dirty (output waiting for the loop's flusher).
    bool dirty() const noexcept { return dirty_; }
    void set_dirty(bool d) noexcept { dirty_ = d; }

  private:
    enum class phase : std::uint8_t {
        http,       // reading request heads
        websocket,  // upgraded
        closing,    // output flushing, then FIN sent; reading until the peer's EOF
        closed,     // handles closing; deleted when they are
    };

    // What only the HTTP phase needs, freed on upgrade: a WebSocket connection, idle ones
    // above all, should not carry it.
    // An upgrade that passed the protocol checks and waits for the application's hook.
    struct upgrade_wait {
        protocol::handshake_result result;
        std::string target;
        std::optional<protocol::deflate_params> deflate;
        std::vector<std::string> offered;  // subprotocols the client offered
        std::shared_ptr<upgrade_reply::shared> reply;
    };

    struct http_state {
        explicit http_state(http::request_limits limits) : parser(limits) {}
        ~http_state();
        http::request_parser parser;
        // Static file being sent: pieces are read as the output drains.
        int file_fd = -1;
        std::uint64_t file_left = 0;
        bool keep_alive_after_file = false;
        std::string held_input;              // pipelined bytes that wait for the file to finish
        std::uint64_t deadline = 0;          // for the next request head (handshake_timeout)
        std::unique_ptr<upgrade_wait> wait;  // the upgrade hook's answer is awaited
        std::unique_ptr<route_exchange> exchange;  // an application route's request
        bool in_exchange_call = false;             // inside the route handler or the body parser
    };

    bool sending_file() const noexcept { return http_ && http_->file_fd >= 0; }
    // No more requests are answered until the file is out and the output has room.
    bool upgrade_waiting() const noexcept { return http_ && http_->wait; }
    // The next bytes are not for the parser yet: a route's response is still going (or
    // its body is paused).
    bool exchange_blocks() const noexcept {
        if (!http_ || !http_->exchange) return false;
        const auto& ex = *http_->exchange;
        return ex.body_done() ? true : ex.body_paused();
    }
    bool http_blocked() const noexcept {
        return sending_file() || upgrade_waiting() || exchange_blocks() ||
               transport_.buffered() > core_.opts.high_water_mark;
    }
    void stop_file() noexcept;

    void start();
    void handle_bytes(std::uint8_t* data, std::size_t len);
    // Returns the bytes used; stops early when the rest must wait (file being sent).
    std::size_t handle_http(std::uint8_t* data, std::size_t len);
    void handle_request();
    std::optional<protocol::deflate_params> negotiate_compression(
        const protocol::request_head& head, protocol::handshake_result& result);
    void upgrade(const protocol::handshake_result& result, std::string_view target,
                 const std::optional<protocol::deflate_params>& deflate);
    void ask_application(protocol::handshake_result result, std::string_view target,
                         std::optional<protocol::deflate_params> deflate);
    void cancel_upgrade_wait();
    bool start_route(const http::request_parser& req, bool keep_alive);
    void after_exchange_event();
    void abort_exchange();
    static void body_sink(void* ctx, const char* piece, std::size_t len);
    void reject_upgrade(int status, std::string_view body, const std::vector<name_value>& headers);
    void respond(std::string bytes, bool keep_alive);
    void send_file_piece();
    void answer_held_input();
    void watch_progress();
    void note_progress(std::uint64_t now);
    void finish_response();
    void after_session_event();

    void request_flush();
    void update_reading();
    void begin_close();
    void terminate(const char* why);
    void handle_closed();
    void arm_timer();
    void handle_deadline();

    // net::transport_handler
    void on_transport_data(std::uint8_t* data, std::size_t len) override;
    void on_transport_end(const char* error) override;
    void on_transport_writable() override;
    void on_transport_congested() override;
    void on_transport_drain() override;
    void on_transport_closed() override;
    void on_transport_flushed() override;

    // protocol::session_handler
    void on_message_begin(protocol::message_type type) override;
    void on_message_data(std::span<const std::uint8_t> data, bool fin) override;
    void on_pong(std::span<const std::uint8_t> payload) override;
    void on_close(std::uint16_t code, std::string_view reason) override;
    void on_error(protocol::error e) override;
    void on_send(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload,
                 bool urgent) override;

    server_core& core_;
    net::transport transport_;
    // Small members together, so they share one word.
    phase phase_ = phase::http;
    bool user_paused_ = false;
    bool opened_ = false;  // on_open was called (so on_close is owed)
    bool close_received_ = false;
    bool dirty_ = false;
    bool in_empty_ = true;  // the message being received has no bytes so far (--reject-empty)
    std::uint16_t final_code_ = 1006;
    // Shared with the handles given out; null until the first handle() (idle connections
    // pay this pointer only). The block's `self` keeps it alive while this points to it.
    handle_block* handle_ = nullptr;

    std::unique_ptr<http_state> http_;  // freed once upgraded
    std::optional<protocol::session> session_;

    // Received messages go to the application's handlers through this.
    common::message_delivery delivery_;

    // Deadlines in loop milliseconds; 0 = not set.
    std::uint64_t close_deadline_ = 0;
    std::uint64_t next_ping_ = 0;
    std::uint64_t pong_deadline_ = 0;
    std::uint64_t last_frame_ = 0;
    std::uint64_t send_deadline_ = 0;  // when to check that the peer takes our output
    std::uint64_t accepted_mark_ = 0;  // transport bytes_delivered() when last looked at
    std::uint64_t last_progress_ = 0;  // when it last changed

    std::uint64_t started_ = 0;
    std::string final_reason_;
    std::string path_;
    std::string subprotocol_;
    std::string peer_;
};

}  // namespace sockeye::server_detail
