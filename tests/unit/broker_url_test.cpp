#include "pubsub/broker_url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using sockeye::pubsub::broker_url;
using sockeye::pubsub::parse_broker_url;

broker_url parse_ok(std::string_view text) {
    broker_url url;
    std::string error;
    EXPECT_TRUE(parse_broker_url(text, url, error)) << text << ": " << error;
    return url;
}

std::string parse_error(std::string_view text) {
    broker_url url;
    url.host = "untouched";
    std::string error;
    EXPECT_FALSE(parse_broker_url(text, url, error)) << text;
    EXPECT_EQ(url.host, "untouched") << "a failed parse must leave the output alone";
    EXPECT_FALSE(error.empty());
    return error;
}

TEST(BrokerUrl, HostOnlyTakesTheDefaults) {
    const auto url = parse_ok("redis://127.0.0.1");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.port, 6379);
    EXPECT_EQ(url.password, "");
    EXPECT_EQ(url.db, 0);
}

TEST(BrokerUrl, PortAndDatabase) {
    const auto url = parse_ok("redis://localhost:7000/3");
    EXPECT_EQ(url.host, "localhost");
    EXPECT_EQ(url.port, 7000);
    EXPECT_EQ(url.db, 3);
    EXPECT_EQ(parse_ok("redis://h/").db, 0);
    EXPECT_EQ(parse_ok("redis://h:65535").port, 65535);
}

TEST(BrokerUrl, SchemeIsCaseInsensitive) {
    EXPECT_EQ(parse_ok("REDIS://h").host, "h");
}

TEST(BrokerUrl, PasswordWithoutUser) {
    const auto url = parse_ok("redis://:s3cret@127.0.0.1:6380/1");
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.port, 6380);
    EXPECT_EQ(url.db, 1);
}

TEST(BrokerUrl, UserIsIgnoredPasswordKept) {
    const auto url = parse_ok("redis://h:s3cret@redis.internal");
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_EQ(url.host, "redis.internal");
}

TEST(BrokerUrl, PasswordIsPercentDecodedAndMayHoldColonAndAt) {
    EXPECT_EQ(parse_ok("redis://:a%2Fb%40c@h").password, "a/b@c");
    EXPECT_EQ(parse_ok("redis://:a:b@c@h").password, "a:b@c");
}

TEST(BrokerUrl, Ipv6LiteralInBrackets) {
    const auto url = parse_ok("redis://:pw@[::1]:6390/2");
    EXPECT_EQ(url.host, "::1");
    EXPECT_EQ(url.port, 6390);
    EXPECT_EQ(url.db, 2);
    EXPECT_EQ(parse_ok("redis://[::1]").port, 6379);
}

TEST(BrokerUrl, RefusesOtherSchemes) {
    parse_error("");
    parse_error("redis:/h");
    parse_error("rediss://h");  // TLS is not supported by this broker
    parse_error("http://h");
    parse_error("127.0.0.1:6379");
}

TEST(BrokerUrl, RefusesBadHosts) {
    parse_error("redis://");
    parse_error("redis://:6379");
    parse_error("redis://:pw@");
    parse_error("redis://ho st");
    parse_error("redis://[::1");
    parse_error("redis://[]");
    parse_error("redis://[::1]x");
    parse_error("redis://[nothex]:1");
}

TEST(BrokerUrl, RefusesBadPorts) {
    parse_error("redis://h:");
    parse_error("redis://h:0");
    parse_error("redis://h:65536");
    parse_error("redis://h:-1");
    parse_error("redis://h:+1");
    parse_error("redis://h:12ab");
    parse_error("redis://h:99999999999999999999");
}

TEST(BrokerUrl, RefusesBadDatabases) {
    parse_error("redis://h/x");
    parse_error("redis://h/-1");
    parse_error("redis://h/1/2");
    parse_error("redis://h/99999999999");
}

TEST(BrokerUrl, RefusesQueriesCredentialsWithoutColonAndBadEscapes) {
    parse_error("redis://h?db=1");
    parse_error("redis://h/0#x");
    parse_error("redis://user@h");
    parse_error("redis://:%zz@h");
}

}  // namespace
