// Application routes on an HTTP/2 stream: the same route_exchange as on HTTP/1.1, its head
// turned into HEADERS, its body pieces into DATA as the windows allow, the request body
// taken in as the application reads it (the stream's window reopens only then).
#include <nghttp2/nghttp2.h>

#include "http/query.hpp"
#include "http/response.hpp"
#include "http1_head_to_h2.hpp"
#include "http2_stream.hpp"
#include "http_request_view.hpp"
#include "log.hpp"

namespace sockeye::server_detail {

bool http2_stream::start_route() {
    auto& core = conn_.core();
    const http::request_parser& req = *req_->parser;
    const auto path = http::split_target(req.target()).path;
    http::route_params params;
    const auto found = core.shared.app_routes.find(req.method(), path, params);
    switch (found.status) {
        case http::route_status::not_found:
            return false;
        case http::route_status::bad_request:
            respond_status(400, "malformed percent-encoding in the path\n");
            return true;
        case http::route_status::method_not_allowed:
            respond_http1(http::method_not_allowed_response(found.allow, true), -1, 0);
            return true;
        case http::route_status::found:
            break;
    }
    const app_route& route = core.shared.app_handlers[found.handler];
    if (route.options.max_body != 0 && req.content_length() > route.options.max_body) {
        core.stats.count_rejection(413);
        respond_status(413, "request body too large\n");
        return true;
    }
    http_request request;
    if (const auto bad = make_http_request(req, peer(), conn_.tls(), conn_.server_name(), request);
        !bad.empty()) {
        respond_status(400, std::string(bad) + "\n");
        return true;
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        request.params.push_back({std::string(params.name(i)), std::string(params.value(i))});
    }
    exchange_ = std::make_unique<route_exchange>(static_cast<exchange_host&>(*this),
                                                 std::move(request), req.method() == "HEAD", true,
                                                 route.options.max_body, loop_now());
    exchange_idle_ = to_ms(route.options.idle_timeout);
    rearm();
    in_exchange_call_ = true;
    try {
        route.handler(*exchange_);
    } catch (const std::exception& e) {
        log(log_level::error, "route %s %s threw: %s", req.method().data(),
            std::string(path).c_str(), e.what());
        exchange_->fail();
    } catch (...) {
        log(log_level::error, "route handler threw");
        exchange_->fail();
    }
    if (peer_ended_) exchange_->body_complete();  // END_STREAM came with the headers
    in_exchange_call_ = false;
    after_exchange_event();
    return true;
}

void http2_stream::exchange_output(std::span<const std::uint8_t> a,
                                   std::span<const std::uint8_t> b) {
    if (ended_) return;
    if (!exchange_head_) {
        // The first output is the whole head (route_exchange writes it in one piece).
        exchange_head_ = true;
        int status = 500;
        std::vector<protocol::owned_header> headers;
        const std::string_view head(reinterpret_cast<const char*>(a.data()), a.size());
        split_http1_head(head, status, headers);
        if (!b.empty()) out_.append(b);
        submit(status, headers, true);
        return;
    }
    out_.append(a, b);
    request_flush();
}

void http2_stream::exchange_changed() {
    if (in_exchange_call_ || ended_) return;  // looked at when the call returns
    conn_.stream_changed(id_);
    conn_.request_flush();
}

void http2_stream::after_changes() {
    if (ended_) return;
    if (drain_pending_) {
        drain_pending_ = false;
        feed_held();
        if (ws_) ws_->on_drain();
        if (exchange_) exchange_->drained();
    }
    after_exchange_event();
}

void http2_stream::exchange_body(const std::uint8_t* data, std::size_t len) {
    if (exchange_->body_paused() || !held_.empty()) {
        held_.append(reinterpret_cast<const char*>(data), len);  // not consumed: bounded
        return;
    }
    in_exchange_call_ = true;
    exchange_->deliver_body({data, len});
    in_exchange_call_ = false;
    conn_.consume(id_, len);
    after_exchange_event();
}

// Acts on the exchange's state: too large a body, a finished response, a resumed body.
void http2_stream::after_exchange_event() {
    if (!exchange_ || in_exchange_call_ || ended_) return;
    route_exchange& ex = *exchange_;
    if (ex.too_large()) {
        const bool began = ex.began();
        abort_exchange();
        conn_.core().stats.count_rejection(413);
        if (began) {
            reset(NGHTTP2_CANCEL, "request body too large");
        } else {
            respond_status(413, "request body too large\n");
        }
        return;
    }
    if (!ex.body_paused() && !held_.empty()) {
        std::string held;
        held.swap(held_);
        in_exchange_call_ = true;
        ex.deliver_body({reinterpret_cast<const std::uint8_t*>(held.data()), held.size()});
        if (peer_ended_) ex.body_complete();
        in_exchange_call_ = false;
        conn_.consume(id_, held.size());
        after_exchange_event();
        return;
    }
    if (ex.ended()) {
        // A body not read to its end is dropped as it comes (HTTP/2 needs no close for
        // that: the stream ends, the connection goes on).
        exchange_.reset();
        finishing_ = true;
        deferred_ = true;
        request_flush();
    }
}

void http2_stream::abort_exchange() {
    if (!exchange_) return;
    std::unique_ptr<route_exchange> ex = std::move(exchange_);
    ex->abort();
}

std::uint64_t http2_stream::exchange_deadline() const noexcept {
    if (!exchange_ || exchange_idle_ == 0) return 0;
    return exchange_->last_activity() + exchange_idle_;
}

void http2_stream::exchange_timed_out(std::uint64_t now) {
    route_exchange& ex = *exchange_;
    if (ex.began()) {
        if (!out_.empty()) {  // a client still taking bytes is slow, not stalled
            ex.note_activity(now);
            return;
        }
        log(log_level::warn, "route exchange idle peer=%s stream=%d: reset", peer().c_str(), id_);
        abort_exchange();
        reset(NGHTTP2_CANCEL, "route idle timeout");
        return;
    }
    const bool client_owes_body = !ex.body_done() && !ex.body_paused();
    const int status = client_owes_body ? 408 : 503;
    abort_exchange();
    conn_.core().stats.count_rejection(status);
    respond_status(status, client_owes_body ? "request body too slow\n"
                                            : "the application did not answer in time\n");
}

}  // namespace sockeye::server_detail
