#include "session.hpp"

#include <algorithm>
#include <cstring>

#include "frame_header.hpp"
#include "mask.hpp"
#include "random_key.hpp"

namespace sockeye::protocol {

namespace {

// Client-role payloads are masked through this buffer, a piece at a time, so the caller's
// data stays untouched and nothing is allocated per message.
constexpr std::size_t mask_scratch_size = 16 * 1024;
thread_local std::uint8_t mask_scratch[mask_scratch_size];

}  // namespace

// The receive state of the read being parsed on this thread, unless it is kept. Constant
// initialised and trivially destructible: reaching it costs no guard.
constinit thread_local session::receive_state session::rx_scratch;
constinit thread_local bool session::rx_scratch_busy = false;

namespace {

// Longest prefix of `s` of at most `limit` bytes that does not end inside a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, std::size_t limit) {
    if (s.size() <= limit) return s;
    std::size_t n = limit;
    // Step back over continuation bytes (10xxxxxx) to the start of the cut code point.
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The frame counts are kept in 32 bits: a larger limit is taken as the largest, not cut.
std::uint32_t saturated32(std::uint64_t v) noexcept {
    return v > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(v);
}

}  // namespace

session::session(const session_options& opts, session_handler& handler) noexcept
    : max_message_size_(opts.max_message_size),
      max_fragments_(saturated32(opts.max_fragments)),
      max_frame_size_(saturated32(opts.max_frame_size)),
      handler_(handler),
      local_role_(opts.local_role),
      allowed_rsv_(opts.allowed_rsv),
      auto_pong_(opts.auto_pong) {}

session::~session() {
    if (rx_kept_) delete rx_;
}

void session::enable_deflate(const deflate_settings& settings) {
    deflate_ = std::make_unique<deflate_codec>(settings);
    set_allowed_rsv(static_cast<std::uint8_t>(allowed_rsv_ | 0x4));
}

void session::set_allowed_rsv(std::uint8_t bits) noexcept {
    allowed_rsv_ = bits;
    if (rx_) rx_->parser.set_allowed_rsv(bits);
}

// ---------------------------------------------------------------- receiving

std::size_t session::receive(std::uint8_t* data, std::size_t len) {
    // Once the peer's close has arrived, the connection failed or was dropped, nothing more
    // is read.
    if (!reading()) return 0;
    if (rx_ != nullptr || rx_scratch_busy) [[unlikely]] return receive_kept(data, len);
    // The usual case: the thread's scratch, set to a frame boundary outside any message.
    receive_state& st = rx_scratch;
    st.parser.restart(frame_parser_options{local_role_, allowed_rsv_});
    st.in_message = false;
    rx_scratch_busy = true;
    rx_ = &st;
    parse_result r;
    try {
        r = st.parser.feed(data, len, *this);
    } catch (...) {
        rx_scratch_busy = false;
        rx_ = nullptr;
        throw;
    }
    if (r.err != error::none) fail(r.err);
    rx_scratch_busy = false;
    rx_ = nullptr;
    // A frame or a message goes on into the next read (and the session still reads at
    // all): this session keeps a copy of the state.
    if ((st.in_message || !st.parser.at_frame_boundary()) && reading()) [[unlikely]] {
        rx_ = new receive_state(st);
        rx_kept_ = true;
    }
    return r.consumed;
}

// A read that goes on with the state kept from the last one, or (not expected: reads are
// handled one at a time) parses while another session of the thread is parsing: that one
// has the scratch, so this one gets a state of its own.
std::size_t session::receive_kept(std::uint8_t* data, std::size_t len) {
    if (!rx_) {
        rx_ = new receive_state;
        rx_kept_ = true;
        rx_->parser.restart(frame_parser_options{local_role_, allowed_rsv_});
    }
    struct end_of_receive {  // however the parse ends (a handler may throw)
        session& s;
        ~end_of_receive() {
            if (s.reading() && (s.rx_->in_message || !s.rx_->parser.at_frame_boundary())) return;
            delete s.rx_;
            s.rx_ = nullptr;
            s.rx_kept_ = false;
        }
    } put_back{*this};
    const parse_result r = rx_->parser.feed(data, len, *this);
    if (r.err != error::none) fail(r.err);
    return r.consumed;
}

bool session::on_frame_header(const frame_header& h, std::span<const std::uint8_t> raw) {
    if (observer_) observer_->on_frame(direction::in, h, raw, rx_->parser.split(raw));
    rx_->frame_fin = h.fin;
    rx_->frame_op = h.op;
    // With permessage-deflate RSV1 marks the first frame of a compressed message and
    // nothing else (RFC 7692 §6.1): not control frames, not continuations.
    if (h.rsv1 && (is_control(h.op) || h.op == opcode::continuation || !deflate_)) {
        return fail(error::reserved_bits);
    }
    if (is_control(h.op)) {
        rx_->control_len = 0;
        return true;
    }
    if (h.op == opcode::continuation) {
        if (!rx_->in_message) return fail(error::unexpected_continuation);
    } else {
        if (rx_->in_message) return fail(error::expected_continuation);
        rx_->in_message = true;
        rx_->in_type = h.op == opcode::text ? message_type::text : message_type::binary;
        rx_->in_size = 0;
        rx_->in_compressed = h.rsv1;
        rx_->in_frames = 0;
        rx_->utf8.reset();
    }
    if (max_fragments_ != 0 && ++rx_->in_frames > max_fragments_) {
        return fail(error::too_many_fragments);
    }
    // The limit is checked against the declared length, before any payload is taken in.
    // A compressed message is counted as it inflates instead (deliver()).
    if (!rx_->in_compressed) {
        if (max_message_size_ != 0 && h.payload_length > max_message_size_ - rx_->in_size) {
            return fail(error::message_too_big);
        }
        rx_->in_size += h.payload_length;
    }
    if (h.op != opcode::continuation) handler_.on_message_begin(rx_->in_type);
    return reading();  // the handler may have stopped the session
}

bool session::on_frame_payload(std::span<std::uint8_t> data, bool frame_end) {
    if (observer_) observer_->on_payload(direction::in, data, frame_end);
    if (is_control(rx_->frame_op)) {
        // At most 125 bytes (checked by the parser). Whole in one read, the usual case, it is
        // handled in place; split across reads, it is gathered in the receive state (kept
        // between those reads, see receive()).
        if (rx_->control_len == 0 && frame_end) return handle_control(rx_->frame_op, data);
        if (!data.empty()) std::memcpy(rx_->control + rx_->control_len, data.data(), data.size());
        rx_->control_len = static_cast<std::uint8_t>(rx_->control_len + data.size());
        if (!frame_end) return true;
        const std::span<const std::uint8_t> payload(rx_->control, rx_->control_len);
        rx_->control_len = 0;
        return handle_control(rx_->frame_op, payload);
    }

    const bool message_end = frame_end && rx_->frame_fin;
    if (!rx_->in_compressed) return deliver(data, message_end);
    switch (deflate_->inflate(data, message_end, *this)) {
        case deflate_codec::inflate_status::ok:
            return reading();
        case deflate_codec::inflate_status::stopped:
            return false;
        case deflate_codec::inflate_status::corrupt:
            return fail(error::invalid_compressed_data);
    }
    return false;
}

bool session::on_piece(std::span<const std::uint8_t> piece, bool last) {
    // Inflated bytes count against the limit: a small message that inflates to gigabytes
    // is stopped here, one scratch buffer in.
    rx_->in_size += piece.size();
    if (max_message_size_ != 0 && rx_->in_size > max_message_size_) {
        return fail(error::message_too_big);
    }
    return deliver(piece, last);
}

bool session::deliver(std::span<const std::uint8_t> data, bool message_end) {
    if (rx_->in_type == message_type::text) {
        // Fail fast: a bad byte fails the message before its piece is delivered.
        if (!rx_->utf8.feed(data.data(), data.size())) return fail(error::invalid_utf8);
        if (message_end && !rx_->utf8.at_boundary()) return fail(error::invalid_utf8);
    }
    if (message_end) rx_->in_message = false;
    // Empty pieces carry no news unless they end the message.
    if (!data.empty() || message_end) handler_.on_message_data(data, message_end);
    // The handler may have failed or stopped the session.
    return reading();
}

bool session::handle_control(opcode op, std::span<const std::uint8_t> payload) {
    if (observer_) observer_->on_control(direction::in, op, payload);
    switch (op) {
        case opcode::ping:
            if (auto_pong_ && !close_sent_) send_pong(payload);
            handler_.on_ping(payload);
            break;
        case opcode::pong:
            handler_.on_pong(payload);
            break;
        case opcode::close:
            return handle_close(payload);
        default:
            break;
    }
    return reading();
}

bool session::handle_close(std::span<const std::uint8_t> payload) {
    std::uint16_t code = close_code::no_status;
    std::string_view reason;
    if (payload.size() == 1) return fail(error::close_payload_too_short);
    if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
        if (!close_code::is_valid_on_wire(code)) return fail(error::invalid_close_code);
        if (!is_valid_utf8(payload.data() + 2, payload.size() - 2)) {
            return fail(error::invalid_close_reason);
        }
        reason =
            std::string_view(reinterpret_cast<const char*>(payload.data() + 2), payload.size() - 2);
    }
    close_received_ = true;
    if (close_sent_) {
        state_ = session_state::closed;
    } else {
        // Echo the status code (§5.5.1); a close without one is answered with an empty close.
        close(code);
    }
    handler_.on_close(code, reason);
    return false;  // whatever follows the close frame is not read
}

