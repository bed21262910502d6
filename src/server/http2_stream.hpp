// One HTTP/2 stream of an http2_connection: the request's header list as it arrives, then
// either a plain answer (the built-in endpoints and static files, exactly as over
// HTTP/1.1) or a WebSocket by extended CONNECT (RFC 8441). For the WebSocket it is the byte
// channel: frames travel as DATA unchanged, the stream's own queue holds our frames until
// the peer's windows let them go, and its receive window reopens only as the WebSocket
// takes the bytes in (a paused or congested WebSocket holds what is in flight and stops
// the sender). http2_stream.cpp: requests and answers; http2_routes.cpp: application
// routes; http2_websocket.cpp: the WebSocket.
#pragma once
#include <sockeye/upgrade.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "byte_channel.hpp"
#include "http/request_parser.hpp"
#include "http2_connection.hpp"
#include "protocol/extensions.hpp"
#include "protocol/handshake.hpp"
#include "route_exchange.hpp"
#include "upgrade_wait.hpp"
#include "websocket_connection.hpp"

namespace sockeye::server_detail {

class http2_stream final : private byte_channel, private exchange_host, public upgrade_waiter {
  public:
    http2_stream(http2_connection& conn, std::int32_t id);
    ~http2_stream();

    std::int32_t id() const noexcept { return id_; }
    // A request header (pseudo-headers included), as nghttp2 validated it.
    void add_header(std::string_view name, std::string_view value);
    // The header list is complete (END_HEADERS): answer or open the WebSocket.
    void request_complete(bool end_stream);
    // DATA for this stream.
    void receive(const std::uint8_t* data, std::size_t len);
    // The peer ended its side (END_STREAM).
    void peer_ended();
    // Our END_STREAM went out.
    void end_stream_sent();
    // nghttp2 closed the stream (both sides done, or a reset): ends the WebSocket.
    void closed(std::uint32_t error_code);
    // The TCP connection is gone.
    void end_now(const char* why);
    void shutdown();
    void note_send_timeout();
    void release_handle() noexcept {
        if (ws_) ws_->release_handle();
    }
    void note_flushed() {
        if (ws_) ws_->note_flushed();
    }
    bool websocket() const noexcept { return ws_.has_value(); }
    std::uint64_t next_deadline() const noexcept;
    // While the request's header block is incomplete: when it is due (handshake_timeout).
    std::uint64_t request_deadline() const noexcept;
    void handle_deadline(std::uint64_t now, bool undelivered);

    // The data provider: up to `cap` bytes of the body or frames. Returns the length,
    // sets `eof` at the end of the stream's output, `copy_to` non-null means the bytes
    // were copied there; else they are sent by write_out(). -1: nothing now (deferred).
    long read_out(std::uint8_t* copy_to, std::size_t cap, bool& no_copy, bool& eof);
    // Moves the next `len` bytes of the queue into `dst` (the transport's output).
    void write_out(net::output_queue& dst, std::size_t len);

    // Runs what waited for the end of nghttp2's send or of a callback (a drained output,
    // an exchange that ended or changed).
    void after_changes();

    // upgrade_waiter: the application answered a waiting upgrade.
    void apply_upgrade_answer() override;

  private:
    // The answer to a plain request: status line and headers of an HTTP/1.1 response
    // turned into an h2 header list, then the body from memory or a file.
    void respond_http1(std::string response, int file_fd, std::uint64_t file_size);
    void respond_status(int status, std::string_view body,
                        const std::vector<protocol::owned_header>& extra = {});
    void submit(int status, const std::vector<protocol::owned_header>& headers, bool body);
    // Builds the HTTP/1.1 form of the request for the parser the HTTP/1.1 code reads from,
    // so that routes, files and the upgrade hook see the same request on either version.
    bool parse_as_http1(std::string_view method);
    void handle_plain();
    void handle_connect();

