#include "http/query.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/percent_decode.hpp"

namespace {

using namespace std::string_view_literals;
using sockeye::http::parse_query;
using sockeye::http::query_params;
using sockeye::http::split_target;

using pairs = std::vector<std::pair<std::string, std::string>>;

pairs decode(std::string_view query) {
    const auto params = parse_query(query);
    EXPECT_TRUE(params.has_value()) << query;
    pairs out;
    if (!params) return out;
    for (const auto p : *params) out.emplace_back(p.name, p.value);
    return out;
}

TEST(HttpQuery, BriefExampleInOrderWithRepeats) {
    EXPECT_EQ(decode("a=1&b=x%20y&a=2&flag&=v&c="),
              (pairs{{"a", "1"}, {"b", "x y"}, {"a", "2"}, {"flag", ""}, {"", "v"}, {"c", ""}}));
}

TEST(HttpQuery, EmptyQueryHasNoPairs) {
    const auto params = parse_query("");
    ASSERT_TRUE(params);
    EXPECT_TRUE(params->empty());
    EXPECT_EQ(params->size(), 0u);
}

TEST(HttpQuery, EmptyPiecesAreSkipped) {
    EXPECT_EQ(decode("&&a=1&&&b=2&"), (pairs{{"a", "1"}, {"b", "2"}}));
    EXPECT_TRUE(decode("&").empty());
    EXPECT_TRUE(decode("&&&").empty());
}

TEST(HttpQuery, PieceWithoutEqualsHasEmptyValue) {
    EXPECT_EQ(decode("flag"), (pairs{{"flag", ""}}));
}

TEST(HttpQuery, LoneEqualsIsEmptyNameAndValue) {
    EXPECT_EQ(decode("="), (pairs{{"", ""}}));
}

TEST(HttpQuery, SplitsAtFirstEqualsOnly) {
    EXPECT_EQ(decode("a=b=c&d==e"), (pairs{{"a", "b=c"}, {"d", "=e"}}));
}

TEST(HttpQuery, PlusIsSpaceInNamesAndValues) {
    EXPECT_EQ(decode("a+b=c+d+"), (pairs{{"a b", "c d "}}));
}

TEST(HttpQuery, EncodedPlusStaysPlus) {
    EXPECT_EQ(decode("q=1%2B1"), (pairs{{"q", "1+1"}}));
}

TEST(HttpQuery, EncodedSeparatorsAreData) {
    EXPECT_EQ(decode("a%3Db=c%26d%3De"), (pairs{{"a=b", "c&d=e"}}));
}

TEST(HttpQuery, HexDigitsEitherCase) {
    EXPECT_EQ(decode("x=%c3%A9%Ff"), (pairs{{"x", "\xc3\xa9\xff"}}));
}

TEST(HttpQuery, SemicolonIsNotASeparator) {
    EXPECT_EQ(decode("a=1;b=2"), (pairs{{"a", "1;b=2"}}));
}

TEST(HttpQuery, NulAndInvalidUtf8AreKeptAsBytes) {
    const auto p = decode("n%00x=%00&bad=%C3%28%FF");
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].first, std::string("n\0x", 3));
    EXPECT_EQ(p[0].second, std::string("\0", 1));
    EXPECT_EQ(p[1].second, "\xc3\x28\xff");
}

TEST(HttpQuery, RawBytesAboveAsciiPassThrough) {
    EXPECT_EQ(decode("k=caf\xc3\xa9"), (pairs{{"k", "caf\xc3\xa9"}}));
}

TEST(HttpQuery, LonePercentIsMalformed) {
    std::size_t at = 99;
    EXPECT_FALSE(parse_query("a=1&b=%", &at));
    EXPECT_EQ(at, 6u);
}

TEST(HttpQuery, TruncatedEscapeIsMalformed) {
    std::size_t at = 99;
    EXPECT_FALSE(parse_query("a=%4", &at));
    EXPECT_EQ(at, 2u);
}

TEST(HttpQuery, NonHexEscapeIsMalformed) {
    std::size_t at = 99;
    EXPECT_FALSE(parse_query("ok=%41&x=%zz", &at));
    EXPECT_EQ(at, 9u);
    EXPECT_FALSE(parse_query("%g1=1"));
    EXPECT_FALSE(parse_query("a=%1g"));
}

TEST(HttpQuery, MalformedEscapeInNameIsAnError) {
    std::size_t at = 99;
    EXPECT_FALSE(parse_query("x%=1", &at));
    EXPECT_EQ(at, 1u);
}

TEST(HttpQuery, EscapeSplitByAmpersandIsMalformed) {
    EXPECT_FALSE(parse_query("a=%4&1"));
}

TEST(HttpQuery, GetReturnsFirstValue) {
    const auto params = parse_query("a=1&b=2&a=3");
    ASSERT_TRUE(params);
    EXPECT_EQ(params->get("a"), "1"sv);
    EXPECT_EQ(params->get("b"), "2"sv);
    EXPECT_FALSE(params->get("c"));
    EXPECT_TRUE(params->contains("a"));
    EXPECT_FALSE(params->contains("A"));  // names are case-sensitive
}

TEST(HttpQuery, GetDistinguishesEmptyValueFromAbsent) {
    const auto params = parse_query("flag&e=");
    ASSERT_TRUE(params);
    ASSERT_TRUE(params->get("flag"));
    EXPECT_EQ(*params->get("flag"), "");
    ASSERT_TRUE(params->get("e"));
    EXPECT_FALSE(params->get("x"));
}

TEST(HttpQuery, GetMatchesDecodedName) {
    const auto params = parse_query("first+name=Ada&last%20name=Lovelace");
    ASSERT_TRUE(params);
    EXPECT_EQ(params->get("first name"), "Ada"sv);
    EXPECT_EQ(params->get("last name"), "Lovelace"sv);
}

