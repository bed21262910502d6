#include "protocol/handshake.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace sockeye::protocol;

constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3
constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// Owns the strings a request_head/response_head points into. A deque keeps element
// addresses stable, so views taken earlier stay valid while headers are added.
struct header_store {
    std::deque<std::string> strings;
    std::vector<http_header> headers;

    std::string_view keep(std::string s) { return strings.emplace_back(std::move(s)); }

    void add(std::string name, std::string value) {
        headers.push_back({keep(std::move(name)), keep(std::move(value))});
    }
    void remove(std::string_view name) {
        std::erase_if(headers, [&](const http_header& h) { return h.name == name; });
    }
    void set(std::string name, std::string value) {
        remove(name);
        add(std::move(name), std::move(value));
    }
};

// A valid upgrade request; tests break one thing at a time.
struct request_fixture : header_store {
    request_head head;

    request_fixture() {
        head.method = "GET";
        head.target = "/chat";
        add("Host", "server.example.com");
        add("Upgrade", "websocket");
        add("Connection", "Upgrade");
        add("Sec-WebSocket-Key", std::string{sample_key});
        add("Origin", "http://example.com");
        add("Sec-WebSocket-Version", "13");
    }

    const request_head& get() {
        head.headers = headers;
        return head;
    }
};

struct parsed_http {
    std::string start_line;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::vector<std::string> values(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& [n, v] : headers)
            if (n == name) out.push_back(v);
        return out;
    }
    std::optional<std::string> value(std::string_view name) const {
        auto all = values(name);
        if (all.size() != 1) return std::nullopt;
        return all.front();
    }
};

