// Development certificates: a fresh EC P-256 key and a self-signed certificate for the
// given host names and IP literals, so `sockeye serve --tls-cert/--tls-key` can be tried
// locally without an external tool (the job mkcert does, minus installing a CA). The
// certificate is its own trust anchor: clients trust it explicitly (curl --cacert).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace sockeye::net {

struct dev_certificate_options {
    // DNS names and IPv4/IPv6 literals; all become subjectAltName entries, the first is
    // also the subject CN (when it fits the 64-character limit).
    std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
    int days = 825;             // 1..3650; 825 is the longest lifetime Apple platforms accept
    std::string out_dir = ".";  // must exist
    std::string cert_file = "cert.pem";
    std::string key_file = "key.pem";
    bool overwrite = false;  // replace existing files instead of refusing
};

struct dev_certificate_result {
    std::string cert_path;           // out_dir joined with cert_file ("cert.pem" for ".")
    std::string key_path;            // likewise; written with mode 0600
    std::string sha256_fingerprint;  // "AB:CD:...", as `openssl x509 -fingerprint -sha256`
    std::string not_after;           // UTC, ISO 8601: "2029-02-26T10:00:00Z"
};

// Thrown when a file would be replaced and overwrite is off, so callers can point at
// their own "force" switch.
class dev_certificate_exists_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Writes the key, then the certificate. Throws std::runtime_error (with OpenSSL's error
// strings where OpenSSL failed) and leaves no half-written pair behind.
dev_certificate_result create_dev_certificate(const dev_certificate_options& options);

// SHA-256 fingerprint of the first certificate in a PEM file, "AB:CD:..." (32 pairs).
std::string certificate_fingerprint_sha256(const std::string& cert_pem_path);

}  // namespace sockeye::net
