// Deciding at the upgrade: the application sees the whole WebSocket upgrade request after
// the RFC 6455 checks have passed and before the 101 is written, and accepts (choosing a
// subprotocol, adding response headers, attaching its per-connection object) or rejects
// with any 4xx/5xx. The answer may come later and from any thread (an auth lookup on a
// worker pool): meanwhile the connection reads nothing; an upgrade still unanswered at
// handshake_timeout gets 503; if the client goes away first, a late answer does nothing.
#pragma once
#include <sockeye/connection.hpp>
#include <sockeye/http.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye {

// The upgrade request: the HTTP request plus what the client offers for the WebSocket.
struct upgrade_request : http_request {
    std::vector<std::string> subprotocols;  // offered (Sec-WebSocket-Protocol), in order
    std::vector<std::string> extensions;    // offered extension names, in order
};

struct accept_options {
    // One of request.subprotocols, or empty for the server's own choice (the first of
    // server_options::subprotocols the client offered, if any).
    std::string subprotocol;
    std::vector<name_value> headers;  // added to the 101 (Set-Cookie, ...)
    app_state state;                  // becomes connection::state
};

// The one answer to one upgrade. Copies share it: the first accept() or reject() wins and
// returns true; later calls, calls after the timeout and calls after the client left
// return false. Safe from any thread, at any time.
class upgrade_reply {
  public:
    struct shared;
    explicit upgrade_reply(std::shared_ptr<shared> s) : s_(std::move(s)) {}

    bool accept(accept_options options = {});
    // status 400-599 (anything else becomes 500); body: a short text/plain explanation.
    bool reject(int status, std::string body = {}, std::vector<name_value> headers = {});
    // Whether the connection still waits for this answer.
    bool pending() const;

  private:
    std::shared_ptr<shared> s_;
};

// Called on the connection's loop for every upgrade that passed the protocol checks. A
// hook that throws answers 500.
using upgrade_hook = std::function<void(const upgrade_request&, upgrade_reply)>;

}  // namespace sockeye
