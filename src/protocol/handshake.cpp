#include "handshake.hpp"

#include "http_tokens.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace sockeye::protocol {

namespace {

// §1.3: the fixed GUID the server appends to the client's key before hashing.
constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view supported_version = "13";

// 16 random bytes encode to 22 base64 characters plus "==" (§4.1 step 7).
constexpr std::size_t key_bytes = 16;
constexpr std::size_t key_chars = 24;

// ---- small string helpers (HTTP is ASCII; locale-dependent <cctype> is avoided) ----

constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Whether the comma-separated `list` has an element equal to `token`. Subprotocol names
// compare case-sensitively (§4.1: "exact" match); connection options and upgrade tokens
// do not (RFC 7230 §6.1, §6.7).
bool list_contains(std::string_view list, std::string_view token, bool case_sensitive) noexcept {
    if (token.empty()) return false;  // empty list elements are ignored by HTTP (§7 of 7230)
    while (true) {
        const auto comma = list.find(',');
        const auto element = trim_ows(list.substr(0, comma));
        if (case_sensitive ? element == token : iequals(element, token)) return true;
        if (comma == std::string_view::npos) return false;
        list.remove_prefix(comma + 1);
    }
}

bool is_base64_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// ---- header lookup ----

// A header that may appear at most once: how often it appeared and its (trimmed) value.
struct single_header {
    std::size_t count = 0;
    std::string_view value;

    bool missing() const noexcept { return count == 0; }
    bool duplicated() const noexcept { return count > 1; }
};

single_header find_single(std::span<const http_header> headers, std::string_view name) noexcept {
    single_header found;
    for (const auto& h : headers) {
        if (!iequals(h.name, name)) continue;
        if (found.count++ == 0) found.value = trim_ows(h.value);
    }
    return found;
}

bool has_header(std::span<const http_header> headers, std::string_view name) noexcept {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const http_header& h) { return iequals(h.name, name); });
}

// Several lines of a list-valued header mean the same as one line joining them with
// commas (RFC 7230 §3.2.2), so checking each line in turn is equivalent to joining them.
bool any_line_has_token(std::span<const http_header> headers, std::string_view name,
                        std::string_view token, bool case_sensitive = false) noexcept {
    return std::any_of(headers.begin(), headers.end(), [&](const http_header& h) {
        return iequals(h.name, name) && list_contains(h.value, token, case_sensitive);
    });
}

// ---- OpenSSL wrappers ----

