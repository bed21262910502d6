#include "http/response.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <optional>
#include <string>

namespace {

using namespace sockeye::http;

TEST(HttpResponse, ReasonPhrases) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(206), "Partial Content");
    EXPECT_EQ(reason_phrase(304), "Not Modified");
    EXPECT_EQ(reason_phrase(400), "Bad Request");
    EXPECT_EQ(reason_phrase(403), "Forbidden");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
    EXPECT_EQ(reason_phrase(413), "Content Too Large");
    EXPECT_EQ(reason_phrase(426), "Upgrade Required");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(500), "Internal Server Error");
    EXPECT_EQ(reason_phrase(501), "Not Implemented");
    EXPECT_EQ(reason_phrase(503), "Service Unavailable");
    EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
    EXPECT_EQ(reason_phrase(599), "");
}

TEST(HttpResponse, StatusLine) {
    std::string out;
    append_status_line(out, 404);
    EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\n");
    out.clear();
    append_status_line(out, 599);
    EXPECT_EQ(out, "HTTP/1.1 599 \r\n");  // empty reason phrase, separator kept
    out.clear();
    append_status_line(out, 42);
    EXPECT_EQ(out, "HTTP/1.1 500 Internal Server Error\r\n");
}

TEST(HttpResponse, HeadersCannotBeInjected) {
    std::string out;
    append_header(out, "X-Name", "a\r\nSet-Cookie: evil");
    EXPECT_EQ(out, "X-Name: a  Set-Cookie: evil\r\n");
    out.clear();
    append_header(out, "Content-Length", std::uint64_t{18446744073709551615u});
    EXPECT_EQ(out, "Content-Length: 18446744073709551615\r\n");
    out.clear();
    append_connection(out, true);
    append_connection(out, false);
    EXPECT_EQ(out, "Connection: keep-alive\r\nConnection: close\r\n");
}

TEST(HttpResponse, TextResponse) {
    const std::string r = text_response(404, "no such file\n", false);
    EXPECT_EQ(r.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
    EXPECT_NE(r.find("\r\nContent-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nContent-Length: 13\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nDate: "), std::string::npos);
    const std::size_t end = r.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(r.substr(end + 4), "no such file\n");
}

TEST(HttpResponse, TextResponseDefaultsBodyToReasonPhrase) {
    const std::string r = text_response(503, "", true);
    EXPECT_NE(r.find("\r\nContent-Length: 20\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
    EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), "Service Unavailable\n");
}

TEST(HttpResponse, TextResponseHeadHasNoBodyButTheLength) {
    const std::string h = text_response_head(200, 5, true);
    EXPECT_NE(h.find("\r\nContent-Length: 5\r\n"), std::string::npos);
    EXPECT_EQ(h.substr(h.size() - 4), "\r\n\r\n");
    EXPECT_EQ(h.find("\r\n\r\n"), h.size() - 4);
}

TEST(HttpResponse, ExtraHeadersAndMethodNotAllowed) {
    const sockeye::protocol::http_header extra[] = {{"Retry-After", "5"}, {"X-A", "b"}};
    const std::string r = text_response(503, "busy\n", false, extra);
    EXPECT_NE(r.find("\r\nRetry-After: 5\r\nX-A: b\r\n\r\nbusy\n"), std::string::npos);

    const std::string m = method_not_allowed_response("GET, HEAD", true);
    EXPECT_EQ(m.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
    EXPECT_NE(m.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
}

TEST(HttpDate, FormatsImfFixdate) {
    EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
    EXPECT_EQ(format_http_date(4102444799), "Thu, 31 Dec 2099 23:59:59 GMT");
    std::string out = "Date: ";
    append_http_date(out, 1700000000);
    EXPECT_EQ(out, "Date: Tue, 14 Nov 2023 22:13:20 GMT");
    out.clear();
    append_date_header(out, "Last-Modified", 784111777);
    EXPECT_EQ(out, "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
}

TEST(HttpDate, ParsesAllThreeFormats) {
    const std::optional<std::time_t> expected = 784111777;
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
    EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), std::optional<std::time_t>{0});
    EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"),
              std::optional<std::time_t>{951782400});
    EXPECT_EQ(parse_http_date("Thu Dec 31 23:59:59 2099"), std::optional<std::time_t>{4102444799});
}

TEST(HttpDate, RoundTrips) {
    for (std::time_t t = 0; t < 4102444800; t += 86400 * 37 + 3671) {
        EXPECT_EQ(parse_http_date(format_http_date(t)), std::optional<std::time_t>{t}) << t;
    }
}

TEST(HttpDate, RejectsMalformed) {
    for (const std::string_view s : {
             "",
             "Sun, 06 Nov 1994 08:49:37",          // no zone
             "Sun, 06 Nov 1994 08:49:37 UTC",      // wrong zone
             "Sun, 6 Nov 1994 08:49:37 GMT",       // one-digit day
             "Sun, 06 Nov 94 08:49:37 GMT",        // two-digit year in IMF-fixdate
             "Sun, 06 Nox 1994 08:49:37 GMT",      // bad month
             "Sun, 31 Nov 1994 08:49:37 GMT",      // no such day
             "Sun, 29 Feb 1900 08:49:37 GMT",      // 1900 is not a leap year
             "Sun, 06 Nov 1994 24:00:00 GMT",      // hour out of range
             "Sun, 06 Nov 1994 08:60:00 GMT",      // minute out of range
             "Sun, 06 Nov 1994 08:49:37 GMT ",     // trailing garbage
             " Sun, 06 Nov 1994 08:49:37 GMT",     // leading garbage
             "Xyz, 06 Nov 1994 08:49:37 GMT",      // bad weekday
             "Sunday, 06 Nov 1994 08:49:37 GMT",   // long weekday with the fixdate body
             "Sun Nov 6 08:49:37 1994",            // asctime needs the padded day
             "Sun, 06 Nov 1994 08:49:37 GMT\r\n",  // line break
             "1994-11-06T08:49:37Z",
         }) {
        EXPECT_EQ(parse_http_date(s), std::nullopt) << s;
    }
}

TEST(HttpDate, Rfc850TwoDigitYearIsNeverFarFuture) {
    // RFC 9110 §5.6.7: more than 50 years ahead means the previous century.
    const auto t = parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT");
    ASSERT_TRUE(t.has_value());
    std::tm tm{};
    gmtime_r(&*t, &tm);
    const std::time_t now = std::time(nullptr);
    EXPECT_LE(*t, now + 50LL * 366 * 86400);
    EXPECT_EQ(tm.tm_year % 100, 70);
}

TEST(HttpResponse, DropBodyKeepsTheHeadAndItsContentLength) {
    std::string r = text_response(404, {}, true);
    const std::string head = text_response_head(404, std::string_view{"Not Found\n"}.size(), true);
    drop_body(r);
    // Date may tick between the two calls; everything else must match GET's head.
    EXPECT_EQ(r.substr(r.find("Content-Type")), head.substr(head.find("Content-Type")));
    EXPECT_NE(r.find("Content-Length: 10\r\n"), std::string::npos);
    EXPECT_TRUE(r.ends_with("\r\n\r\n"));
    std::string again = r;
    drop_body(again);
    EXPECT_EQ(again, r);
    std::string not_a_response = "no head here";
    drop_body(not_a_response);
    EXPECT_EQ(not_a_response, "no head here");
}

}  // namespace
