// The program bridge behind `sockeye serve --exec`, written against the public API like
// the echo and pub/sub: every WebSocket runs its own copy of a program, with the messages
// it receives on the program's stdin and the program's stdout coming back as messages
// (like websocketd). The program runs on the connection's own loop (connection::loop())
// with libuv's process and pipe handles; the server knows nothing about programs.
//
//   - lines mode: each message plus "\n" is written to stdin; each stdout line (without
//     its "\n") is a message: text if it is UTF-8, binary if not. A line longer than the
//     line limit closes the connection with 1009.
//   - binary mode: every payload byte goes to stdin in order; stdout is sent as binary
//     messages as it comes (one per read).
//   - stderr goes to the server's log, one record per line, prefixed with the peer.
//   - the program exits: close 1000 (status 0) or 1011 "exit status N" / "killed by
//     signal S", after its output.
//   - the connection ends first: stdin is closed; a program still running after `grace`
//     seconds gets SIGTERM, and SIGKILL after `grace` more (its whole process group).
//   - backpressure both ways: stdout is not read while the client's unsent output is over
//     the high-water mark; the client is not read while the program's unwritten stdin is.
#pragma once
#include <sockeye/server.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sockeye::apps {

enum class exec_mode : std::uint8_t { lines, binary };

struct exec_settings {
    std::vector<std::string> argv;  // the program and its arguments
    std::string dir;                // working directory; empty = the server's
    exec_mode mode = exec_mode::lines;
    double grace = 2;              // seconds: stdin closed → SIGTERM → SIGKILL
    std::size_t max_programs = 0;  // running at once, on all loops; 0 = no limit (503 beyond)
    // Binary mode: stdout reads become the fragments of one message that ends after
    // `flush` seconds or `flush_size` bytes (whichever first; 0 = not by that). Both 0:
    // one message per read.
    double flush = 0;
    std::size_t flush_size = 0;
    // Extra environment: "NAME=VALUE", or "NAME" for the server's own value (if set).
    std::vector<std::string> env;
};

class exec_app {
  public:
    // `o`: the server's options (water marks, message limit, listening host).
    exec_app(exec_settings s, const server_options& o);
    // Frees what the loops left behind: call after the server is destroyed.
    ~exec_app();
    exec_app(const exec_app&) = delete;
    exec_app& operator=(const exec_app&) = delete;

    // The handlers to construct the server with; then attach() before listen().
    handlers make_handlers();
    void attach(server& srv);
    // After server::run() returned: the loops are stopped, so programs still running are
    // ended here (they already saw stdin close): SIGTERM after the grace, SIGKILL after
    // another, and every one reaped.
    void finish();

    struct state;

  private:
    std::shared_ptr<state> st_;
};

// The environment a program starts with, from the server's own (only PATH, HOME, LANG,
// LANGUAGE, LC_*, TZ and TMPDIR pass; PATH defaults to /usr/local/bin:/usr/bin:/bin) and
// `extra` (as exec_settings::env). "NAME=VALUE" strings. (Exposed for tests.)
std::vector<std::string> exec_base_environment(const std::vector<std::string>& extra);

}  // namespace sockeye::apps
