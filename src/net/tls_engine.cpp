#include "tls_engine.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <climits>
#include <stdexcept>

#include "tls_context.hpp"

namespace sockeye::net {

tls_engine::tls_engine(SSL_CTX* ctx) : tls_engine(ctx, false) {}

tls_engine::tls_engine(SSL_CTX* ctx, bool client) : ssl_(SSL_new(ctx)) {
    if (ssl_ == nullptr) throw std::runtime_error("SSL_new: " + openssl_errors());
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    // An empty input BIO means "try again later", not EOF.
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);  // ssl_ owns both BIOs now
    if (client) {
        SSL_set_connect_state(ssl_);
    } else {
        SSL_set_accept_state(ssl_);
    }
}

std::unique_ptr<tls_engine> tls_engine::create_client(SSL_CTX* ctx, const std::string& host,
                                                      bool host_is_ip, bool verify) {
    std::unique_ptr<tls_engine> e(new tls_engine(ctx, true));
    if (!host_is_ip && SSL_set_tlsext_host_name(e->ssl_, host.c_str()) != 1) {
        throw std::runtime_error("TLS: cannot set SNI: " + openssl_errors());
    }
    if (verify) {
        const int ok = host_is_ip
                           ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(e->ssl_), host.c_str())
                           : SSL_set1_host(e->ssl_, host.c_str());
        if (ok != 1) throw std::runtime_error("TLS: cannot set the expected host " + host);
    }
    return e;
}

bool tls_engine::start_handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return true;
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
    error_ = openssl_errors();
    return false;
}

std::string tls_engine::verify_error() const {
    const long r = SSL_get_verify_result(ssl_);
    if (r == X509_V_OK || SSL_get_verify_mode(ssl_) == SSL_VERIFY_NONE) return {};
    return X509_verify_cert_error_string(r);
}

tls_engine::~tls_engine() {
    SSL_free(ssl_);
}

void tls_engine::feed(const std::uint8_t* data, std::size_t len) {
    while (len > 0) {
        const int chunk = len > INT_MAX ? INT_MAX : static_cast<int>(len);
        const int n = BIO_write(in_, data, chunk);
        if (n <= 0) return;
        data += n;
        len -= static_cast<std::size_t>(n);
    }
}

long tls_engine::read(std::uint8_t* out, std::size_t cap) {
    if (peer_closed_ || !error_.empty()) return -1;
    ERR_clear_error();
    const int want = cap > INT_MAX ? INT_MAX : static_cast<int>(cap);
    const int n = SSL_read(ssl_, out, want);
    if (n > 0) return n;
    switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return 0;
        case SSL_ERROR_ZERO_RETURN:
            peer_closed_ = true;
            return -1;
        default:
            error_ = openssl_errors();
            return -1;
    }
}

bool tls_engine::write(const std::uint8_t* data, std::size_t len) {
    if (!error_.empty()) return false;
    while (len > 0) {
        ERR_clear_error();
        const int chunk = len > INT_MAX ? INT_MAX : static_cast<int>(len);
        const int n = SSL_write(ssl_, data, chunk);
        if (n <= 0) {
            // Before the handshake completes SSL_write may want to read first; the data
            // can't be written then, which the caller avoids by writing only after it.
            error_ = "TLS write failed: " + openssl_errors();
            return false;
        }
        data += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

void tls_engine::close_notify() {
    ERR_clear_error();
    SSL_shutdown(ssl_);
}

std::size_t tls_engine::pending() const {
    return BIO_ctrl_pending(out_);
}

std::size_t tls_engine::take(std::uint8_t* out, std::size_t cap) {
    const int want = cap > INT_MAX ? INT_MAX : static_cast<int>(cap);
    const int n = BIO_read(out_, out, want);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

bool tls_engine::handshake_done() const {
    return SSL_is_init_finished(ssl_) == 1;
}

std::string tls_engine::server_name() const {
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name ? name : "";
}

std::string tls_engine::alpn() const {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

}  // namespace sockeye::net