TEST(HttpQuery, AllReturnsEveryValueInOrder) {
    const auto params = parse_query("t=x&u=0&t=y&t=&t=z");
    ASSERT_TRUE(params);
    EXPECT_EQ(params->all("t"), (std::vector<std::string_view>{"x", "y", "", "z"}));
    EXPECT_TRUE(params->all("nope").empty());
}

TEST(HttpQuery, IndexingMatchesIteration) {
    const auto params = parse_query("a=1&b=2");
    ASSERT_TRUE(params);
    ASSERT_EQ(params->size(), 2u);
    EXPECT_EQ((*params)[1].name, "b");
    EXPECT_EQ((*params)[1].value, "2");
}

TEST(HttpQuery, ParamsSurviveCopyAndMove) {
    auto params = parse_query("k=v%20w");
    ASSERT_TRUE(params);
    query_params copy = *params;
    query_params moved = std::move(*params);
    EXPECT_EQ(copy.get("k"), "v w"sv);
    EXPECT_EQ(moved.get("k"), "v w"sv);
}

TEST(HttpQuery, LongQueryManyPairs) {
    std::string q;
    for (int i = 0; i < 1000; ++i) {
        q += 'k';
        q += std::to_string(i);
        q += "=v&";
    }
    const auto params = parse_query(q);
    ASSERT_TRUE(params);
    EXPECT_EQ(params->size(), 1000u);
    EXPECT_EQ(params->get("k999"), "v"sv);
}

TEST(HttpSplitTarget, PathQueryAndFragment) {
    const auto t = split_target("/a/b?x=1#f");
    EXPECT_EQ(t.path, "/a/b");
    EXPECT_EQ(t.query, "x=1");
    EXPECT_TRUE(t.has_query);
}

TEST(HttpSplitTarget, NoQuery) {
    const auto t = split_target("/a/b");
    EXPECT_EQ(t.path, "/a/b");
    EXPECT_EQ(t.query, "");
    EXPECT_FALSE(t.has_query);
}

TEST(HttpSplitTarget, EmptyQueryIsStillAQuery) {
    const auto t = split_target("/a?");
    EXPECT_EQ(t.path, "/a");
    EXPECT_EQ(t.query, "");
    EXPECT_TRUE(t.has_query);
}

TEST(HttpSplitTarget, QuestionMarkInFragmentIsFragment) {
    const auto t = split_target("/a#frag?x=1");
    EXPECT_EQ(t.path, "/a");
    EXPECT_FALSE(t.has_query);
}

TEST(HttpSplitTarget, SecondQuestionMarkBelongsToQuery) {
    const auto t = split_target("/a?x=?&y=1");
    EXPECT_EQ(t.query, "x=?&y=1");
}

TEST(HttpSplitTarget, PathStaysEncoded) {
    EXPECT_EQ(split_target("/a%20b%3F?q").path, "/a%20b%3F");
}

TEST(HttpSplitTarget, AbsoluteFormGivesItsPath) {
    const auto t = split_target("HTTP://example.com:8080/x/y?z=1");
    EXPECT_EQ(t.path, "/x/y");
    EXPECT_EQ(t.query, "z=1");
    EXPECT_EQ(split_target("https://example.com").path, "/");
    const auto q = split_target("http://example.com?a=b");
    EXPECT_EQ(q.path, "/");
    EXPECT_EQ(q.query, "a=b");
}

TEST(HttpSplitTarget, AsteriskAndAuthorityFormsAreLeftAsIs) {
    EXPECT_EQ(split_target("*").path, "*");
    EXPECT_EQ(split_target("example.com:443").path, "example.com:443");
}

TEST(HttpPercentDecode, WellFormedness) {
    using sockeye::http::is_well_formed_percent_encoding;
    EXPECT_TRUE(is_well_formed_percent_encoding(""));
    EXPECT_TRUE(is_well_formed_percent_encoding("a%20b%7e"));
    EXPECT_FALSE(is_well_formed_percent_encoding("%"));
    EXPECT_FALSE(is_well_formed_percent_encoding("a%2"));
    EXPECT_FALSE(is_well_formed_percent_encoding("%%41"));
    EXPECT_TRUE(is_well_formed_percent_encoding("%2541"));
}

TEST(HttpPercentDecode, PlusIsLiteralUnlessAsked) {
    using sockeye::http::append_percent_decoded;
    using sockeye::http::plus_decoding;
    std::string out;
    EXPECT_TRUE(append_percent_decoded("a+b", out));
    EXPECT_EQ(out, "a+b");
    out.clear();
    EXPECT_TRUE(append_percent_decoded("a+b", out, plus_decoding::space));
    EXPECT_EQ(out, "a b");
}

TEST(HttpPercentDecode, DecodesOnceOnly) {
    std::string out;
    EXPECT_TRUE(sockeye::http::append_percent_decoded("%252e", out));
    EXPECT_EQ(out, "%2e");
}

TEST(HttpPercentDecode, DecodedEqualsWithoutAllocating) {
    using sockeye::http::percent_decoded_equals;
    EXPECT_TRUE(percent_decoded_equals("a%20b", "a b"));
    EXPECT_TRUE(percent_decoded_equals("", ""));
    EXPECT_FALSE(percent_decoded_equals("a%20b", "a b "));
    EXPECT_FALSE(percent_decoded_equals("a%20bc", "a b"));
    EXPECT_FALSE(percent_decoded_equals("a%2", "a%2"));  // malformed never equals
    EXPECT_FALSE(percent_decoded_equals("a+b", "a b"));  // paths keep '+'
}

}  // namespace
