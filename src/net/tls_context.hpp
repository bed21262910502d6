// A TLS configuration (OpenSSL SSL_CTX), server or client side, with secure defaults: TLS 1.2
// and 1.3 only, OpenSSL's default cipher lists unless given, ALPN "h2" (when HTTP/2 is on) then
// "http/1.1", no renegotiation,
// session tickets on. Connections hold their own reference to the SSL_CTX they started
// with, so a reload (SIGHUP) can swap in a new context without touching them.
#pragma once
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace sockeye::net {

struct tls_settings {
    std::string cert_file;  // PEM: the certificate, then any intermediates (sent as a chain)
    std::string key_file;   // PEM private key
    std::string min_version = "1.2";  // "1.2" or "1.3"
    std::string ciphers;       // TLS 1.2 cipher list (OpenSSL syntax); empty = OpenSSL default
    std::string ciphersuites;  // TLS 1.3 suites; empty = OpenSSL default
};

class tls_context {
  public:
    // Loads and checks the certificate and key; throws std::runtime_error saying what is wrong.
    // With `http2`, ALPN offers h2 first.
    static std::shared_ptr<tls_context> create_server(const tls_settings& settings,
                                                      bool http2 = false);
    // Client side: TLS 1.2+, ALPN "http/1.1" (with `http2`: "h2", then "http/1.1"), the
    // peer's certificate verified against `cafile` (PEM, replaces the system store) or,
    // when empty, the system store. With `insecure` nothing is verified (development
    // only). Throws std::runtime_error.
    static std::shared_ptr<tls_context> create_client(const std::string& cafile, bool insecure,
                                                      bool http2 = false);
    // Client side for a byte stream that is not HTTP (a TCP service behind the proxy): as
    // create_client, always verifying, but offering no ALPN, since any protocol named there
    // would be one the stream does not speak. Throws std::runtime_error.
    static std::shared_ptr<tls_context> create_stream_client(const std::string& cafile);

    ~tls_context();
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    SSL_CTX* get() const noexcept { return ctx_; }
    // SHA-256 fingerprint of the leaf certificate, "AB:CD:...", for logs.
    const std::string& fingerprint() const noexcept { return fingerprint_; }

  private:
    explicit tls_context(SSL_CTX* ctx) : ctx_(ctx) {}
    SSL_CTX* ctx_;
    std::string fingerprint_;
};

// The queued OpenSSL errors as one line (and clears the queue).
std::string openssl_errors();

}  // namespace sockeye::net
