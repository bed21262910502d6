// WebSocket extension negotiation: the Sec-WebSocket-Extensions grammar (RFC 6455 §9.1)
// and the permessage-deflate parameters (RFC 7692 §5, §7.1), for both roles.
//
// Pure functions over header values: the handshake code hands in the values it received
// and sends back what these return. The compression itself is deflate_codec's job.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "deflate_codec.hpp"
#include "opcode.hpp"

namespace sockeye::protocol {

// ---- Sec-WebSocket-Extensions (RFC 6455 §9.1) ----

struct extension_param {
    std::string name;
    // The value, with quoted-string escapes removed; nullopt when the parameter has no "=".
    std::optional<std::string> value;

    bool operator==(const extension_param&) const = default;
};

// One element of the list: an offer in a request, an acceptance in a response.
struct extension_offer {
    std::string name;
    std::vector<extension_param> params;  // in the order received

    bool operator==(const extension_offer&) const = default;
};

struct extension_parse_result {
    bool ok = false;
    std::string error;                    // what was malformed, when !ok
    std::vector<extension_offer> offers;  // every element of every value, in order
};

// Parses every Sec-WebSocket-Extensions value of a message (the header may occur several
// times; each value is a comma list). Empty list elements ("a,,b", a blank value) are
// skipped as the #rule allows. A syntax error anywhere makes the whole header malformed
// (!ok): the request is then bad (400), the response fails the connection.
extension_parse_result parse_extensions(std::span<const std::string_view> header_values);

// ---- permessage-deflate (RFC 7692 §7) ----

inline constexpr std::string_view permessage_deflate_name = "permessage-deflate";

// What this endpoint wants. The same struct serves both roles: each field says what we put
// in what we send (the server's response, or the client's offer).
//
// Window sizes that we originate are clamped to 9..15: zlib, which nearly every endpoint
// compresses with, refuses an 8-bit window for raw DEFLATE, so we neither compress with
// one nor ask a peer to.
struct deflate_config {
    bool enabled = false;
    int server_max_window_bits = 15;          // server's compressor: our own (server) or requested
    int client_max_window_bits = 15;          // client's compressor: requested (server) or our own
    bool server_no_context_takeover = false;  // requested from / promised by the server
    bool client_no_context_takeover = false;  // requested from / promised by the client
};

// What one connection agreed on: upper bounds on each side's window, and whether each side
// resets its compressor per message. Our client and our server compute identical values;
// a foreign client may hold itself to a tighter window than our server assumes.
struct deflate_params {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    int server_max_window_bits = 15;  // 8..15; 9..15 whenever we are the server
    int client_max_window_bits = 15;  // 9..15: our negotiation never settles on 8

    bool operator==(const deflate_params&) const = default;

    // windowBits for our compressor (always 9..15, so zlib accepts it).
    int deflate_window_bits(role local) const noexcept;
    // windowBits for our decompressor: always 15. A 15-bit inflater reads streams built
    // with any smaller window, so a peer that rounds 8 up to 9 (as zlib does) still works.
    int inflate_window_bits(role local) const noexcept;
    // Whether our compressor resets after every message.
    bool local_no_context_takeover(role local) const noexcept;
    // Whether the peer's compressor resets after every message (our inflater may too).
    bool peer_no_context_takeover(role local) const noexcept;
};

// The codec settings for one endpoint of a connection that agreed on `p`.
deflate_settings settings_for(const deflate_params& p, role local, int mem_level,
                              std::size_t threshold);

// ---- server role ----

struct deflate_agreement {
    deflate_params params;
    std::string response;  // the Sec-WebSocket-Extensions value to send back
};

// Picks the first permessage-deflate offer whose parameters are valid and acceptable
// (RFC 7692 §5, §7.1); other extensions and declined offers are skipped. nullopt when
// config.enabled is false or no offer is acceptable: the handshake then goes on without
// compression. The response names only permessage-deflate.
std::optional<deflate_agreement> negotiate_deflate(std::span<const extension_offer> offers,
                                                   const deflate_config& config);

// ---- client role ----

// The Sec-WebSocket-Extensions value to offer, e.g. "permessage-deflate;
// client_max_window_bits"; empty when config.enabled is false (send no header then).
std::string make_deflate_offer(const deflate_config& config);

struct deflate_response_result {
    bool ok = false;
    std::string error;  // why the connection must fail, when !ok
    // The agreed parameters; nullopt when the server accepted no extension.
    std::optional<deflate_params> params;
};

// Checks the server's Sec-WebSocket-Extensions values (all of them; none is fine) against
// the offer make_deflate_offer(offered) produced (RFC 6455 §4.1, RFC 7692 §7.1).
deflate_response_result accept_deflate_response(std::span<const std::string_view> header_values,
                                                const deflate_config& offered);

}  // namespace sockeye::protocol
