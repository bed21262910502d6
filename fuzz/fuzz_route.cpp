// Fuzzes route patterns and the route table (src/http/route_pattern.cpp).
//
// Input layout: byte 0 picks the method, then lines ("\n"):
//   line 1   a pattern, compiled
//   line 2   a raw path, matched against it and routed through a table holding it
//   line 3+  parameter values: substituted into the pattern, the resulting path must
//            match and give back exactly these values (the round trip)
// Besides "must not crash", it checks that every match is explained by the path: each
// value is the decoding of a piece of the path that sits where the pattern says, and
// that a failed match allocates nothing.
#include <sanitizer/allocator_interface.h>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/percent_decode.hpp"
#include "http/route_pattern.hpp"

namespace {

using namespace sockeye::http;

// Counts allocations through the sanitizer's hook (replacing operator new would fight
// ASan's own), so that the fuzzer can check the failure path.
std::size_t allocations = 0;
void count_allocation(const volatile void*, std::size_t) {
    ++allocations;
}
void ignore_free(const volatile void*) {}

void require(bool condition) {
    if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (;;) {
        const std::size_t at = s.find(sep);
        out.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return out;
        s.remove_prefix(at + 1);
    }
}

std::string decoded(std::string_view s) {
    std::string out;
    require(append_percent_decoded(s, out));
    return out;
}

std::string encode_all(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

// A successful match, checked segment by segment against the pattern text.
void check_match(std::string_view pattern, std::string_view path, const route_params& params) {
    const auto pattern_segments = split(pattern.substr(1), '/');
    const auto path_segments = split(path.substr(1), '/');
    std::size_t next_param = 0;
    for (std::size_t i = 0; i < pattern_segments.size(); ++i) {
        const std::string_view p = pattern_segments[i];
        if (p == "*") {
            require(i + 1 == pattern_segments.size() && next_param < params.size());
            require(params.name(next_param) == "*");
            // The wildcard is everything after the prefix, to the end of the path.
            const std::string_view raw = params.raw(next_param);
            require(inside(raw, path) && raw.data() + raw.size() == path.data() + path.size());
            require(path.size() - raw.size() >= 1 && path[path.size() - raw.size() - 1] == '/');
            require(params.value(next_param) == decoded(raw));
            ++next_param;
            require(path_segments.size() >= i + 1);
            return;
        }
        require(i < path_segments.size());
        const std::string_view s = path_segments[i];
        if (!p.empty() && p.front() == ':') {
            require(next_param < params.size());
            require(params.name(next_param) == p.substr(1));
            require(params.raw(next_param) == s && inside(params.raw(next_param), path));
            require(!s.empty() && params.value(next_param) == decoded(s));
            require(params.get(p.substr(1)) == params.value(next_param));
            ++next_param;
        } else {
            require(decoded(p) == decoded(s));
        }
    }
    require(path_segments.size() == pattern_segments.size() && next_param == params.size());
}

// The pattern with `values` in place of its parameters; it must match and return them.
void check_round_trip(const route_pattern& compiled, std::string_view pattern,
                      const std::vector<std::string_view>& values) {
    std::vector<std::string> expected;
    std::string path;
    std::size_t next = 0;
    for (const std::string_view p : split(pattern.substr(1), '/')) {
        path += '/';
        if (p == "*" || (!p.empty() && p.front() == ':')) {
            std::string v{next < values.size() ? values[next] : std::string_view{}};
            ++next;
            if (v.empty() && p != "*") v = "x";  // a parameter is never empty
            path += encode_all(v);
            expected.push_back(std::move(v));
        } else {
            path += p;
        }
    }
    route_params params;
    require(compiled.match(path, params));
    require(params.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) require(params.value(i) == expected[i]);
}

void check_table(std::string_view method, std::string_view pattern, std::string_view path) {
    route_table table;
    std::string error;
    // Fixed routes around the fuzzed one, so that order, HEAD and 405 all get exercised.
    require(table.add("GET", "/users/me", 0, error));
    error.clear();
    const bool added = table.add(method, pattern, 1, error);
    require(added == error.empty());
    table.add("GET", "/users/:id", 2, error);
    table.add("POST", "/users/:id/*", 3, error);
    table.add("HEAD", "/h", 4, error);

    route_params params;
    const route_result r = table.find(method, path, params);
    require((r.status == route_status::bad_request) == !is_well_formed_percent_encoding(path));
    if (r.status == route_status::method_not_allowed) {
        require(!r.allow.empty() && params.empty());
    } else {
        require(r.allow.empty());
    }
    if (r.status != route_status::found) require(params.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool hooked =
        __sanitizer_install_malloc_and_free_hooks(count_allocation, ignore_free) != 0;
    require(hooked);
    if (size == 0) return 0;
    static constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "PUT", "get", ""};
    const std::string_view method = methods[data[0] % std::size(methods)];
    const auto lines = split({reinterpret_cast<const char*>(data + 1), size - 1}, '\n');
    const std::string_view pattern = lines[0];
    const std::string_view path = lines.size() > 1 ? lines[1] : std::string_view{"/"};

    std::string error;
    const auto compiled = route_pattern::compile(pattern, error);
    if (compiled) {
        require(compiled->text() == pattern && compiled->param_count() <= max_route_params);
        require(compiled->same_shape(*compiled));
        route_params params;
        params.clear();
        const std::size_t before = allocations;
        const bool matched = compiled->match(path, params);
        if (matched) {
            check_match(pattern, path, params);
        } else {
            require(allocations == before && params.empty());
        }
        check_round_trip(*compiled, pattern,
                         {lines.begin() + std::min<std::size_t>(2, lines.size()), lines.end()});
    } else {
        require(!error.empty());
    }
    check_table(method, pattern, path);
    return 0;
}
