// Building HTTP/1.1 response heads (RFC 9110, RFC 9112) and HTTP-dates.
//
// The append_* helpers write into a caller-owned string so a connection can reuse one
// buffer; the *_response helpers return a complete response for the simple cases.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/handshake.hpp"

namespace sockeye::http {

// The standard reason phrase ("Not Found"), or "" for a code this table does not know
// (an empty reason phrase is valid, RFC 9112 §4).
std::string_view reason_phrase(int status) noexcept;

// "HTTP/1.1 404 Not Found\r\n"
void append_status_line(std::string& out, int status);

// "Name: value\r\n". CR, LF and NUL in the value are replaced by spaces: a header value
// that carries a line break would let whoever controls it inject headers.
void append_header(std::string& out, std::string_view name, std::string_view value);
void append_header(std::string& out, std::string_view name, std::uint64_t value);

// "Name: Sun, 06 Nov 1994 08:49:37 GMT\r\n", for Date and Last-Modified.
void append_date_header(std::string& out, std::string_view name, std::time_t t);

// "Connection: keep-alive\r\n" or "Connection: close\r\n". Always explicit, because the
// default differs between HTTP/1.0 and 1.1 clients.
void append_connection(std::string& out, bool keep_alive);

// The empty line that ends a head.
inline void end_head(std::string& out) {
    out += "\r\n";
}

// The head of a text/plain; charset=utf-8 response whose body is `body_size` bytes: status
// line, Date, Content-Type, Content-Length, X-Content-Type-Options, Connection, then
// `extra_headers`, then the empty line. To answer HEAD, build the GET response and
// drop_body() it instead: text_response() may replace an empty body.
std::string text_response_head(int status, std::size_t body_size, bool keep_alive,
                               std::span<const protocol::http_header> extra_headers = {});

// text_response_head() followed by `body`. An empty body gets the reason phrase and a
// newline instead, so every error response tells a human what went wrong.
std::string text_response(int status, std::string_view body, bool keep_alive,
                          std::span<const protocol::http_header> extra_headers = {});

// Turns a complete response (head, then maybe a body) into the answer to a HEAD request
// for the same resource (RFC 9110 §9.3.2): the head is kept as it is, Content-Length
// included, and everything after its empty line goes. A body would be read as the start
// of the next response on a keep-alive connection. Idempotent.
void drop_body(std::string& response) noexcept;

// 405 with "Allow: <allow>" (RFC 9110 §15.5.6 requires the header), e.g. allow = "GET, HEAD".
std::string method_not_allowed_response(std::string_view allow, bool keep_alive);

// ---- HTTP-date (RFC 9110 §5.6.7) ----

// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::time_t t);
void append_http_date(std::string& out, std::time_t t);

// Parses the three formats a recipient must accept: IMF-fixdate, the obsolete RFC 850
// form ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
// Returns nothing for anything else, including out-of-range fields and leading or
// trailing garbage. The weekday must be a valid name but is not checked against the date.
std::optional<std::time_t> parse_http_date(std::string_view s) noexcept;

}  // namespace sockeye::http
