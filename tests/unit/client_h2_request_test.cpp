#include "client/h2_request.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

using sockeye::client_detail::build_h2_request;
using sockeye::client_detail::h2_request_options;
using sockeye::client_detail::verify_h2_response;
using sockeye::protocol::owned_header;

std::vector<std::string> lines(const std::vector<owned_header>& h) {
    std::vector<std::string> out;
    for (const auto& [n, v] : h) out.push_back(n + ": " + v);
    return out;
}

TEST(ClientH2Request, ExtendedConnectPseudoHeadersFirst) {
    h2_request_options o;
    o.secure = true;
    o.authority = "chat.example.com:8443";
    o.target = "/room?x=1";
    const auto got = lines(build_h2_request(o));
    const std::vector<std::string> want = {":method: CONNECT",
                                           ":protocol: websocket",
                                           ":scheme: https",
                                           ":path: /room?x=1",
                                           ":authority: chat.example.com:8443",
                                           "sec-websocket-version: 13"};
    EXPECT_EQ(got, want);
}

TEST(ClientH2Request, EmptyTargetIsSlashAndPlainSchemeIsHttp) {
    h2_request_options o;
    o.authority = "h";
    const auto h = build_h2_request(o);
    EXPECT_EQ(h[2].value, "http");
    EXPECT_EQ(h[3].value, "/");
}

TEST(ClientH2Request, SubprotocolsOriginAndExtraHeadersLowerCased) {
    h2_request_options o;
    o.authority = "h";
    o.subprotocols = {"chat.v2", "chat"};
    o.origin = "https://example.test";
    o.extra_headers = {{"X-Trace-Id", "abc 123"}, {"Authorization", "Bearer t"}};
    const auto got = lines(build_h2_request(o));
    const std::vector<std::string> tail(got.begin() + 6, got.end());
    const std::vector<std::string> want = {"sec-websocket-protocol: chat.v2, chat",
                                           "origin: https://example.test", "x-trace-id: abc 123",
                                           "authorization: Bearer t"};
    EXPECT_EQ(tail, want);
}

TEST(ClientH2Request, NoHttp11UpgradeHeaders) {
    h2_request_options o;
    o.authority = "h";
    for (const auto& [n, v] : build_h2_request(o)) {
        EXPECT_NE(n, "sec-websocket-key");
        EXPECT_NE(n, "connection");
        EXPECT_NE(n, "upgrade");
        EXPECT_NE(n, "host");
    }
}

TEST(ClientH2Request, RejectsWhatHttp2Forbids) {
    for (const char* name : {"Connection", "Upgrade", "Keep-Alive", "Proxy-Connection",
                             "Transfer-Encoding", "TE", "Host"}) {
        h2_request_options o;
        o.authority = "h";
        o.extra_headers = {{name, "x"}};
        EXPECT_THROW(build_h2_request(o), std::invalid_argument) << name;
    }
}

TEST(ClientH2Request, RejectsCorruptingValues) {
    h2_request_options o;
    o.authority = "h";
    o.extra_headers = {{"X-A", "a\r\nb"}};
    EXPECT_THROW(build_h2_request(o), std::invalid_argument);
    o.extra_headers = {{"Bad Name", "v"}};
    EXPECT_THROW(build_h2_request(o), std::invalid_argument);
    o.extra_headers.clear();
    o.target = "/a b";
    EXPECT_THROW(build_h2_request(o), std::invalid_argument);
    o.target = "/";
    o.subprotocols = {"not a token"};
    EXPECT_THROW(build_h2_request(o), std::invalid_argument);
    o.subprotocols.clear();
    o.origin = std::string("x\0y", 3);
    EXPECT_THROW(build_h2_request(o), std::invalid_argument);
}

TEST(ClientH2Response, Status200Accepted) {
    const std::vector<std::string> offered = {"a", "b"};
    const std::vector<owned_header> h = {{"sec-websocket-protocol", "b"}, {"server", "x"}};
    const auto r = verify_h2_response(200, h, offered);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.subprotocol, "b");
    EXPECT_TRUE(verify_h2_response(200, {}, offered).ok);
}

TEST(ClientH2Response, OtherStatusRefused) {
    for (int status : {101, 201, 204, 400, 403, 404, 501}) {
        const auto r = verify_h2_response(status, {}, {});
        EXPECT_FALSE(r.ok) << status;
        EXPECT_NE(r.error.find(std::to_string(status)), std::string::npos);
    }
}

TEST(ClientH2Response, SubprotocolAndExtensionChecks) {
    const std::vector<std::string> offered = {"a"};
    const std::vector<owned_header> not_offered = {{"sec-websocket-protocol", "z"}};
    EXPECT_FALSE(verify_h2_response(200, not_offered, offered).ok);
    const std::vector<owned_header> list = {{"sec-websocket-protocol", "a, a"}};
    EXPECT_FALSE(verify_h2_response(200, list, offered).ok);
    const std::vector<owned_header> twice = {{"sec-websocket-protocol", "a"},
                                             {"sec-websocket-protocol", "a"}};
    EXPECT_FALSE(verify_h2_response(200, twice, offered).ok);
    const std::vector<owned_header> ext = {{"sec-websocket-extensions", "permessage-deflate"}};
    const auto r = verify_h2_response(200, ext, offered);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("extension"), std::string::npos);
}

}  // namespace