std::string base64_encode(const unsigned char* data, std::size_t size) {
    // EVP_EncodeBlock writes 4 characters per 3 bytes (padded) plus a NUL.
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

// ---- server-side result builders ----

handshake_result reject(int status, std::string reason, std::vector<owned_header> headers = {}) {
    handshake_result r;
    r.status = status;
    r.reason = std::move(reason);
    r.headers = std::move(headers);
    return r;
}

// §4.2.2: an unsupported version is answered with 426 and the versions we speak. RFC 7231
// §6.5.15 also requires an Upgrade header on a 426, naming the protocol to switch to.
handshake_result reject_version(std::string reason) {
    return reject(
        426, std::move(reason),
        {{"Sec-WebSocket-Version", std::string{supported_version}}, {"Upgrade", "websocket"}});
}

std::string_view status_phrase(int status) noexcept {
    switch (status) {
        case 101:
            return "Switching Protocols";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 426:
            return "Upgrade Required";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Error";
    }
}

// Each check returns an error result, or nothing when the request passes it.
using check_result = std::optional<handshake_result>;

check_result check_request_line(const request_head& req) {
    // Methods are case-sensitive (RFC 7231 §4.1), so "get" is not GET.
    if (req.method != "GET") return reject(405, "method must be GET", {{"Allow", "GET"}});
    const bool at_least_1_1 =
        req.version_major > 1 || (req.version_major == 1 && req.version_minor >= 1);
    if (!at_least_1_1) return reject(400, "HTTP version must be 1.1 or later");
    return std::nullopt;
}

check_result check_host(std::span<const http_header> headers) {
    const auto host = find_single(headers, "Host");
    if (host.missing()) return reject(400, "missing Host");
    if (host.duplicated()) return reject(400, "duplicate Host");
    // A ws:// or wss:// URI always has an authority, so an empty Host cannot be right.
    if (host.value.empty()) return reject(400, "empty Host");
    return std::nullopt;
}

check_result check_upgrade_tokens(std::span<const http_header> headers) {
    // The token is looked for first (one pass over the headers when all is well); which
    // error it is matters only when it is not there.
    if (!any_line_has_token(headers, "Upgrade", "websocket")) {
        if (!has_header(headers, "Upgrade")) return reject(400, "missing Upgrade header");
        return reject(400, "Upgrade header does not name websocket");
    }
    if (!any_line_has_token(headers, "Connection", "Upgrade")) {
        if (!has_header(headers, "Connection")) return reject(400, "missing Connection header");
        return reject(400, "Connection header does not contain Upgrade");
    }
    return std::nullopt;
}

// A missing version gets 426 like an unknown one: clients of pre-RFC drafts (hixie-76)
// send no version at all, and 426 + "Sec-WebSocket-Version: 13" tells them what we speak.
// Two version lines are malformed rather than unknown, hence 400.
check_result check_version(std::span<const http_header> headers) {
    const auto version = find_single(headers, "Sec-WebSocket-Version");
    if (version.missing()) return reject_version("missing Sec-WebSocket-Version");
    if (version.duplicated()) return reject(400, "duplicate Sec-WebSocket-Version");
    if (version.value != supported_version)
        return reject_version("unsupported Sec-WebSocket-Version (only 13 is supported)");
    return std::nullopt;
}

check_result check_key(const single_header& key) {
    if (key.missing()) return reject(400, "missing Sec-WebSocket-Key");
    if (key.duplicated()) return reject(400, "duplicate Sec-WebSocket-Key");
    if (!is_valid_client_key(key.value))
        return reject(400, "Sec-WebSocket-Key is not base64 of 16 bytes");
    return std::nullopt;
}

// §4.2.2 step 4 / §10.2: browsers always send Origin, so a server with an allow-list
// refuses requests without one. Two Origin lines are malformed (RFC 6454 §7.3: one value).
check_result check_origin(std::span<const http_header> headers,
                          const std::vector<std::string>& allowed) {
    if (allowed.empty()) return std::nullopt;
    const auto origin = find_single(headers, "Origin");
    if (origin.missing()) return reject(403, "missing Origin");
    if (origin.duplicated()) return reject(400, "duplicate Origin");
    const bool ok = std::any_of(allowed.begin(), allowed.end(),
                                [&](const std::string& a) { return iequals(a, origin.value); });
    if (!ok) return reject(403, "Origin not allowed");
    return std::nullopt;
}

// Server preference wins (§4.2.2 step 5.5 leaves the choice to the server).
std::string choose_subprotocol(std::span<const http_header> headers,
                               const std::vector<std::string>& server_protocols) {
    for (const auto& p : server_protocols) {
        if (any_line_has_token(headers, "Sec-WebSocket-Protocol", p, /*case_sensitive=*/true))
            return p;
    }
    return {};
}

// ---- client-side helpers ----

bool has_line_break_or_nul(std::string_view s) noexcept {
    return s.find_first_of(std::string_view{"\r\n\0", 3}) != std::string_view::npos;
}

void require_header_value(std::string_view what, std::string_view value) {
    if (has_line_break_or_nul(value))
        throw std::invalid_argument(std::string{what} + " contains CR, LF or NUL");
}

std::string random_key() {
    std::array<unsigned char, key_bytes> nonce{};
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
        throw std::runtime_error("RAND_bytes failed to produce a Sec-WebSocket-Key");
    return base64_encode(nonce.data(), nonce.size());
}

std::string join_subprotocols(const std::vector<std::string>& protocols) {
    std::string out;
    for (const auto& p : protocols) {
        if (!is_token(p))
            throw std::invalid_argument("subprotocol \"" + p + "\" is not an HTTP token");
        if (!out.empty()) out += ", ";
        out += p;
    }
    return out;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

client_handshake_result client_error(std::string message) {
    client_handshake_result r;
    r.error = std::move(message);
    return r;
}

}  // namespace

bool header_has_token(std::string_view value, std::string_view token) noexcept {
    return list_contains(value, token, /*case_sensitive=*/false);
}

bool is_valid_client_key(std::string_view key) noexcept {
    // Checked by hand first because EVP_DecodeBlock tolerates surrounding whitespace and
    // would accept a key with '=' in the middle of a quantum.
    if (key.size() != key_chars || key[22] != '=' || key[23] != '=') return false;
    if (!std::all_of(key.begin(), key.begin() + 22, is_base64_char)) return false;

    std::array<unsigned char, key_chars / 4 * 3> decoded{};
    const int n =
        EVP_DecodeBlock(decoded.data(), reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size()));
    // DecodeBlock counts the bytes "decoded" from padding too (18 here): subtract them.
    return n == static_cast<int>(key_bytes) + 2;
}