    // http2_routes.cpp
    bool start_route();
    void exchange_output(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override;
    void exchange_changed() override;
    framing exchange_framing() const noexcept override { return framing::frames; }
    std::size_t exchange_buffered() const noexcept override { return out_.size(); }
    std::uint64_t loop_now() const noexcept override { return uv_now(conn_.core().loop); }
    void after_exchange_event();
    void exchange_body(const std::uint8_t* data, std::size_t len);
    void abort_exchange();
    std::uint64_t exchange_deadline() const noexcept;
    void exchange_timed_out(std::uint64_t now);

    // http2_websocket.cpp
    void accept_websocket(protocol::handshake_result result,
                          const std::optional<protocol::deflate_params>& deflate, app_state state);
    void ask_application(protocol::handshake_result result,
                         std::optional<protocol::deflate_params> deflate);
    void reject_upgrade(int status, std::string_view body, const std::vector<name_value>& headers);
    void cancel_upgrade_wait();
    void feed(const std::uint8_t* data, std::size_t len);
    void feed_held();
    void resume_output();
    void reset(std::uint32_t error_code, const char* why);

    // byte_channel (for ws_)
    net::output_queue& output() noexcept override { return out_; }
    void request_flush() override;
    std::size_t buffered() const noexcept override { return out_.size(); }
    std::uint64_t undelivered() const override { return out_.size() + conn_.host().undelivered(); }
    std::uint64_t last_progress() const noexcept override { return last_progress_; }
    void watch_progress() override;
    bool reading() const noexcept override { return !user_paused_ && !congested_; }
    void set_paused(bool paused) override;
    void finish() override;
    void abort(const char* why) override { reset(8 /* CANCEL */, why); }
    void rearm() override { conn_.rearm(); }
    const std::string& peer() const noexcept override { return conn_.host().peer(); }

    http2_connection& conn_;
    std::int32_t id_;
    // The request, while it is one.
    struct request_state {
        std::string method, scheme, authority, path, protocol;
        std::vector<protocol::owned_header> headers;
        std::size_t bytes = 0;  // header list size as RFC 9113 §6.5.2 counts it
        bool too_large = false;
        bool complete = false;  // END_HEADERS came
        std::unique_ptr<http::request_parser> parser;  // the HTTP/1.1 form
        std::unique_ptr<pending_upgrade> wait;         // the upgrade hook's answer awaited
        std::optional<protocol::deflate_params> deflate;
    };
    std::unique_ptr<request_state> req_;
    // An application route's exchange, while it is open.
    std::unique_ptr<route_exchange> exchange_;
    std::uint64_t exchange_idle_ = 0;  // its route's idle timeout, ms (0 = none)
    bool in_exchange_call_ = false;    // inside the route handler or a body callback
    bool exchange_head_ = false;       // the exchange's head was submitted
    bool drain_pending_ = false;       // the output fell below low water after congestion
    // A response body from a file (read as the window allows).
    int file_fd_ = -1;
    std::uint64_t file_left_ = 0;
    // Our output for the stream: a response body or WebSocket frames.
    net::output_queue out_;
    std::optional<websocket_connection> ws_;
    std::string held_;  // input that came while the WebSocket did not read
    std::uint64_t last_progress_ = 0;
    std::uint64_t send_deadline_ = 0;
    std::uint64_t close_deadline_ = 0;
    std::uint64_t started_ = 0;
    std::uint64_t bytes_in_ = 0;
    std::uint64_t bytes_out_ = 0;
    bool responded_ = false;     // a response (or the 200) was submitted
    bool deferred_ = false;      // the data provider said "nothing now"
    bool finishing_ = false;     // END_STREAM after the queued output
    bool peer_ended_ = false;
    bool user_paused_ = false;
    bool congested_ = false;
    bool ended_ = false;  // closed() or end_now() ran
    const char* end_why_ = nullptr;
};

}  // namespace sockeye::server_detail
