// "ADDRESS:PORT" for a peer's socket address, as logs and connection::peer() show it:
// 127.0.0.1:54321 for IPv4, [::1]:54321 for IPv6, "?" for anything else.
#pragma once
#include <sys/socket.h>

#include <string>

namespace sockeye::net {

std::string format_peer(const sockaddr* address);

}  // namespace sockeye::net