// Strict parse of a message head: every line ends in CRLF, "Name: value" headers.
parsed_http parse_http(std::string_view text) {
    parsed_http out;
    const auto head_end = text.find("\r\n\r\n");
    if (head_end == std::string_view::npos) throw std::runtime_error("no end of head");
    std::string_view head = text.substr(0, head_end + 2);
    out.body = std::string{text.substr(head_end + 4)};
    bool first = true;
    while (!head.empty()) {
        const auto eol = head.find("\r\n");
        const auto line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        if (first) {
            out.start_line = std::string{line};
            first = false;
            continue;
        }
        const auto colon = line.find(": ");
        if (colon == std::string_view::npos) throw std::runtime_error("bad header line");
        out.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return out;
}

handshake_result validate(request_fixture& f, const server_handshake_options& opts = {}) {
    return validate_upgrade(f.get(), opts);
}

std::string header_value(const handshake_result& r, std::string_view name) {
    for (const auto& h : r.headers)
        if (h.name == name) return h.value;
    return "<absent>";
}

bool has_header(const handshake_result& r, std::string_view name) {
    return std::any_of(r.headers.begin(), r.headers.end(),
                       [&](const owned_header& h) { return h.name == name; });
}

// ---- compute_accept / key validation ----

TEST(HandshakeAccept, RfcSampleKey) {
    EXPECT_EQ(compute_accept(sample_key), sample_accept);
}

TEST(HandshakeAccept, DifferentKeyGivesDifferentAccept) {
    EXPECT_NE(compute_accept("AAAAAAAAAAAAAAAAAAAAAA=="), sample_accept);
    EXPECT_EQ(compute_accept("AAAAAAAAAAAAAAAAAAAAAA==").size(), 28u);
}

TEST(HandshakeKey, AcceptsBase64Of16Bytes) {
    EXPECT_TRUE(is_valid_client_key(sample_key));
    EXPECT_TRUE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    EXPECT_TRUE(is_valid_client_key("/+/+/+/+/+/+/+/+/+/+/w=="));
}

TEST(HandshakeKey, RejectsWrongLengths) {
    EXPECT_FALSE(is_valid_client_key(""));
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAA"));          // 15 bytes, no padding
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAAAA="));      // 17 bytes
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAAAAA"));      // 18 bytes
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAAAAAAAA="));  // 20 bytes
}

TEST(HandshakeKey, RejectsBadPaddingAndCharacters) {
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAAA"));    // padding missing
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAA==="));  // 15.x bytes, 3 pads
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAA=A=="));  // '=' inside
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAA*=="));  // not base64
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAA AAAAAAAAAAA=="));  // space inside
    EXPECT_FALSE(is_valid_client_key(" AAAAAAAAAAAAAAAAAAAAA=="));  // leading space
    EXPECT_FALSE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAA-=="));  // base64url alphabet
}

// ---- header_has_token ----

TEST(HandshakeToken, MatchesCaseInsensitivelyInList) {
    EXPECT_TRUE(header_has_token("Upgrade", "Upgrade"));
    EXPECT_TRUE(header_has_token("upgrade", "Upgrade"));
    EXPECT_TRUE(header_has_token("keep-alive, upgrade", "Upgrade"));
    EXPECT_TRUE(header_has_token("keep-alive,Upgrade", "Upgrade"));
    EXPECT_TRUE(header_has_token(" \tUPGRADE\t , close", "Upgrade"));
    EXPECT_TRUE(header_has_token(",,Upgrade,,", "Upgrade"));
}

TEST(HandshakeToken, RejectsPartialTokens) {
    EXPECT_FALSE(header_has_token("upgrade-insecure", "Upgrade"));
    EXPECT_FALSE(header_has_token("xUpgrade", "Upgrade"));
    EXPECT_FALSE(header_has_token("Upgradex, keep-alive", "Upgrade"));
    EXPECT_FALSE(header_has_token("Up grade", "Upgrade"));
    EXPECT_FALSE(header_has_token("", "Upgrade"));
    EXPECT_FALSE(header_has_token("keep-alive", "Upgrade"));
    EXPECT_FALSE(header_has_token("a, , b", ""));
}

// ---- is_websocket_request ----

TEST(HandshakeDetect, RecognisesUpgradeRequests) {
    request_fixture f;
    EXPECT_TRUE(is_websocket_request(f.get()));

    header_store plain;
    plain.add("Host", "example.com");
    plain.add("Upgrade", "h2c");
    request_head head{"GET", "/", 1, 1, plain.headers};
    EXPECT_FALSE(is_websocket_request(head));

    plain.add("sec-websocket-version", "8");  // no Upgrade websocket, but clearly WS
    head.headers = plain.headers;
    EXPECT_TRUE(is_websocket_request(head));
}

// ---- validate_upgrade: success ----

TEST(HandshakeValidate, AcceptsRfcSampleRequest) {
    request_fixture f;
    const auto r = validate(f);
    ASSERT_EQ(r.status, 101) << r.reason;
    EXPECT_TRUE(r.accepted());
    EXPECT_TRUE(r.reason.empty());
    EXPECT_EQ(header_value(r, "Upgrade"), "websocket");
    EXPECT_EQ(header_value(r, "Connection"), "Upgrade");
    EXPECT_EQ(header_value(r, "Sec-WebSocket-Accept"), sample_accept);
    EXPECT_FALSE(has_header(r, "Sec-WebSocket-Protocol"));
    EXPECT_TRUE(r.subprotocol.empty());
}

TEST(HandshakeValidate, HeaderNamesAreCaseInsensitive) {
    request_fixture f;
    f.headers.clear();
    f.add("hOST", "h");
    f.add("UPGRADE", "WebSocket");
    f.add("connection", "keep-alive, upgrade");
    f.add("sec-websocket-key", std::string{sample_key});
    f.add("SEC-WEBSOCKET-VERSION", "13");
    const auto r = validate(f);
    ASSERT_EQ(r.status, 101) << r.reason;
    EXPECT_EQ(header_value(r, "Sec-WebSocket-Accept"), sample_accept);
}

TEST(HandshakeValidate, AcceptsNewerHttpVersion) {
    request_fixture f;
    f.head.version_major = 2;
    f.head.version_minor = 0;
    EXPECT_EQ(validate(f).status, 101);
}

TEST(HandshakeValidate, TrimsWhitespaceAroundSingleValues) {
    request_fixture f;
    f.set("Sec-WebSocket-Key", " dGhlIHNhbXBsZSBub25jZQ==\t");
    f.set("Sec-WebSocket-Version", " 13 ");
    const auto r = validate(f);
    ASSERT_EQ(r.status, 101) << r.reason;
    EXPECT_EQ(header_value(r, "Sec-WebSocket-Accept"), sample_accept);
}

// ---- validate_upgrade: request line ----

TEST(HandshakeValidate, NonGetIs405WithAllow) {
    for (const char* method : {"POST", "HEAD", "get", "PUT"}) {
        request_fixture f;
        f.head.method = method;
        const auto r = validate(f);
        EXPECT_EQ(r.status, 405) << method;
        EXPECT_EQ(r.reason, "method must be GET");
        EXPECT_EQ(header_value(r, "Allow"), "GET");
    }
}

TEST(HandshakeValidate, Http10Is400) {
    request_fixture f;
    f.head.version_minor = 0;
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "HTTP version must be 1.1 or later");
}

