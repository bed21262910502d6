// The opening handshake (RFC 6455 §4): validating a client's upgrade request and building
// the server's answer, and the client side (building a request, checking the answer).
// Pure functions over already-parsed HTTP heads: the HTTP parsing itself lives elsewhere.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::protocol {

struct http_header {
    std::string_view name;
    std::string_view value;
};

// A parsed request head; the views point into the caller's storage.
struct request_head {
    std::string_view method;
    std::string_view target;
    int version_major = 1;
    int version_minor = 1;
    std::span<const http_header> headers;  // in arrival order; names as received
};

struct server_handshake_options {
    // Origins allowed to connect (exact match, case-insensitive, e.g. "https://example.com").
    // Empty: any origin, and requests without Origin, are allowed.
    std::vector<std::string> allowed_origins;
    // Subprotocols the server speaks, most preferred first. The first of these that the
    // client also offers is chosen; if none matches, no subprotocol is selected (§4.2.2).
    std::vector<std::string> subprotocols;
};

struct owned_header {
    std::string name;
    std::string value;
};

struct handshake_result {
    int status = 0;                     // 101 on success; 400, 403, 405 or 426 otherwise
    std::string reason;                 // short text for the error body; empty on success
    std::vector<owned_header> headers;  // response headers to send (Upgrade, Connection,
                                        // Sec-WebSocket-Accept/-Protocol; Allow;
                                        // Sec-WebSocket-Version on 426)
    std::string subprotocol;            // the chosen subprotocol, empty if none

    bool accepted() const noexcept { return status == 101; }

    // The complete HTTP/1.1 response: the 101 head, or the error status with the headers,
    // a text/plain body holding `reason`, and Connection: close.
    std::string to_http() const;
};

// Whether the request asks for a WebSocket at all (Upgrade names "websocket", or it
// carries Sec-WebSocket-Key or Sec-WebSocket-Version). Requests that don't are plain HTTP;
// requests that do get a 101 or a precise error from validate_upgrade().
bool is_websocket_request(const request_head& req) noexcept;

// Validates an upgrade request per §4.2.1 and computes the answer per §4.2.2.
handshake_result validate_upgrade(const request_head& req, const server_handshake_options& opts);

// Validates a WebSocket request on an HTTP/2 stream (RFC 8441 §4 and §5): the extended
// CONNECT itself (:method CONNECT, :protocol websocket) is the caller's to check; `req`
// holds the stream's headers with :authority given as a Host header. Version, Origin and
// subprotocol are checked and chosen as on HTTP/1.1. Success is status 101 here too (the
// caller answers :status 200), with only Sec-WebSocket-Protocol among the headers: h2 has
// no Sec-WebSocket-Key/Accept, no Upgrade, no Connection.
handshake_result validate_h2_upgrade(const request_head& req, const server_handshake_options& opts);

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (§4.2.2 step 5.4).
std::string compute_accept(std::string_view key);

// Whether `key` is the base64 encoding of exactly 16 bytes (§4.1 step 7).
bool is_valid_client_key(std::string_view key) noexcept;

// Whether the comma-separated list `value` contains `token` (case-insensitive, optional
// whitespace around elements, as in Connection: keep-alive, Upgrade).
bool header_has_token(std::string_view value, std::string_view token) noexcept;

// ---- client role ----

struct client_request_options {
    std::string host;    // Host header value, with ":port" when not the default
    std::string target;  // path and query, e.g. "/chat?room=1"
    std::string origin;  // optional
    std::vector<std::string> subprotocols;
    std::vector<owned_header> extra_headers;
};

struct client_request {
    std::string key;   // the random Sec-WebSocket-Key sent (needed to verify the answer)
    std::string http;  // the request head to send
};

// Builds a request with a fresh random key (16 bytes from OpenSSL's CSPRNG). An empty
// target becomes "/". Throws std::invalid_argument when a field would corrupt the request
// head (CR, LF or NUL in a value, a target with spaces, a header name or subprotocol that
// is not an HTTP token), and std::runtime_error if the CSPRNG fails.
client_request build_client_request(const client_request_options& opts);

struct response_head {
    int status = 0;
    std::span<const http_header> headers;
};

struct client_handshake_result {
    bool ok = false;
    std::string error;        // why the answer was rejected
    std::string subprotocol;  // what the server chose, empty if none
};

// Checks the server's answer (§4.1, client requirements 1-6): status 101, Upgrade:
// websocket, Connection: Upgrade, the matching Sec-WebSocket-Accept, a subprotocol only
// from those offered, and no extension that was not offered.
client_handshake_result verify_server_response(const response_head& resp, std::string_view sent_key,
                                               std::span<const std::string> offered_subprotocols);

}  // namespace sockeye::protocol