void session::stop() noexcept {
    stopped_ = true;
    state_ = session_state::closed;
}

bool session::fail(error e) {
    if (failure_ != error::none || stopped_) return false;
    failure_ = e;
    if (observer_) observer_->on_error(e);
    if (!close_sent_) {
        const std::string_view why = describe(e);
        std::uint8_t payload[max_control_payload];
        const std::uint16_t code = close_code_for(e);
        payload[0] = static_cast<std::uint8_t>(code >> 8);
        payload[1] = static_cast<std::uint8_t>(code);
        const std::size_t n = std::min(why.size(), max_control_payload - 2);
        if (n != 0) std::memcpy(payload + 2, why.data(), n);
        emit_frame(opcode::close, true, std::span<const std::uint8_t>(payload, n + 2));
        close_sent_ = true;
    }
    state_ = session_state::closed;
    handler_.on_error(e);
    return false;
}

// ---------------------------------------------------------------- sending

void session::emit_frame(opcode op, bool fin, std::span<const std::uint8_t> payload, bool rsv1) {
    frame_header h;
    h.fin = fin;
    h.rsv1 = rsv1;
    h.op = op;
    h.payload_length = payload.size();
    h.masked = local_role_ == role::client;
    std::uint8_t header[max_frame_header_size];
    // Pings and pongs may overtake queued data; a close must not: no data frame may follow
    // it on the wire (§5.5.1).
    const bool urgent = op == opcode::ping || op == opcode::pong;
    if (h.masked) h.key = next_masking_key();
    const std::size_t n = encode_frame_header(h, header);
    if (observer_) observe_sent(h, {header, n}, payload);
    if (!h.masked) {
        handler_.on_send({header, n}, payload, urgent);
        return;
    }
    if (!urgent) {
        if (std::uint8_t* out = handler_.reserve_send(n + payload.size())) {
            std::memcpy(out, header, n);
            mask_copy(out + n, payload.data(), payload.size(), h.key, 0);
            handler_.commit_send();
            return;
        }
    }
    std::size_t key_offset = 0;
    std::size_t done = 0;
    bool first = true;
    do {
        const std::size_t piece = std::min(payload.size() - done, mask_scratch_size);
        key_offset = mask_copy(mask_scratch, payload.data() + done, piece, h.key, key_offset);
        handler_.on_send(
            first ? std::span<const std::uint8_t>(header, n) : std::span<const std::uint8_t>(),
            {mask_scratch, piece}, urgent);
        first = false;
        done += piece;
    } while (done < payload.size());
}