TEST(HandshakeValidate, Http09Is400) {
    request_fixture f;
    f.head.version_major = 0;
    f.head.version_minor = 9;
    EXPECT_EQ(validate(f).status, 400);
}

// ---- validate_upgrade: Host ----

TEST(HandshakeValidate, MissingHostIs400) {
    request_fixture f;
    f.remove("Host");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "missing Host");
}

TEST(HandshakeValidate, DuplicateHostIs400) {
    request_fixture f;
    f.add("host", "other.example.com");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "duplicate Host");
}

TEST(HandshakeValidate, EmptyHostIs400) {
    request_fixture f;
    f.set("Host", "  ");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "empty Host");
}

// ---- validate_upgrade: Upgrade / Connection ----

TEST(HandshakeValidate, MissingUpgradeIs400) {
    request_fixture f;
    f.remove("Upgrade");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "missing Upgrade header");
}

TEST(HandshakeValidate, UpgradeWithoutWebsocketIs400) {
    request_fixture f;
    f.set("Upgrade", "h2c, websocketx");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "Upgrade header does not name websocket");
}

TEST(HandshakeValidate, UpgradeTokenIsCaseInsensitiveAndListed) {
    request_fixture f;
    f.set("Upgrade", "h2c, WebSocket");
    EXPECT_EQ(validate(f).status, 101);
}

TEST(HandshakeValidate, MultipleUpgradeLinesCombined) {
    request_fixture f;
    f.set("Upgrade", "h2c");
    f.add("Upgrade", "websocket");
    EXPECT_EQ(validate(f).status, 101);
}

TEST(HandshakeValidate, MissingConnectionIs400) {
    request_fixture f;
    f.remove("Connection");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "missing Connection header");
}

TEST(HandshakeValidate, ConnectionWithoutUpgradeTokenIs400) {
    for (const char* value : {"keep-alive", "upgrade-insecure", "xUpgrade", "close"}) {
        request_fixture f;
        f.set("Connection", value);
        const auto r = validate(f);
        EXPECT_EQ(r.status, 400) << value;
        EXPECT_EQ(r.reason, "Connection header does not contain Upgrade") << value;
    }
}

TEST(HandshakeValidate, ConnectionTokenListAccepted) {
    request_fixture f;
    f.set("Connection", "keep-alive, upgrade");  // Firefox sends this
    EXPECT_EQ(validate(f).status, 101);
}

TEST(HandshakeValidate, MultipleConnectionLinesCombined) {
    request_fixture f;
    f.set("Connection", "keep-alive");
    f.add("Connection", "Upgrade");
    EXPECT_EQ(validate(f).status, 101);
}

TEST(HandshakeValidate, TokensOnlyCountInTheirOwnHeader) {
    request_fixture f;
    f.set("Connection", "keep-alive");
    f.add("X-Hint", "Upgrade");
    EXPECT_EQ(validate(f).status, 400);

    request_fixture g;
    g.add("Sec-WebSocket-Extensions", "chat");  // not a subprotocol offer
    server_handshake_options opts;
    opts.subprotocols = {"chat"};
    const auto r = validate(g, opts);
    ASSERT_EQ(r.status, 101);
    EXPECT_TRUE(r.subprotocol.empty());
}

// ---- validate_upgrade: Sec-WebSocket-Version ----

