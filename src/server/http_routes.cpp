#include "http_routes.hpp"

#include <unistd.h>

#include "http/response.hpp"

namespace sockeye::server_detail {

std::string_view target_path_only(std::string_view target) noexcept {
    const auto q = target.find_first_of("?#");
    return q == std::string_view::npos ? target : target.substr(0, q);
}

http_answer http_routes::answer(const http::request_parser& req, const metrics& stats,
                                bool keep_alive) const {
    // HEAD is answered as GET and then loses the body, in this one place: when each route
    // had to remember HEAD itself, some forgot, or announced another length than GET's.
    http_answer a = answer_get(req, stats, keep_alive);
    if (req.method() == "HEAD") {
        http::drop_body(a.head);
        if (a.file_fd >= 0) ::close(a.file_fd);
        a.file_fd = -1;
        a.file_size = 0;
    }
    return a;
}

http_answer http_routes::answer_get(const http::request_parser& req, const metrics& stats,
                                    bool keep_alive) const {
    http_answer a;
    a.keep_alive = keep_alive;
    auto text = [&](int status, std::string_view body) {
        a.head = http::text_response(status, body, keep_alive);
        return a;
    };
    if (!http::static_method_allowed(req.method())) {
        a.head = http::static_method_not_allowed(keep_alive);
        return a;
    }
    const std::string_view path = target_path_only(req.target());
    if (builtins && path == "/healthz") {
        // Local delivery goes on without the broker: the node stays healthy and says so.
        if (stats.broker_connected) {
            return text(200, stats.broker_connected() ? "ok\nbroker: up\n" : "ok\nbroker: down\n");
        }
        return text(200, "ok\n");
    }
    if (builtins && path == "/metrics") {
        const std::string body = stats.render();
        std::string head;
        http::append_status_line(head, 200);
        http::append_header(head, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        http::append_header(head, "Content-Length", static_cast<std::uint64_t>(body.size()));
        http::append_header(head, "Cache-Control", "no-store");
        http::append_connection(head, keep_alive);
        http::end_head(head);
        head += body;
        a.head = std::move(head);
        return a;
    }
    if (!ws_path.empty() && path == ws_path) {
        // A plain request to the WebSocket endpoint: say what it takes (RFC 9110 §15.5.22).
        const protocol::http_header extra[] = {{"Upgrade", "websocket"},
                                               {"Sec-WebSocket-Version", "13"}};
        a.head = http::text_response(426, "this endpoint speaks WebSocket\n", keep_alive, extra);
        return a;
    }
    const auto ims = req.find_header("If-Modified-Since");
    http::static_file f = root.resolve(req.target(), ims.value_or(std::string_view{}));
    if (f.status != 200 && f.status != 304) return text(f.status, {});
    a.head = http::head_for(f, keep_alive);
    if (f.status == 200) {
        a.file_fd = f.fd;
        a.file_size = f.size;
    }
    return a;
}

}  // namespace sockeye::server_detail
