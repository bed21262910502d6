// One accepted TCP (or TLS) connection speaking HTTP/1.1: request heads, application
// routes, static files, the built-in endpoints and the upgrade decision. Once upgraded it
// is the byte channel under one websocket_connection, which it owns. It owns the libuv
// handles and deletes itself once they close. The request side lives in three files:
// http1_connection.cpp (lifecycle, reading, requests, files, deadlines), http1_routes.cpp
// (application routes) and http1_upgrade.cpp (the handshake and the upgrade hook).
#pragma once
#include <uv.h>

#include <sockeye/server.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "byte_channel.hpp"
#include "http/request_parser.hpp"
#include "http2_connection.hpp"
#include "http_request_view.hpp"
#include "net/deadlines.hpp"
#include "net/transport.hpp"
#include "protocol/extensions.hpp"
#include "protocol/handshake.hpp"
#include "route_exchange.hpp"
#include "server_core.hpp"
#include "upgrade_wait.hpp"
#include "websocket_connection.hpp"

namespace sockeye::server_detail {

class http1_connection final : private byte_channel,
                               private net::transport_handler,
                               private net::deadline_entry {
  public:
    explicit http1_connection(server_core& core);
    ~http1_connection();

    // Accepts from `listener` and starts reading; deletes itself on failure. Over the
    // connection limit the client gets a 503 (or, with TLS, is closed) instead.
    static void accept_from(server_core& core, uv_stream_t* listener, bool over_limit);

    // Graceful shutdown: WebSocket peers get close 1001, idle HTTP connections are closed.
    void shutdown_for_server();
    // Writes whatever output is pending (called for dirty connections).
    void flush() {
        if (http_ && http_->exchange) after_exchange_event();
        if (h2_) pump_http2();
        transport_.flush();
    }
    // The loop's deadline timer calls this for a connection whose deadline came.
    static void on_deadline(net::deadline_entry& e);
    // The application answered a waiting upgrade (on this loop, after the hook returned).
    void apply_upgrade_answer();
    // The loop is going away: handles given out find the connection gone.
    void release_handle() noexcept {
        if (has_ws_) ws()->release_handle();
        if (h2_) h2_->release_handles();
    }

    std::size_t buffered_amount() const noexcept { return transport_.buffered(); }
    std::uint64_t loop_now() const noexcept { return uv_now(core_.loop); }

    http1_connection* prev_ = nullptr;  // server_core's list
    http1_connection* next_ = nullptr;
    // In server_core::dirty (output waiting for the loop's flusher).
    bool dirty() const noexcept { return dirty_; }
    void set_dirty(bool d) noexcept { dirty_ = d; }

  private:
    enum class phase : std::uint8_t {
        http,       // reading request heads
        websocket,  // upgraded: bytes go to ws_
        http2,      // HTTP/2 (ALPN h2 or the h2c preface): bytes go to h2_
        closing,    // output flushing, then FIN sent; reading until the peer's EOF
        closed,     // handles closing; deleted when they are
    };

    // The HTTP phase's side of the application API: a route's exchange and a waiting upgrade
    // hold this, in http_state, so an upgraded connection carries no vtable pointers for them.
    struct http_hooks final : upgrade_waiter, exchange_host {
        http1_connection* c = nullptr;
        void apply_upgrade_answer() override { c->apply_upgrade_answer(); }
        void exchange_output(std::span<const std::uint8_t> a,
                             std::span<const std::uint8_t> b) override {
            c->exchange_output(a, b);
        }
        void exchange_changed() override { c->exchange_changed(); }
        framing exchange_framing() const noexcept override { return c->exchange_framing(); }
        std::size_t exchange_buffered() const noexcept override { return c->exchange_buffered(); }
        std::uint64_t loop_now() const noexcept override { return c->loop_now(); }
    };

    // What only the HTTP phase needs, freed on upgrade: a WebSocket connection, idle ones
    // above all, should not carry it.
    struct http_state {
        explicit http_state(http::request_limits limits) : parser(limits) {}
        ~http_state();
        // First, so that it outlives the exchange and the wait that point to it.
        http_hooks hooks;
        http::request_parser parser;
        // Static file being sent: pieces are read as the output drains.
        int file_fd = -1;
        std::uint64_t file_left = 0;
        bool keep_alive_after_file = false;
        std::string held_input;              // pipelined bytes that wait for the file to finish
        std::string preface_part;            // the start of what may be the h2c preface
        std::uint64_t deadline = 0;          // for the next request head (handshake_timeout)
        std::unique_ptr<pending_upgrade> wait;  // the upgrade hook's answer is awaited
        std::unique_ptr<route_exchange> exchange;  // an application route's request
        std::uint64_t exchange_idle = 0;           // its route's idle timeout, ms (0 = none)
        bool in_exchange_call = false;             // inside the route handler or the body parser
    };

    // HTTP-phase states of connections that upgraded are kept per thread for the next
    // connections: a handshake then allocates no parser and no header buffers.
    static std::unique_ptr<http_state> take_http_state(const http::request_limits& limits);
    static void keep_http_state(std::unique_ptr<http_state> s) noexcept;
    static std::vector<std::unique_ptr<http_state>>& spare_http_states() noexcept;

    bool sending_file() const noexcept { return http_ && http_->file_fd >= 0; }
    bool upgrade_waiting() const noexcept { return http_ && http_->wait; }
    // The next bytes are not for the parser yet: a route's response is still going (or
    // its body is paused).
    bool exchange_blocks() const noexcept {
        if (!http_ || !http_->exchange) return false;
        const auto& ex = *http_->exchange;
        return ex.body_done() ? true : ex.body_paused();
    }
    // No more requests are answered until the file is out and the output has room.
    bool http_blocked() const noexcept {
        return sending_file() || upgrade_waiting() || exchange_blocks() ||
               transport_.buffered() > core_.opts.high_water_mark;
    }
    void stop_file() noexcept;

    void start();
    void handle_bytes(std::uint8_t* data, std::size_t len);
    // HTTP/2 when ALPN chose h2 or the bytes are the h2c preface: true if the bytes were
    // taken (as HTTP/2, or held while they may still become the preface).
    bool maybe_start_http2(std::uint8_t* data, std::size_t len);
    void receive_http2(const std::uint8_t* data, std::size_t len);
    void pump_http2();
    // Returns the bytes used; stops early when the rest must wait (file being sent).
    std::size_t handle_http(std::uint8_t* data, std::size_t len);
    void handle_request();
    void respond(std::string bytes, bool keep_alive);
    void send_file_piece();
    void answer_held_input();
    void finish_response();

    // http1_upgrade.cpp
    void handle_upgrade_request(const protocol::request_head& head);
    void upgrade(const protocol::handshake_result& result, std::string_view target,
                 const std::optional<protocol::deflate_params>& deflate, app_state state);
    void ask_application(protocol::handshake_result result, std::string_view target,
                         std::optional<protocol::deflate_params> deflate);
    void cancel_upgrade_wait();
    void reject_upgrade(int status, std::string_view body, const std::vector<name_value>& headers);
    void upgrade_deadline();

    // http1_routes.cpp
    // For the exchange (through http_hooks): response bytes, and a change worth looking at
    // (ended, paused, resumed) that the connection acts on once it is safe to.
    void exchange_output(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
    void exchange_changed();
    exchange_host::framing exchange_framing() const noexcept {
        return http_ && http_->parser.version_minor() == 0 ? exchange_host::framing::close
                                                           : exchange_host::framing::chunked;
    }
    std::size_t exchange_buffered() const noexcept { return transport_.buffered(); }
    bool start_route(const http::request_parser& req, bool keep_alive);
    void after_exchange_event();
    void abort_exchange();
    std::uint64_t exchange_deadline() const noexcept;
    void exchange_timed_out(std::uint64_t now);
    static void body_sink(void* ctx, const char* piece, std::size_t len);

    void note_progress(std::uint64_t now);
    void update_reading();
    void begin_close();
    void terminate(const char* why);
    void handle_closed();
    void arm_timer();
    void handle_deadline();

    // byte_channel (for ws_)
    net::output_queue& output() noexcept override { return transport_.output(); }
    void request_flush() override;
    std::size_t buffered() const noexcept override { return transport_.buffered(); }
    std::uint64_t undelivered() const override { return transport_.undelivered(); }
    std::uint64_t last_progress() const noexcept override { return last_progress_; }
    void watch_progress() override;
    bool reading() const noexcept override { return transport_.reading(); }
    void set_paused(bool paused) override;
    void finish() override { begin_close(); }
    void abort(const char* why) override { terminate(why); }
    void rearm() override { arm_timer(); }
    const std::string& peer() const noexcept override { return peer_; }

    // net::transport_handler
    void on_transport_data(std::uint8_t* data, std::size_t len) override;
    void on_transport_end(const char* error) override;
    void on_transport_writable() override;
    void on_transport_congested() override;
    void on_transport_drain() override;
    void on_transport_closed() override;
    void on_transport_flushed() override;

    server_core& core_;
    // [[no_unique_address]]: the small members below go into the transport's tail padding.
    [[no_unique_address]] net::transport transport_;
    // Small members together, so they share one word.
    phase phase_ = phase::http;
    bool user_paused_ = false;
    bool dirty_ = false;
    bool h2_checked_ = false;  // the first bytes were looked at for HTTP/2
    bool has_ws_ = false;      // ws_ is constructed (upgraded)

    std::unique_ptr<http_state> http_;  // freed once upgraded
    // Once upgraded (has_ws_); held inline: one allocation per connection, not two, and
    // without std::optional's flag word (has_ws_ shares one with the small members).
    union {
        websocket_connection ws_;
    };
    websocket_connection* ws() noexcept { return &ws_; }
    // Once the connection speaks HTTP/2.
    std::unique_ptr<http2_connection> h2_;

    // Deadlines in loop milliseconds; 0 = not set.
    std::uint64_t close_deadline_ = 0;  // closing: the peer's EOF is due
    std::uint64_t send_deadline_ = 0;   // when to check that the peer takes our output
    std::uint64_t accepted_mark_ = 0;   // transport bytes_delivered() when last looked at
    std::uint64_t last_progress_ = 0;   // when it last changed

    std::uint64_t started_ = 0;
    std::string peer_;
};

}  // namespace sockeye::server_detail
