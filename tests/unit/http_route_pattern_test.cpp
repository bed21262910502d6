#include "http/route_pattern.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace std::string_view_literals;
using sockeye::http::max_route_params;
using sockeye::http::route_params;
using sockeye::http::route_pattern;
using sockeye::http::route_status;
using sockeye::http::route_table;

route_pattern compiled(std::string_view pattern) {
    std::string error;
    auto p = route_pattern::compile(pattern, error);
    EXPECT_TRUE(p.has_value()) << pattern << ": " << error;
    if (!p) return *route_pattern::compile("/", error);
    return std::move(*p);
}

// The reason compile() gives, or "" when it compiles.
std::string compile_error(std::string_view pattern) {
    std::string error;
    return route_pattern::compile(pattern, error) ? std::string{} : error;
}

bool matches(std::string_view pattern, std::string_view path) {
    route_params params;
    return compiled(pattern).match(path, params);
}

// --- compile ---

TEST(HttpRoutePattern, CompilesValidPatterns) {
    for (const auto p : {"/", "/users", "/users/", "/users/:id", "/a/:x/b/:y", "/files/*", "/*",
                         "/caf%C3%A9", "/v1.0/a:b/x*y/%2A", "/:a_1/:B2"}) {
        EXPECT_EQ(compile_error(p), "") << p;
    }
}

TEST(HttpRoutePattern, MustStartWithSlash) {
    EXPECT_NE(compile_error(""), "");
    EXPECT_NE(compile_error("users"), "");
    EXPECT_NE(compile_error("*"), "");
}

TEST(HttpRoutePattern, EmptyParameterNameIsAnError) {
    EXPECT_EQ(compile_error("/users/:"), "empty parameter name");
    EXPECT_EQ(compile_error("/:/x"), "empty parameter name");
}

TEST(HttpRoutePattern, ParameterNameCharacters) {
    EXPECT_NE(compile_error("/:a-b"), "");
    EXPECT_NE(compile_error("/:a.json"), "");
    EXPECT_NE(compile_error("/:a:b"), "");
    EXPECT_NE(compile_error("/:*"), "");
}

TEST(HttpRoutePattern, DuplicateParameterNameIsAnError) {
    EXPECT_EQ(compile_error("/:id/x/:id"), "duplicate parameter name 'id'");
}

TEST(HttpRoutePattern, WildcardMustBeLast) {
    EXPECT_EQ(compile_error("/*/x"), "'*' must be the last segment");
    EXPECT_EQ(compile_error("/*/"), "'*' must be the last segment");
    EXPECT_EQ(compile_error("/a/*/*"), "'*' must be the last segment");
}

TEST(HttpRoutePattern, EmptySegmentIsAnError) {
    EXPECT_EQ(compile_error("//"), "empty segment ('//')");
    EXPECT_EQ(compile_error("/a//b"), "empty segment ('//')");
}

TEST(HttpRoutePattern, MalformedEscapeIsAnError) {
    EXPECT_NE(compile_error("/a%"), "");
    EXPECT_NE(compile_error("/a%4"), "");
    EXPECT_NE(compile_error("/%zz"), "");
}

TEST(HttpRoutePattern, QueryFragmentSpaceAndControlsAreErrors) {
    EXPECT_NE(compile_error("/a?x=1"), "");
    EXPECT_NE(compile_error("/a#f"), "");
    EXPECT_NE(compile_error("/a b"), "");
    EXPECT_NE(compile_error(std::string_view{"/a\0", 3}), "");
    EXPECT_NE(compile_error("/a\x7f"), "");
}

TEST(HttpRoutePattern, TooManyParameters) {
    std::string p;
    for (std::size_t i = 0; i < max_route_params; ++i) p += "/:p" + std::to_string(i);
    EXPECT_EQ(compile_error(p), "");
    EXPECT_NE(compile_error(p + "/*"), "");
}

TEST(HttpRoutePattern, TextAndParamCount) {
    const auto p = compiled("/a/:x/*");
    EXPECT_EQ(p.text(), "/a/:x/*");
    EXPECT_EQ(p.param_count(), 2u);
}

