// Development key + self-signed certificate through OpenSSL 3's C API. Every OpenSSL object
// lives in a unique_ptr with its matching free function, so each early throw cleans up.
#include "net/dev_certificate.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <system_error>

namespace sockeye::net {

namespace {

template <auto Free>
struct openssl_deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};
template <typename T, auto Free>
using openssl_ptr = std::unique_ptr<T, openssl_deleter<Free>>;

using pkey_ptr = openssl_ptr<EVP_PKEY, EVP_PKEY_free>;
using x509_ptr = openssl_ptr<X509, X509_free>;
using x509_name_ptr = openssl_ptr<X509_NAME, X509_NAME_free>;
using bignum_ptr = openssl_ptr<BIGNUM, BN_free>;
using asn1_integer_ptr = openssl_ptr<ASN1_INTEGER, ASN1_INTEGER_free>;
using asn1_octet_string_ptr = openssl_ptr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using asn1_ia5_string_ptr = openssl_ptr<ASN1_IA5STRING, ASN1_IA5STRING_free>;
using asn1_bit_string_ptr = openssl_ptr<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using general_name_ptr = openssl_ptr<GENERAL_NAME, GENERAL_NAME_free>;
using general_names_ptr = openssl_ptr<GENERAL_NAMES, GENERAL_NAMES_free>;
using basic_constraints_ptr = openssl_ptr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using extended_key_usage_ptr = openssl_ptr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using bio_ptr = openssl_ptr<BIO, BIO_free_all>;

constexpr int max_days = 3650;
constexpr const char* organization = "Sockeye development certificate";

// OpenSSL reports failures through a thread-local queue; all of it goes into the message
// (the first entry is often generic, a later one says what actually went wrong).
std::string drain_openssl_errors() {
    std::string out;
    while (const unsigned long code = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

[[noreturn]] void fail_openssl(const std::string& what) {
    std::string message = what;
    const std::string detail = drain_openssl_errors();
    if (!detail.empty()) message += ": " + detail;
    throw std::runtime_error(message);
}

[[noreturn]] void fail_errno(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + std::strerror(err));
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

struct san_entry {
    std::string text;               // as given
    std::vector<unsigned char> ip;  // 4 or 16 bytes for an IP literal, empty for DNS
    std::string key;                // for duplicate detection: lowercase name or IP bytes
};

bool is_ldh(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Hostname rules (RFC 1123 labels) plus a leftmost "*" wildcard. Checked up front so a typo
// is reported in words rather than as a certificate that silently never matches.
void check_dns_name(const std::string& name) {
    const std::string quoted = "'" + name + "'";
    if (name.size() > 253) throw std::runtime_error("host name " + quoted + " is too long");
    if (std::any_of(name.begin(), name.end(), [](char c) { return (c & 0x80) != 0; })) {
        throw std::runtime_error("host name " + quoted +
                                 " is not ASCII; use its punycode (xn--) form");
    }
    if (name.find(':') != std::string::npos) {
        throw std::runtime_error(quoted + " is not a valid IPv6 address");
    }
    std::vector<std::string> labels;
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = name.find('.', start);
        labels.push_back(name.substr(start, dot == std::string::npos ? dot : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    // "127.1" or "300.1.2.3" failed inet_pton; as a DNS name it would never match either.
    if (std::all_of(labels.begin(), labels.end(), [](const std::string& l) {
            return !l.empty() &&
                   std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; });
        })) {
        throw std::runtime_error(quoted + " is not a valid IPv4 address");
    }
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const std::string& label = labels[i];
        if (i == 0 && label == "*") {
            // Verifiers refuse wildcards directly under a top-level domain.
            if (labels.size() < 3) {
                throw std::runtime_error("wildcard " + quoted +
                                         " needs at least two labels after '*.'");
            }
            continue;
        }
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
            !std::all_of(label.begin(), label.end(), is_ldh)) {
            throw std::runtime_error(
                "invalid host name " + quoted +
                " (labels of 1-63 letters, digits and inner hyphens, separated by dots)");
        }
    }
}

san_entry parse_host(const std::string& host) {
    if (host.empty()) throw std::runtime_error("empty host name");
    san_entry e{host, {}, {}};
    unsigned char buf[16];
    if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
        e.ip.assign(buf, buf + 4);
    } else if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
        e.ip.assign(buf, buf + 16);
    } else {
        check_dns_name(host);
        e.key = "dns:";
        for (char c : host) e.key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        return e;
    }
    // "::1" and "0::1" are the same address, so compare the bytes.
    e.key = "ip:" + std::string(e.ip.begin(), e.ip.end());
    return e;
}