void session::observe_sent(const frame_header& h, std::span<const std::uint8_t> raw,
                           std::span<const std::uint8_t> payload) {
    observer_->on_frame(direction::out, h, raw, false);
    observer_->on_payload(direction::out, payload, true);
    if (is_control(h.op)) observer_->on_control(direction::out, h.op, payload);
}

void session::emit_data(opcode first_op, std::span<const std::uint8_t> payload, bool fin,
                        bool rsv1) {
    const std::uint64_t limit = max_frame_size_;
    opcode op = first_op;
    while (limit != 0 && payload.size() > limit) {
        emit_frame(op, false, payload.first(static_cast<std::size_t>(limit)), rsv1);
        payload = payload.subspan(static_cast<std::size_t>(limit));
        op = opcode::continuation;
        rsv1 = false;
    }
    emit_frame(op, fin, payload, rsv1);
}

// Frames the compressor's output: the first frame carries the type opcode and RSV1.
class session::compress_sink final : public deflate_sink {
  public:
    explicit compress_sink(session& s) : s_(s) {}
    bool on_piece(std::span<const std::uint8_t> piece, bool last) override {
        // zlib may hold everything back until the end; empty non-final frames are skipped.
        if (piece.empty() && !last) return true;
        const bool first = s_.out_first_;
        s_.emit_data(first ? to_opcode(s_.out_type_) : opcode::continuation, piece, last, first);
        s_.out_first_ = false;
        return true;
    }

