// Who may open the frame inspector: loopback peers without a token, every peer with the
// right one, nobody with a wrong one; and the path when --inspect is off.
#include "server/inspect_gate.hpp"

#include <gtest/gtest.h>

#include "server/inspector_hub.hpp"

namespace sockeye::server_detail {
namespace {

TEST(InspectGate, LoopbackPeers) {
    EXPECT_TRUE(is_loopback_peer("127.0.0.1:5000"));
    EXPECT_TRUE(is_loopback_peer("127.4.5.6:1"));
    EXPECT_TRUE(is_loopback_peer("[::1]:443"));
    EXPECT_TRUE(is_loopback_peer("[::ffff:127.0.0.1]:80"));
    EXPECT_FALSE(is_loopback_peer("10.0.0.1:5000"));
    EXPECT_FALSE(is_loopback_peer("128.0.0.1:5000"));
    EXPECT_FALSE(is_loopback_peer("[2001:db8::1]:443"));
    EXPECT_FALSE(is_loopback_peer("[::ffff:10.0.0.1]:80"));
    EXPECT_FALSE(is_loopback_peer("?"));
    EXPECT_FALSE(is_loopback_peer(""));
}

TEST(InspectGate, WithoutATokenOnlyLoopback) {
    server_options o;
    o.inspect.enabled = true;
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect", "127.0.0.1:1"), 200);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?id=x", "[::1]:1"), 200);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect", "192.168.1.2:1"), 403);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?token=anything", "192.168.1.2:1"), 403);
    EXPECT_EQ(inspector_gate(o, "/chat?inspect=x", "192.168.1.2:1"), 0);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspectx", "127.0.0.1:1"), 0);
}

TEST(InspectGate, WithATokenEveryoneNeedsIt) {
    server_options o;
    o.inspect.enabled = true;
    o.inspect.token = "t0k";
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?token=t0k", "192.168.1.2:1"), 200);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?id=a&token=t0k", "127.0.0.1:1"), 200);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect", "127.0.0.1:1"), 403);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?token=t0", "127.0.0.1:1"), 403);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?token=t0kk", "127.0.0.1:1"), 403);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?token=%74%30%6b", "10.0.0.1:1"), 200);
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect?token=%zz", "10.0.0.1:1"), 403);
}

TEST(InspectGate, OffThePathIsABuiltIn404) {
    server_options o;
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect", "127.0.0.1:1"), 404);
    o.builtin_endpoints = false;
    EXPECT_EQ(inspector_gate(o, "/_sockeye/inspect", "127.0.0.1:1"), 0);
}

TEST(InspectGate, QueryValues) {
    EXPECT_EQ(query_value("/?inspect=abc", "inspect"), "abc");
    EXPECT_EQ(query_value("/?a=1&inspect=a%20b", "inspect"), "a b");
    EXPECT_EQ(query_value("/", "inspect"), "");
    EXPECT_EQ(query_value("/?inspect", "inspect"), "");
}

}  // namespace
}  // namespace sockeye::server_detail
