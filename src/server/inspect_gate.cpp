#include "inspect_gate.hpp"

#include <openssl/crypto.h>

#include "http/query.hpp"
#include "inspector_hub.hpp"

namespace sockeye::server_detail {

bool is_inspector_target(std::string_view target) noexcept {
    return http::split_target(target).path == inspector_path;
}

std::string query_value(std::string_view target, std::string_view name) {
    const auto parts = http::split_target(target);
    if (!parts.has_query) return {};
    const auto params = http::parse_query(parts.query);
    if (!params) return {};
    const auto v = params->get(name);
    return v ? std::string(*v) : std::string();
}

std::string_view inspector_refusal(const server_options& o) noexcept {
    if (!o.inspect.enabled) return "the frame inspector is off (sockeye serve --inspect turns it on)\n";
    return o.inspect.token.empty()
               ? "the frame inspector answers loopback clients only (--inspect-token opens it to others)\n"
               : "the frame inspector needs token= with the server's --inspect-token\n";
}

int inspector_gate(const server_options& o, std::string_view target, std::string_view peer) {
    if (!is_inspector_target(target)) return 0;
    // Off, the path still belongs to the built-in endpoints: a page asking for the inspector
    // learns it is off instead of getting the application's WebSocket.
    if (!o.inspect.enabled) return o.builtin_endpoints ? 404 : 0;
    if (o.inspect.token.empty()) return is_loopback_peer(peer) ? 200 : 403;
    const std::string given = query_value(target, "token");
    const std::string& want = o.inspect.token;
    // Compared in constant time: the token is a secret.
    if (given.size() != want.size() || CRYPTO_memcmp(given.data(), want.data(), want.size()) != 0) {
        return 403;
    }
    return 200;
}

}  // namespace sockeye::server_detail