std::vector<san_entry> parse_hosts(const std::vector<std::string>& hosts) {
    if (hosts.empty()) throw std::runtime_error("no host names given");
    std::vector<san_entry> out;
    for (const std::string& h : hosts) {
        san_entry e = parse_host(h);
        for (const san_entry& seen : out) {
            if (seen.key == e.key) {
                throw std::runtime_error("'" + h + "' is given twice (as '" + seen.text + "')");
            }
        }
        out.push_back(std::move(e));
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// Key and certificate
// ---------------------------------------------------------------------------------------

pkey_ptr generate_key() {
    // P-256: fast to generate and to sign with, and accepted by every browser and client.
    pkey_ptr key{EVP_EC_gen("P-256")};
    if (!key) fail_openssl("cannot generate an EC P-256 key");
    return key;
}

void set_random_serial(X509* cert) {
    // RFC 5280 wants a positive serial of at most 20 octets; browsers want it unpredictable.
    // Top bit clear (no sign padding) and the next one set, so it is always 16 octets.
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) fail_openssl("cannot get random bytes for the serial");
    raw[0] = static_cast<unsigned char>((raw[0] & 0x7f) | 0x40);
    bignum_ptr bn{BN_bin2bn(raw, sizeof raw, nullptr)};
    if (!bn) fail_openssl("cannot make the serial number");
    asn1_integer_ptr serial{BN_to_ASN1_INTEGER(bn.get(), nullptr)};
    if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
        fail_openssl("cannot set the serial number");
    }
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
        fail_openssl(std::string("cannot set the subject ") + field);
    }
}

void set_names(X509* cert, const std::string& first_host) {
    x509_name_ptr name{X509_NAME_new()};
    if (!name) fail_openssl("X509_NAME_new");
    add_name_entry(name.get(), "O", organization);
    // The CN is only informative (clients match the SANs), and X.520 caps it at 64
    // characters; a longer first name simply leaves it out.
    if (first_host.size() <= 64) add_name_entry(name.get(), "CN", first_host);
    // Self-signed: the issuer is the subject.
    if (X509_set_subject_name(cert, name.get()) != 1 ||
        X509_set_issuer_name(cert, name.get()) != 1) {
        fail_openssl("cannot set the subject and issuer names");
    }
}

void set_validity(X509* cert, int days) {
    // An hour of slack for clocks that run a little behind (VMs, containers).
    if (!X509_gmtime_adj(X509_getm_notBefore(cert), -60L * 60) ||
        !X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, nullptr)) {
        fail_openssl("cannot set the validity period");
    }
}

template <typename T>
void add_extension(X509* cert, int nid, T* value, bool critical, const char* what) {
    if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
        fail_openssl(std::string("cannot add the ") + what + " extension");
    }
}

void add_subject_alt_names(X509* cert, const std::vector<san_entry>& sans) {
    general_names_ptr names{GENERAL_NAMES_new()};
    if (!names) fail_openssl("GENERAL_NAMES_new");
    for (const san_entry& san : sans) {
        general_name_ptr gn{GENERAL_NAME_new()};
        if (!gn) fail_openssl("GENERAL_NAME_new");
        if (!san.ip.empty()) {
            asn1_octet_string_ptr ip{ASN1_OCTET_STRING_new()};
            if (!ip || ASN1_OCTET_STRING_set(ip.get(), san.ip.data(),
                                             static_cast<int>(san.ip.size())) != 1) {
                fail_openssl("cannot encode IP address " + san.text);
            }
            GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
        } else {
            asn1_ia5_string_ptr dns{ASN1_IA5STRING_new()};
            if (!dns || ASN1_STRING_set(dns.get(), san.text.data(),
                                        static_cast<int>(san.text.size())) != 1) {
                fail_openssl("cannot encode host name " + san.text);
            }
            GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns.release());
        }
        if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) fail_openssl("out of memory");
        gn.release();  // now owned by the stack
    }
    // Not critical: the subject has a CN or at least an O, so it is not empty.
    add_extension(cert, NID_subject_alt_name, names.get(), false, "subjectAltName");
}

