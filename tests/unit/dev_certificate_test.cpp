// Development certificates: generated into a fresh temporary folder, then read back and
// checked with OpenSSL itself (key match, SANs, validity, extensions, chain verification).
#include "net/dev_certificate.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace sockeye::net {
namespace {

namespace fs = std::filesystem;

struct x509_free_fn {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct pkey_free_fn {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct bio_free_fn {
    void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
struct store_free_fn {
    void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct store_ctx_free_fn {
    void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};
struct names_free_fn {
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
struct bc_free_fn {
    void operator()(BASIC_CONSTRAINTS* p) const noexcept { BASIC_CONSTRAINTS_free(p); }
};
struct time_free_fn {
    void operator()(ASN1_TIME* p) const noexcept { ASN1_TIME_free(p); }
};
using x509_ptr = std::unique_ptr<X509, x509_free_fn>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free_fn>;
using bio_ptr = std::unique_ptr<BIO, bio_free_fn>;

x509_ptr load_cert(const std::string& path) {
    bio_ptr bio{BIO_new_file(path.c_str(), "r")};
    if (!bio) return nullptr;
    return x509_ptr{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

pkey_ptr load_key(const std::string& path) {
    bio_ptr bio{BIO_new_file(path.c_str(), "r")};
    if (!bio) return nullptr;
    return pkey_ptr{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

unsigned permissions(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0xffff;
    return st.st_mode & 07777;
}

// The SANs as "DNS:name" / "IP:text" in certificate order.
std::vector<std::string> subject_alt_names(X509* cert) {
    std::unique_ptr<GENERAL_NAMES, names_free_fn> names{static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))};
    std::vector<std::string> out;
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        int type = 0;
        const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
        const unsigned char* data = ASN1_STRING_get0_data(value);
        const int len = ASN1_STRING_length(value);
        if (type == GEN_DNS) {
            out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(data), len));
        } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
            char text[INET6_ADDRSTRLEN];
            inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text, sizeof text);
            out.push_back(std::string("IP:") + text);
        } else {
            out.push_back("other:" + std::to_string(type));
        }
    }
    return out;
}

// X509_V_OK, or the verification error, with the certificate as its own trust anchor.
int verify_self(X509* cert, const std::string& host, const std::string& ip) {
    std::unique_ptr<X509_STORE, store_free_fn> store{X509_STORE_new()};
    std::unique_ptr<X509_STORE_CTX, store_ctx_free_fn> ctx{X509_STORE_CTX_new()};
    if (!store || !ctx || X509_STORE_add_cert(store.get(), cert) != 1 ||
        X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
        return -1;
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    // As a TLS client checks a server: the purpose requires the serverAuth EKU.
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (!host.empty() && X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) != 1) return -2;
    if (!ip.empty() && X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str()) != 1) return -3;
    if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
    return X509_STORE_CTX_get_error(ctx.get());
}

std::string fingerprint_by_hand(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
    std::string out;
    char byte[4];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(byte, sizeof byte, i + 1 < len ? "%02X:" : "%02X", md[i]);
        out += byte;
    }
    return out;
}

class DevCertificate : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "sockeye-cert-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
        opts_.out_dir = dir_;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

    std::string dir_;
    dev_certificate_options opts_;
};

TEST_F(DevCertificate, KeyMatchesCertificate) {
    const dev_certificate_result r = create_dev_certificate(opts_);
    EXPECT_EQ(r.cert_path, path("cert.pem"));
    EXPECT_EQ(r.key_path, path("key.pem"));
    x509_ptr cert = load_cert(r.cert_path);
    pkey_ptr key = load_key(r.key_path);
    ASSERT_TRUE(cert);
    ASSERT_TRUE(key);
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);

    EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
    char group[64] = {};
    ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof group, nullptr), 1);
    EXPECT_STREQ(group, "prime256v1");
    EXPECT_NE(slurp(r.key_path).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);

    EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
    EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
    EXPECT_EQ(X509_self_signed(cert.get(), 1), 1);

    // Positive, 16 octets, and different every time.
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);
    EXPECT_EQ(ASN1_STRING_length(serial), 16);
    dev_certificate_options other = opts_;
    other.cert_file = "cert2.pem";
    other.key_file = "key2.pem";
    create_dev_certificate(other);
    x509_ptr cert2 = load_cert(path("cert2.pem"));
    ASSERT_TRUE(cert2);
    EXPECT_NE(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(cert2.get())), 0);
    EXPECT_NE(X509_check_private_key(cert2.get(), key.get()), 1);

    // Subject = issuer: O and CN = first host.
    char cn[128] = {};
    char org[128] = {};
    X509_NAME* subject = X509_get_subject_name(cert.get());
    X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn);
    X509_NAME_get_text_by_NID(subject, NID_organizationName, org, sizeof org);
    EXPECT_STREQ(cn, "localhost");
    EXPECT_STREQ(org, "Sockeye development certificate");
    EXPECT_EQ(X509_NAME_cmp(subject, X509_get_issuer_name(cert.get())), 0);
}

