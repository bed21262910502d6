// Incremental HTTP/1.1 request-head parser (RFC 9112) on top of llhttp. Bytes in, results
// out: no sockets, no event loop, so it can be unit-tested and fuzzed on its own.
//
// The parser stops at the end of the head. Whatever follows (WebSocket frames sent right
// after an upgrade request, a pipelined request) is left to the caller, who learns from
// `consumed` where the head ended. A body is read with feed_body() (llhttp removes the
// chunked framing; pieces are views into the input, never copied), or, if the caller
// reset()s without reading it, skipped (llhttp knows its framing) so body bytes are never
// mistaken for a new request.
//
// Error statuses (the HTTP status the server should answer with, then close):
//   400  anything malformed, and every request-smuggling shape: Content-Length together
//        with Transfer-Encoding, duplicate or invalid Content-Length, chunked not the
//        final coding (RFC 9112 §6.3 requires 400 there), chunked applied twice,
//        Transfer-Encoding in an HTTP/1.0 request, obs-fold (line folding), bare LF line
//        endings, NUL/CR/LF/other controls in values, whitespace before the colon, empty
//        or non-token header names, non-ASCII or control bytes in the target, a missing
//        Host in HTTP/1.1 or more than one Host (RFC 9112 §3.2), unknown or lowercase
//        methods (llhttp cannot tell "unknown token" from garbage, so no 501 there).
//   431  the head (request line + headers + final CRLF) exceeds max_head_bytes, or has
//        more than max_headers fields.
//   501  Transfer-Encoding with a coding other than chunked before the final chunked
//        (e.g. "gzip, chunked"): well framed but not implemented (RFC 9112 §6.1).
//   505  a well-formed version other than HTTP/1.0 and HTTP/1.1 (HTTP/0.9, HTTP/1.2,
//        HTTP/2.0, ...) and the HTTP/2 connection preface ("PRI * HTTP/2.0").
#pragma once
#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/head_fields.hpp"
#include "protocol/handshake.hpp"

namespace sockeye::http {

struct request_limits {
    // Request line, header lines and the final empty line together. Leading empty lines
    // before the request line count too.
    std::size_t max_head_bytes = 8 * 1024;
    std::size_t max_headers = 100;
};

enum class parse_status : std::uint8_t { need_more, head_complete, body_complete, error };

struct request_parse_result {
    parse_status status = parse_status::need_more;
    // need_more: all of the input (the parser keeps what it needs).
    // head_complete: input bytes up to and including the head's final LF (plus any
    // skipped body of the previous request); the rest belongs to the caller.
    // error: 0.
    std::size_t consumed = 0;
    int http_status = 0;      // error only: 400, 431, 501 or 505 (500 if out of memory)
    std::string_view reason;  // error only: short static text for the response body
};

class request_parser {
  public:
    explicit request_parser(request_limits limits = {});

    // Parses the next piece of the connection's byte stream. After head_complete the
    // parser holds the head until reset(); feeding more before that consumes nothing.
    // Errors are final: every later feed() repeats the same error.
    request_parse_result feed(const char* data, std::size_t len);

    // Receives body bytes, pieces in place.
    using body_sink = void (*)(void* ctx, const char* piece, std::size_t len);
    // Reads the body of the request whose head is complete (has_body()), handing each
    // piece of content to `sink`: need_more (all input used), body_complete (`consumed`
    // bytes were the rest of the body; the next request follows), or error (400, a broken
    // chunked framing). Call reset() after body_complete for the next request.
    request_parse_result feed_body(const char* data, std::size_t len, body_sink sink, void* ctx);

    // Prepares for the next request on a keep-alive connection, keeping buffer capacity.
    // If the previous request had a body, the following feed() calls skip it first.
    void reset();
    // Back to a new connection's first request, as if just constructed with the same
    // limits (a parser kept for the next connection); buffers beyond the initial ones go.
    void restart();
    const request_limits& limits() const noexcept { return limits_; }

    bool complete() const noexcept { return state_ == state::complete; }

    // Whether the request being parsed is a HEAD, known as soon as its method is: also
    // after an error, so that even an error answer to HEAD goes without a body.
    bool head_request() const noexcept { return head_request_; }

    // ---- the parsed head: valid once feed() reported head_complete, until reset() ----

    std::string_view method() const noexcept { return method_; }                // e.g. "GET"
    std::string_view target() const noexcept { return fields_.view(target_); }  // raw, undecoded
    int version_major() const noexcept { return version_major_; }
    int version_minor() const noexcept { return version_minor_; }
    // Per RFC 9112 §9.3: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
    // "Connection: keep-alive".
    bool keep_alive() const noexcept { return keep_alive_; }
    // Content-Length > 0 or chunked.
    bool has_body() const noexcept { return has_body_; }
    bool chunked() const noexcept { return chunked_; }
    std::uint64_t content_length() const noexcept { return content_length_; }
    // llhttp's view: "Connection: upgrade" with an Upgrade header, or CONNECT.
    bool upgrade() const noexcept { return upgrade_; }

    // Headers in arrival order, names as received, values without surrounding whitespace.
    std::size_t header_count() const noexcept { return fields_.count(); }
    protocol::http_header header(std::size_t i) const noexcept { return fields_.header(i); }
    // The first header with this name (case-insensitive), if any.
    std::optional<std::string_view> find_header(std::string_view name) const noexcept;

    // A view for the WebSocket handshake. `scratch` holds the header views (clear()ed and
    // refilled, so a reused vector does not allocate); it and this parser must outlive
    // the result, and reset() invalidates it.
    protocol::request_head as_request_head(std::vector<protocol::http_header>& scratch) const;

  private:
    struct callbacks;  // the llhttp callbacks, defined in the .cpp

    enum class state : std::uint8_t {
        head,
        skipping_body,
        complete,
        reading_body,
        body_read,
        failed
    };
    request_parse_result fail(int status, std::string_view reason);
    request_parse_result fail_from_llhttp(llhttp_errno_t err);
    // Finds the bare LF and obs-fold that llhttp (built in its loose mode) lets through;
    // returns the reason, or "" when the bytes are fine.
    std::string_view scan_line_endings(const char* p, std::size_t len) noexcept;
    // The checks that need the whole head; fills the head fields on success.
    request_parse_result finish_head(std::size_t consumed);
    void clear_head() noexcept;
    void reserve_fields();

    request_limits limits_;
    llhttp_t parser_{};
    state state_ = state::head;
    bool prev_cr_ = false;        // line-ending scanner: last head byte was CR
    bool line_start_ = false;     // ... and the one before ended a line (CRLF)
    std::size_t head_bytes_ = 0;  // head bytes given to llhttp so far
    // Set by a callback that wants parsing stopped; reported by feed().
    int cb_status_ = 0;
    std::string_view cb_reason_;
    request_parse_result error_;  // the sticky result once failed
    body_sink sink_ = nullptr;    // feed_body()'s, while it runs
    void* sink_ctx_ = nullptr;

    head_fields fields_;  // the target, then every header name and value
    head_fields::span target_;

    std::string_view method_;
    int version_major_ = 0;
    int version_minor_ = 0;
    bool head_request_ = false;
    bool keep_alive_ = false;
    bool has_body_ = false;
    bool chunked_ = false;
    bool upgrade_ = false;
    std::uint64_t content_length_ = 0;
};

}  // namespace sockeye::http