// --- match ---

TEST(HttpRoutePattern, RootMatchesOnlyRoot) {
    EXPECT_TRUE(matches("/", "/"));
    EXPECT_FALSE(matches("/", "/a"));
    EXPECT_FALSE(matches("/", ""));
}

TEST(HttpRoutePattern, LiteralsMatchExactly) {
    EXPECT_TRUE(matches("/users/list", "/users/list"));
    EXPECT_FALSE(matches("/users/list", "/users/lis"));
    EXPECT_FALSE(matches("/users/list", "/users/lists"));
    EXPECT_FALSE(matches("/users/list", "/users"));
    EXPECT_FALSE(matches("/users/list", "/users/list/x"));
}

TEST(HttpRoutePattern, LiteralsAreCaseSensitive) {
    EXPECT_FALSE(matches("/Users", "/users"));
}

TEST(HttpRoutePattern, TrailingSlashIsSignificant) {
    EXPECT_FALSE(matches("/users", "/users/"));
    EXPECT_FALSE(matches("/users/", "/users"));
    EXPECT_TRUE(matches("/users/", "/users/"));
}

TEST(HttpRoutePattern, DoubleSlashInPathDoesNotMatch) {
    EXPECT_FALSE(matches("/a/b", "/a//b"));
    EXPECT_FALSE(matches("/a/:x", "/a//"));
}

TEST(HttpRoutePattern, LiteralsCompareDecoded) {
    EXPECT_TRUE(matches("/a%20b", "/a b"));
    EXPECT_TRUE(matches("/caf%C3%A9", "/caf%c3%a9"));
    EXPECT_TRUE(matches("/caf%C3%A9", "/caf\xc3\xa9"));
    EXPECT_TRUE(matches("/users", "/%75sers"));
    EXPECT_FALSE(matches("/a+b", "/a%20b"));  // '+' is only a space in queries
}

TEST(HttpRoutePattern, EscapedSpecialCharactersAreLiterals) {
    EXPECT_TRUE(matches("/%3Aid", "/:id"));
    EXPECT_FALSE(matches("/%3Aid", "/42"));
    EXPECT_TRUE(matches("/%2A", "/*"));
    EXPECT_FALSE(matches("/%2A", "/anything"));
}

TEST(HttpRoutePattern, EncodedSlashInLiteralNeverMatchesARealSlash) {
    EXPECT_TRUE(matches("/a%2Fb", "/a%2fb"));
    EXPECT_FALSE(matches("/a%2Fb", "/a/b"));
}

TEST(HttpRoutePattern, ParameterCapturesOneSegment) {
    route_params params;
    const auto pattern1 = compiled("/users/:id");  // names view the pattern: keep it
    ASSERT_TRUE(pattern1.match("/users/42", params));
    ASSERT_EQ(params.size(), 1u);
    EXPECT_EQ(params.name(0), "id");
    EXPECT_EQ(params.value(0), "42");
    EXPECT_EQ(params.get("id"), "42"sv);
    EXPECT_FALSE(params.get("nope"));
}

TEST(HttpRoutePattern, ParameterMustBeNonEmpty) {
    EXPECT_FALSE(matches("/users/:id", "/users/"));
    EXPECT_FALSE(matches("/users/:id", "/users"));
    EXPECT_FALSE(matches("/:a/:b", "//x"));
}

TEST(HttpRoutePattern, ParameterDoesNotSpanSlashes) {
    EXPECT_FALSE(matches("/users/:id", "/users/a/b"));
}

TEST(HttpRoutePattern, EncodedSlashStaysInsideParameter) {
    route_params params;
    const auto pattern2 = compiled("/users/:id");  // names view the pattern: keep it
    ASSERT_TRUE(pattern2.match("/users/a%2Fb", params));
    EXPECT_EQ(params.get("id"), "a/b"sv);
    EXPECT_EQ(params.raw(0), "a%2Fb");
}