void add_leaf_extensions(X509* cert) {
    // A leaf, not a CA: it cannot sign other certificates even if someone trusts it as one.
    basic_constraints_ptr bc{BASIC_CONSTRAINTS_new()};
    if (!bc) fail_openssl("BASIC_CONSTRAINTS_new");
    bc->ca = 0;
    add_extension(cert, NID_basic_constraints, bc.get(), true, "basicConstraints");

    // ECDHE with an ECDSA key only signs; keyEncipherment would be for RSA key transport.
    asn1_bit_string_ptr ku{ASN1_BIT_STRING_new()};
    if (!ku || ASN1_BIT_STRING_set_bit(ku.get(), 0 /* digitalSignature */, 1) != 1) {
        fail_openssl("cannot encode keyUsage");
    }
    add_extension(cert, NID_key_usage, ku.get(), true, "keyUsage");

    extended_key_usage_ptr eku{sk_ASN1_OBJECT_new_null()};
    if (!eku || sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth)) <= 0) {
        fail_openssl("cannot encode extendedKeyUsage");
    }
    add_extension(cert, NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");

    // RFC 5280 method 1: SHA-1 of the subjectPublicKey bits.
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_pubkey_digest(cert, EVP_sha1(), md, &md_len) != 1) {
        fail_openssl("cannot hash the public key");
    }
    asn1_octet_string_ptr skid{ASN1_OCTET_STRING_new()};
    if (!skid || ASN1_OCTET_STRING_set(skid.get(), md, static_cast<int>(md_len)) != 1) {
        fail_openssl("cannot encode subjectKeyIdentifier");
    }
    add_extension(cert, NID_subject_key_identifier, skid.get(), false, "subjectKeyIdentifier");
}

x509_ptr build_certificate(EVP_PKEY* key, const std::vector<san_entry>& sans, int days) {
    x509_ptr cert{X509_new()};
    if (!cert) fail_openssl("X509_new");
    if (X509_set_version(cert.get(), X509_VERSION_3) != 1) fail_openssl("cannot set version");
    set_random_serial(cert.get());
    set_names(cert.get(), sans.front().text);
    set_validity(cert.get(), days);
    if (X509_set_pubkey(cert.get(), key) != 1) fail_openssl("cannot set the public key");
    add_subject_alt_names(cert.get(), sans);
    add_leaf_extensions(cert.get());
    if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) fail_openssl("cannot sign the certificate");
    return cert;
}

std::string fingerprint_of(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1) {
        fail_openssl("cannot hash the certificate");
    }
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(md_len * 3);
    for (unsigned int i = 0; i < md_len; ++i) {
        if (i != 0) out += ':';
        out += hex[md[i] >> 4];
        out += hex[md[i] & 0x0f];
    }
    return out;
}

std::string iso_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) fail_openssl("cannot read a certificate time");
    char buf[32];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        throw std::runtime_error("cannot format a certificate time");
    }
    return buf;
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

// Removes the files written so far unless disarmed: a new key beside an old certificate (or
// the reverse) would only fail later with a confusing "key does not match" error.
class written_files {
  public:
    written_files() = default;
    written_files(const written_files&) = delete;
    written_files& operator=(const written_files&) = delete;
    ~written_files() {
        if (committed_) return;
        for (const std::string& p : paths_) ::unlink(p.c_str());
    }
    void add(const std::string& path) { paths_.push_back(path); }
    void commit() noexcept { committed_ = true; }

  private:
    std::vector<std::string> paths_;
    bool committed_ = false;
};

struct file_closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

// Opens `path` for writing. Without overwrite, O_EXCL makes "already exists" race-free.
// With `force_mode`, the mode is also applied to a file that already existed (O_TRUNC keeps
// the old mode), so replacing a world-readable key file does not leave the new key readable.
file_ptr open_output(const std::string& path, mode_t mode, bool overwrite, bool force_mode,
                     written_files& written) {
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    const int fd = ::open(path.c_str(), flags, mode);
    if (fd < 0) {
        const int err = errno;
        if (err == EEXIST) throw dev_certificate_exists_error(path + " already exists");
        fail_errno("cannot create " + path, err);
    }
    written.add(path);
    if (force_mode && ::fchmod(fd, mode) != 0) {
        const int err = errno;
        ::close(fd);
        fail_errno("cannot set the permissions of " + path, err);
    }
    std::FILE* f = ::fdopen(fd, "w");
    if (!f) {
        const int err = errno;
        ::close(fd);
        fail_errno("cannot write " + path, err);
    }
    return file_ptr{f};
}

