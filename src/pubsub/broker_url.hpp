// Where the Redis broker is: "redis://[:password@]host[:port][/db]".
//
// The user part of "redis://user:password@host" is accepted and ignored, because hosted
// Redis URLs carry a placeholder user there ("h:secret@") that Redis before ACLs never saw.
// The password may be percent-encoded (an '@' or '/' in it must be). Hosts are DNS names,
// IPv4 literals or bracketed IPv6 literals ("[::1]"); the brackets are not kept.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace sockeye::pubsub {

struct broker_url {
    std::string host;
    std::uint16_t port = 6379;
    std::string password;  // empty: no AUTH
    int db = 0;            // SELECTed on connect when not 0
};

// Fills `out` and returns true, or returns false with a one-line reason in `error`.
bool parse_broker_url(std::string_view text, broker_url& out, std::string& error);

}  // namespace sockeye::pubsub
