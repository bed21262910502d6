// An upgrade waiting for the application's answer (sockeye::upgrade_reply): what the
// answer carries, and how a late one from another thread reaches the connection's loop.
#pragma once
#include <sockeye/upgrade.hpp>

#include <sockeye/server.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/request_parser.hpp"
#include "loop_mailbox.hpp"
#include "protocol/extensions.hpp"
#include "protocol/handshake.hpp"

namespace sockeye::server_detail {

// What waits for an upgrade answer: an HTTP/1.1 connection or an HTTP/2 stream.
class upgrade_waiter {
  public:
    // On the loop, after the hook returned: the answer given is applied.
    virtual void apply_upgrade_answer() = 0;

  protected:
    ~upgrade_waiter() = default;
};

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
    server_detail::upgrade_waiter* conn = nullptr;
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

// An upgrade that passed the protocol checks and waits for the application's hook (on
// either front door).
struct pending_upgrade {
    protocol::handshake_result result;
    std::string target;
    std::optional<protocol::deflate_params> deflate;
    std::vector<std::string> offered;  // subprotocols the client offered
    std::shared_ptr<upgrade_reply::shared> reply;
    std::uint64_t deadline = 0;  // loop ms (HTTP/2; HTTP/1.1 uses its request deadline)
};

// The application's answer, taken out of the reply, which is over from then on.
struct upgrade_answer {
    bool accepted = false;
    accept_options chosen;
    int status = 500;
    std::string body;
    std::vector<name_value> headers;
};
upgrade_answer take_answer(upgrade_reply::shared& s);

// An accept applied to the handshake result: the subprotocol the application chose (it
// must be one the client offered) and the headers it added. Returns why the choice can't
// be used (the upgrade is then answered 500), or "" when it is applied.
std::string_view apply_accept(upgrade_answer& a, const std::vector<std::string>& offered,
                              protocol::handshake_result& result);

// Runs the application's hook on the loop. Answers given while it runs (by the hook or a
// thread it handed the reply to) are applied by the caller when it returns.
enum class hook_outcome : std::uint8_t { threw, answered, waiting };
hook_outcome run_upgrade_hook(const upgrade_hook& hook, const upgrade_request& request,
                              const std::shared_ptr<upgrade_reply::shared>& reply,
                              const std::string& peer);

// Headers an application adds must not be able to split the response.
bool valid_app_headers(const std::vector<name_value>& headers) noexcept;

// permessage-deflate: the first acceptable offer wins and its answer joins the success
// headers; a Sec-WebSocket-Extensions header that does not parse turns the result into a
// 400. The same on HTTP/1.1 and HTTP/2.
std::optional<protocol::deflate_params> negotiate_compression(const server_options& opts,
                                                              const protocol::request_head& head,
                                                              protocol::handshake_result& result);

}  // namespace sockeye::server_detail
