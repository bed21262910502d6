// UTF-8 checks the applications share (topic names, program output lines).
#pragma once
#include <string_view>

namespace sockeye::apps {

// A strict check: shortest forms only, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) noexcept;

}  // namespace sockeye::apps
