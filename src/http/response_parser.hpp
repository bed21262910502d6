// Incremental HTTP/1.1 response-head parser (RFC 9112) on top of llhttp, for the client
// side of the WebSocket handshake. Bytes in, results out: no sockets, no event loop.
//
// The parser stops at the end of the head. A server may send its first WebSocket frames in
// the same packet as its 101 answer; `consumed` tells the caller where the head ended so
// those bytes go on to the WebSocket session. Bodies are never read: a non-101 answer ends
// the handshake anyway, and the status is all the caller needs from it.
//
// Errors are final and come with a short reason for the user ("response head too large",
// llhttp's description of the malformation, ...).
#pragma once
#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/head_fields.hpp"
#include "http/request_parser.hpp"  // parse_status
#include "protocol/handshake.hpp"

namespace sockeye::http {

struct response_limits {
    // Status line, header lines and the final empty line together.
    std::size_t max_head_bytes = 16 * 1024;
    std::size_t max_headers = 100;
};

struct response_parse_result {
    parse_status status = parse_status::need_more;
    // need_more: all of the input. head_complete: input bytes up to and including the
    // head's final LF; the rest belongs to the caller. error: 0.
    std::size_t consumed = 0;
    std::string_view error;  // error only: why the response was rejected
};

class response_parser {
  public:
    explicit response_parser(response_limits limits = {});

    // Parses the next piece of the byte stream. After head_complete, more input consumes
    // nothing. Errors are final: every later feed() repeats the same error.
    response_parse_result feed(const char* data, std::size_t len);

    bool complete() const noexcept { return state_ == state::complete; }

    // ---- the parsed head: valid once feed() reported head_complete ----

    int status_code() const noexcept { return status_code_; }
    std::string_view reason_phrase() const noexcept { return fields_.view(reason_); }
    int version_major() const noexcept { return version_major_; }
    int version_minor() const noexcept { return version_minor_; }

    // Headers in arrival order, names as received, values without surrounding whitespace.
    std::size_t header_count() const noexcept { return fields_.count(); }
    protocol::http_header header(std::size_t i) const noexcept { return fields_.header(i); }
    // The first header with this name (case-insensitive), if any.
    std::optional<std::string_view> find_header(std::string_view name) const noexcept;

    // A view for protocol::verify_server_response. `scratch` holds the header views
    // (cleared and refilled); it and this parser must outlive the result.
    protocol::response_head as_response_head(std::vector<protocol::http_header>& scratch) const;

  private:
    struct callbacks;  // the llhttp callbacks, defined in the .cpp

    enum class state : std::uint8_t { head, complete, failed };
    response_parse_result fail(std::string_view reason);

    response_limits limits_;
    llhttp_t parser_{};
    state state_ = state::head;
    std::size_t head_bytes_ = 0;
    std::string_view cb_error_;  // set by a callback that stopped parsing
    response_parse_result error_;

    head_fields fields_;  // the reason phrase, then every header name and value
    head_fields::span reason_;

    int status_code_ = 0;
    int version_major_ = 0;
    int version_minor_ = 0;
};

}  // namespace sockeye::http
