#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <stdexcept>

namespace sockeye::net {

std::string openssl_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown TLS error" : out;
}

namespace {

constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char alpn_h2_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// ALPN (RFC 7301): h2 when HTTP/2 is on and the client offers it, else http/1.1 (our order
// wins over the client's: SSL_select_next_proto walks ours first). A client offering only
// other protocols proceeds without ALPN rather than being refused: it may still speak
// HTTP/1.1. `arg` is non-null when HTTP/2 is on.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
    const unsigned char* ours = arg ? alpn_h2_http11 : alpn_http11;
    const unsigned int ours_len = arg ? sizeof alpn_h2_http11 : sizeof alpn_http11;
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, ours, ours_len, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

std::string leaf_fingerprint(SSL_CTX* ctx) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &n) != 1) return "?";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
        char hex[4];
        std::snprintf(hex, sizeof hex, i ? ":%02X" : "%02X", md[i]);
        out += hex;
    }
    return out;
}

}  // namespace

std::shared_ptr<tls_context> tls_context::create_server(const tls_settings& s, bool http2) {
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) throw std::runtime_error("TLS: " + openssl_errors());
    std::shared_ptr<tls_context> result(new tls_context(ctx));

    auto fail = [](const std::string& what) -> void {
        throw std::runtime_error("TLS: " + what + ": " + openssl_errors());
    };
    int min = 0;
    if (s.min_version == "1.2") {
        min = TLS1_2_VERSION;
    } else if (s.min_version == "1.3") {
        min = TLS1_3_VERSION;
    } else {
        throw std::runtime_error("TLS: --tls-min-version must be 1.2 or 1.3, not '" +
                                 s.min_version + "'");
    }
    SSL_CTX_set_min_proto_version(ctx, min);
    // No renegotiation (a DoS lever and unneeded with 1.2+); compression off (CRIME).
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Idle connections give their record buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) {
        fail("bad --tls-ciphers '" + s.ciphers + "'");
    }
    if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
        fail("bad --tls-ciphersuites '" + s.ciphersuites + "'");
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) != 1) {
        fail("cannot load certificate " + s.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        fail("cannot load private key " + s.key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) fail("the key does not match the certificate");
    static int h2_marker;
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, http2 ? &h2_marker : nullptr);
    result->fingerprint_ = leaf_fingerprint(ctx);
    return result;
}

namespace {

// The client SSL_CTX both client factories share; `alpn` is a wire-format protocol list, or
// null to offer none.
SSL_CTX* new_client_ctx(const std::string& cafile, bool insecure, const unsigned char* alpn,
                        unsigned int alpn_len) {
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) throw std::runtime_error("TLS: " + openssl_errors());
    auto fail = [ctx](const std::string& what) {
        std::string message = what + openssl_errors();  // before the free touches the queue
        SSL_CTX_free(ctx);
        throw std::runtime_error(message);
    };
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
    if (!insecure) {
        if (!cafile.empty()) {
            if (SSL_CTX_load_verify_locations(ctx, cafile.c_str(), nullptr) != 1) {
                fail("TLS: cannot load CA certificates from " + cafile + ": ");
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            fail("TLS: cannot load the system CA store: ");
        }
    }
    if (alpn != nullptr && SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len) != 0) {  // 0: success
        fail("TLS: cannot set ALPN: ");
    }
    return ctx;
}

}  // namespace

std::shared_ptr<tls_context> tls_context::create_client(const std::string& cafile, bool insecure,
                                                        bool http2) {
    // Servers that route on ALPN (or insist on it) see that HTTP/1.1 (or h2) follows.
    const unsigned char* alpn = http2 ? alpn_h2_http11 : alpn_http11;
    const unsigned int alpn_len = http2 ? sizeof alpn_h2_http11 : sizeof alpn_http11;
    return std::shared_ptr<tls_context>(
        new tls_context(new_client_ctx(cafile, insecure, alpn, alpn_len)));
}

std::shared_ptr<tls_context> tls_context::create_stream_client(const std::string& cafile) {
    return std::shared_ptr<tls_context>(new tls_context(new_client_ctx(cafile, false, nullptr, 0)));
}

tls_context::~tls_context() {
    SSL_CTX_free(ctx_);
}

}  // namespace sockeye::net
