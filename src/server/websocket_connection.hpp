// One WebSocket connection as the application sees it (sockeye::connection): the sans-I/O
// protocol::session, message delivery to the handlers, the sending API, and the WebSocket's
// own deadlines (heartbeat ping and pong, idle, the wait for the peer's close). It runs on
// any byte_channel: it never sees a socket, TLS or HTTP.
#pragma once
#include <sockeye/server.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "byte_channel.hpp"
#include "connection_tap.hpp"
#include "common/message_delivery.hpp"
#include "handle_block.hpp"
#include "protocol/extensions.hpp"
#include "protocol/session.hpp"
#include "publication.hpp"
#include "server_core.hpp"

namespace sockeye::server_detail {

struct topic_entry;

class websocket_connection final : public sockeye::connection, private protocol::session_handler {
  public:
    websocket_connection(server_core& core, byte_channel& channel, std::string path,
                         std::string subprotocol,
                         const std::optional<protocol::deflate_params>& deflate);
    ~websocket_connection() override;

    // ---- the channel's side
    // The 101 is out (queued): logs, counts, and calls on_open.
    void open(bool deflate);
    // Bytes from the peer (modified in place: unmasked).
    void receive(std::uint8_t* data, std::size_t len);
    // Our output passed high water (reading stops) / fell back to low water.
    void on_congested() noexcept { pong_deadline_ = 0; }
    void on_drain();
    // The earliest of this connection's deadlines; 0 = none.
    std::uint64_t next_deadline() const noexcept;
    // A deadline came; `undelivered`: output of ours has not reached the peer yet.
    void handle_deadline(std::uint64_t now, bool undelivered);
    // The server shuts down: close 1001.
    void shutdown();
    // The channel ended the connection (timeout, peer gone, after the close): the code if
    // none was exchanged, then the close record, the counters and on_close. Once.
    void end(const char* why, std::uint64_t bytes_in, std::uint64_t bytes_out,
             std::uint64_t started);
    // The channel drops the connection for not taking its output.
    void note_send_timeout();
    bool paused() const noexcept { return user_paused_; }
    // It runs on an HTTP/2 stream (RFC 8441).
    void set_http2() noexcept { http2_ = true; }
    // The channel flushed: the buffered amount other threads see is brought up to date.
    void note_flushed();
    // The connection ended (or its loop is going away): its handles find it gone.
    void release_handle() noexcept;
    // A message published to one of its topics (topic_registry): queued by reference, or
    // not, by the backlog policy.
    published_delivery deliver_published(const publication& p);

    // ---- sockeye::connection
    bool send(message_type type, std::span<const std::uint8_t> data) override;
    bool begin_message(message_type type) override;
    bool write_message(std::span<const std::uint8_t> piece, bool fin) override;
    bool ping(std::span<const std::uint8_t> payload) override;
    bool close(std::uint16_t code, std::string_view reason) override;
    std::size_t buffered_amount() const override { return channel_.buffered(); }
    void pause() override;
    void resume() override;
    const std::string& subprotocol() const override {
        static const std::string none;
        return subprotocol_ ? *subprotocol_ : none;
    }
    const std::string& path() const override { return path_; }
    const std::string& peer() const override { return channel_.peer(); }
    std::string_view http_version() const override { return http2_ ? "2" : "1.1"; }
    uv_loop_s* loop() const noexcept override { return core_.loop; }
    connection_handle handle() override;  // connection_handle.cpp
    bool subscribe(std::string_view topic) override;  // subscriptions.cpp
    bool unsubscribe(std::string_view topic) override;
    std::uint64_t published_dropped() const override { return subs_ ? subs_->dropped : 0; }

  private:
    void after_receive();
    void unsubscribe_all() noexcept;

    // protocol::session_handler
    void on_message_begin(protocol::message_type type) override;
    void on_message_data(std::span<const std::uint8_t> data, bool fin) override;
    void on_pong(std::span<const std::uint8_t> payload) override;
    void on_close(std::uint16_t code, std::string_view reason) override;
    void on_error(protocol::error e) override;
    void on_send(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload,
                 bool urgent) override;

    server_core& core_;
    byte_channel& channel_;
    protocol::session session_;
    // Received messages to the handlers. [[no_unique_address]]: the flags and the close code
    // below go into its tail padding.
    [[no_unique_address]] common::message_delivery delivery_;
    // Flags in one byte (bit-fields): every connection carries them.
    bool user_paused_ : 1 = false;
    bool opened_ : 1 = false;  // on_open was called (so on_close is owed)
    bool ended_ : 1 = false;
    bool close_received_ : 1 = false;
    bool in_empty_ : 1 = true;  // the message being received has no bytes so far (--reject-empty)
    bool http2_ : 1 = false;
    // --inspect: this connection is an inspector (/_sockeye/inspect); the application never
    // sees it.
    bool inspector_ : 1 = false;
    std::uint16_t final_code_ = 1006;
    // Shared with the handles given out; null until the first handle() (idle connections
    // pay this pointer only). The block's `self` keeps it alive while this points to it.
    handle_block* handle_ = nullptr;
    // Topics subscribed to; null until the first subscribe (8 bytes for the others).
    struct subscriptions {
        std::vector<topic_entry*> topics;
        std::uint64_t dropped = 0;
    };
    std::unique_ptr<subscriptions> subs_;
    // --inspect: this connection's tap, whose frames go to the inspectors; null otherwise.
    // It is the session's observer and owned through it (deleted with the connection), so a
    // connection without --inspect carries no pointer of its own for it.
    connection_tap* tap() const noexcept {
        return static_cast<connection_tap*>(session_.observer());
    }
    bool inspector() const noexcept { return inspector_; }
    // Deadlines in loop milliseconds; 0 = not set.
    std::uint64_t close_wait_ = 0;  // our close is sent: the peer's answer is due
    std::uint64_t next_ping_ = 0;
    std::uint64_t pong_deadline_ = 0;
    std::uint64_t last_frame_ = 0;  // when bytes last came (idle timeout)
    // The close reason, once there is one: allocated at the close, not carried while open.
    std::unique_ptr<std::string> final_reason_;
    const std::string& final_reason() const noexcept {
        static const std::string none;
        return final_reason_ ? *final_reason_ : none;
    }
    void set_final_reason(std::string_view reason);
    std::string path_;
    // Allocated only when one was chosen: most connections have none.
    std::unique_ptr<std::string> subprotocol_;
};

}  // namespace sockeye::server_detail
