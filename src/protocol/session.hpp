// One WebSocket connection's protocol state, without I/O (the sans-I/O core): bytes from
// the peer go into receive(), events come out through session_handler, and every byte to
// send comes out through session_handler::on_send. The same class serves both roles.
//
// Receiving: frame_parser handles single frames; session adds what spans frames —
// fragmentation (§5.4), the message size limit, incremental fail-fast UTF-8 validation of
// text (§8.1), control frames between fragments, the closing handshake (§5.5.1, §7).
// Messages are streamed: on_message_data delivers each piece as it arrives.
//
// Sending: whole messages, streamed messages (begin / write pieces / the last piece has
// fin), control frames between fragments, and close. Frames are emitted as a header plus
// the caller's payload span, so a server forwards payload without copying it; in the client
// role the payload is masked through a small per-thread scratch buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "close_code.hpp"
#include "deflate_codec.hpp"
#include "error.hpp"
#include "frame_observer.hpp"
#include "frame_parser.hpp"
#include "opcode.hpp"
#include "utf8.hpp"

namespace sockeye::protocol {

struct session_options {
    // Largest data message accepted, in bytes across all its fragments; 0 = no limit.
    // Checked at each frame header, before the payload arrives (→ 1009).
    std::uint64_t max_message_size = 0;
    // Most frames one received data message may have; 0 = no limit (→ 1008). Counts above
    // 2^32 - 1 are taken as that. Streaming
    // means fragments cost no memory here, but a peer sending a message in millions of
    // one-byte frames costs CPU per frame.
    std::uint64_t max_fragments = 0;
    // Largest frame this side sends: longer messages are split into fragments of this
    // size; 0 = never split. Sizes above 4 GiB - 1 are taken as that.
    std::uint64_t max_frame_size = 0;
    role local_role = role::server;
    // RSV bits a negotiated extension uses (0x4 = RSV1 for permessage-deflate).
    std::uint8_t allowed_rsv = 0;
    // Answer pings with pongs carrying the same payload (§5.5.2).
    bool auto_pong = true;
};

enum class session_state : std::uint8_t {
    open,     // data flows both ways
    closing,  // this side sent a close and waits for the peer's
    closed,   // both closes exchanged, or the connection was failed: close the TCP side
};

class session_handler {
  public:
    virtual ~session_handler() = default;
    // A data message starts.
    virtual void on_message_begin(message_type type) = 0;
    // The next piece of the message. `fin` is true on the last piece, which may be empty.
    // Text pieces have passed UTF-8 validation so far (a code point may still be split
    // between pieces); the whole message is valid once the fin piece arrives.
    virtual void on_message_data(std::span<const std::uint8_t> data, bool fin) = 0;
    virtual void on_ping(std::span<const std::uint8_t> /*payload*/) {}
    virtual void on_pong(std::span<const std::uint8_t> /*payload*/) {}
    // The peer's close frame (code 1005 when it carried none). The reply has already been
    // sent when this is called, unless this side had sent its close first.
    virtual void on_close(std::uint16_t /*code*/, std::string_view /*reason*/) {}
    // The peer broke the protocol: a close with close_code_for(e) has been sent and the
    // session is closed (§7.1.7 "fail the WebSocket connection").
    virtual void on_error(error /*e*/) {}
    // Bytes to write to the peer, in order: a frame header and (part of) its payload. Either
    // may be empty. Both are valid only during the call. `urgent` marks pings and pongs,
    // which the I/O layer may send ahead of queued data frames, but only at a frame
    // boundary. Close frames are never urgent: nothing may follow them.
    virtual void on_send(std::span<const std::uint8_t> header,
                         std::span<const std::uint8_t> payload, bool urgent) = 0;
    // Optional, used for masked (client) frames that are not urgent: room for exactly `n`
    // more bytes at the end of the output, where the session writes the whole frame, masking
    // the payload on the way in; commit_send() follows at once. It saves a copy of every sent
    // byte through a scratch buffer. Return null to have the frame come through on_send
    // instead.
    virtual std::uint8_t* reserve_send(std::size_t /*n*/) { return nullptr; }
    virtual void commit_send() {}
};

class session final : private frame_sink, private deflate_sink {
  public:
    session(const session_options& opts, session_handler& handler) noexcept;
    ~session() override;

    // Turns on permessage-deflate (RFC 7692) as negotiated in the handshake: RSV1 becomes
    // legal on the first frame of a data message, such messages are inflated as they
    // arrive, and messages sent from now on are compressed (above the threshold).
    void enable_deflate(const deflate_settings& settings);
    bool deflate_enabled() const noexcept { return deflate_ != nullptr; }

    // Feeds bytes from the peer; payload is unmasked in place, hence the mutable span.
    // Returns the bytes used: all of them, unless the session closed on the way (what
    // follows a close frame is ignored, §5.5.1).
    std::size_t receive(std::uint8_t* data, std::size_t len);

    // ---- sending. Each returns false (and sends nothing) when not allowed now: data after
    // this side's close, a new message while a streamed one is open, control payload > 125.
    bool send_message(message_type type, std::span<const std::uint8_t> payload);
    bool send_text(std::string_view text);
    // Streamed message: begin, then write pieces; the piece with fin = true ends it.
    bool begin_message(message_type type);
    bool write_message(std::span<const std::uint8_t> piece, bool fin);
    bool send_ping(std::span<const std::uint8_t> payload = {});
    bool send_pong(std::span<const std::uint8_t> payload = {});
    // Starts the closing handshake (or answers the peer's). Code 1005 sends an empty close.
    // The reason is cut to fit 123 bytes at a UTF-8 boundary.
    bool close(std::uint16_t code = close_code::normal, std::string_view reason = {});