TEST(HandshakeValidate, UnsupportedVersionIs426WithVersionHeader) {
    for (const char* version : {"8", "12", "14", "13, 8", "", "013"}) {
        request_fixture f;
        f.set("Sec-WebSocket-Version", version);
        const auto r = validate(f);
        EXPECT_EQ(r.status, 426) << version;
        EXPECT_EQ(r.reason, "unsupported Sec-WebSocket-Version (only 13 is supported)");
        EXPECT_EQ(header_value(r, "Sec-WebSocket-Version"), "13");
    }
}

TEST(HandshakeValidate, MissingVersionIs426WithVersionHeader) {
    request_fixture f;
    f.remove("Sec-WebSocket-Version");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 426);
    EXPECT_EQ(r.reason, "missing Sec-WebSocket-Version");
    EXPECT_EQ(header_value(r, "Sec-WebSocket-Version"), "13");
    EXPECT_EQ(header_value(r, "Upgrade"), "websocket");
}

TEST(HandshakeValidate, DuplicateVersionIs400) {
    request_fixture f;
    f.add("Sec-WebSocket-Version", "13");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "duplicate Sec-WebSocket-Version");
}

// ---- validate_upgrade: Sec-WebSocket-Key ----

TEST(HandshakeValidate, MissingKeyIs400) {
    request_fixture f;
    f.remove("Sec-WebSocket-Key");
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "missing Sec-WebSocket-Key");
}

TEST(HandshakeValidate, DuplicateKeyIs400) {
    request_fixture f;
    f.add("Sec-WebSocket-Key", std::string{sample_key});  // even the same value
    const auto r = validate(f);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "duplicate Sec-WebSocket-Key");
}

TEST(HandshakeValidate, InvalidKeysAre400) {
    const char* keys[] = {
        "AAAAAAAAAAAAAAAAAAAA",          // 15 bytes
        "AAAAAAAAAAAAAAAAAAAAAAA=",      // 17 bytes
        "AAAAAAAAAAAAAAAAAAAAAA",        // 16 bytes, padding missing
        "AAAAAAAAAAAAAAAAAAAAA===",      // bad padding
        "AAAAAAAAAAAAAAAAAAAAA!==",      // not base64
        "",                              // empty
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",  // trailing junk
    };
    for (const char* key : keys) {
        request_fixture f;
        f.set("Sec-WebSocket-Key", key);
        const auto r = validate(f);
        EXPECT_EQ(r.status, 400) << key;
        EXPECT_EQ(r.reason, "Sec-WebSocket-Key is not base64 of 16 bytes") << key;
    }
}

// ---- validate_upgrade: Origin ----

TEST(HandshakeValidate, AnyOriginWhenAllowListEmpty) {
    request_fixture f;
    f.set("Origin", "https://evil.example");
    EXPECT_EQ(validate(f).status, 101);
    f.remove("Origin");
    EXPECT_EQ(validate(f).status, 101);
}

TEST(HandshakeValidate, AllowedOriginMatchesCaseInsensitively) {
    request_fixture f;
    f.set("Origin", "HTTPS://Example.COM");
    server_handshake_options opts;
    opts.allowed_origins = {"https://other.test", "https://example.com"};
    EXPECT_EQ(validate(f, opts).status, 101);
}

TEST(HandshakeValidate, DisallowedOriginIs403) {
    request_fixture f;
    f.set("Origin", "https://example.com.evil.test");
    server_handshake_options opts;
    opts.allowed_origins = {"https://example.com"};
    const auto r = validate(f, opts);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.reason, "Origin not allowed");
}

TEST(HandshakeValidate, MissingOriginWithAllowListIs403) {
    request_fixture f;
    f.remove("Origin");
    server_handshake_options opts;
    opts.allowed_origins = {"https://example.com"};
    const auto r = validate(f, opts);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.reason, "missing Origin");
}

TEST(HandshakeValidate, DuplicateOriginWithAllowListIs400) {
    request_fixture f;
    f.set("Origin", "https://example.com");
    f.add("Origin", "https://example.com");
    server_handshake_options opts;
    opts.allowed_origins = {"https://example.com"};
    const auto r = validate(f, opts);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "duplicate Origin");
}

// ---- validate_upgrade: subprotocols ----