TEST_F(DevCertificate, DefaultNamesAreLoopback) {
    const dev_certificate_result r = create_dev_certificate(opts_);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);
    EXPECT_EQ(subject_alt_names(cert.get()),
              (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"}));
}

TEST_F(DevCertificate, SubjectAltNamesAreExactlyTheRequestedNames) {
    opts_.hosts = {"example.test", "10.1.2.3", "2001:db8::7", "*.apps.example.test", "Dev-Box"};
    const dev_certificate_result r = create_dev_certificate(opts_);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);
    EXPECT_EQ(subject_alt_names(cert.get()),
              (std::vector<std::string>{"DNS:example.test", "IP:10.1.2.3", "IP:2001:db8::7",
                                        "DNS:*.apps.example.test", "DNS:Dev-Box"}));
    char cn[128] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
    EXPECT_STREQ(cn, "example.test");
}

TEST_F(DevCertificate, ValidityWindowIsDaysFromNow) {
    opts_.days = 30;
    const std::time_t before = std::time(nullptr);
    const dev_certificate_result r = create_dev_certificate(opts_);
    const std::time_t after = std::time(nullptr);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);

    auto seconds_from = [](std::time_t t, const ASN1_TIME* to) {
        std::unique_ptr<ASN1_TIME, time_free_fn> from{ASN1_TIME_set(nullptr, t)};
        int days = 0;
        int secs = 0;
        EXPECT_EQ(ASN1_TIME_diff(&days, &secs, from.get(), to), 1);
        return static_cast<long>(days) * 86400 + secs;
    };
    // notBefore is an hour back (clock skew); notAfter is `days` ahead.
    EXPECT_LE(seconds_from(before, X509_get0_notBefore(cert.get())), -3600);
    EXPECT_GE(seconds_from(after, X509_get0_notBefore(cert.get())), -3600);
    EXPECT_GE(seconds_from(before, X509_get0_notAfter(cert.get())), 30L * 86400);
    EXPECT_LE(seconds_from(after, X509_get0_notAfter(cert.get())), 30L * 86400);

    // The reported end is the certificate's, in ISO 8601 UTC.
    EXPECT_TRUE(std::regex_match(r.not_after, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
        << r.not_after;
    std::tm tm{};
    ASSERT_EQ(ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm), 1);
    char expected[32];
    std::strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%SZ", &tm);
    EXPECT_EQ(r.not_after, expected);
}

TEST_F(DevCertificate, ExtensionsMakeAServerLeaf) {
    const dev_certificate_result r = create_dev_certificate(opts_);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);

    int critical = -1;
    std::unique_ptr<BASIC_CONSTRAINTS, bc_free_fn> bc{static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(cert.get(), NID_basic_constraints, &critical, nullptr))};
    ASSERT_TRUE(bc);
    EXPECT_EQ(critical, 1);
    EXPECT_EQ(bc->ca, 0);
    EXPECT_EQ(X509_check_ca(cert.get()), 0);

    EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
    const int ku_index = X509_get_ext_by_NID(cert.get(), NID_key_usage, -1);
    ASSERT_GE(ku_index, 0);
    EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert.get(), ku_index)), 1);

    EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));

    const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(cert.get());
    ASSERT_NE(skid, nullptr);
    EXPECT_EQ(ASN1_STRING_length(skid), 20);

    EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
    EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 0);
}

TEST_F(DevCertificate, KeyFileIsPrivate) {
    const dev_certificate_result r = create_dev_certificate(opts_);
    EXPECT_EQ(permissions(r.key_path), 0600u);
    EXPECT_EQ(permissions(r.cert_path) & 0022u, 0u);  // umask can only remove bits
    EXPECT_EQ(permissions(r.cert_path) & 0400u, 0400u);

    // Replacing a world-readable key file tightens it instead of inheriting its mode.
    ASSERT_EQ(::chmod(r.key_path.c_str(), 0644), 0);
    opts_.overwrite = true;
    create_dev_certificate(opts_);
    EXPECT_EQ(permissions(r.key_path), 0600u);
}

TEST_F(DevCertificate, RefusesToOverwriteWithoutForce) {
    const dev_certificate_result first = create_dev_certificate(opts_);
    const std::string cert_before = slurp(first.cert_path);
    const std::string key_before = slurp(first.key_path);

    EXPECT_THROW(create_dev_certificate(opts_), dev_certificate_exists_error);
    EXPECT_EQ(slurp(first.cert_path), cert_before);
    EXPECT_EQ(slurp(first.key_path), key_before);

    try {
        create_dev_certificate(opts_);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos) << e.what();
    }

    // Either file alone is enough to refuse, and the other is not created.
    ASSERT_TRUE(fs::remove(first.cert_path));
    EXPECT_THROW(create_dev_certificate(opts_), dev_certificate_exists_error);
    EXPECT_FALSE(fs::exists(first.cert_path));
    EXPECT_EQ(slurp(first.key_path), key_before);

    opts_.overwrite = true;
    const dev_certificate_result second = create_dev_certificate(opts_);
    EXPECT_NE(slurp(second.cert_path), cert_before);
    EXPECT_NE(slurp(second.key_path), key_before);
    EXPECT_NE(second.sha256_fingerprint, first.sha256_fingerprint);
    x509_ptr cert = load_cert(second.cert_path);
    pkey_ptr key = load_key(second.key_path);
    ASSERT_TRUE(cert && key);
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST_F(DevCertificate, MissingOrBadOutDirIsAnError) {
    opts_.out_dir = path("does-not-exist");
    try {
        create_dev_certificate(opts_);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("does-not-exist"), std::string::npos) << e.what();
    }

    std::ofstream(path("plain-file")) << "x";
    opts_.out_dir = path("plain-file");
    EXPECT_THROW(create_dev_certificate(opts_), std::runtime_error);
}

