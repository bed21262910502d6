// The peer's "ADDRESS:PORT" as logs and connection::peer() show it.
#include "net/peer_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace sockeye::net {
namespace {

std::string v4(const char* ip, unsigned short port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return format_peer(reinterpret_cast<const sockaddr*>(&a));
}

std::string v6(const char* ip, unsigned short port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return format_peer(reinterpret_cast<const sockaddr*>(&a));
}

TEST(PeerAddress, IPv4IsDottedDecimalAndPort) {
    EXPECT_EQ(v4("127.0.0.1", 54321), "127.0.0.1:54321");
    EXPECT_EQ(v4("0.0.0.0", 0), "0.0.0.0:0");
    EXPECT_EQ(v4("255.255.255.255", 65535), "255.255.255.255:65535");
    EXPECT_EQ(v4("10.20.30.40", 8080), "10.20.30.40:8080");
    EXPECT_EQ(v4("192.168.1.9", 1), "192.168.1.9:1");
}

TEST(PeerAddress, IPv4MatchesInetNtopForEveryOctet) {
    for (unsigned v = 0; v < 256; ++v) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<unsigned short>(v * 257));
        const unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(255 - v),
                                    static_cast<unsigned char>(v / 2), static_cast<unsigned char>(v % 10)};
        std::memcpy(&a.sin_addr, b, 4);
        char ip[INET_ADDRSTRLEN];
        ASSERT_NE(inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip), nullptr);
        EXPECT_EQ(format_peer(reinterpret_cast<const sockaddr*>(&a)),
                  std::string(ip) + ":" + std::to_string(v * 257));
    }
}

TEST(PeerAddress, IPv6IsBracketed) {
    EXPECT_EQ(v6("::1", 443), "[::1]:443");
    EXPECT_EQ(v6("2001:db8::8a2e:370:7334", 65535), "[2001:db8::8a2e:370:7334]:65535");
}

TEST(PeerAddress, OtherFamiliesAreAQuestionMark) {
    sockaddr a{};
    a.sa_family = AF_UNIX;
    EXPECT_EQ(format_peer(&a), "?");
}

}  // namespace
}  // namespace sockeye::net
