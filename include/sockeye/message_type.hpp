// The two kinds of WebSocket data message; its own header so that <sockeye/handle.hpp>
// and <sockeye/connection.hpp> can both use it.
#pragma once
#include <cstdint>

namespace sockeye {

enum class message_type : std::uint8_t { text = 1, binary = 2 };

}  // namespace sockeye
