// What the server answers to plain HTTP requests (everything that is not an upgrade):
// /healthz, /metrics, a 426 on the WebSocket path, and static files.
#pragma once
#include <cstdint>
#include <string>

#include "http/request_parser.hpp"
#include "http/static_files.hpp"
#include "metrics.hpp"

namespace sockeye::server_detail {

struct http_answer {
    std::string head;  // status line, headers and, for small answers, the body
    int file_fd = -1;  // a file whose `file_size` bytes follow the head
    std::uint64_t file_size = 0;
    bool keep_alive = true;
};

struct http_routes {
    http::static_root root{std::string_view{}};
    std::string ws_path;  // empty: WebSocket on any path
    bool builtins = true;  // answer /healthz and /metrics

    // GET and HEAD get the same head; HEAD never gets a body or a file.
    http_answer answer(const http::request_parser& req, const metrics& stats,
                       bool keep_alive) const;

  private:
    http_answer answer_get(const http::request_parser& req, const metrics& stats,
                           bool keep_alive) const;
};

// The path part of a request target, without the query.
std::string_view target_path_only(std::string_view target) noexcept;

}  // namespace sockeye::server_detail
