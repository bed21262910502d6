// TLS to the TCP service behind `sockeye serve --proxy ... --proxy-tls`, over the proxy's
// own socket: the proxy hands this the ciphertext it reads and the plaintext the client
// sends; this hands back, through `wire`, the ciphertext for the socket and the plaintext
// for the client. So the plain and the TLS path share their socket code, their
// backpressure and their ends. The handshake verifies the service's certificate against
// the system store or --proxy-cacert, and that it names the target (a DNS name through SNI
// and the hostname check; an IP literal through the IP check, without SNI).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "net/tls_context.hpp"
#include "net/tls_engine.hpp"

namespace sockeye::apps {

// The client configuration every backend connection of one proxy shares: TLS 1.2+, the
// certificate verified against `cafile` (PEM) or, when empty, the system store, no ALPN
// (the service speaks its own protocol, not HTTP). Throws std::runtime_error.
std::shared_ptr<net::tls_context> backend_tls_context(const std::string& cafile);

class backend_tls {
  public:
    // Where the bytes go. A write that fails ends the connection: `to_socket` then
    // returns false and nothing more is written (the object stays valid until the call
    // that wrote returns).
    struct wire {
        virtual bool to_socket(std::span<const std::uint8_t> cipher) = 0;
        virtual void to_client(std::span<const std::uint8_t> plain) = 0;

      protected:
        ~wire() = default;
    };

    // Throws std::runtime_error (a host OpenSSL does not take as a name or an address).
    backend_tls(const net::tls_context& ctx, const std::string& host, wire& w);

    enum class step : std::uint8_t { more, done, failed };
    // Sends the ClientHello. failed: see failure().
    step begin();
    // Ciphertext from the service while the handshake runs: done once it has completed
    // (the bytes behind it wait inside for receive()), failed when it cannot.
    step handshake(std::span<const std::uint8_t> cipher);

    enum class status : std::uint8_t { open, closed, failed };
    // Ciphertext from the service (or none: what waited inside) to the client, one
    // to_client() per read's worth. closed: the service sent close_notify.
    status receive(std::span<const std::uint8_t> cipher);
    // Plaintext from the client, to the socket. False on a TLS error (see failure()).
    bool send(std::span<const std::uint8_t> plain);
    // close_notify, to the socket (once).
    void close();

    // Why the handshake or the session failed, for the client and the log:
    // "certificate verify failed: self-signed certificate", or OpenSSL's error; "" if
    // nothing is known.
    std::string failure() const;

  private:
    bool flush();

    std::unique_ptr<net::tls_engine> engine_;
    wire& wire_;
    bool notified_ = false;
};

}  // namespace sockeye::apps
