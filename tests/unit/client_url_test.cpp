#include "client/url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using sockeye::client_detail::host_kind;
using sockeye::client_detail::parse_url;

TEST(ClientUrl, PlainWsWithDefaults) {
    const auto u = parse_url("ws://example.com");
    EXPECT_FALSE(u.secure);
    EXPECT_EQ(u.host, "example.com");
    EXPECT_EQ(u.kind, host_kind::name);
    EXPECT_EQ(u.port, 80);
    EXPECT_EQ(u.target, "/");
    EXPECT_EQ(u.host_header(), "example.com");
    EXPECT_EQ(u.to_string(), "ws://example.com/");
}

TEST(ClientUrl, WssDefaultPortAndPathQuery) {
    const auto u = parse_url("wss://Chat.Example.COM/room/1?user=ann&x=%20");
    EXPECT_TRUE(u.secure);
    EXPECT_EQ(u.host, "chat.example.com");
    EXPECT_EQ(u.port, 443);
    EXPECT_EQ(u.target, "/room/1?user=ann&x=%20");
    EXPECT_EQ(u.host_header(), "chat.example.com");
}

TEST(ClientUrl, ExplicitPortsShowInHostOnlyWhenNotDefault) {
    EXPECT_EQ(parse_url("ws://h:8080/").host_header(), "h:8080");
    EXPECT_EQ(parse_url("ws://h:80/").host_header(), "h");
    EXPECT_EQ(parse_url("wss://h:443").host_header(), "h");
    EXPECT_EQ(parse_url("wss://h:80").host_header(), "h:80");
}

TEST(ClientUrl, HttpAndHttpsAreAliases) {
    EXPECT_FALSE(parse_url("http://h").secure);
    EXPECT_TRUE(parse_url("HTTPS://h").secure);
    EXPECT_EQ(parse_url("https://h").port, 443);
}

TEST(ClientUrl, Ipv4Literal) {
    const auto u = parse_url("ws://127.0.0.1:9001");
    EXPECT_EQ(u.kind, host_kind::ipv4);
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.port, 9001);
    EXPECT_EQ(u.host_header(), "127.0.0.1:9001");
}

TEST(ClientUrl, Ipv6LiteralInBrackets) {
    const auto u = parse_url("wss://[::1]:8443/x");
    EXPECT_EQ(u.kind, host_kind::ipv6);
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 8443);
    EXPECT_EQ(u.host_header(), "[::1]:8443");
    EXPECT_EQ(u.to_string(), "wss://[::1]:8443/x");
    EXPECT_EQ(parse_url("ws://[2001:DB8::1]").host_header(), "[2001:db8::1]");
}

TEST(ClientUrl, QueryWithoutPathGetsASlash) {
    EXPECT_EQ(parse_url("ws://h?a=1").target, "/?a=1");
    EXPECT_EQ(parse_url("ws://h:1?a=1").target, "/?a=1");
}

TEST(ClientUrl, SpacesAndNonAsciiArePercentEncoded) {
    EXPECT_EQ(parse_url("ws://h/a b").target, "/a%20b");
    EXPECT_EQ(parse_url("ws://h/\xc3\xa9").target, "/%C3%A9");
}

void expect_rejected(const std::string& text, const std::string& needle) {
    try {
        parse_url(text);
        ADD_FAILURE() << text << " was accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << text << ": " << e.what();
    }
}

TEST(ClientUrl, RejectsWithClearErrors) {
    expect_rejected("example.com", "expected ws://");
    expect_rejected("ftp://example.com", "unsupported scheme 'ftp'");
    expect_rejected("ws://user:pw@example.com/", "user information");
    expect_rejected("ws://example.com/#frag", "fragments");
    expect_rejected("ws://", "missing host");
    expect_rejected("ws://:80/", "missing host");
    expect_rejected("ws://h:0", "port out of range");
    expect_rejected("ws://h:65536", "port out of range");
    expect_rejected("ws://h:", "invalid port");
    expect_rejected("ws://h:8x", "invalid port");
    expect_rejected("ws://[::1", "unterminated");
    expect_rejected("ws://[nope]:80", "not an IPv6 address");
    expect_rejected("ws://[::1]x", "after ']'");
    expect_rejected("ws://::1/", "IPv6 addresses go in brackets");
    expect_rejected("ws://256.1.1.1/", "not an IPv4 address");
    expect_rejected("ws://ex ample.com/", "invalid character");
}

}  // namespace
