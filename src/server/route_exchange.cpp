#include "route_exchange.hpp"

#include <ctime>

#include "http/response.hpp"
#include "http_request_view.hpp"
#include "log.hpp"
#include "protocol/http_tokens.hpp"

namespace sockeye::server_detail {

namespace {

// Framing is the server's: an application header must not contradict it.
bool is_framing_header(std::string_view name) noexcept {
    return same_header(name, "Content-Length") || same_header(name, "Transfer-Encoding") ||
           same_header(name, "Connection");
}

}  // namespace

route_exchange::route_exchange(exchange_host& conn, http_request request, bool head_only,
                               bool keep_alive, std::uint64_t max_body, std::uint64_t now)
    : conn_(conn),
      max_body_(max_body),
      last_activity_(now),
      head_only_(head_only),
      keep_alive_(keep_alive) {
    request_ = std::move(request);
}

// Runs an application callback; one that throws is logged and fails the exchange (a 500,
// or the connection closed after a response already begun).
template <class Fn>
void route_exchange::guarded(const char* what, Fn&& fn) noexcept {
    try {
        fn();
    } catch (const std::exception& e) {
        log(log_level::error, "route %s handler threw: %s", what, e.what());
        fail();
    } catch (...) {
        log(log_level::error, "route %s handler threw", what);
        fail();
    }
}

void route_exchange::deliver_body(std::span<const std::uint8_t> piece) noexcept {
    if (too_large_ || aborted_) return;
    body_seen_ += piece.size();
    last_activity_ = conn_.loop_now();
    if (max_body_ != 0 && body_seen_ > max_body_) {
        too_large_ = true;  // the connection answers 413 (or closes) once the parser returns
        return;
    }
    if (!on_body_ || piece.empty()) return;
    guarded("body", [&] { on_body_(piece, false); });
}

void route_exchange::body_complete() noexcept {
    body_done_ = true;
    if (!on_body_ || aborted_ || too_large_) return;
    guarded("body", [&] { on_body_({}, true); });
}

void route_exchange::abort() noexcept {
    if (aborted_ || ended_) return;
    aborted_ = true;
    if (on_abort_) guarded("abort", [&] { on_abort_(); });
}

void route_exchange::drained() noexcept {
    if (!on_drain_ || aborted_ || ended_) return;
    guarded("drain", [&] { on_drain_(); });
}

void route_exchange::fail() noexcept {
    broken_ = true;
    if (!began_) {
        respond(500, "the application failed\n", {}, "text/plain; charset=utf-8");
    } else if (!ended_) {
        ended_ = true;  // half a response: the connection closes after what was sent
    }
    conn_.exchange_changed();
}

void route_exchange::on_body(std::function<void(std::span<const std::uint8_t>, bool)> fn) {
    on_body_ = std::move(fn);
}

void route_exchange::pause_body() {
    if (paused_) return;
    paused_ = true;
    conn_.exchange_changed();
}

void route_exchange::resume_body() {
    if (!paused_) return;
    paused_ = false;
    conn_.exchange_changed();
}

void route_exchange::on_abort(std::function<void()> fn) {
    on_abort_ = std::move(fn);
}

void route_exchange::on_drain(std::function<void()> fn) {
    on_drain_ = std::move(fn);
}

bool route_exchange::respond(int status, std::string_view body, std::vector<name_value> headers,
                             std::string_view content_type) {
    if (began_ || aborted_) return false;
    if (!content_type.empty()) headers.push_back({"Content-Type", std::string(content_type)});
    if (!begin_response(status, std::move(headers), body.size())) return false;
    write({reinterpret_cast<const std::uint8_t*>(body.data()), body.size()});
    return end();
}

bool route_exchange::begin_response(int status, std::vector<name_value> headers,
                                    std::optional<std::uint64_t> length) {
    if (began_ || aborted_) return false;
    if (status < 200 || status > 599) {
        log(log_level::error, "route answered status %d: sending 500", status);
        status = 500;
        headers.clear();
        length = std::nullopt;
        broken_ = true;
    }
    for (const auto& h : headers) {
        if (!protocol::is_token(h.name) || !protocol::is_field_value(h.value) ||
            is_framing_header(h.name)) {
            log(log_level::error, "route added header \"%s\": not allowed, sending 500",
                h.name.c_str());
            return respond(500, "the application added a malformed header\n", {},
                           "text/plain; charset=utf-8");
        }
    }
    began_ = true;
    no_body_ = head_only_ || status == 204 || status == 304;
    const auto framing = conn_.exchange_framing();
    std::string head;
    http::append_status_line(head, status);
    http::append_date_header(head, "Date", std::time(nullptr));
    for (const auto& h : headers) http::append_header(head, h.name, h.value);
    if (status != 204 && status != 304) {
        if (length.has_value()) {
            const std::uint64_t n = length.value_or(0);  // (GCC 12 misreads *length here)
            http::append_header(head, "Content-Length", n);
            left_ = n;
        } else if (framing == exchange_host::framing::close) {
            keep_alive_ = false;  // no chunked in HTTP/1.0: the end of the body is the close
        } else if (framing == exchange_host::framing::chunked) {
            http::append_header(head, "Transfer-Encoding", "chunked");
            chunked_ = true;
        }
    }
    http::append_connection(head, keep_alive_ && !broken_);
    http::end_head(head);
    output({reinterpret_cast<const std::uint8_t*>(head.data()), head.size()});
    return true;
}

bool route_exchange::write(std::span<const std::uint8_t> piece) {
    if (!began_ || ended_ || aborted_) return false;
    if (left_) {
        if (piece.size() > *left_) return false;  // more than the Content-Length promised
        *left_ -= piece.size();
    }
    if (no_body_ || piece.empty()) return true;
    if (chunked_) {
        char size_line[24];
        const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
        output({reinterpret_cast<const std::uint8_t*>(size_line), static_cast<std::size_t>(n)},
               piece);
        static constexpr std::uint8_t crlf[] = {'\r', '\n'};
        output(crlf);
    } else {
        output(piece);
    }
    return true;
}

bool route_exchange::end() {
    if (!began_ || ended_ || aborted_) return false;
    ended_ = true;
    if (left_ && *left_ != 0) broken_ = true;  // fewer bytes than promised: close after them
    if (chunked_ && !no_body_) {
        static constexpr std::uint8_t last_chunk[] = {'0', '\r', '\n', '\r', '\n'};
        output(last_chunk);
    }
    conn_.exchange_changed();
    return true;
}

std::size_t route_exchange::buffered_amount() const {
    return conn_.exchange_buffered();
}

void route_exchange::output(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    last_activity_ = conn_.loop_now();
    conn_.exchange_output(a, b);
}

}  // namespace sockeye::server_detail