// fclose is where buffered data reaches the file, so its result matters (a full disk).
void close_output(file_ptr f, const std::string& path) {
    const bool had_error = std::ferror(f.get()) != 0;
    const int rc = std::fclose(f.release());
    if (had_error || rc != 0) fail_errno("cannot write " + path, errno ? errno : EIO);
}

std::string join_path(const std::string& dir, const std::string& file) {
    // "cert.pem" reads better than "./cert.pem" in messages and suggested commands.
    if (dir.empty() || dir == ".") return file;
    return (std::filesystem::path(dir) / file).string();
}

void check_out_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(dir.empty() ? "." : dir, ec);
    if (st.type() == fs::file_type::not_found) {
        throw std::runtime_error("output directory " + dir + " does not exist");
    }
    if (ec) throw std::runtime_error("cannot access output directory " + dir + ": " + ec.message());
    if (st.type() != fs::file_type::directory) {
        throw std::runtime_error(dir + " is not a directory");
    }
}

bool path_exists(const std::string& path) {
    struct stat st;
    // lstat: a dangling symlink is in the way too (O_EXCL would refuse it).
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

dev_certificate_result create_dev_certificate(const dev_certificate_options& options) {
    ERR_clear_error();  // so a failure reports only its own errors

    if (options.days < 1 || options.days > max_days) {
        throw std::runtime_error("days must be between 1 and " + std::to_string(max_days) +
                                 ", not " + std::to_string(options.days));
    }
    const std::vector<san_entry> sans = parse_hosts(options.hosts);
    if (options.cert_file.empty() || options.key_file.empty()) {
        throw std::runtime_error("empty certificate or key file name");
    }
    check_out_dir(options.out_dir);

    dev_certificate_result result;
    result.cert_path = join_path(options.out_dir, options.cert_file);
    result.key_path = join_path(options.out_dir, options.key_file);
    if (std::filesystem::path(result.cert_path).lexically_normal() ==
        std::filesystem::path(result.key_path).lexically_normal()) {
        throw std::runtime_error("the certificate and the key need different file names");
    }
    // Checked before any work so that neither file is touched; O_EXCL below still guards
    // against one appearing in between.
    if (!options.overwrite) {
        for (const std::string* p : {&result.cert_path, &result.key_path}) {
            if (path_exists(*p)) throw dev_certificate_exists_error(*p + " already exists");
        }
    }

    // All the cryptography first: nothing is written unless it all succeeded.
    const pkey_ptr key = generate_key();
    const x509_ptr cert = build_certificate(key.get(), sans, options.days);
    result.sha256_fingerprint = fingerprint_of(cert.get());
    result.not_after = iso_time(X509_get0_notAfter(cert.get()));

    written_files written;
    // The key first, created 0600 from the start so it is never readable by others.
    file_ptr key_out = open_output(result.key_path, 0600, options.overwrite, true, written);
    if (PEM_write_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
        1) {
        fail_openssl("cannot write " + result.key_path);
    }
    close_output(std::move(key_out), result.key_path);

    file_ptr cert_out = open_output(result.cert_path, 0644, options.overwrite, false, written);
    if (PEM_write_X509(cert_out.get(), cert.get()) != 1) {
        fail_openssl("cannot write " + result.cert_path);
    }
    close_output(std::move(cert_out), result.cert_path);
    written.commit();
    return result;
}

std::string certificate_fingerprint_sha256(const std::string& cert_pem_path) {
    ERR_clear_error();
    bio_ptr bio{BIO_new_file(cert_pem_path.c_str(), "r")};
    if (!bio) fail_openssl("cannot open " + cert_pem_path);
    x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
    if (!cert) fail_openssl("no PEM certificate in " + cert_pem_path);
    return fingerprint_of(cert.get());
}

}  // namespace sockeye::net
