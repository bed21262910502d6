// Sockeye's WebSocket client: connects to a ws:// or wss:// URL and drives the connection
// through the same `sockeye::connection` interface and `sockeye::handlers` as the server, so
// application code reads the same on both sides. Every frame sent is masked with a fresh
// key from OpenSSL's CSPRNG (RFC 6455 §5.3).
//
// One event loop, one thread, owned by the client: run() drives it until the connection is
// over. Handlers run on the loop and must not block; loop() lets an application add its
// own libuv handles (stdin, timers) to the same loop.
//
// Flow control: buffered_amount() says how much is queued for the server; once it has
// reached high_water_mark, on_drain fires when it falls to low_water_mark or below. Like
// the server, the client stops reading while the output its reading produced (pongs, the
// close reply, messages handlers send in reply) is above high_water_mark, until the output
// is back at low_water_mark: a server flooding pings without reading cannot grow it. The
// application's own sends never stop reading (against an echoing server that would
// deadlock); pause()/resume() are the reader's tools.
//
// Limits default as on the server (include/sockeye/server.hpp): messages unlimited, which
// suits streaming handlers; with on_message (whole messages) set max_message_size, or a
// hostile server can make the client buffer a message of any size.
#pragma once
#include <sockeye/connection.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct uv_loop_s;

namespace sockeye {

// Why a connection could not be established. Once on_open has run, problems end the
// connection through on_close instead (code 1006 when no close frame arrived).
enum class client_error : std::uint8_t {
    none = 0,
    invalid_url,  // the URL or an option cannot be used
    connect,      // name resolution failed, connection refused or unreachable
    tls,          // TLS setup or handshake failed, the certificate was rejected
    handshake,    // the server's HTTP answer was not a valid 101 for our request
    timeout,      // no open connection within connect_timeout
};

// A short name for the category ("connect", "TLS", ...).
const char* to_string(client_error e) noexcept;

struct client_options {
    std::string url;                        // ws://host[:port]/path?query or wss://...
    std::vector<std::string> subprotocols;  // offered, preferred first
    std::string origin;                     // Origin header; empty = none sent
    std::vector<std::pair<std::string, std::string>> headers;  // extra request headers

    // WebSockets over HTTP/2 (RFC 8441): one extended-CONNECT stream of an HTTP/2
    // connection (wss: TLS with ALPN h2; ws: h2c with prior knowledge). The server must
    // offer SETTINGS_ENABLE_CONNECT_PROTOCOL, else the handshake fails.
    bool http2 = false;

    std::string cacert;     // PEM file of trusted CAs for wss; empty = the system store
    bool insecure = false;  // wss without certificate or host name checks (testing only)

    double connect_timeout = 10;  // seconds from connect() to the 101 (DNS, TCP, TLS, HTTP)
    double close_timeout = 5;     // seconds to wait for the server's close reply and EOF

    std::uint64_t max_message_size = 0;     // bytes per received message; 0 = no limit (1009)
    std::uint64_t max_fragments = 0;        // frames per received message; 0 = no limit (1008)
    std::uint64_t max_frame_size = 0;       // split outgoing messages; 0 = never
    std::size_t high_water_mark = 1 << 20;  // see on_drain and the flow control note above
    std::size_t low_water_mark = 256 << 10;

    // For debugging: called on the loop with one line of text (no newline) for each frame
    // sent and received (FIN, RSV, opcode, MASK, length and its encoding, masking key,
    // header bytes in hex, the first payload bytes), each read and write that carried
    // frames, each message, control frame and protocol error. A long message shows its
    // first frames and reads, a count of the rest, then its last frame. Unset, nothing is
    // recorded. The lines are meant for people; their format may change.
    std::function<void(std::string_view line)> trace;
};

class client {
  public:
    // `on_error` is called (at most once, instead of on_open) when the connection cannot
    // be established; the message is one line naming the host and the reason.
    client(client_options options, handlers h,
           std::function<void(client_error, const std::string& message)> on_error);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // The client's event loop, for the application's own handles. Close them before
    // run() is expected to return: it returns once no handle is left.
    uv_loop_s* loop() const noexcept;

    // Starts connecting and runs the loop until the connection is over and every handle
    // is closed. Returns 0 if the connection opened, 1 otherwise (see error()).
    int run();

    // Abandons the attempt or the connection at once, without a closing handshake: an
    // open connection gets on_close (1006), an attempt in progress ends without on_error.
    void abort();

    client_error error() const noexcept;
    const std::string& error_message() const noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sockeye
