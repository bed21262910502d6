// Fuzzes --broker URL parsing (src/pubsub/broker_url.cpp).
//
// Besides "must not crash": a refused URL leaves the output alone and says why, and an
// accepted one has a host and a port, and formatting it back (password percent-encoded)
// parses to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pubsub/broker_url.hpp"

namespace {

using sockeye::pubsub::broker_url;
using sockeye::pubsub::parse_broker_url;

void require(bool condition) {
    if (!condition) std::abort();
}

std::string encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        out += '%';
        out += hex[u >> 4];
        out += hex[u & 15];
    }
    return out;
}

std::string format(const broker_url& url) {
    std::string out = "redis://";
    if (!url.password.empty()) out += ":" + encode(url.password) + "@";
    const bool ipv6 = url.host.find(':') != std::string::npos;
    out += ipv6 ? "[" + url.host + "]" : url.host;
    out += ":" + std::to_string(url.port) + "/" + std::to_string(url.db);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    broker_url url;
    url.host = "untouched";
    std::string error;
    if (!parse_broker_url(text, url, error)) {
        require(url.host == "untouched" && url.port == 6379 && url.db == 0);
        require(!error.empty());
        return 0;
    }
    require(!url.host.empty() && url.port != 0 && url.db >= 0);

    broker_url again;
    require(parse_broker_url(format(url), again, error));
    require(again.host == url.host && again.port == url.port && again.password == url.password &&
            again.db == url.db);
    return 0;
}
