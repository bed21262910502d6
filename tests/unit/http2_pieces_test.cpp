// The pure pieces of the HTTP/2 front door: the RFC 8441 handshake check and the HTTP/1.1
// answer turned into an h2 header list.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "protocol/handshake.hpp"
#include "server/http1_head_to_h2.hpp"

namespace {

using namespace sockeye::protocol;
using sockeye::server_detail::connection_specific;
using sockeye::server_detail::split_http1_head;

handshake_result check(std::vector<http_header> headers,
                       const server_handshake_options& opts = {}) {
    const request_head head{"CONNECT", "/chat", 2, 0, headers};
    return validate_h2_upgrade(head, opts);
}

const owned_header* find(const handshake_result& r, std::string_view name) {
    for (const auto& h : r.headers) {
        if (h.name.size() == name.size() &&
            std::equal(h.name.begin(), h.name.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            return &h;
        }
    }
    return nullptr;
}

TEST(H2Upgrade, AcceptedWithoutHttp1UpgradeHeaders) {
    const auto r = check({{"host", "example.com"}, {"sec-websocket-version", "13"}});
    ASSERT_TRUE(r.accepted()) << r.reason;
    EXPECT_EQ(r.status, 101);
    // RFC 8441 §5: no Upgrade, Connection or Sec-WebSocket-Accept on h2; no key needed.
    EXPECT_EQ(find(r, "Sec-WebSocket-Accept"), nullptr);
    EXPECT_EQ(find(r, "Upgrade"), nullptr);
    EXPECT_EQ(find(r, "Connection"), nullptr);
    EXPECT_TRUE(r.subprotocol.empty());
    EXPECT_TRUE(r.headers.empty());
}

TEST(H2Upgrade, VersionOtherThan13Is426WithTheVersion) {
    for (const auto* v : {"8", "12", "14", ""}) {
        const auto r = check({{"host", "example.com"}, {"sec-websocket-version", v}});
        EXPECT_EQ(r.status, 426) << v;
        const auto* h = find(r, "Sec-WebSocket-Version");
        ASSERT_NE(h, nullptr) << v;
        EXPECT_EQ(h->value, "13");
    }
    const auto missing = check({{"host", "example.com"}});
    EXPECT_EQ(missing.status, 426);
    ASSERT_NE(find(missing, "Sec-WebSocket-Version"), nullptr);
    const auto twice = check({{"host", "example.com"},
                              {"sec-websocket-version", "13"},
                              {"sec-websocket-version", "13"}});
    EXPECT_EQ(twice.status, 400);
}

TEST(H2Upgrade, HostRequired) {
    EXPECT_EQ(check({{"sec-websocket-version", "13"}}).status, 400);
    EXPECT_EQ(check({{"host", ""}, {"sec-websocket-version", "13"}}).status, 400);
}

TEST(H2Upgrade, OriginAllowList) {
    server_handshake_options opts;
    opts.allowed_origins = {"https://good.example"};
    const std::vector<http_header> base{{"host", "x"}, {"sec-websocket-version", "13"}};
    auto with = [&](std::string_view origin) {
        auto h = base;
        h.push_back({"origin", origin});
        return check(h, opts);
    };
    EXPECT_TRUE(with("https://good.example").accepted());
    EXPECT_TRUE(with("HTTPS://GOOD.EXAMPLE").accepted());  // case-insensitive
    EXPECT_EQ(with("https://evil.example").status, 403);
    EXPECT_EQ(with("https://good.example.evil").status, 403);
    EXPECT_EQ(check(base, opts).status, 403);  // an allow-list needs an Origin
    EXPECT_TRUE(check(base).accepted());        // no allow-list: none needed
}

TEST(H2Upgrade, SubprotocolServerPreferenceWins) {
    server_handshake_options opts;
    opts.subprotocols = {"v2.chat", "chat"};
    const auto r = check({{"host", "x"},
                          {"sec-websocket-version", "13"},
                          {"sec-websocket-protocol", "chat, v2.chat"}},
                         opts);
    ASSERT_TRUE(r.accepted());
    EXPECT_EQ(r.subprotocol, "v2.chat");
    const auto* h = find(r, "Sec-WebSocket-Protocol");
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->value, "v2.chat");
    EXPECT_EQ(find(r, "Upgrade"), nullptr);

    const auto none = check({{"host", "x"},
                             {"sec-websocket-version", "13"},
                             {"sec-websocket-protocol", "mqtt"}},
                            opts);
    ASSERT_TRUE(none.accepted());
    EXPECT_TRUE(none.subprotocol.empty());
    EXPECT_EQ(find(none, "Sec-WebSocket-Protocol"), nullptr);  // never an empty value
}

TEST(Http1HeadToH2, StatusHeadersBody) {
    int status = 0;
    std::vector<owned_header> headers;
    const std::string text =
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
        "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Custom:  spaced\r\n\r\nnot found\n";
    const auto body = split_http1_head(text, status, headers);
    EXPECT_EQ(status, 404);
    EXPECT_EQ(text.substr(body), "not found\n");
    ASSERT_EQ(headers.size(), 3u);
    EXPECT_EQ(headers[0].name, "content-type");
    EXPECT_EQ(headers[0].value, "text/plain");
    EXPECT_EQ(headers[1].name, "content-length");
    EXPECT_EQ(headers[1].value, "10");
    EXPECT_EQ(headers[2].name, "x-custom");
    EXPECT_EQ(headers[2].value, "spaced");
}

TEST(Http1HeadToH2, ConnectionSpecificFieldsDropped) {
    int status = 0;
    std::vector<owned_header> headers;
    const std::string text =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Transfer-Encoding: chunked\r\nProxy-Connection: close\r\nVary: origin\r\n\r\n";
    EXPECT_EQ(split_http1_head(text, status, headers), text.size());
    EXPECT_EQ(status, 101);
    ASSERT_EQ(headers.size(), 1u);
    EXPECT_EQ(headers[0].name, "vary");
    for (const auto* n : {"connection", "KEEP-ALIVE", "Proxy-Connection", "transfer-encoding",
                          "Upgrade"}) {
        EXPECT_TRUE(connection_specific(n)) << n;
    }
    for (const auto* n : {"content-length", "connectionx", "upgrade-insecure-requests", ""}) {
        EXPECT_FALSE(connection_specific(n)) << n;
    }
}

TEST(Http1HeadToH2, IncompleteOrMalformedIs500) {
    for (const std::string_view text :
         {std::string_view{""}, std::string_view{"HTTP/1.1 200 OK\r\nA: b\r\n"},
          std::string_view{"HTTP/1.1"}, std::string_view{"HTTP/1.1 2x0 OK\r\n\r\n"}}) {
        int status = 0;
        std::vector<owned_header> headers;
        const auto at = split_http1_head(text, status, headers);
        EXPECT_EQ(status, 500) << text;
        if (text.find("\r\n\r\n") == std::string_view::npos) {
            EXPECT_EQ(at, text.size());
            EXPECT_TRUE(headers.empty());
        }
    }
    int status = 0;
    std::vector<owned_header> headers;
    const std::string_view no_colon = "HTTP/1.1 204 No Content\r\nnot a header\r\nA: 1\r\n\r\n";
    EXPECT_EQ(split_http1_head(no_colon, status, headers), no_colon.size());
    EXPECT_EQ(status, 204);
    ASSERT_EQ(headers.size(), 1u);
    EXPECT_EQ(headers[0].name, "a");
}

}  // namespace