TEST(HandshakeValidate, SubprotocolFollowsServerPreference) {
    request_fixture f;
    f.add("Sec-WebSocket-Protocol", "a, b");
    server_handshake_options opts;
    opts.subprotocols = {"b", "a"};
    const auto r = validate(f, opts);
    ASSERT_EQ(r.status, 101);
    EXPECT_EQ(r.subprotocol, "b");
    EXPECT_EQ(header_value(r, "Sec-WebSocket-Protocol"), "b");
}

TEST(HandshakeValidate, SubprotocolFromSecondHeaderLine) {
    request_fixture f;
    f.add("Sec-WebSocket-Protocol", "x");
    f.add("sec-websocket-protocol", "chat");
    server_handshake_options opts;
    opts.subprotocols = {"chat"};
    const auto r = validate(f, opts);
    ASSERT_EQ(r.status, 101);
    EXPECT_EQ(r.subprotocol, "chat");
}

TEST(HandshakeValidate, NoSubprotocolMatchMeansNoHeader) {
    request_fixture f;
    f.add("Sec-WebSocket-Protocol", "Chat, superchat2, xchat");  // case-sensitive: not "chat"
    server_handshake_options opts;
    opts.subprotocols = {"chat", "superchat"};
    const auto r = validate(f, opts);
    ASSERT_EQ(r.status, 101);
    EXPECT_TRUE(r.subprotocol.empty());
    EXPECT_FALSE(has_header(r, "Sec-WebSocket-Protocol"));
}

TEST(HandshakeValidate, ClientOffersButServerHasNone) {
    request_fixture f;
    f.add("Sec-WebSocket-Protocol", "chat");
    const auto r = validate(f);
    ASSERT_EQ(r.status, 101);
    EXPECT_FALSE(has_header(r, "Sec-WebSocket-Protocol"));
}

TEST(HandshakeValidate, FirstDefectWins) {
    request_fixture f;
    f.head.method = "POST";
    f.remove("Sec-WebSocket-Key");
    EXPECT_EQ(validate(f).status, 405);
}

// ---- to_http ----

TEST(HandshakeToHttp, SuccessHead) {
    request_fixture f;
    f.add("Sec-WebSocket-Protocol", "chat");
    server_handshake_options opts;
    opts.subprotocols = {"chat"};
    const std::string http = validate(f, opts).to_http();
    EXPECT_EQ(http,
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: chat\r\n"
              "\r\n");
}

