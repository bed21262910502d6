#include "proxy_tls.hpp"

#include <uv.h>

namespace sockeye::apps {

namespace {

// As large as one read of the socket: its plaintext fits, so one read stays one message.
constexpr std::size_t piece_size = 256 * 1024;

// The target's host is as parsed from the command line or the map: an IPv6 literal comes
// without its brackets, so both families can be told apart from a name here.
bool is_ip_literal(const std::string& host) {
    unsigned char addr[16];
    return uv_inet_pton(AF_INET, host.c_str(), addr) == 0 ||
           uv_inet_pton(AF_INET6, host.c_str(), addr) == 0;
}

// Each buffer is handed on (copied into a queue, or written) before it is filled again,
// so one per loop thread serves every connection on it.
std::uint8_t* scratch(int which) {
    static thread_local std::unique_ptr<std::uint8_t[]> space[2] = {
        std::unique_ptr<std::uint8_t[]>(new std::uint8_t[piece_size]),
        std::unique_ptr<std::uint8_t[]>(new std::uint8_t[piece_size])};
    return space[which].get();
}

}  // namespace

std::shared_ptr<net::tls_context> backend_tls_context(const std::string& cafile) {
    return net::tls_context::create_stream_client(cafile);
}

backend_tls::backend_tls(const net::tls_context& ctx, const std::string& host, wire& w)
    : engine_(net::tls_engine::create_client(ctx.get(), host, is_ip_literal(host), true)),
      wire_(w) {}

bool backend_tls::flush() {
    std::uint8_t* out = scratch(0);
    while (engine_->pending() > 0) {
        const std::size_t n = engine_->take(out, piece_size);
        if (n == 0) break;
        if (!wire_.to_socket(std::span<const std::uint8_t>(out, n))) return false;
    }
    return true;
}

backend_tls::step backend_tls::begin() {
    if (!engine_->start_handshake()) return step::failed;
    return flush() ? step::more : step::failed;
}

backend_tls::step backend_tls::handshake(std::span<const std::uint8_t> cipher) {
    engine_->feed(cipher.data(), cipher.size());
    // The handshake alone, not a read: application data right behind the server's last
    // handshake message waits inside until the WebSocket is open to take it.
    const bool ok = engine_->start_handshake();
    // Our next flight, or the alert that tells the service why not.
    if (!flush() || !ok) return step::failed;
    return engine_->handshake_done() ? step::done : step::more;
}

backend_tls::status backend_tls::receive(std::span<const std::uint8_t> cipher) {
    if (!cipher.empty()) engine_->feed(cipher.data(), cipher.size());
    std::uint8_t* out = scratch(1);
    std::size_t have = 0;
    long n = 0;
    do {
        n = engine_->read(out + have, piece_size - have);
        if (n > 0) have += static_cast<std::size_t>(n);
        // A piece per socket read's worth: records are gathered, not sent one by one.
        if (have > 0 && (n <= 0 || have == piece_size)) {
            wire_.to_client(std::span<const std::uint8_t>(out, have));
            have = 0;
        }
    } while (n > 0);
    // What reading produced: an answer to a key update, an alert.
    if (!flush()) return status::failed;
    if (n == 0) return status::open;
    return engine_->peer_closed() ? status::closed : status::failed;
}

bool backend_tls::send(std::span<const std::uint8_t> plain) {
    return engine_->write(plain.data(), plain.size()) && flush();
}

void backend_tls::close() {
    if (notified_) return;
    notified_ = true;
    engine_->close_notify();
    flush();
}

std::string backend_tls::failure() const {
    const std::string verify = engine_->verify_error();
    if (!verify.empty()) return "certificate verify failed: " + verify;
    return engine_->error();
}

}  // namespace sockeye::apps
