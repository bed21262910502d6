// Application routes on an HTTP/1.1 connection: matching, the exchange's body and the
// connection's part of its life (include/sockeye/http.hpp, route_exchange.*).
#include "http/query.hpp"
#include "http/response.hpp"
#include "http1_connection.hpp"
#include "log.hpp"

namespace sockeye::server_detail {

// A request to an application route: the handler gets an exchange that lives until the
// response ended and the body was read. False when no route has this path (static files
// and the built-in endpoints answer then).
bool http1_connection::start_route(const http::request_parser& req, bool keep_alive) {
    const auto path = http::split_target(req.target()).path;
    http::route_params params;
    const auto found = core_.shared.app_routes.find(req.method(), path, params);
    switch (found.status) {
        case http::route_status::not_found:
            return false;
        case http::route_status::bad_request:
            respond(http::text_response(400, "malformed percent-encoding in the path\n", false),
                    false);
            return true;
        case http::route_status::method_not_allowed:
            respond(http::method_not_allowed_response(found.allow, keep_alive && !req.has_body()),
                    keep_alive && !req.has_body());
            return true;
        case http::route_status::found:
            break;
    }
    const app_route& route = core_.shared.app_handlers[found.handler];
    if (route.options.max_body != 0 && req.content_length() > route.options.max_body) {
        core_.stats.count_rejection(413);
        respond(http::text_response(413, "request body too large\n", false), false);
        return true;
    }
    http_request request;
    if (const auto bad =
            make_http_request(req, peer_, transport_.tls(), transport_.tls_server_name(), request);
        !bad.empty()) {
        respond(http::text_response(400, std::string(bad) + "\n", false), false);
        return true;
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        request.params.push_back({std::string(params.name(i)), std::string(params.value(i))});
    }
    http_->exchange =
        std::make_unique<route_exchange>(http_->hooks, std::move(request), req.method() == "HEAD",
                                         keep_alive, route.options.max_body, loop_now());
    http_->exchange_idle = to_ms(route.options.idle_timeout);
    arm_timer();
    http_->in_exchange_call = true;
    try {
        route.handler(*http_->exchange);
    } catch (const std::exception& e) {
        log(log_level::error, "route %s %s threw: %s", req.method().data(),
            std::string(path).c_str(), e.what());
        http_->exchange->fail();
    } catch (...) {
        log(log_level::error, "route handler threw");
        http_->exchange->fail();
    }
    if (!req.has_body()) {  // the body's end is now: no bytes will come to say so
        http_->parser.feed_body(nullptr, 0, body_sink, this);
        http_->exchange->body_complete();
    }
    http_->in_exchange_call = false;
    if (phase_ == phase::http) after_exchange_event();
    return true;
}

void http1_connection::body_sink(void* ctx, const char* piece, std::size_t len) {
    auto* c = static_cast<http1_connection*>(ctx);
    if (c->http_ && c->http_->exchange) {
        c->http_->exchange->deliver_body({reinterpret_cast<const std::uint8_t*>(piece), len});
    }
}

void http1_connection::exchange_output(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b) {
    if (phase_ != phase::http) return;
    transport_.output().append(a, b);
    request_flush();
}

void http1_connection::exchange_changed() {
    if (phase_ != phase::http || http_->in_exchange_call) return;  // looked at on return
    request_flush();  // the flusher calls after_exchange_event(), outside the exchange
}

// Acts on the exchange's state: too large a body, a finished exchange (next request or
// close), reading on or off.
void http1_connection::after_exchange_event() {
    if (phase_ != phase::http || !http_->exchange || http_->in_exchange_call) return;
    route_exchange& ex = *http_->exchange;
    if (ex.too_large()) {
        const bool began = ex.began();
        abort_exchange();
        core_.stats.count_rejection(413);
        if (began) {
            terminate("request body too large");
        } else {
            respond(http::text_response(413, "request body too large\n", false), false);
        }
        return;
    }
    if (ex.ended()) {
        // Done. A response that ended before its body was read closes the connection: the
        // rest of the body must never be parsed as a request.
        const bool keep = ex.keep_alive() && ex.body_done();
        http_->exchange.reset();
        if (!keep) {
            begin_close();
            return;
        }
        finish_response();
        answer_held_input();
        return;
    }
    if (!http_blocked()) answer_held_input();
    update_reading();
}

// When the open exchange times out for want of progress (0 = never). Progress moves it
// later; the deadline is looked at again when it comes.
std::uint64_t http1_connection::exchange_deadline() const noexcept {
    if (!http_ || !http_->exchange || http_->exchange_idle == 0) return 0;
    return http_->exchange->last_activity() + http_->exchange_idle;
}

void http1_connection::exchange_timed_out(std::uint64_t now) {
    route_exchange& ex = *http_->exchange;
    if (ex.began()) {
        // Mid-response: a client still taking bytes is slow, not stalled (the send
        // timeout's to judge); an application that stopped writing ends the connection.
        if (transport_.undelivered() > 0) {
            ex.note_activity(now);
            return;
        }
        log(log_level::warn, "route exchange idle peer=%s: closing", peer_.c_str());
        terminate("route idle timeout");
        return;
    }
    const bool client_owes_body = !ex.body_done() && !ex.body_paused();
    const int status = client_owes_body ? 408 : 503;
    log(log_level::warn, "route exchange idle peer=%s: %d", peer_.c_str(), status);
    abort_exchange();  // on_abort tells the application
    core_.stats.count_rejection(status);
    respond(http::text_response(status,
                                client_owes_body ? "request body too slow\n"
                                                 : "the application did not answer in time\n",
                                false),
            false);
}

// The client is gone (or the connection ends) while a route's exchange is open.
void http1_connection::abort_exchange() {
    if (!http_ || !http_->exchange) return;
    std::unique_ptr<route_exchange> ex = std::move(http_->exchange);
    ex->abort();
}

}  // namespace sockeye::server_detail