TEST_F(DevCertificate, LeavesNoKeyBehindWhenTheCertificateCannotBeWritten) {
    // The key is written first; the certificate's folder does not exist.
    opts_.cert_file = "missing/cert.pem";
    try {
        create_dev_certificate(opts_);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot create"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(DevCertificate, RejectsBadOptionsBeforeWritingAnything) {
    const std::vector<std::pair<std::string, dev_certificate_options>> cases = [&] {
        std::vector<std::pair<std::string, dev_certificate_options>> v;
        auto with = [&](const std::string& what, auto change) {
            dev_certificate_options o = opts_;
            change(o);
            v.emplace_back(what, o);
        };
        with("days 0", [](auto& o) { o.days = 0; });
        with("days 3651", [](auto& o) { o.days = 3651; });
        with("no hosts", [](auto& o) { o.hosts.clear(); });
        with("empty host", [](auto& o) { o.hosts = {""}; });
        with("space", [](auto& o) { o.hosts = {"bad name"}; });
        with("bad IPv4", [](auto& o) { o.hosts = {"300.1.2.3"}; });
        with("bad IPv6", [](auto& o) { o.hosts = {"fe80::1%eth0"}; });
        with("non-ASCII", [](auto& o) {
            o.hosts = {
                "b\xC3\xBC"
                "cher.test"};
        });
        with("leading hyphen", [](auto& o) { o.hosts = {"-x.test"}; });
        with("empty label", [](auto& o) { o.hosts = {"a..test"}; });
        with("bare wildcard", [](auto& o) { o.hosts = {"*.test"}; });
        with("duplicate", [](auto& o) { o.hosts = {"localhost", "LOCALHOST"}; });
        with("duplicate IP", [](auto& o) { o.hosts = {"::1", "0:0::1"}; });
        with("same file", [](auto& o) { o.key_file = o.cert_file; });
        return v;
    }();
    for (const auto& [what, o] : cases) {
        EXPECT_THROW(create_dev_certificate(o), std::runtime_error) << what;
    }
    EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(DevCertificate, FingerprintHelperMatchesX509Digest) {
    const dev_certificate_result r = create_dev_certificate(opts_);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);
    const std::string expected = fingerprint_by_hand(cert.get());
    // `openssl x509 -fingerprint -sha256` style: 32 upper-case hex pairs joined by colons.
    EXPECT_TRUE(std::regex_match(expected, std::regex("([0-9A-F]{2}:){31}[0-9A-F]{2}")));
    EXPECT_EQ(certificate_fingerprint_sha256(r.cert_path), expected);
    EXPECT_EQ(r.sha256_fingerprint, expected);
}

TEST_F(DevCertificate, FingerprintOfMissingOrNonCertificateFileThrows) {
    EXPECT_THROW(certificate_fingerprint_sha256(path("nope.pem")), std::runtime_error);
    const dev_certificate_result r = create_dev_certificate(opts_);
    try {
        certificate_fingerprint_sha256(r.key_path);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(r.key_path), std::string::npos) << e.what();
    }
}

TEST_F(DevCertificate, VerifiesAsItsOwnTrustAnchorForItsNamesOnly) {
    const dev_certificate_result r = create_dev_certificate(opts_);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);
    EXPECT_EQ(verify_self(cert.get(), "localhost", ""), X509_V_OK);
    EXPECT_EQ(verify_self(cert.get(), "", "127.0.0.1"), X509_V_OK);
    EXPECT_EQ(verify_self(cert.get(), "", "::1"), X509_V_OK);
    EXPECT_EQ(verify_self(cert.get(), "example.com", ""), X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(verify_self(cert.get(), "", "127.0.0.2"), X509_V_ERR_IP_ADDRESS_MISMATCH);
    // An IP literal is only an IP SAN, never matched as a DNS name.
    EXPECT_EQ(verify_self(cert.get(), "127.0.0.1", ""), X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(DevCertificate, WildcardCoversOneLabel) {
    opts_.hosts = {"*.apps.example.test"};
    const dev_certificate_result r = create_dev_certificate(opts_);
    x509_ptr cert = load_cert(r.cert_path);
    ASSERT_TRUE(cert);
    EXPECT_EQ(verify_self(cert.get(), "web.apps.example.test", ""), X509_V_OK);
    EXPECT_EQ(verify_self(cert.get(), "a.b.apps.example.test", ""), X509_V_ERR_HOSTNAME_MISMATCH);
}

}  // namespace
}  // namespace sockeye::net