    // The I/O side has dropped the connection (aborted from a handler, TCP gone): the
    // session goes closed at once and emits nothing more, not even for the rest of the
    // bytes receive() is parsing when this is called from one of its events. Without it,
    // frames behind the event that dropped the connection would still reach the handler.
    void stop() noexcept;
    bool stopped() const noexcept { return stopped_; }

    session_state state() const noexcept { return state_; }
    bool close_sent() const noexcept { return close_sent_; }
    bool close_received() const noexcept { return close_received_; }
    bool sending_message() const noexcept { return out_open_; }
    // Whether a received data message is in progress.
    bool receiving_message() const noexcept { return rx_ && rx_->in_message; }
    // Between reads: whether a frame or message in progress keeps receive state (for tests
    // and memory accounting; an idle session keeps none).
    bool holds_receive_state() const noexcept { return rx_ != nullptr; }
    // The error the session failed with, or error::none.
    error failure() const noexcept { return failure_; }
    void set_max_message_size(std::uint64_t n) noexcept { max_message_size_ = n; }
    void set_allowed_rsv(std::uint8_t bits) noexcept;
    // Shows every frame both ways to `o` (the frame inspector, --trace); null = none.
    void set_observer(frame_observer* o) noexcept { observer_ = o; }
    frame_observer* observer() const noexcept { return observer_; }

  private:
    bool on_frame_header(const frame_header& h, std::span<const std::uint8_t> raw) override;
    bool on_frame_payload(std::span<std::uint8_t> data, bool frame_end) override;

    // deflate_sink: inflated pieces of a received message.
    bool on_piece(std::span<const std::uint8_t> piece, bool last) override;

    std::size_t receive_kept(std::uint8_t* data, std::size_t len);
    bool handle_control(opcode op, std::span<const std::uint8_t> payload);
    bool handle_close(std::span<const std::uint8_t> payload);
    // Validates and hands on one piece of the message being received.
    bool deliver(std::span<const std::uint8_t> data, bool message_end);
    bool fail(error e);
    // Whether parsing goes on after an event: not once the peer's close came, the session
    // failed, or the handler stopped it.
    bool reading() const noexcept {
        return failure_ == error::none && !close_received_ && !stopped_;
    }
    void emit_frame(opcode op, bool fin, std::span<const std::uint8_t> payload, bool rsv1 = false);
    void observe_sent(const frame_header& h, std::span<const std::uint8_t> raw,
                      std::span<const std::uint8_t> payload);
    void emit_data(opcode first_op, std::span<const std::uint8_t> payload, bool fin,
                   bool rsv1 = false);
    // Sends the next piece of the outgoing message (out_type_, out_first_), compressed
    // when out_compress_.
    bool write_piece(std::span<const std::uint8_t> piece, bool fin);
    class compress_sink;

    // What only a frame or a message in progress needs. A read that ends on a frame
    // boundary outside a message (every small message does) leaves nothing of it behind, so
    // while a read is parsed it lives in a per-thread scratch, and only a frame or message
    // that goes on into the next read keeps a copy (allocated then): an idle connection
    // carries one pointer for all of it.
  public:
    struct receive_state {
        frame_parser parser;
        std::uint64_t in_size = 0;    // bytes of the open message so far (inflated if compressed)
        std::uint64_t in_frames = 0;  // frames of the open message so far
        utf8_validator utf8;
        bool in_message = false;  // a data message is open (between its first and fin frame)
        bool frame_fin = false;   // FIN bit of the frame whose payload is arriving
        opcode frame_op = opcode::binary;
        message_type in_type = message_type::binary;
        bool in_compressed = false;     // the open message has RSV1: its payload is DEFLATE data
        std::uint8_t control_len = 0;  // control payload gathered so far
        std::uint8_t control[max_control_payload]{};  // a control frame split across reads
    };

  private:
    static thread_local receive_state rx_scratch;
    static thread_local bool rx_scratch_busy;

    // Word-sized members first, then the one-byte ones together: every open connection
    // carries a session, and the order used to pad it by 24 bytes.
    // The options, compact (every connection carries them): the frame counts are kept in 32
    // bits, saturated (a limit of 4 billion frames is none in practice, and a frame size
    // limit of 4 GiB or more splits at 4 GiB - 1), the small ones with the flags below.
    std::uint64_t max_message_size_;
    std::uint32_t max_fragments_;
    std::uint32_t max_frame_size_;
    session_handler& handler_;
    frame_observer* observer_ = nullptr;
    // During receive(): the state in use; between reads: the kept one (rx_kept_), or null.
    receive_state* rx_ = nullptr;
    std::unique_ptr<deflate_codec> deflate_;  // set when permessage-deflate is on

    role local_role_;
    std::uint8_t allowed_rsv_;
    bool auto_pong_;
    session_state state_ = session_state::open;
    error failure_ = error::none;
    bool close_sent_ = false;
    bool close_received_ = false;
    bool stopped_ = false;
    bool rx_kept_ = false;  // rx_ is this session's own (allocated), not the thread's scratch

    // Sending.
    bool out_open_ = false;      // a streamed message is open
    bool out_first_ = false;     // its next frame is the first (carries the type opcode)
    bool out_decided_ = false;   // out_compress_ is settled for the outgoing message
    bool out_compress_ = false;  // the outgoing message is compressed
    message_type out_type_ = message_type::binary;
};

}  // namespace sockeye::protocol