  private:
    session& s_;
};

bool session::write_piece(std::span<const std::uint8_t> piece, bool fin) {
    if (!out_decided_) {
        // Decided on the first piece: a short whole message isn't worth compressing. Not
        // on out_first_: zlib may hold the first pieces back, so no frame has gone yet.
        out_decided_ = true;
        out_compress_ = deflate_ && !(fin && piece.size() < deflate_->settings().threshold);
    }
    if (!out_compress_) {
        // An empty non-final piece would be a pointless empty frame.
        if (piece.empty() && !fin) return true;
        emit_data(out_first_ ? to_opcode(out_type_) : opcode::continuation, piece, fin);
        out_first_ = false;
        return true;
    }
    compress_sink sink(*this);
    return deflate_->compress(piece, fin, sink);
}

bool session::send_message(message_type type, std::span<const std::uint8_t> payload) {
    if (close_sent_ || stopped_ || out_open_) return false;
    out_type_ = type;
    out_first_ = true;
    out_decided_ = false;
    return write_piece(payload, true);
}

bool session::send_text(std::string_view text) {
    return send_message(message_type::text, as_bytes(text));
}

bool session::begin_message(message_type type) {
    if (close_sent_ || stopped_ || out_open_) return false;
    out_open_ = true;
    out_first_ = true;
    out_decided_ = false;
    out_type_ = type;
    return true;
}

bool session::write_message(std::span<const std::uint8_t> piece, bool fin) {
    if (close_sent_ || stopped_ || !out_open_) return false;
    if (fin) out_open_ = false;
    return write_piece(piece, fin);
}

bool session::send_ping(std::span<const std::uint8_t> payload) {
    if (close_sent_ || stopped_ || payload.size() > max_control_payload) return false;
    emit_frame(opcode::ping, true, payload);
    return true;
}

bool session::send_pong(std::span<const std::uint8_t> payload) {
    if (close_sent_ || stopped_ || payload.size() > max_control_payload) return false;
    emit_frame(opcode::pong, true, payload);
    return true;
}

bool session::close(std::uint16_t code, std::string_view reason) {
    if (close_sent_ || stopped_) return false;
    if (code != close_code::no_status && !close_code::is_valid_on_wire(code)) return false;
    std::uint8_t payload[max_control_payload];
    std::size_t n = 0;
    if (code != close_code::no_status) {
        payload[0] = static_cast<std::uint8_t>(code >> 8);
        payload[1] = static_cast<std::uint8_t>(code);
        const std::string_view r = cut_utf8(reason, max_control_payload - 2);
        if (!r.empty()) std::memcpy(payload + 2, r.data(), r.size());
        n = 2 + r.size();
    }
    emit_frame(opcode::close, true, std::span<const std::uint8_t>(payload, n));
    close_sent_ = true;
    out_open_ = false;
    state_ = close_received_ ? session_state::closed : session_state::closing;
    return true;
}

}  // namespace sockeye::protocol