TEST(HttpRoutePattern, ParameterValuesAreDecodedPlusKept) {
    route_params params;
    const auto pattern3 = compiled("/q/:a/:b");  // names view the pattern: keep it
    ASSERT_TRUE(pattern3.match("/q/x%20y/1+1", params));
    EXPECT_EQ(params.get("a"), "x y"sv);
    EXPECT_EQ(params.get("b"), "1+1"sv);
}

TEST(HttpRoutePattern, UndecodedValuesViewThePath) {
    const std::string path = "/users/42";
    route_params params;
    const auto pattern4 = compiled("/users/:id");  // names view the pattern: keep it
    ASSERT_TRUE(pattern4.match(path, params));
    EXPECT_EQ(params.value(0).data(), path.data() + 7);
}

TEST(HttpRoutePattern, DotSegmentsAndNulAreNotNormalized) {
    route_params params;
    const auto p = compiled("/files/:name");
    ASSERT_TRUE(p.match("/files/..", params));
    EXPECT_EQ(params.get("name"), ".."sv);
    ASSERT_TRUE(p.match("/files/%2e%2E", params));
    EXPECT_EQ(params.get("name"), ".."sv);
    ASSERT_TRUE(p.match("/files/a%00b", params));
    EXPECT_EQ(params.get("name"), std::string_view("a\0b", 3));
}

TEST(HttpRoutePattern, MalformedEscapeFailsTheMatch) {
    EXPECT_FALSE(matches("/users/:id", "/users/%zz"));
    EXPECT_FALSE(matches("/users/:id", "/users/a%2"));
    EXPECT_FALSE(matches("/users", "/user%"));
    EXPECT_FALSE(matches("/files/*", "/files/a/%"));
}

TEST(HttpRoutePattern, SeveralParametersInOrder) {
    route_params params;
    const auto pattern5 = compiled("/a/:x/b/:y");  // names view the pattern: keep it
    ASSERT_TRUE(pattern5.match("/a/1/b/2", params));
    ASSERT_EQ(params.size(), 2u);
    EXPECT_EQ(params.name(0), "x");
    EXPECT_EQ(params.value(0), "1");
    EXPECT_EQ(params.name(1), "y");
    EXPECT_EQ(params.value(1), "2");
}

TEST(HttpRoutePattern, WildcardTakesTheRest) {
    route_params params;
    const auto p = compiled("/files/*");
    ASSERT_TRUE(p.match("/files/a/b%20c/d", params));
    EXPECT_EQ(params.get("*"), "a/b c/d"sv);
    EXPECT_EQ(params.raw(0), "a/b%20c/d");
    ASSERT_TRUE(p.match("/files/", params));
    EXPECT_EQ(params.get("*"), ""sv);
    EXPECT_FALSE(p.match("/files", params));
    EXPECT_FALSE(p.match("/filesx/a", params));
}

TEST(HttpRoutePattern, RootWildcardMatchesEverything) {
    route_params params;
    const auto p = compiled("/*");
    ASSERT_TRUE(p.match("/", params));
    EXPECT_EQ(params.get("*"), ""sv);
    ASSERT_TRUE(p.match("/a//b/", params));
    EXPECT_EQ(params.get("*"), "a//b/"sv);
    EXPECT_FALSE(p.match("", params));
    EXPECT_FALSE(p.match("a", params));
}

TEST(HttpRoutePattern, WildcardAfterParameter) {
    route_params params;
    const auto pattern6 = compiled("/u/:id/*");  // names view the pattern: keep it
    ASSERT_TRUE(pattern6.match("/u/7/x/y", params));
    EXPECT_EQ(params.get("id"), "7"sv);
    EXPECT_EQ(params.get("*"), "x/y"sv);
}

TEST(HttpRoutePattern, FailedMatchLeavesNoParameters) {
    route_params params;
    const auto pattern7 = compiled("/a/:x");  // names view the pattern: keep it
    ASSERT_TRUE(pattern7.match("/a/1", params));
    EXPECT_FALSE(compiled("/b/:x/:y/c").match("/b/1/2/d", params));
    EXPECT_TRUE(params.empty());
}

