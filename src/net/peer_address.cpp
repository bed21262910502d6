#include "peer_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>

namespace sockeye::net {

namespace {

// Decimal digits of an octet at `at`; returns the end.
char* put_octet(char* at, unsigned v) {
    if (v >= 100) {
        *at++ = static_cast<char>('0' + v / 100);
        v %= 100;
        *at++ = static_cast<char>('0' + v / 10);
    } else if (v >= 10) {
        *at++ = static_cast<char>('0' + v / 10);
    }
    *at++ = static_cast<char>('0' + v % 10);
    return at;
}

}  // namespace

std::string format_peer(const sockaddr* address) {
    if (address->sa_family == AF_INET) {
        // By hand: inet_ntop formats IPv4 through snprintf, which was 5 % of the
        // instructions of a whole handshake.
        const auto* a = reinterpret_cast<const sockaddr_in*>(address);
        const auto* b = reinterpret_cast<const unsigned char*>(&a->sin_addr.s_addr);
        char text[sizeof "255.255.255.255:65535"];
        char* const end = text + sizeof text;
        char* at = text;
        for (int i = 0; i < 4; ++i) {
            if (i != 0) *at++ = '.';
            at = put_octet(at, b[i]);
        }
        *at++ = ':';
        at = std::to_chars(at, end, ntohs(a->sin_port)).ptr;
        return std::string(text, at);
    }
    if (address->sa_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(address);
        char ip[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip) == nullptr) return "?";
        // Built by appending: GCC 12 warns falsely (-Wrestrict) on "[" + std::string(...).
        std::string out(1, '[');
        out += ip;
        out += "]:";
        out += std::to_string(ntohs(a->sin6_port));
        return out;
    }
    return "?";
}

}  // namespace sockeye::net
