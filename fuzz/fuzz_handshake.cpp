// Fuzzes the opening handshake (src/protocol/handshake.cpp).
//
// Input layout: byte 0 holds option flags, the rest is text read as an HTTP head:
//   METHOD TARGET HTTP/x.y      (request line; fields missing or unparsable get defaults)
//   Name: value                 (header lines, up to the first empty line)
//   <anything>                  (after the empty line: fed to the key/accept functions)
// Lines end in "\n" or "\r\n". Besides "must not crash", it checks properties that must
// hold for every input: an accepted request yields a 101 that our own client accepts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/handshake.hpp"

namespace {

using namespace sockeye::protocol;

constexpr std::size_t max_headers = 64;

void require(bool condition) {
    if (!condition) std::abort();
}

bool iequals(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [&](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Takes the next line off `text`, without its "\n" or "\r\n".
std::string_view next_line(std::string_view& text) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

// "HTTP/x.y" -> major, minor; anything else leaves the defaults.
void parse_version(std::string_view v, request_head& head) {
    if (v.size() == 8 && v.substr(0, 5) == "HTTP/" && v[6] == '.' && v[5] >= '0' && v[5] <= '9' &&
        v[7] >= '0' && v[7] <= '9') {
        head.version_major = v[5] - '0';
        head.version_minor = v[7] - '0';
    }
}

void parse_request_line(std::string_view line, request_head& head) {
    const auto sp1 = line.find(' ');
    head.method = line.substr(0, sp1);
    if (sp1 == std::string_view::npos) return;
    const auto rest = line.substr(sp1 + 1);
    const auto sp2 = rest.find(' ');
    head.target = rest.substr(0, sp2);
    if (sp2 != std::string_view::npos) parse_version(rest.substr(sp2 + 1), head);
}

std::vector<http_header> parse_headers(std::string_view& text) {
    std::vector<http_header> headers;
    while (!text.empty() && headers.size() < max_headers) {
        const auto line = next_line(text);
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
    }
    return headers;
}

std::string_view find_value(std::span<const http_header> headers, std::string_view name) {
    for (const auto& h : headers)
        if (iequals(h.name, name)) return trim(h.value);
    return {};
}

// Whatever validate_upgrade() accepts, our own client must accept as the answer.
void check_accepted(const handshake_result& result, const request_head& req) {
    require(result.reason.empty());
    const std::string_view key = find_value(req.headers, "Sec-WebSocket-Key");
    require(is_valid_client_key(key));

    std::vector<http_header> response;
    for (const auto& h : result.headers) response.push_back({h.name, h.value});
    require(find_value(response, "Sec-WebSocket-Accept") == compute_accept(key));

    std::vector<std::string> offered;
    if (!result.subprotocol.empty()) offered.push_back(result.subprotocol);
    const auto verdict = verify_server_response({101, response}, key, offered);
    require(verdict.ok && verdict.subprotocol == result.subprotocol);

    const std::string http = result.to_http();
    require(http.starts_with("HTTP/1.1 101 Switching Protocols\r\n") && http.ends_with("\r\n\r\n"));
}

void check_rejected(const handshake_result& result) {
    require(result.status == 400 || result.status == 403 || result.status == 405 ||
            result.status == 426);
    require(!result.reason.empty());
    const std::string http = result.to_http();
    const auto head_end = http.find("\r\n\r\n");
    require(http.starts_with("HTTP/1.1 ") && head_end != std::string::npos);
    require(http.substr(head_end + 4) == result.reason + "\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t flags = data[0];
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    request_head req;
    parse_request_line(next_line(text), req);
    const auto headers = parse_headers(text);
    req.headers = headers;

    server_handshake_options opts;
    if (flags & 1) opts.allowed_origins = {"https://example.com", "http://localhost:8080"};
    if (flags & 2) opts.subprotocols = {"chat", "superchat", "v2.json"};

    (void)is_websocket_request(req);
    const auto result = validate_upgrade(req, opts);
    if (result.accepted()) {
        check_accepted(result, req);
    } else {
        check_rejected(result);
    }

    // The same headers read as a server's answer to whatever key the body holds.
    const std::string_view body = text;
    const std::vector<std::string> offered{"chat", "superchat"};
    const int status = (flags & 4) ? 101 : 100 + (flags >> 3);
    const auto verdict = verify_server_response({status, headers}, body, offered);
    require(verdict.ok != !verdict.error.empty());

    if (is_valid_client_key(body)) require(compute_accept(body).size() == 28);
    (void)header_has_token(body, "Upgrade");
    return 0;
}
