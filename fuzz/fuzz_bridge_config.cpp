// Fuzzes what configures the bridges of `sockeye serve`: the --exec command line split into
// argv (apps/sockeye/exec_command) and --proxy targets and map files (proxy_target).
//
// Besides "must not crash": a split either fails with a reason or gives words, and the
// words quoted again split back to the same words; a parsed target prints as text that
// parses to the same target; a parsed map, written out again, parses to the same map.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "exec_command.hpp"
#include "proxy_target.hpp"

namespace {

using namespace sockeye::apps;

void require(bool condition) {
    if (!condition) std::abort();
}

// A word in single quotes, its own single quotes as '\'' (closed, escaped, reopened).
std::string quote(const std::string& word) {
    std::string out = "'";
    for (const char c : word) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const split_command_result split = split_command(text);
    require(split.argv.empty() != split.error.empty());
    if (!split.argv.empty()) {
        std::string again;
        for (const auto& word : split.argv) again += quote(word) + " ";
        const split_command_result re = split_command(again);
        require(re.error.empty() && re.argv == split.argv);
    }

    if (const auto t = parse_target(text)) {
        require(t->port != 0 && !t->host.empty());
        require(parse_target(t->text()) == t);
    }

    try {
        const auto map = parse_target_map(text);
        std::string again;
        for (const auto& [token, target] : map) again += token + ": " + target.text() + "\n";
        require(parse_target_map(again) == map);
    } catch (const std::runtime_error& e) {
        require(std::string_view(e.what()).starts_with("line "));
    }
    return 0;
}