TEST(HttpRoutePattern, ReusedParamsDoNotMixMatches) {
    route_params params;
    const auto p = compiled("/:a/:b");
    ASSERT_TRUE(p.match("/x%20/y%20", params));
    ASSERT_TRUE(p.match("/1/2%21", params));
    EXPECT_EQ(params.get("a"), "1"sv);
    EXPECT_EQ(params.get("b"), "2!"sv);
}

TEST(HttpRoutePattern, PathMustStartWithSlash) {
    EXPECT_FALSE(matches("/*", "*"));
    EXPECT_FALSE(matches("/a", "a"));
}

TEST(HttpRoutePattern, SameShapeIgnoresParameterNames) {
    EXPECT_TRUE(compiled("/a/:x").same_shape(compiled("/a/:y")));
    EXPECT_TRUE(compiled("/a%20b").same_shape(compiled("/a%20b")));
    EXPECT_FALSE(compiled("/a/:x").same_shape(compiled("/a/x")));
    EXPECT_FALSE(compiled("/a/:x").same_shape(compiled("/a/*")));
    EXPECT_FALSE(compiled("/a").same_shape(compiled("/a/")));
}

// --- route_table ---

class HttpRouteTable : public ::testing::Test {
  protected:
    void add(std::string_view method, std::string_view pattern, std::size_t handler) {
        std::string error;
        ASSERT_TRUE(table_.add(method, pattern, handler, error)) << error;
    }
    route_table table_;
    route_params params_;
};

TEST_F(HttpRouteTable, FindsTheHandler) {
    add("GET", "/users/:id", 1);
    add("POST", "/users", 2);
    const auto r = table_.find("GET", "/users/9", params_);
    EXPECT_EQ(r.status, route_status::found);
    EXPECT_EQ(r.handler, 1u);
    EXPECT_EQ(params_.get("id"), "9"sv);
    const auto p = table_.find("POST", "/users", params_);
    EXPECT_EQ(p.status, route_status::found);
    EXPECT_EQ(p.handler, 2u);
    EXPECT_TRUE(params_.empty());
}

TEST_F(HttpRouteTable, NotFound) {
    add("GET", "/a", 1);
    EXPECT_EQ(table_.find("GET", "/b", params_).status, route_status::not_found);
    EXPECT_EQ(table_.find("GET", "*", params_).status, route_status::not_found);
    EXPECT_EQ(route_table{}.find("GET", "/", params_).status, route_status::not_found);
}

TEST_F(HttpRouteTable, FirstRegisteredWins) {
    add("GET", "/users/me", 1);
    add("GET", "/users/:id", 2);
    add("GET", "/*", 3);
    EXPECT_EQ(table_.find("GET", "/users/me", params_).handler, 1u);
    EXPECT_EQ(table_.find("GET", "/users/you", params_).handler, 2u);
    EXPECT_EQ(table_.find("GET", "/other", params_).handler, 3u);
}

TEST_F(HttpRouteTable, EarlierGeneralRouteShadowsLaterSpecific) {
    add("GET", "/users/:id", 1);
    add("GET", "/users/me", 2);
    EXPECT_EQ(table_.find("GET", "/users/me", params_).handler, 1u);
}

TEST_F(HttpRouteTable, MethodNotAllowedListsAllow) {
    add("PUT", "/doc/:id", 1);
    add("GET", "/doc/:id", 2);
    add("DELETE", "/doc/:id", 3);
    add("POST", "/other", 4);
    const auto r = table_.find("POST", "/doc/1", params_);
    EXPECT_EQ(r.status, route_status::method_not_allowed);
    EXPECT_EQ(r.allow, "PUT, GET, HEAD, DELETE");
    EXPECT_TRUE(params_.empty());
}

