// Application HTTP routes on the WebSocket port: server::route(method, pattern, handler).
// Patterns have literal segments, `:name` parameters (one whole segment) and a trailing
// `*` (the rest of the path); the first route registered that matches wins; routes come
// before static files; a path with routes but not for this method is 405 with Allow; GET
// routes answer HEAD too (what they write is not sent, the head is). The request body
// arrives streamed in pieces with pause/resume, so an upload of any size passes through
// constant memory; the response is a status and headers, then body pieces (Content-Length
// when known, chunked otherwise) with the same backpressure as WebSocket sends.
#pragma once
#include <sockeye/connection.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye {

struct name_value {
    std::string name;
    std::string value;
};

// An HTTP request as the application sees it, owned: copy it to keep it.
struct http_request {
    std::string method;                           // "GET", "POST", ...
    std::string target;                           // as sent: path and query
    std::string path;                             // percent-decoded path, without the query
    std::string query;                            // as sent, after '?' (empty if none)
    std::vector<name_value> headers;              // arrival order, names as sent, repeats kept
    std::vector<name_value> query_params;         // decoded ('+' is a space), repeats kept in order
    std::vector<name_value> cookies;              // from every Cookie header, in order
    std::vector<name_value> params;               // route parameters (":id", "*"), decoded
    std::string peer;                             // "ip:port"
    bool tls = false;                             // arrived over TLS
    std::string server_name;                      // TLS SNI; empty without TLS or SNI
    std::optional<std::uint64_t> content_length;  // nullopt: no body, or chunked
    bool chunked = false;                         // the body comes chunked

    // The first header with this name (case-insensitive), or nullopt.
    std::optional<std::string_view> header(std::string_view name) const;
    // Every value of the header, in arrival order.
    std::vector<std::string_view> header_values(std::string_view name) const;
    // The first query parameter with this (decoded, exact) name, or nullopt.
    std::optional<std::string_view> query_param(std::string_view name) const;
    // The first cookie with this name, or nullopt.
    std::optional<std::string_view> cookie(std::string_view name) const;
    // The route parameter `name` (without the ':'; "*" for the wildcard), or nullopt.
    std::optional<std::string_view> param(std::string_view name) const;
};

// One request to a route and its response, on the connection's loop. Valid from the
// route handler's call until the response has ended and the body was read, or until
// on_abort returns. Nothing here may be called from another thread.
class http_exchange {
  public:
    virtual ~http_exchange() = default;
    const http_request& request() const noexcept { return request_; }

    // The body, streamed: fn(piece, last) for each piece as it arrives, the last call with
    // last = true (once, with an empty piece, when the request has no body). Set it in
    // the route handler; without it the body is read and discarded.
    virtual void on_body(std::function<void(std::span<const std::uint8_t>, bool last)> fn) = 0;
    // Stop / restart reading the body (a slow disk, a paused upstream).
    virtual void pause_body() = 0;
    virtual void resume_body() = 0;
    // The client went away before the response ended; the exchange is gone after return.
    virtual void on_abort(std::function<void()> fn) = 0;

    // The whole response at once. False if a response was already begun.
    virtual bool respond(int status, std::string_view body, std::vector<name_value> headers = {},
                         std::string_view content_type = "text/plain; charset=utf-8") = 0;
    // A streamed response: the head now (with Content-Length when `length` is given,
    // chunked otherwise), then write() the pieces and end().
    virtual bool begin_response(int status, std::vector<name_value> headers = {},
                                std::optional<std::uint64_t> length = std::nullopt) = 0;
    virtual bool write(std::span<const std::uint8_t> piece) = 0;
    virtual bool end() = 0;
    // Bytes of the response not yet taken by the peer, and a call when that falls to the
    // low-water mark after passing the high-water mark.
    virtual std::size_t buffered_amount() const = 0;
    virtual void on_drain(std::function<void()> fn) = 0;

    app_state state;  // the application's object for this exchange

  protected:
    http_request request_;
};

using route_handler = std::function<void(http_exchange&)>;

struct route_options {
    // Largest request body accepted (413 above it, checked against Content-Length before
    // reading and against what arrives for a chunked body); 0 = no limit.
    std::uint64_t max_body = 1 << 20;
    // Seconds an exchange may go without progress — no body byte arriving, no response
    // byte written — before it ends: 408 while the client owes the body, 503 while the
    // application owes the answer, a closed connection mid-response (a client slow to read
    // is the send timeout's, not this). 0 = never.
    double idle_timeout = 60;
};

}  // namespace sockeye