TEST(HandshakeToHttp, ErrorResponseParsesBack) {
    request_fixture f;
    f.set("Sec-WebSocket-Key", "short");
    const auto p = parse_http(validate(f).to_http());
    EXPECT_EQ(p.start_line, "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(p.value("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(p.value("Connection"), "close");
    EXPECT_EQ(p.body, "Sec-WebSocket-Key is not base64 of 16 bytes\n");
    EXPECT_EQ(p.value("Content-Length"), std::to_string(p.body.size()));
}

TEST(HandshakeToHttp, StatusPhrases) {
    struct {
        int status;
        const char* line;
    } cases[] = {{400, "HTTP/1.1 400 Bad Request"},
                 {403, "HTTP/1.1 403 Forbidden"},
                 {405, "HTTP/1.1 405 Method Not Allowed"},
                 {426, "HTTP/1.1 426 Upgrade Required"}};
    for (const auto& c : cases) {
        handshake_result r;
        r.status = c.status;
        r.reason = "x";
        EXPECT_EQ(parse_http(r.to_http()).start_line, c.line);
    }
}

TEST(HandshakeToHttp, MethodNotAllowedCarriesAllow) {
    request_fixture f;
    f.head.method = "POST";
    const auto p = parse_http(validate(f).to_http());
    EXPECT_EQ(p.start_line, "HTTP/1.1 405 Method Not Allowed");
    EXPECT_EQ(p.value("Allow"), "GET");
    EXPECT_EQ(p.body, "method must be GET\n");
}

TEST(HandshakeToHttp, UpgradeRequiredCarriesVersion) {
    request_fixture f;
    f.set("Sec-WebSocket-Version", "8");
    const auto p = parse_http(validate(f).to_http());
    EXPECT_EQ(p.start_line, "HTTP/1.1 426 Upgrade Required");
    EXPECT_EQ(p.value("Sec-WebSocket-Version"), "13");
    EXPECT_EQ(p.value("Upgrade"), "websocket");
    ASSERT_TRUE(p.value("Connection").has_value());
    EXPECT_TRUE(header_has_token(*p.value("Connection"), "close"));
    EXPECT_TRUE(header_has_token(*p.value("Connection"), "Upgrade"));
    EXPECT_EQ(p.value("Content-Length"), std::to_string(p.body.size()));
}

// ---- client side ----

// Turns a client request head into a request_head backed by `store`.
request_head parse_request(const std::string& http, header_store& store) {
    const auto p = parse_http(http);
    for (const auto& [n, v] : p.headers) store.add(n, v);
    const auto sp1 = p.start_line.find(' ');
    const auto sp2 = p.start_line.rfind(' ');
    request_head head;
    head.method = store.keep(p.start_line.substr(0, sp1));
    head.target = store.keep(p.start_line.substr(sp1 + 1, sp2 - sp1 - 1));
    EXPECT_EQ(p.start_line.substr(sp2 + 1), "HTTP/1.1");
    head.headers = store.headers;
    return head;
}

response_head parse_response(const std::string& http, header_store& store) {
    const auto p = parse_http(http);
    for (const auto& [n, v] : p.headers) store.add(n, v);
    response_head head;
    head.status = std::stoi(p.start_line.substr(9, 3));
    head.headers = store.headers;
    return head;
}

client_request_options client_options() {
    client_request_options o;
    o.host = "server.example.com:8080";
    o.target = "/chat?room=1";
    o.origin = "https://example.com";
    o.subprotocols = {"a", "b"};
    o.extra_headers = {{"Authorization", "Bearer t"}};
    return o;
}

TEST(HandshakeClient, BuildsRequest) {
    const auto req = build_client_request(client_options());
    EXPECT_TRUE(is_valid_client_key(req.key));
    const auto p = parse_http(req.http);
    EXPECT_EQ(p.start_line, "GET /chat?room=1 HTTP/1.1");
    EXPECT_EQ(p.value("Host"), "server.example.com:8080");
    EXPECT_EQ(p.value("Upgrade"), "websocket");
    EXPECT_EQ(p.value("Connection"), "Upgrade");
    EXPECT_EQ(p.value("Sec-WebSocket-Key"), req.key);
    EXPECT_EQ(p.value("Sec-WebSocket-Version"), "13");
    EXPECT_EQ(p.value("Origin"), "https://example.com");
    EXPECT_EQ(p.value("Sec-WebSocket-Protocol"), "a, b");
    EXPECT_EQ(p.value("Authorization"), "Bearer t");
    EXPECT_TRUE(p.body.empty());
}

TEST(HandshakeClient, OmitsOptionalHeaders) {
    client_request_options o;
    o.host = "h";
    const auto p = parse_http(build_client_request(o).http);
    EXPECT_EQ(p.start_line, "GET / HTTP/1.1");
    EXPECT_TRUE(p.values("Origin").empty());
    EXPECT_TRUE(p.values("Sec-WebSocket-Protocol").empty());
    EXPECT_EQ(p.headers.size(), 5u);
}

TEST(HandshakeClient, RejectsHeaderInjection) {
    auto o = client_options();
    o.host = "h\r\nX-Evil: 1";
    EXPECT_THROW(build_client_request(o), std::invalid_argument);
    o = client_options();
    o.extra_headers = {{"X-Ok", "v\nX-Evil: 1"}};
    EXPECT_THROW(build_client_request(o), std::invalid_argument);
    o = client_options();
    o.extra_headers = {{"Bad Name", "v"}};
    EXPECT_THROW(build_client_request(o), std::invalid_argument);
    o = client_options();
    o.subprotocols = {"a, b"};
    EXPECT_THROW(build_client_request(o), std::invalid_argument);
    o = client_options();
    o.target = "/a b";
    EXPECT_THROW(build_client_request(o), std::invalid_argument);
}

TEST(HandshakeClient, KeysAreFresh) {
    const auto a = build_client_request(client_options());
    const auto b = build_client_request(client_options());
    EXPECT_NE(a.key, b.key);
    EXPECT_NE(a.http, b.http);
}

TEST(HandshakeClient, RoundTripWithServer) {
    const auto opts = client_options();
    const auto req = build_client_request(opts);

    header_store req_store;
    const auto head = parse_request(req.http, req_store);
    EXPECT_EQ(head.method, "GET");
    EXPECT_EQ(head.target, "/chat?room=1");
    server_handshake_options server;
    server.allowed_origins = {"https://example.com"};
    server.subprotocols = {"b", "c"};
    const auto answer = validate_upgrade(head, server);
    ASSERT_EQ(answer.status, 101) << answer.reason;
    EXPECT_EQ(header_value(answer, "Sec-WebSocket-Accept"), compute_accept(req.key));

    header_store resp_store;
    const auto resp = parse_response(answer.to_http(), resp_store);
    const auto verdict = verify_server_response(resp, req.key, opts.subprotocols);
    EXPECT_TRUE(verdict.ok) << verdict.error;
    EXPECT_TRUE(verdict.error.empty());
    EXPECT_EQ(verdict.subprotocol, "b");
}

// A valid 101 answer to the RFC sample key; tests break one thing at a time.
struct response_fixture : header_store {
    response_head head{101, {}};
    std::vector<std::string> offered{"chat", "superchat"};

    response_fixture() {
        add("Upgrade", "websocket");
        add("Connection", "Upgrade");
        add("Sec-WebSocket-Accept", std::string{sample_accept});
    }

    client_handshake_result verify() {
        head.headers = headers;
        return verify_server_response(head, sample_key, offered);
    }
};

TEST(HandshakeVerify, AcceptsValidAnswer) {
    response_fixture f;
    const auto r = f.verify();
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(r.subprotocol.empty());
}

TEST(HandshakeVerify, AcceptsCaseAndListVariants) {
    response_fixture f;
    f.set("upgrade", "WebSocket");
    f.set("connection", "keep-alive, upgrade");
    f.remove("Upgrade");
    f.remove("Connection");
    const auto r = f.verify();
    EXPECT_TRUE(r.ok) << r.error;
}

TEST(HandshakeVerify, RejectsNon101) {
    response_fixture f;
    f.head.status = 200;
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "expected status 101, got 200");
}

