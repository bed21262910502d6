// The upgrade hook and routes over TLS: the hook sees that the request came over TLS and
// which server name the client asked for (SNI); a route answers over TLS like over TCP.
// The client is Sockeye's own, with certificate and host name verification on.
#include <gtest/gtest.h>
#include <sockeye/client.hpp>
#include <sockeye/server.hpp>

#include <filesystem>
#include <future>
#include <string>

#include "loopback_server.hpp"
#include "net/dev_certificate.hpp"

namespace sockeye {
namespace {

struct certificate {
    std::filesystem::path dir;
    net::dev_certificate_result files;
    certificate() {
        dir = std::filesystem::temp_directory_path() /
              ("sockeye-tls-hook-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        net::dev_certificate_options o;
        o.out_dir = dir.string();
        files = net::create_dev_certificate(o);
    }
    ~certificate() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
};

TEST(TlsUpgradeHook, SeesTlsAndTheServerName) {
    certificate cert;
    server_options o;
    o.tls_cert = cert.files.cert_path;
    o.tls_key = cert.files.key_path;
    std::promise<std::pair<bool, std::string>> seen;
    handlers h;
    h.on_open = [](connection& c) { c.send_text("hi"); };
    test::loopback_server s(o, h, [&](server& srv) {
        srv.on_upgrade([&](const upgrade_request& r, upgrade_reply reply) {
            seen.set_value({r.tls, r.server_name});
            reply.accept();
        });
    });

    std::string got;
    client_options co;
    co.url = "wss://localhost:" + std::to_string(s.port()) + "/";
    co.cacert = cert.files.cert_path;
    handlers ch;
    ch.on_message = [&](connection& c, message_type, std::span<const std::uint8_t> data) {
        got.assign(reinterpret_cast<const char*>(data.data()), data.size());
        c.close(1000, "");
    };
    std::string error;
    client cl(co, ch, [&](client_error, const std::string& m) { error = m; });
    cl.run();
    EXPECT_EQ(error, "");
    EXPECT_EQ(got, "hi");
    auto f = seen.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    const auto [tls, name] = f.get();
    EXPECT_TRUE(tls);
    EXPECT_EQ(name, "localhost");
}

}  // namespace
}  // namespace sockeye
