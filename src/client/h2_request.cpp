#include "client/h2_request.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "protocol/http_tokens.hpp"

namespace sockeye::client_detail {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

void require_value(std::string_view name, std::string_view value) {
    if (!protocol::is_field_value(value)) {
        throw std::invalid_argument("header " + std::string(name) +
                                    " contains a control character");
    }
}

bool connection_specific(std::string_view lower_name) {
    static constexpr std::string_view banned[] = {
        "connection",        "upgrade", "keep-alive", "proxy-connection",
        "transfer-encoding", "te",      "host"};
    return std::find(std::begin(banned), std::end(banned), lower_name) != std::end(banned);
}

protocol::client_handshake_result rejected(std::string why) {
    protocol::client_handshake_result r;
    r.error = std::move(why);
    return r;
}

}  // namespace

std::vector<protocol::owned_header> build_h2_request(const h2_request_options& opts) {
    const std::string target = opts.target.empty() ? "/" : opts.target;
    if (target.find_first_of(std::string_view{" \t\r\n\0", 5}) != std::string::npos) {
        throw std::invalid_argument("request target contains whitespace or NUL");
    }
    require_value(":authority", opts.authority);
    require_value("origin", opts.origin);
    std::string protocols;
    for (const std::string& p : opts.subprotocols) {
        if (!protocol::is_token(p)) {
            throw std::invalid_argument("subprotocol \"" + p + "\" is not an HTTP token");
        }
        if (!protocols.empty()) protocols += ", ";
        protocols += p;
    }

    std::vector<protocol::owned_header> h;
    h.push_back({":method", "CONNECT"});
    h.push_back({":protocol", "websocket"});
    h.push_back({":scheme", opts.secure ? "https" : "http"});
    h.push_back({":path", target});
    h.push_back({":authority", opts.authority});
    h.push_back({"sec-websocket-version", "13"});
    if (!protocols.empty()) h.push_back({"sec-websocket-protocol", protocols});
    if (!opts.origin.empty()) h.push_back({"origin", opts.origin});
    for (const auto& [name, value] : opts.extra_headers) {
        if (!protocol::is_token(name)) {
            throw std::invalid_argument("header name \"" + name + "\" is not an HTTP token");
        }
        std::string n = lower(name);
        if (connection_specific(n)) {
            throw std::invalid_argument("header " + name + " is not allowed in HTTP/2");
        }
        require_value(name, value);
        h.push_back({std::move(n), value});
    }
    return h;
}

protocol::client_handshake_result verify_h2_response(
    int status, std::span<const protocol::owned_header> headers,
    std::span<const std::string> offered_subprotocols) {
    if (status != 200) return rejected("expected status 200, got " + std::to_string(status));
    const protocol::owned_header* chosen = nullptr;
    for (const auto& h : headers) {
        // We offer no extensions yet, so any the server names was not offered.
        if (h.name == "sec-websocket-extensions") {
            return rejected("server selected an extension that was not offered");
        }
        if (h.name == "sec-websocket-protocol") {
            if (chosen != nullptr) return rejected("duplicate sec-websocket-protocol");
            chosen = &h;
        }
    }
    protocol::client_handshake_result r;
    if (chosen != nullptr) {
        // One value, exactly as offered; "a, b" or an empty value fails here.
        const bool offered = std::find(offered_subprotocols.begin(), offered_subprotocols.end(),
                                       chosen->value) != offered_subprotocols.end();
        if (!offered) return rejected("server selected a subprotocol that was not offered");
        r.subprotocol = chosen->value;
    }
    r.ok = true;
    return r;
}

}  // namespace sockeye::client_detail
