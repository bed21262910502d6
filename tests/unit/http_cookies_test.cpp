#include "http/cookies.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace std::string_view_literals;
using sockeye::http::append_cookies;
using sockeye::http::cookie;
using sockeye::http::find_cookie;
using sockeye::http::parse_cookies;

using pairs = std::vector<std::pair<std::string, std::string>>;

pairs flatten(const std::vector<cookie>& cookies) {
    pairs out;
    for (const cookie& c : cookies) out.emplace_back(c.name, c.value);
    return out;
}

pairs parse(std::string_view header) {
    return flatten(parse_cookies(header));
}

TEST(HttpCookies, RfcFormat) {
    EXPECT_EQ(parse("SID=31d4d96e407aad42; lang=en-US"),
              (pairs{{"SID", "31d4d96e407aad42"}, {"lang", "en-US"}}));
}

TEST(HttpCookies, EmptyHeaderHasNoCookies) {
    EXPECT_TRUE(parse("").empty());
    EXPECT_TRUE(parse("   ").empty());
    EXPECT_TRUE(parse(";;; ;").empty());
}

TEST(HttpCookies, SemicolonWithoutSpace) {
    EXPECT_EQ(parse("a=1;b=2"), (pairs{{"a", "1"}, {"b", "2"}}));
}

TEST(HttpCookies, WhitespaceAroundNamesAndValuesIsTrimmed) {
    EXPECT_EQ(parse("  a =  1 ;\tb\t=\t2\t;c= 3"), (pairs{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
}

TEST(HttpCookies, InnerWhitespaceIsKept) {
    EXPECT_EQ(parse("a=x y"), (pairs{{"a", "x y"}}));
}

TEST(HttpCookies, OnePairOfQuotesIsStripped) {
    EXPECT_EQ(parse("a=\"quoted\"; b=\"\"; c=\"\"x\"\""),
              (pairs{{"a", "quoted"}, {"b", ""}, {"c", "\"x\""}}));
}

TEST(HttpCookies, UnbalancedQuotesAreKept) {
    EXPECT_EQ(parse("a=\"open; b=close\"; c=\""),
              (pairs{{"a", "\"open"}, {"b", "close\""}, {"c", "\""}}));
}

TEST(HttpCookies, QuotesAfterTrimmingAreStripped) {
    EXPECT_EQ(parse("a= \" x \" "), (pairs{{"a", " x "}}));
}

TEST(HttpCookies, PieceWithoutEqualsIsSkipped) {
    EXPECT_EQ(parse("lonely; a=1; also lonely"), (pairs{{"a", "1"}}));
}

TEST(HttpCookies, EmptyNameIsSkipped) {
    EXPECT_EQ(parse("=v; =; a=1;  =x"), (pairs{{"a", "1"}}));
}

TEST(HttpCookies, EmptyValueIsKept) {
    EXPECT_EQ(parse("a=; b="), (pairs{{"a", ""}, {"b", ""}}));
}

TEST(HttpCookies, ValueSplitsAtFirstEquals) {
    EXPECT_EQ(parse("token=abc==; x=a=b"), (pairs{{"token", "abc=="}, {"x", "a=b"}}));
}

TEST(HttpCookies, RepeatedNamesKeptInOrder) {
    EXPECT_EQ(parse("id=path-specific; id=general"),
              (pairs{{"id", "path-specific"}, {"id", "general"}}));
}

TEST(HttpCookies, NoPercentDecoding) {
    EXPECT_EQ(parse("a=x%20y; b=1+2; c=%zz"), (pairs{{"a", "x%20y"}, {"b", "1+2"}, {"c", "%zz"}}));
}

TEST(HttpCookies, CommaIsNotASeparator) {
    EXPECT_EQ(parse("a=1,b=2"), (pairs{{"a", "1,b=2"}}));
}

TEST(HttpCookies, ControlCharacterSkipsOnlyThatPair) {
    EXPECT_EQ(parse(std::string_view{"a=1; b=x\0y; c=3", 15}), (pairs{{"a", "1"}, {"c", "3"}}));
    EXPECT_EQ(parse("a=1; b\x01=2; c=\x7f; d=4"), (pairs{{"a", "1"}, {"d", "4"}}));
    EXPECT_EQ(parse("a=1\r\nX: y; d=4"), (pairs{{"d", "4"}}));
}

TEST(HttpCookies, InnerTabIsNotAControlCharacter) {
    EXPECT_EQ(parse("a=x\ty"), (pairs{{"a", "x\ty"}}));
}

TEST(HttpCookies, NonAsciiBytesAreKept) {
    EXPECT_EQ(parse("n=caf\xc3\xa9; \xff=\xfe"), (pairs{{"n", "caf\xc3\xa9"}, {"\xff", "\xfe"}}));
}

TEST(HttpCookies, ResultViewsTheHeader) {
    const std::string header = "a=1; b=\"2\"";
    const auto cookies = parse_cookies(header);
    ASSERT_EQ(cookies.size(), 2u);
    EXPECT_EQ(cookies[1].value.data(), header.data() + 8);
}

TEST(HttpCookies, SeveralHeadersInOrder) {
    const std::vector<std::string_view> headers{"a=1; b=2", "", "c=3", "a=4"};
    EXPECT_EQ(flatten(parse_cookies(headers)),
              (pairs{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"a", "4"}}));
}

TEST(HttpCookies, AppendKeepsWhatIsThere) {
    std::vector<cookie> out{{"x", "0"}};
    append_cookies("y=1", out);
    EXPECT_EQ(flatten(out), (pairs{{"x", "0"}, {"y", "1"}}));
}

TEST(HttpCookies, FindReturnsFirstCaseSensitive) {
    const auto cookies = parse_cookies("sid=one; SID=two; sid=three; empty=");
    EXPECT_EQ(find_cookie(cookies, "sid"), "one"sv);
    EXPECT_EQ(find_cookie(cookies, "SID"), "two"sv);
    EXPECT_EQ(find_cookie(cookies, "empty"), ""sv);
    EXPECT_FALSE(find_cookie(cookies, "Sid"));
}

}  // namespace
