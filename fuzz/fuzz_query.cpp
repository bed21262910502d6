// Fuzzes target splitting and query decoding (src/http/query.cpp).
//
// The whole input is a request target. Besides "must not crash", it checks what must hold
// for every input: the parts are pieces of the target, a query fails only where an escape
// is malformed, and decoded pairs encoded again decode to the same pairs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/percent_decode.hpp"
#include "http/query.hpp"

namespace {

using namespace sockeye::http;

void require(bool condition) {
    if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

// Every byte but unreserved ones as %XX, so '&', '=', '+' and '%' survive as data.
std::string encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view target(reinterpret_cast<const char*>(data), size);

    const target_parts parts = split_target(target);
    require(inside(parts.query, target));
    require(parts.path == "/" || inside(parts.path, target));
    require(parts.path.find_first_of("?#") == std::string_view::npos);
    require(parts.query.find('#') == std::string_view::npos);
    require(parts.has_query || parts.query.empty());

    // The target read as a query string as a whole, too: more '%', '#' and '?' to chew on.
    for (const std::string_view query : {parts.query, target}) {
        std::size_t bad = SIZE_MAX;
        const auto params = parse_query(query, &bad);
        require(params.has_value() == is_well_formed_percent_encoding(query));
        if (!params) {
            require(bad < query.size() && query[bad] == '%');
            require(!is_well_formed_percent_encoding(query.substr(bad, 3)));
            continue;
        }
        std::size_t decoded_bytes = 0;
        std::string again;
        for (const query_param p : *params) {
            decoded_bytes += p.name.size() + p.value.size();
            if (!again.empty()) again += '&';
            again += encode(p.name) + "=" + encode(p.value);
        }
        require(decoded_bytes <= query.size());
        require(params->size() <= (query.size() + 1) / 2);  // "a&b&c": n pairs, 2n-1 bytes

        const auto reparsed = parse_query(again);
        require(reparsed.has_value() && reparsed->size() == params->size());
        for (std::size_t i = 0; i < params->size(); ++i) {
            require((*reparsed)[i].name == (*params)[i].name);
            require((*reparsed)[i].value == (*params)[i].value);
            // get() finds the first pair of that name, so never one after i.
            const auto first = params->get((*params)[i].name);
            require(first.has_value());
        }
        if (!params->empty()) {
            const query_param p0 = (*params)[0];
            require(params->get(p0.name) == p0.value);
            require(!params->all(p0.name).empty() && params->all(p0.name).front() == p0.value);
        }
    }
    return 0;
}
