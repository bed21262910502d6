// TLS for one connection without I/O: ciphertext in, plaintext out, and back, through
// OpenSSL memory BIOs. The connection code stays the same with or without TLS: it reads
// plaintext from here and writes plaintext here, and moves ciphertext to and from the socket.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;

namespace sockeye::net {

class tls_engine {
  public:
    // Server side of a connection using `ctx` (the engine keeps its own reference).
    explicit tls_engine(SSL_CTX* ctx);
    // Client side: sends SNI for DNS names (RFC 6066 forbids IP literals there) and, unless
    // `verify` is false, checks that the certificate names `host` (a DNS name, or the IP
    // address when `host_is_ip`). Call start_handshake() to produce the ClientHello.
    static std::unique_ptr<tls_engine> create_client(SSL_CTX* ctx, const std::string& host,
                                                     bool host_is_ip, bool verify);
    ~tls_engine();
    tls_engine(const tls_engine&) = delete;
    tls_engine& operator=(const tls_engine&) = delete;

    // Ciphertext from the peer.
    void feed(const std::uint8_t* data, std::size_t len);
    // Decrypted bytes into `out`: > 0 bytes, 0 when more ciphertext is needed, -1 on a
    // fatal error (see error()) or when the peer sent close_notify (see peer_closed()).
    // Drives the handshake too.
    long read(std::uint8_t* out, std::size_t cap);
    // Encrypts plaintext (all of it: the output BIO grows). False on a fatal error.
    bool write(const std::uint8_t* data, std::size_t len);
    // Queues close_notify.
    void close_notify();

    // Ciphertext waiting to go to the peer.
    std::size_t pending() const;
    // Moves up to `cap` bytes of that ciphertext into `out`.
    std::size_t take(std::uint8_t* out, std::size_t cap);

    bool handshake_done() const;
    // Server: the name the client asked for (SNI), or "" if it sent none.
    std::string server_name() const;
    // The protocol ALPN selected ("h2", "http/1.1"), or "" (none, or no handshake yet).
    std::string alpn() const;
    // Client: starts the handshake (the ClientHello lands in pending()). False on error.
    bool start_handshake();
    // Why the peer's certificate was rejected ("certificate has expired", ...), or "" when
    // verification passed or was not done.
    std::string verify_error() const;
    bool peer_closed() const noexcept { return peer_closed_; }
    const std::string& error() const noexcept { return error_; }

  private:
    tls_engine(SSL_CTX* ctx, bool client);

    SSL* ssl_;
    BIO* in_;   // ciphertext from the network, read by OpenSSL
    BIO* out_;  // ciphertext written by OpenSSL, for the network
    bool peer_closed_ = false;
    std::string error_;
};

}  // namespace sockeye::net
