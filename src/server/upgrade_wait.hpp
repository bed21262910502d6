// An upgrade waiting for the application's answer (sockeye::upgrade_reply): what the
// answer carries, and how a late one from another thread reaches the connection's loop.
#pragma once
#include <sockeye/upgrade.hpp>

#include <memory>
#include <mutex>

#include "http/request_parser.hpp"
#include "loop_mailbox.hpp"

namespace sockeye::server_detail {

class http1_connection;

}  // namespace sockeye::server_detail

namespace sockeye {

struct upgrade_reply::shared {
    enum class state : std::uint8_t { waiting, answered, over };

    std::mutex mutex;  // guards everything up to `conn`
    state st = state::waiting;
    // The hook is running on the loop: an answer given meanwhile (from the hook itself or
    // a thread it handed the reply to) is applied when the hook returns, not posted.
    bool in_hook = false;
    bool accepted = false;
    accept_options accept;
    int status = 0;
    std::string body;
    std::vector<name_value> headers;
    std::shared_ptr<server_detail::loop_mailbox> mailbox;

    // Loop thread only: the waiting connection, null once it is gone or answered.
    server_detail::http1_connection* conn = nullptr;
};

}  // namespace sockeye

namespace sockeye::server_detail {

// Fills the request as the hook sees it, copied out of the parser (only when a hook is set).
// Returns why the request can't be decoded (answered 400), or "" when it can.
std::string_view make_upgrade_request(const http::request_parser& req, const std::string& peer,
                                      bool tls, std::string server_name, upgrade_request& r);

// Loop thread: ends the wait without an answer (timeout, client gone, shutdown). True if
// an answer had already been given: the caller may still apply it.
bool end_wait(upgrade_reply::shared& s);

}  // namespace sockeye::server_detail
