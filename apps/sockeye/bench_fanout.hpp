// `sockeye bench fanout`: one publisher, N subscribers on one topic; deliveries per second,
// publish -> delivery latency, and a check that every subscriber got every message once
// and in order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sockeye::apps {

struct fanout_options {
    std::string url;                           // subscribers (and the publisher) connect here
    std::string publish_url;                   // the publisher's URL; empty = url
    std::vector<std::string> subscriber_urls;  // round-robin for subscribers; empty = url
    std::size_t subscribers = 100;
    std::uint64_t size = 16;  // payload bytes; at least 16 (sequence number + send time)
    double duration = 10;     // measured seconds
    double warmup = 2;        // seconds of publishing before the window
    std::size_t window = 4;   // messages in flight, unless rate is set
    double rate = 0;          // messages per second; 0 = paced by the window
    std::vector<int> server_pids;
    bool json = false;
};

// Runs the benchmark and prints its line (and JSON). Exit status: 0, 1 on an error (a
// connection failed or closed early, a stall), 2 on bad options, 8 when a message was
// lost, duplicated or reordered.
int run_fanout(const fanout_options& o);

}  // namespace sockeye::apps