TEST_F(HttpRouteTable, AllowHasEachMethodOnce) {
    add("GET", "/a/:x", 1);
    add("GET", "/a/*", 2);
    EXPECT_EQ(table_.find("POST", "/a/b", params_).allow, "GET, HEAD");
}

TEST_F(HttpRouteTable, AllowWithoutGetHasNoHead) {
    add("POST", "/submit", 1);
    const auto r = table_.find("GET", "/submit", params_);
    EXPECT_EQ(r.status, route_status::method_not_allowed);
    EXPECT_EQ(r.allow, "POST");
}

TEST_F(HttpRouteTable, GetAnswersHead) {
    add("GET", "/page", 1);
    const auto r = table_.find("HEAD", "/page", params_);
    EXPECT_EQ(r.status, route_status::found);
    EXPECT_EQ(r.handler, 1u);
}

TEST_F(HttpRouteTable, ExplicitHeadRouteComesFirstForHead) {
    add("GET", "/page", 1);
    add("HEAD", "/page", 2);
    EXPECT_EQ(table_.find("HEAD", "/page", params_).handler, 2u);
    EXPECT_EQ(table_.find("GET", "/page", params_).handler, 1u);
    EXPECT_EQ(table_.find("POST", "/page", params_).allow, "GET, HEAD");
}

TEST_F(HttpRouteTable, HeadDoesNotAnswerGet) {
    add("HEAD", "/h", 1);
    const auto r = table_.find("GET", "/h", params_);
    EXPECT_EQ(r.status, route_status::method_not_allowed);
    EXPECT_EQ(r.allow, "HEAD");
}

TEST_F(HttpRouteTable, MethodsAreCaseSensitive) {
    add("GET", "/a", 1);
    EXPECT_EQ(table_.find("get", "/a", params_).status, route_status::method_not_allowed);
}

TEST_F(HttpRouteTable, MalformedEscapeIsBadRequest) {
    add("GET", "/*", 1);
    EXPECT_EQ(table_.find("GET", "/a%zz", params_).status, route_status::bad_request);
    EXPECT_EQ(table_.find("GET", "/a%", params_).status, route_status::bad_request);
}

TEST_F(HttpRouteTable, RejectsBadMethod) {
    std::string error;
    EXPECT_FALSE(table_.add("", "/a", 1, error));
    EXPECT_FALSE(table_.add("G T", "/a", 1, error));
    EXPECT_FALSE(table_.add("GET\r\n", "/a", 1, error));
    EXPECT_FALSE(table_.add("GET:", "/a", 1, error));
    EXPECT_TRUE(table_.add("M-SEARCH", "/a", 1, error));
    EXPECT_EQ(table_.size(), 1u);
}

TEST_F(HttpRouteTable, RejectsBadPatternWithItsReason) {
    std::string error;
    EXPECT_FALSE(table_.add("GET", "/:id/:id", 1, error));
    EXPECT_EQ(error, "duplicate parameter name 'id'");
    EXPECT_EQ(table_.size(), 0u);
}

TEST_F(HttpRouteTable, RejectsRouteThatCouldNeverMatch) {
    add("GET", "/u/:id", 1);
    std::string error;
    EXPECT_FALSE(table_.add("GET", "/u/:name", 2, error));
    EXPECT_EQ(error, "GET /u/:name is shadowed by GET /u/:id");
    EXPECT_TRUE(table_.add("POST", "/u/:name", 2, error)) << error;
    EXPECT_TRUE(table_.add("GET", "/u/:name/", 3, error)) << error;
}

TEST_F(HttpRouteTable, ParamsPointIntoTheTableAfterGrowth) {
    add("GET", "/first/:a", 1);
    for (std::size_t i = 0; i < 100; ++i) add("GET", "/r" + std::to_string(i) + "/:x", i + 2);
    ASSERT_EQ(table_.find("GET", "/first/v", params_).handler, 1u);
    EXPECT_EQ(params_.name(0), "a");
    ASSERT_EQ(table_.find("GET", "/r99/w", params_).handler, 101u);
    EXPECT_EQ(params_.get("x"), "w"sv);
}

}  // namespace
