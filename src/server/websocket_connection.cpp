#include "websocket_connection.hpp"

#include <algorithm>

#include "common/escape.hpp"
#include "http/query.hpp"
#include "inspect_gate.hpp"
#include "log.hpp"

namespace sockeye::server_detail {

namespace {

using common::protocol_type;

protocol::session_options session_options_for(const server_options& o) {
    protocol::session_options so;
    so.local_role = protocol::role::server;
    so.max_message_size = o.max_message_size;
    so.max_frame_size = o.max_frame_size;
    so.max_fragments = o.max_fragments;
    return so;
}

}  // namespace

websocket_connection::websocket_connection(server_core& core, byte_channel& channel,
                                           std::string path, std::string subprotocol,
                                           const std::optional<protocol::deflate_params>& deflate)
    : core_(core),
      channel_(channel),
      session_(session_options_for(core.opts), static_cast<protocol::session_handler&>(*this)),
      path_(std::move(path)),
      subprotocol_(subprotocol.empty() ? nullptr
                                       : std::make_unique<std::string>(std::move(subprotocol))) {
    if (deflate) {
        const auto& c = core_.opts.compression;
        session_.enable_deflate(
            protocol::settings_for(*deflate, protocol::role::server, c.mem_level, c.threshold));
    }
    if (core_.opts.inspect.enabled) {
        if (is_inspector_target(path_)) {
            inspector_ = true;
        } else {
            session_.set_observer(
                new connection_tap(core_.shared.inspectors, query_value(path_, "inspect")));
        }
    }
}

websocket_connection::~websocket_connection() {
    delete tap();  // the session's observer, if any, is this connection's tap
    release_handle();  // end() did already; a handle must never reach a freed connection
    unsubscribe_all();
}

void websocket_connection::open(bool deflate) {
    core_.stats.connections_open++;
    core_.stats.connections_total++;
    const auto now = uv_now(core_.loop);
    last_frame_ = now;
    if (const auto t = to_ms(core_.opts.ping_interval)) next_ping_ = now + t;
    // An inspector's query may hold its token: not for the log.
    const std::string shown = inspector() ? std::string(inspector_path) : path_;
    log(log_level::info, "open peer=%s path=%s subprotocol=%s extensions=%s", peer().c_str(),
        shown.c_str(), subprotocol_ ? subprotocol_->c_str() : "-",
        deflate ? "permessage-deflate" : "-");
    channel_.rearm();
    if (inspector()) {
        // The application never sees an inspector: no on_open, so no on_close either.
        core_.shared.inspectors.add(handle(), query_value(path_, "id"));
        channel_.request_flush();
        return;
    }
    if (connection_tap* t = tap()) t->opened(peer(), path_, http_version(), deflate);
    opened_ = true;
    if (core_.h.on_open) core_.h.on_open(*this);
    channel_.request_flush();
}

void websocket_connection::end(const char* why, std::uint64_t bytes_in, std::uint64_t bytes_out,
                               std::uint64_t started) {
    if (ended_) return;
    if (inspector()) core_.shared.inspectors.remove(handle());
    ended_ = true;
    // Before on_close: what other threads post from now on (or posted already) is dropped,
    // and no published message is queued any more.
    release_handle();
    unsubscribe_all();
    // Should this run inside the session's parsing (a handler ending the connection),
    // nothing of the rest of that read may reach the application after on_close.
    session_.stop();
    core_.stats.connections_open--;
    core_.stats.count_close(final_code_);
    const double secs = static_cast<double>(uv_now(core_.loop) - started) / 1000.0;
    log(log_level::info, "close peer=%s code=%u reason=\"%s\" in=%llu out=%llu duration=%.3fs%s%s",
        peer().c_str(), final_code_, common::escape_for_display(final_reason(), true).c_str(),
        static_cast<unsigned long long>(bytes_in), static_cast<unsigned long long>(bytes_out), secs,
        why ? " why=" : "", why ? why : "");
    if (connection_tap* t = tap()) t->ended(final_code_, final_reason());
    if (opened_ && core_.h.on_close) {
        opened_ = false;
        core_.h.on_close(*this, final_code_, final_reason());
    }
}

void websocket_connection::note_send_timeout() {
    if (final_code_ == 1006) {
        final_code_ = protocol::close_code::policy_violation;
        set_final_reason("send timeout");
    }
}

void websocket_connection::set_final_reason(std::string_view reason) {
    if (reason.empty() && !final_reason_) return;
    if (!final_reason_) final_reason_ = std::make_unique<std::string>();
    final_reason_->assign(reason);
}

void websocket_connection::shutdown() {
    close(protocol::close_code::going_away, "server shutting down");
}

// ---------------------------------------------------------------- receiving

void websocket_connection::receive(std::uint8_t* data, std::size_t len) {
    last_frame_ = uv_now(core_.loop);
    // Any byte from the peer proves it alive, a pong or the middle of a long frame.
    pong_deadline_ = 0;
    if (connection_tap* t = tap()) {
        t->begin_read(len);
        session_.receive(data, len);
        t->end_read();
    } else {
        session_.receive(data, len);
    }
    after_receive();
}

// After the session consumed input: a close it reached ends the stream.
void websocket_connection::after_receive() {
    if (!ended_ && session_.state() == protocol::session_state::closed) channel_.finish();
}

void websocket_connection::on_drain() {
    if (opened_ && core_.h.on_drain) core_.h.on_drain(*this);
}

void websocket_connection::on_message_begin(protocol::message_type type) {
    if (inspector()) return;  // what an inspector sends is ignored
    in_empty_ = true;
    delivery_.begin(*this, core_.h, type);
}

void websocket_connection::on_message_data(std::span<const std::uint8_t> data, bool fin) {
    if (inspector()) return;
    in_empty_ = in_empty_ && data.empty();
    if (fin) core_.stats.messages_in++;
    if (fin && in_empty_ && core_.opts.reject_empty) {
        close(protocol::close_code::policy_violation, "empty messages are not accepted");
        return;
    }
    delivery_.data(*this, core_.h, data, fin);
}

void websocket_connection::on_pong(std::span<const std::uint8_t> payload) {
    pong_deadline_ = 0;
    if (opened_ && core_.h.on_pong) core_.h.on_pong(*this, payload);
}

void websocket_connection::on_close(std::uint16_t code, std::string_view reason) {
    close_received_ = true;
    final_code_ = code;
    set_final_reason(reason);
}

void websocket_connection::on_error(protocol::error e) {
    final_code_ = protocol::close_code_for(e);
    set_final_reason(protocol::describe(e));
    log(log_level::info, "protocol error peer=%s code=%u: %s", peer().c_str(), final_code_,
        final_reason().c_str());
}

void websocket_connection::on_send(std::span<const std::uint8_t> header,
                                   std::span<const std::uint8_t> payload, bool urgent) {
    if (urgent) {
        channel_.output().append_urgent(header, payload);
    } else {
        channel_.output().append(header, payload);
    }
    channel_.request_flush();
}

// ---------------------------------------------------------------- sending (public API)

bool websocket_connection::send(message_type type, std::span<const std::uint8_t> data) {
    if (ended_ || !session_.send_message(protocol_type(type), data)) return false;
    core_.stats.messages_out++;
    return true;
}

bool websocket_connection::begin_message(message_type type) {
    return !ended_ && session_.begin_message(protocol_type(type));
}

bool websocket_connection::write_message(std::span<const std::uint8_t> piece, bool fin) {
    if (ended_ || !session_.write_message(piece, fin)) return false;
    if (fin) core_.stats.messages_out++;
    return true;
}

bool websocket_connection::ping(std::span<const std::uint8_t> payload) {
    return !ended_ && session_.send_ping(payload);
}

bool websocket_connection::close(std::uint16_t code, std::string_view reason) {
    if (ended_ || !session_.close(code, reason)) return false;
    if (final_code_ == 1006 && !close_received_) {
        final_code_ = code;
        set_final_reason(reason);
    }
    if (session_.state() == protocol::session_state::closed) {
        channel_.finish();
    } else {
        const auto t = std::max<std::uint64_t>(to_ms(core_.opts.close_timeout), 1);
        close_wait_ = uv_now(core_.loop) + t;
        channel_.rearm();
    }
    return true;
}

void websocket_connection::pause() {
    user_paused_ = true;
    pong_deadline_ = 0;  // a peer we don't read from can't be judged by its pongs
    channel_.set_paused(true);
}

void websocket_connection::resume() {
    user_paused_ = false;
    channel_.set_paused(false);
}

// ---------------------------------------------------------------- deadlines

std::uint64_t websocket_connection::next_deadline() const noexcept {
    std::uint64_t next = 0;
    auto consider = [&](std::uint64_t t) {
        if (t != 0 && (next == 0 || t < next)) next = t;
    };
    consider(close_wait_);
    consider(next_ping_);
    consider(pong_deadline_);
    if (const auto idle = to_ms(core_.opts.idle_timeout); idle != 0 && !session_.close_sent()) {
        consider(last_frame_ + idle);
    }
    return next;
}

void websocket_connection::handle_deadline(std::uint64_t now, bool undelivered) {
    if (ended_) return;
    if (close_wait_ && now >= close_wait_) {
        // The close timeout is for the peer's answer. While our own close is still queued
        // behind data a slow reader is taking, that reader is not late yet.
        const auto t = std::max<std::uint64_t>(to_ms(core_.opts.close_timeout), 1);
        if (undelivered && now < channel_.last_progress() + t) {
            close_wait_ = channel_.last_progress() + t;
        } else {
            channel_.abort("close timeout");
            return;
        }
    }
    if (pong_deadline_ && now >= pong_deadline_) {
        if (undelivered || !channel_.reading()) {
            // Our ping may still sit behind queued data, or the answer behind input we are
            // not reading: no verdict yet. A peer that takes nothing is the send timeout's.
            pong_deadline_ = now + std::max<std::uint64_t>(to_ms(core_.opts.pong_timeout), 1);
            if (undelivered) channel_.watch_progress();
        } else {
            log(log_level::warn, "no pong peer=%s: dropping", peer().c_str());
            channel_.abort("pong timeout");
            return;
        }
    }
    if (next_ping_ && now >= next_ping_) {
        if (pong_deadline_ == 0) {
            if (const auto pt = to_ms(core_.opts.pong_timeout)) pong_deadline_ = now + pt;
        }
        session_.send_ping();
        next_ping_ = now + to_ms(core_.opts.ping_interval);
    }
    const auto idle = to_ms(core_.opts.idle_timeout);
    if (idle && now >= last_frame_ + idle && !session_.close_sent()) {
        close(protocol::close_code::going_away, "idle timeout");
    }
}

}  // namespace sockeye::server_detail
