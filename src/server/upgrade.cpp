// The upgrade hook's reply (include/sockeye/upgrade.hpp) and its request.
#include "http1_connection.hpp"
#include "http_request_view.hpp"
#include "upgrade_wait.hpp"

namespace sockeye {

namespace {

// Records the answer; posts it to the connection's loop unless the hook is still running
// there (then the loop applies it when the hook returns).
template <class Fill>
bool answer(const std::shared_ptr<upgrade_reply::shared>& s, Fill fill) {
    if (!s) return false;
    bool post = false;
    {
        std::lock_guard lock(s->mutex);
        if (s->st != upgrade_reply::shared::state::waiting) return false;
        s->st = upgrade_reply::shared::state::answered;
        fill(*s);
        post = !s->in_hook;
    }
    if (post && s->mailbox) {
        s->mailbox->post([s] {
            if (s->conn) s->conn->apply_upgrade_answer();
        });
    }
    return true;
}

}  // namespace

bool upgrade_reply::accept(accept_options options) {
    return answer(s_, [&](shared& s) {
        s.accepted = true;
        s.accept = std::move(options);
    });
}

bool upgrade_reply::reject(int status, std::string body, std::vector<name_value> headers) {
    return answer(s_, [&](shared& s) {
        s.accepted = false;
        s.status = status;
        s.body = std::move(body);
        s.headers = std::move(headers);
    });
}

bool upgrade_reply::pending() const {
    if (!s_) return false;
    std::lock_guard lock(s_->mutex);
    return s_->st == shared::state::waiting;
}

}  // namespace sockeye

namespace sockeye::server_detail {

namespace {

// Elements of a comma-separated header list, trimmed; empty elements skipped.
void split_list(std::string_view value, std::vector<std::string>& out, bool name_only) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        if (name_only) item = item.substr(0, item.find(';'));  // extension parameters
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

}  // namespace

std::string_view make_upgrade_request(const http::request_parser& req, const std::string& peer,
                                      bool tls, std::string server_name, upgrade_request& r) {
    const auto bad = make_http_request(req, peer, tls, std::move(server_name), r);
    if (!bad.empty()) return bad;
    for (const auto& h : r.headers) {
        if (same_header(h.name, "Sec-WebSocket-Protocol"))
            split_list(h.value, r.subprotocols, false);
        if (same_header(h.name, "Sec-WebSocket-Extensions"))
            split_list(h.value, r.extensions, true);
    }
    return {};
}

bool end_wait(upgrade_reply::shared& s) {
    std::lock_guard lock(s.mutex);
    const bool answered = s.st == upgrade_reply::shared::state::answered;
    s.st = upgrade_reply::shared::state::over;
    s.conn = nullptr;
    return answered;
}

}  // namespace sockeye::server_detail
