// `sockeye cert`: a development key and self-signed certificate for `sockeye serve --tls-*`.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "net/dev_certificate.hpp"

namespace sockeye::apps {

namespace {

// Paths go into commands the user copies, so anything beyond plain characters is quoted.
std::string shell_quote(const std::string& s) {
    const bool plain = !s.empty() && s.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789@%+=:,./-_") == std::string::npos;
    if (plain) return s;
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

// The name to show in the example URL: the first that is not a wildcard, IPv6 in brackets.
std::string url_host(const std::vector<std::string>& hosts) {
    std::string host = hosts.front();
    for (const std::string& h : hosts) {
        if (h.rfind("*.", 0) != 0) {
            host = h;
            break;
        }
    }
    if (host.rfind("*.", 0) == 0) host = "www" + host.substr(1);
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return host;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& s : items) {
        if (!out.empty()) out += ", ";
        out += s;
    }
    return out;
}

}  // namespace

command_runner add_cert_command(CLI::App& app) {
    auto opts = std::make_shared<net::dev_certificate_options>();
    auto* cert = app.add_subcommand(
        "cert", "Create a development private key and self-signed certificate for TLS");
    cert->add_option("--host", opts->hosts,
                     "Name or IP address the certificate is valid for (repeatable)")
        ->delimiter(',')
        ->capture_default_str();
    cert->add_option("--out", opts->out_dir, "Folder for cert.pem and key.pem (created if missing)")
        ->capture_default_str();
    cert->add_option("--days", opts->days, "Days until the certificate expires")
        ->capture_default_str()
        ->check(CLI::Range(1, 3650));
    cert->add_flag("--force", opts->overwrite, "Replace an existing cert.pem / key.pem");

    return [opts, cert]() -> int {
        if (!cert->parsed()) return -1;
        try {
            namespace fs = std::filesystem;
            std::error_code ec;
            if (!opts->out_dir.empty() && !fs::exists(opts->out_dir, ec)) {
                fs::create_directories(opts->out_dir, ec);
                if (ec) {
                    throw std::runtime_error("cannot create " + opts->out_dir + ": " +
                                             ec.message());
                }
            }
            const net::dev_certificate_result r = net::create_dev_certificate(*opts);
            const std::string cert_path = shell_quote(r.cert_path);
            std::printf("created %s (valid until %s, SHA-256 %s) and %s\n", r.cert_path.c_str(),
                        r.not_after.substr(0, 10).c_str(), r.sha256_fingerprint.c_str(),
                        r.key_path.c_str());
            std::printf("names: %s\n", join(opts->hosts).c_str());
            std::printf("run:   sockeye serve --tls-cert %s --tls-key %s\n", cert_path.c_str(),
                        shell_quote(r.key_path).c_str());
            std::printf(
                "trust: curl --cacert %s https://%s:8080/   (browsers: import %s, or use "
                "--ignore-certificate-errors for tests)\n",
                cert_path.c_str(), url_host(opts->hosts).c_str(), r.cert_path.c_str());
            return 0;
        } catch (const net::dev_certificate_exists_error& e) {
            std::fprintf(stderr, "sockeye cert: %s (use --force to replace it)\n", e.what());
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "sockeye cert: %s\n", e.what());
            return 1;
        }
    };
}

}  // namespace sockeye::apps
