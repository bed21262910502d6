// The RFC 8441 opening handshake as data, without I/O: the extended CONNECT request's
// header list and the check of the server's answer. What HTTP/1.1 expresses with Upgrade,
// Connection and Sec-WebSocket-Key/Accept is carried by :method CONNECT, :protocol
// websocket and :status 200 instead; everything else (subprotocols, Origin, the caller's
// headers) travels as on HTTP/1.1, with lower-case names as HTTP/2 requires.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "protocol/handshake.hpp"

namespace sockeye::client_detail {

struct h2_request_options {
    bool secure = false;    // :scheme https (wss://) or http (ws://)
    std::string authority;  // host[:port], as the Host header would carry it
    std::string target;     // path and query; empty = "/"
    std::string origin;     // empty = none sent
    std::vector<std::string> subprotocols;
    std::vector<protocol::owned_header> extra_headers;
};

// The header list of the extended CONNECT, pseudo-headers first (RFC 9113 §8.3). Throws
// std::invalid_argument for what would corrupt the request or is not allowed in HTTP/2:
// CR, LF or NUL in a value, a name that is not a token, a target with spaces, and
// connection-specific headers (Connection, Upgrade, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, TE, Host: RFC 9113 §8.2.2) among the extra headers.
std::vector<protocol::owned_header> build_h2_request(const h2_request_options& opts);

// Checks the answer to the extended CONNECT: status 200, a subprotocol only from those
// offered, no extension (none is offered). `headers` are the regular response headers,
// names lower-case as HTTP/2 delivers them.
protocol::client_handshake_result verify_h2_response(
    int status, std::span<const protocol::owned_header> headers,
    std::span<const std::string> offered_subprotocols);

}  // namespace sockeye::client_detail
