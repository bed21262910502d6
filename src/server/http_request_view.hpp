// sockeye::http_request built from a parsed request head, for the upgrade hook and routes.
#pragma once
#include <sockeye/http.hpp>

#include <string>
#include <string_view>

#include "http/request_parser.hpp"

namespace sockeye::server_detail {

// Case-insensitive header name comparison.
bool same_header(std::string_view a, std::string_view b) noexcept;

// Fills `r` from the parser's head: decoded path and query, headers, cookies, peer, TLS.
// Returns why the request can't be decoded (answered 400), or "" when it can.
std::string_view make_http_request(const http::request_parser& req, const std::string& peer,
                                   bool tls, std::string server_name, http_request& r);

}  // namespace sockeye::server_detail
