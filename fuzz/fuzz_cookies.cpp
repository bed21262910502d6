// Fuzzes Cookie header parsing (src/http/cookies.cpp).
//
// The input is split at "\n" into several header values. Besides "must not crash", it
// checks the rules every result follows (views into the input, non-empty trimmed names,
// no control characters, no ';') and that writing the cookies back as `name="value"`
// pairs parses to the same list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/cookies.hpp"

namespace {

using namespace sockeye::http;

void require(bool condition) {
    if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

bool clean(std::string_view s) {
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == ';' || (u < 0x20 && c != '\t') || u == 0x7f) return false;
    }
    return true;
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    std::vector<std::string_view> headers;
    for (std::string_view rest = input;;) {
        const std::size_t nl = rest.find('\n');
        headers.push_back(rest.substr(0, nl));
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }

    const std::vector<cookie> cookies = parse_cookies(headers);
    std::vector<cookie> one_by_one;
    for (const std::string_view h : headers) append_cookies(h, one_by_one);
    require(one_by_one.size() == cookies.size());

    std::string again;
    for (std::size_t i = 0; i < cookies.size(); ++i) {
        const cookie& c = cookies[i];
        require(inside(c.name, input) && inside(c.value, input));
        require(!c.name.empty() && !is_space(c.name.front()) && !is_space(c.name.back()));
        require(c.name.find('=') == std::string_view::npos);
        require(clean(c.name) && clean(c.value));
        require(one_by_one[i].name == c.name && one_by_one[i].value == c.value);
        if (!again.empty()) again += "; ";
        again += std::string{c.name} + "=\"" + std::string{c.value} + "\"";
    }

    const std::vector<cookie> reparsed = parse_cookies(again);
    require(reparsed.size() == cookies.size());
    for (std::size_t i = 0; i < cookies.size(); ++i) {
        require(reparsed[i].name == cookies[i].name && reparsed[i].value == cookies[i].value);
    }
    if (!cookies.empty()) require(find_cookie(cookies, cookies[0].name) == cookies[0].value);
    return 0;
}