TEST(HandshakeVerify, RejectsMissingUpgrade) {
    response_fixture f;
    f.remove("Upgrade");
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "missing Upgrade header");
}

TEST(HandshakeVerify, RejectsWrongUpgrade) {
    response_fixture f;
    f.set("Upgrade", "h2c");
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "Upgrade header does not name websocket");
}

TEST(HandshakeVerify, RejectsMissingConnectionUpgrade) {
    response_fixture f;
    f.set("Connection", "close");
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "Connection header does not contain Upgrade");
}

TEST(HandshakeVerify, RejectsWrongAccept) {
    response_fixture f;
    f.set("Sec-WebSocket-Accept", compute_accept("AAAAAAAAAAAAAAAAAAAAAA=="));
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "Sec-WebSocket-Accept does not match the key sent");
}

TEST(HandshakeVerify, RejectsMissingAccept) {
    response_fixture f;
    f.remove("Sec-WebSocket-Accept");
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "missing Sec-WebSocket-Accept");
}

TEST(HandshakeVerify, AcceptsOfferedSubprotocol) {
    response_fixture f;
    f.add("Sec-WebSocket-Protocol", "superchat");
    const auto r = f.verify();
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.subprotocol, "superchat");
}

TEST(HandshakeVerify, RejectsUnofferedSubprotocol) {
    for (const char* value : {"other", "Chat", "chat, superchat", ""}) {
        response_fixture f;
        f.add("Sec-WebSocket-Protocol", value);
        const auto r = f.verify();
        EXPECT_FALSE(r.ok) << value;
        EXPECT_EQ(r.error, "server selected a subprotocol that was not offered") << value;
    }
}

TEST(HandshakeVerify, RejectsSubprotocolWhenNoneOffered) {
    response_fixture f;
    f.offered.clear();
    f.add("Sec-WebSocket-Protocol", "chat");
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "server selected a subprotocol that was not offered");
}

TEST(HandshakeVerify, RejectsUnexpectedExtension) {
    response_fixture f;
    f.add("Sec-WebSocket-Extensions", "permessage-deflate");
    const auto r = f.verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "server selected an extension that was not offered");
}

}  // namespace
