// The targets of `sockeye serve --proxy` and the --proxy-map file (apps/sockeye/proxy_target).
#include "proxy_target.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using sockeye::apps::parse_target;
using sockeye::apps::parse_target_map;
using sockeye::apps::proxy_target;

TEST(ProxyTarget, HostPortForms) {
    EXPECT_EQ(parse_target("127.0.0.1:5900"), (proxy_target{"127.0.0.1", 5900}));
    EXPECT_EQ(parse_target("  VNC.Example.org:1 "), (proxy_target{"vnc.example.org", 1}));
    EXPECT_EQ(parse_target("[::1]:65535"), (proxy_target{"::1", 65535}));
    EXPECT_EQ(parse_target("[::1]:65535")->text(), "[::1]:65535");
    EXPECT_EQ(parse_target("h:80")->text(), "h:80");
}

TEST(ProxyTarget, RefusesWhatIsNotOne) {
    for (const char* bad : {"", ":80", "host", "host:", "host:0", "host:65536", "host:123456",
                            "host:8a", "::1:80", "[::1]80", "[::1]:", "[h]:80", "[::1", "a/b:80",
                            "user@h:80", "h?:80", "h#:80", "h :80", "[::g]:80"}) {
        EXPECT_FALSE(parse_target(bad).has_value()) << bad;
    }
}

TEST(ProxyTarget, MapLinesCommentsAndErrors) {
    const auto m = parse_target_map("# comment\n\nalpha: 127.0.0.1:1\n  beta :  [::1]:2  \r\n");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m.at("alpha"), (proxy_target{"127.0.0.1", 1}));
    EXPECT_EQ(m.at("beta"), (proxy_target{"::1", 2}));
    EXPECT_TRUE(parse_target_map("").empty());
    const auto error_of = [](const char* text) {
        try {
            parse_target_map(text);
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error_of("a: h:1\nno colon\n"), "line 2: expected 'token: host:port'");
    EXPECT_EQ(error_of("a: h:1\na: h:2\n"), "line 2: the token is already in the map");
    EXPECT_EQ(error_of("a b: h:1\n").substr(0, 8), "line 1: ");
    EXPECT_EQ(error_of("a: nowhere\n"), "line 1: expected host:port after the token");
    EXPECT_EQ(error_of(": h:1\n").substr(0, 8), "line 1: ");
}
