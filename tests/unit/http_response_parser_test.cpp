#include "http/response_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/handshake.hpp"

namespace {

using sockeye::http::parse_status;
using sockeye::http::response_limits;
using sockeye::http::response_parse_result;
using sockeye::http::response_parser;

constexpr std::string_view switching =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "\r\n";

response_parse_result feed_all(response_parser& p, std::string_view s) {
    return p.feed(s.data(), s.size());
}

// One byte at a time; `consumed` made relative to the whole input.
response_parse_result feed_bytewise(response_parser& p, std::string_view s) {
    response_parse_result r;
    for (std::size_t i = 0; i < s.size(); ++i) {
        r = p.feed(s.data() + i, 1);
        if (r.status == parse_status::head_complete) {
            r.consumed += i;
            return r;
        }
        if (r.status == parse_status::error) return r;
    }
    return r;
}

TEST(HttpResponseParser, Parses101Head) {
    response_parser p;
    const auto r = feed_all(p, switching);
    ASSERT_EQ(r.status, parse_status::head_complete);
    EXPECT_EQ(r.consumed, switching.size());
    EXPECT_EQ(p.status_code(), 101);
    EXPECT_EQ(p.reason_phrase(), "Switching Protocols");
    EXPECT_EQ(p.version_major(), 1);
    EXPECT_EQ(p.version_minor(), 1);
    ASSERT_EQ(p.header_count(), 3u);
    EXPECT_EQ(p.header(0).name, "Upgrade");
    EXPECT_EQ(p.header(0).value, "websocket");
    EXPECT_EQ(p.find_header("sec-websocket-accept").value_or(""), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_FALSE(p.find_header("Sec-WebSocket-Protocol").has_value());
}

TEST(HttpResponseParser, ByteByByteGivesTheSameHead) {
    response_parser p;
    const auto r = feed_bytewise(p, switching);
    ASSERT_EQ(r.status, parse_status::head_complete);
    EXPECT_EQ(r.consumed, switching.size());
    EXPECT_EQ(p.status_code(), 101);
    ASSERT_EQ(p.header_count(), 3u);
    EXPECT_EQ(p.header(1).name, "Connection");
    EXPECT_EQ(p.header(1).value, "Upgrade");
    EXPECT_EQ(p.header(2).value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(HttpResponseParser, FrameBytesAfterThe101AreLeftToTheCaller) {
    // A server may send its first frame in the same segment as the 101.
    const std::string frame = "\x81\x05hello";
    const std::string input = std::string(switching) + frame;
    response_parser p;
    const auto r = feed_all(p, input);
    ASSERT_EQ(r.status, parse_status::head_complete);
    EXPECT_EQ(r.consumed, switching.size());
    EXPECT_EQ(input.substr(r.consumed), frame);
    // Later input is not consumed: it belongs to the WebSocket session.
    const auto again = p.feed(frame.data(), frame.size());
    EXPECT_EQ(again.status, parse_status::head_complete);
    EXPECT_EQ(again.consumed, 0u);
}

TEST(HttpResponseParser, ErrorStatusWithBodyStopsAtTheHead) {
    const std::string_view forbidden =
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n"
        "Connection: close\r\n\r\norigin not allowed";
    response_parser p;
    const auto r = feed_all(p, forbidden);
    ASSERT_EQ(r.status, parse_status::head_complete);
    EXPECT_EQ(p.status_code(), 403);
    EXPECT_EQ(p.reason_phrase(), "Forbidden");
    EXPECT_EQ(forbidden.substr(r.consumed), "origin not allowed");
}

TEST(HttpResponseParser, ValuesAreTrimmedAndEmptyValuesKept) {
    response_parser p;
    const auto r = feed_all(p,
                            "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version:  13 \t\r\n"
                            "X-Empty:\r\n\r\n");
    ASSERT_EQ(r.status, parse_status::head_complete);
    EXPECT_EQ(p.status_code(), 426);
    EXPECT_EQ(p.find_header("sec-websocket-version").value_or("?"), "13");
    EXPECT_EQ(p.find_header("x-empty").value_or("?"), "");
}

TEST(HttpResponseParser, Http10AndMissingReasonAreAccepted) {
    response_parser p;
    const auto r = feed_all(p, "HTTP/1.0 200\r\n\r\n");
    ASSERT_EQ(r.status, parse_status::head_complete);
    EXPECT_EQ(p.status_code(), 200);
    EXPECT_EQ(p.version_minor(), 0);
    EXPECT_EQ(p.reason_phrase(), "");
}

TEST(HttpResponseParser, TooLargeHeadIsAnError) {
    response_parser p(response_limits{256, 100});
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nX-Filler: ";
    head += std::string(400, 'a');
    head += "\r\n\r\n";
    const auto r = feed_all(p, head);
    ASSERT_EQ(r.status, parse_status::error);
    EXPECT_EQ(r.error, "response head too large");
    // Sticky.
    EXPECT_EQ(feed_all(p, "\r\n").status, parse_status::error);

    response_parser q(response_limits{256, 100});
    EXPECT_EQ(feed_bytewise(q, head).status, parse_status::error);
}

TEST(HttpResponseParser, TooManyHeadersIsAnError) {
    response_parser p(response_limits{16 * 1024, 3});
    const auto r = feed_all(p, "HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    ASSERT_EQ(r.status, parse_status::error);
    EXPECT_NE(r.error.find("too many"), std::string_view::npos);
}

TEST(HttpResponseParser, GarbageIsAnError) {
    for (std::string_view garbage :
         {std::string_view{"SSH-2.0-OpenSSH_9.2\r\n"}, std::string_view{"\x16\x03\x01\x02\x00"},
          std::string_view{"GET / HTTP/1.1\r\n\r\n"}, std::string_view{"HTTP/1.1 abc OK\r\n\r\n"},
          std::string_view{"HTTP/1.1 101 OK\r\nBad Header\r\n\r\n"}}) {
        response_parser p;
        const auto r = feed_all(p, garbage);
        EXPECT_EQ(r.status, parse_status::error) << garbage;
        EXPECT_FALSE(r.error.empty()) << garbage;
    }
}

TEST(HttpResponseParser, PartialHeadNeedsMore) {
    response_parser p;
    const auto r = feed_all(p, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs");
    EXPECT_EQ(r.status, parse_status::need_more);
    EXPECT_FALSE(p.complete());
}

TEST(HttpResponseParser, ResponseHeadViewFeedsTheHandshakeCheck) {
    response_parser p;
    ASSERT_EQ(feed_all(p, switching).status, parse_status::head_complete);
    std::vector<sockeye::protocol::http_header> scratch;
    const auto head = p.as_response_head(scratch);
    EXPECT_EQ(head.status, 101);
    ASSERT_EQ(head.headers.size(), 3u);
    // The RFC 6455 §1.3 example key and accept value.
    const auto result =
        sockeye::protocol::verify_server_response(head, "dGhlIHNhbXBsZSBub25jZQ==", {});
    EXPECT_TRUE(result.ok) << result.error;
}

}  // namespace