namespace {

// SHA-1 looked up once: EVP_sha1() with OpenSSL 3 makes every digest fetch the algorithm
// from the provider again, and EVP_Digest allocates a context each time — together two
// thirds of the accept key's cost (≈ 4,000 of 6,000 instructions per handshake).
const EVP_MD* sha1() {
    static const EVP_MD* const md = [] {
        const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA1", nullptr);
        return m != nullptr ? m : EVP_sha1();
    }();
    return md;
}

struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

EVP_MD_CTX* thread_md_ctx() {
    thread_local std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx{EVP_MD_CTX_new()};
    return ctx.get();
}

}  // namespace

std::string compute_accept(std::string_view key) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_size = 0;
    EVP_MD_CTX* ctx = thread_md_ctx();
    if (ctx == nullptr || EVP_DigestInit_ex2(ctx, sha1(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx, key.data(), key.size()) != 1 ||
        EVP_DigestUpdate(ctx, websocket_guid.data(), websocket_guid.size()) != 1 ||
        EVP_DigestFinal_ex(ctx, digest.data(), &digest_size) != 1) {
        throw std::runtime_error("SHA-1 digest failed");
    }
    return base64_encode(digest.data(), digest_size);
}

bool is_websocket_request(const request_head& req) noexcept {
    return any_line_has_token(req.headers, "Upgrade", "websocket") ||
           has_header(req.headers, "Sec-WebSocket-Key") ||
           has_header(req.headers, "Sec-WebSocket-Version");
}

// Checks run in the order of §4.2.1, so each request gets the error for its first defect.
handshake_result validate_upgrade(const request_head& req, const server_handshake_options& opts) {
    const auto key = find_single(req.headers, "Sec-WebSocket-Key");
    if (auto e = check_request_line(req)) return std::move(*e);
    if (auto e = check_host(req.headers)) return std::move(*e);
    if (auto e = check_upgrade_tokens(req.headers)) return std::move(*e);
    if (auto e = check_version(req.headers)) return std::move(*e);
    if (auto e = check_key(key)) return std::move(*e);
    if (auto e = check_origin(req.headers, opts.allowed_origins)) return std::move(*e);

    handshake_result r;
    r.status = 101;
    r.subprotocol = choose_subprotocol(req.headers, opts.subprotocols);
    r.headers = {{"Upgrade", "websocket"},
                 {"Connection", "Upgrade"},
                 {"Sec-WebSocket-Accept", compute_accept(key.value)}};
    // No header at all when nothing matched: an empty value would be a protocol error.
    if (!r.subprotocol.empty()) r.headers.push_back({"Sec-WebSocket-Protocol", r.subprotocol});
    return r;
}

handshake_result validate_h2_upgrade(const request_head& req, const server_handshake_options& opts) {
    if (auto e = check_host(req.headers)) return std::move(*e);
    if (auto e = check_version(req.headers)) return std::move(*e);
    if (auto e = check_origin(req.headers, opts.allowed_origins)) return std::move(*e);
    handshake_result r;
    r.status = 101;
    r.subprotocol = choose_subprotocol(req.headers, opts.subprotocols);
    if (!r.subprotocol.empty()) r.headers.push_back({"Sec-WebSocket-Protocol", r.subprotocol});
    return r;
}

