// Deciding at the upgrade: the application sees the whole WebSocket upgrade request after
// the RFC 6455 checks have passed and before the 101 is written, and accepts (choosing a
// subprotocol, adding response headers, attaching its per-connection object) or rejects
// with any 4xx/5xx. The answer may come later and from any thread (an auth lookup on a
// worker pool): meanwhile the connection reads nothing; an upgrade still unanswered at
// handshake_timeout gets 503; if the client goes away first, a late answer does nothing.
#pragma once
#include <sockeye/connection.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye {

struct name_value {
    std::string name;
    std::string value;
};

// The upgrade request, owned: copy it to keep it past the hook.
struct upgrade_request {
    std::string method;                     // "GET"
    std::string target;                     // as sent: path and query
    std::string path;                       // percent-decoded path, without the query
    std::string query;                      // as sent, after '?' (empty if none)
    std::vector<name_value> headers;        // arrival order, names as sent, repeats kept
    std::vector<name_value> query_params;   // decoded ('+' is a space), repeats kept in order
    std::vector<name_value> cookies;        // from every Cookie header, in order
    std::string peer;                       // "ip:port"
    bool tls = false;                       // arrived over TLS
    std::string server_name;                // TLS SNI; empty without TLS or SNI
    std::vector<std::string> subprotocols;  // offered (Sec-WebSocket-Protocol), in order
    std::vector<std::string> extensions;    // offered extension names, in order

    // The first header with this name (case-insensitive), or nullopt.
    std::optional<std::string_view> header(std::string_view name) const;
    // Every value of the header, in arrival order.
    std::vector<std::string_view> header_values(std::string_view name) const;
    // The first query parameter with this (decoded, exact) name, or nullopt.
    std::optional<std::string_view> query_param(std::string_view name) const;
    // The first cookie with this name, or nullopt.
    std::optional<std::string_view> cookie(std::string_view name) const;
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
