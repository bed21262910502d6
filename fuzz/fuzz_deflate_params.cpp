// Fuzzes Sec-WebSocket-Extensions parsing and permessage-deflate negotiation
// (src/protocol/extensions.cpp).
//
// Input layout: 6 bytes of configuration, then text split on "\n" into header values:
//   byte 0, 3   server / client config flags: bit 0 disables, bit 1 server_no_context_
//               takeover, bit 2 client_no_context_takeover
//   byte 1, 2   server config server_/client_max_window_bits (mod 20: also out of range)
//   byte 4, 5   client config server_/client_max_window_bits
// The values are parsed, negotiated as a server and checked as a client's response.
// Besides "must not crash", it checks properties that must hold for every input: parsed
// lists survive re-serialisation, the first acceptable offer wins, and whatever our server
// answers, our client accepts with the same understanding of the connection.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/extensions.hpp"

namespace {

using namespace sockeye::protocol;

constexpr std::size_t config_bytes = 6;
constexpr std::size_t max_single_checks = 64;  // offers negotiated one by one (cost bound)

void require(bool condition) {
    if (!condition) std::abort();
}

deflate_config read_config(const std::uint8_t* bytes) {
    deflate_config c;
    c.enabled = (bytes[0] & 1) == 0;
    c.server_no_context_takeover = (bytes[0] & 2) != 0;
    c.client_no_context_takeover = (bytes[0] & 4) != 0;
    c.server_max_window_bits = bytes[1] % 20;
    c.client_max_window_bits = bytes[2] % 20;
    return c;
}

int own_window(int bits) {
    return std::clamp(bits, 9, 15);
}

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (true) {
        const auto eol = text.find('\n');
        lines.push_back(text.substr(0, eol));
        if (eol == std::string_view::npos) return lines;
        text.remove_prefix(eol + 1);
    }
}

bool is_token(std::string_view s) {
    constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
    });
}

// Writes the list back out, quoting (with every character escaped) every other value, so
// the parser's unescaping is exercised by the round trip.
std::string serialise(const std::vector<extension_offer>& offers) {
    std::string out;
    bool quote = false;
    for (const auto& offer : offers) {
        if (!out.empty()) out += " ,\t";
        out += offer.name;
        for (const auto& p : offer.params) {
            out += " ; " + p.name;
            if (!p.value) continue;
            out += " = ";
            if (quote) {
                out += '"';
                for (const char c : *p.value) (out += '\\') += c;
                out += '"';
            } else {
                out += *p.value;
            }
            quote = !quote;
        }
    }
    return out;
}

void check_parse(const extension_parse_result& parsed) {
    if (!parsed.ok) {
        require(!parsed.error.empty() && parsed.offers.empty());
        return;
    }
    for (const auto& offer : parsed.offers) {
        require(is_token(offer.name));
        for (const auto& p : offer.params)
            require(is_token(p.name) && (!p.value || is_token(*p.value)));
    }
    const std::string text = serialise(parsed.offers);
    const std::string_view view = text;
    const auto again = parse_extensions({&view, 1});
    require(again.ok && again.offers == parsed.offers);
}

void check_params_ranges(const deflate_params& p) {
    require(p.server_max_window_bits >= 8 && p.server_max_window_bits <= 15);
    require(p.client_max_window_bits >= 9 && p.client_max_window_bits <= 15);
    require(p.inflate_window_bits(role::server) == 15 && p.inflate_window_bits(role::client) == 15);
}

// Our server's answer to arbitrary offers.
void check_server(const std::vector<extension_offer>& offers, const deflate_config& server) {
    const auto agreed = negotiate_deflate(offers, server);

    // The first offer acceptable on its own is the one chosen (RFC 7692 §5).
    std::optional<deflate_agreement> first;
    const std::size_t n = std::min(offers.size(), max_single_checks);
    for (std::size_t i = 0; i < n && !first; ++i)
        first = negotiate_deflate({&offers[i], 1}, server);
    if (offers.size() <= max_single_checks) {
        require(agreed.has_value() == first.has_value());
        if (agreed) require(agreed->params == first->params && agreed->response == first->response);
    }
    if (!agreed) return;

    require(server.enabled);
    check_params_ranges(agreed->params);
    require(agreed->params.server_max_window_bits >= 9);
    require(agreed->params.server_max_window_bits <= own_window(server.server_max_window_bits));

    // The response is one permessage-deflate element that a client wishing for what this
    // server wants accepts. That client would have promised nothing about its own window,
    // so only its bound for the client window may be tighter; the rest must agree.
    const std::string_view response = agreed->response;
    const auto parsed = parse_extensions({&response, 1});
    require(parsed.ok && parsed.offers.size() == 1 &&
            parsed.offers[0].name == permessage_deflate_name);
    const auto back = accept_deflate_response({&response, 1}, server);
    require(back.ok && back.params.has_value());
    const auto& s = agreed->params;
    const auto& c = *back.params;
    require(c.server_no_context_takeover == s.server_no_context_takeover);
    require(c.client_no_context_takeover == s.client_no_context_takeover);
    require(c.server_max_window_bits == s.server_max_window_bits);
    require(c.client_max_window_bits <= s.client_max_window_bits);
}

// Our client's offer through our server: always accepted, and both sides agree exactly.
void check_round_trip(const deflate_config& client, const deflate_config& server) {
    const std::string offer = make_deflate_offer(client);
    require(client.enabled != offer.empty());
    const std::string_view view = offer;
    const auto parsed = parse_extensions({&view, 1});
    require(parsed.ok);
    const auto agreed = negotiate_deflate(parsed.offers, server);
    require(agreed.has_value() == (client.enabled && server.enabled));
    if (!agreed) return;
    const std::string_view response = agreed->response;
    const auto back = accept_deflate_response({&response, 1}, client);
    require(back.ok && back.params && *back.params == agreed->params);
}

// Arbitrary values as the server's answer to our client.
void check_client(std::span<const std::string_view> values, bool parsed_ok,
                  const deflate_config& client) {
    const auto r = accept_deflate_response(values, client);
    if (!parsed_ok) require(!r.ok);
    if (!r.ok) {
        require(!r.error.empty() && !r.params);
        return;
    }
    if (!r.params) return;
    require(client.enabled);
    check_params_ranges(*r.params);
    require(r.params->client_max_window_bits <= own_window(client.client_max_window_bits));
    if (client.server_no_context_takeover) require(r.params->server_no_context_takeover);
    if (client.client_no_context_takeover) require(r.params->client_no_context_takeover);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < config_bytes) return 0;
    const deflate_config server = read_config(data);
    const deflate_config client = read_config(data + 3);
    const std::string_view text{reinterpret_cast<const char*>(data + config_bytes),
                                size - config_bytes};
    const auto values = split_lines(text);

    const auto parsed = parse_extensions(values);
    check_parse(parsed);
    if (parsed.ok) check_server(parsed.offers, server);
    check_round_trip(client, server);
    check_client(values, parsed.ok, client);
    return 0;
}