std::string handshake_result::to_http() const {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
    out.append(status_phrase(status)).append("\r\n");
    for (const auto& h : headers) append_header(out, h.name, h.value);
    if (accepted()) return out.append("\r\n");

    const std::string body = reason + "\n";
    append_header(out, "Content-Type", "text/plain; charset=utf-8");
    append_header(out, "Content-Length", std::to_string(body.size()));
    // RFC 7230 §6.7: a response carrying Upgrade must list "upgrade" in Connection too.
    const bool offers_upgrade =
        std::any_of(headers.begin(), headers.end(),
                    [](const owned_header& h) { return iequals(h.name, "Upgrade"); });
    append_header(out, "Connection", offers_upgrade ? "Upgrade, close" : "close");
    return out.append("\r\n").append(body);
}

client_request build_client_request(const client_request_options& opts) {
    // Both branches must be views: a mixed ?: would build a temporary std::string.
    const std::string_view target =
        opts.target.empty() ? std::string_view{"/"} : std::string_view{opts.target};
    if (target.find_first_of(std::string_view{" \t\r\n\0", 5}) != std::string_view::npos)
        throw std::invalid_argument("request target contains whitespace or NUL");
    require_header_value("Host", opts.host);
    require_header_value("Origin", opts.origin);
    const std::string protocols = join_subprotocols(opts.subprotocols);

    client_request req;
    req.key = random_key();
    std::string& out = req.http;
    out.append("GET ").append(target).append(" HTTP/1.1\r\n");
    append_header(out, "Host", opts.host);
    append_header(out, "Upgrade", "websocket");
    append_header(out, "Connection", "Upgrade");
    append_header(out, "Sec-WebSocket-Key", req.key);
    append_header(out, "Sec-WebSocket-Version", supported_version);
    if (!opts.origin.empty()) append_header(out, "Origin", opts.origin);
    if (!protocols.empty()) append_header(out, "Sec-WebSocket-Protocol", protocols);
    for (const auto& h : opts.extra_headers) {
        if (!is_token(h.name))
            throw std::invalid_argument("header name \"" + h.name + "\" is not an HTTP token");
        require_header_value(h.name, h.value);
        append_header(out, h.name, h.value);
    }
    out.append("\r\n");
    return req;
}

client_handshake_result verify_server_response(const response_head& resp, std::string_view sent_key,
                                               std::span<const std::string> offered_subprotocols) {
    if (resp.status != 101)
        return client_error("expected status 101, got " + std::to_string(resp.status));
    if (!has_header(resp.headers, "Upgrade")) return client_error("missing Upgrade header");
    if (!any_line_has_token(resp.headers, "Upgrade", "websocket"))
        return client_error("Upgrade header does not name websocket");
    if (!has_header(resp.headers, "Connection")) return client_error("missing Connection header");
    if (!any_line_has_token(resp.headers, "Connection", "Upgrade"))
        return client_error("Connection header does not contain Upgrade");

    const auto accept = find_single(resp.headers, "Sec-WebSocket-Accept");
    if (accept.missing()) return client_error("missing Sec-WebSocket-Accept");
    if (accept.duplicated()) return client_error("duplicate Sec-WebSocket-Accept");
    if (accept.value != compute_accept(sent_key))
        return client_error("Sec-WebSocket-Accept does not match the key sent");

    // We offer no extensions yet, so any the server names was not offered (§4.1 item 5).
    if (has_header(resp.headers, "Sec-WebSocket-Extensions"))
        return client_error("server selected an extension that was not offered");

    client_handshake_result r;
    const auto protocol = find_single(resp.headers, "Sec-WebSocket-Protocol");
    if (protocol.duplicated()) return client_error("duplicate Sec-WebSocket-Protocol");
    if (!protocol.missing()) {
        // One value, exactly as offered (§4.1 item 6); "a, b" or an empty value fails here.
        const bool offered = std::find(offered_subprotocols.begin(), offered_subprotocols.end(),
                                       protocol.value) != offered_subprotocols.end();
        if (!offered) return client_error("server selected a subprotocol that was not offered");
        r.subprotocol = std::string{protocol.value};
    }
    r.ok = true;
    return r;
}

}  // namespace sockeye::protocol
