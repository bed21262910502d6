#include "echo.hpp"

namespace sockeye::apps {

handlers echo_handlers() {
    handlers h;
    h.on_message_begin = [](connection& c, message_type type) { c.begin_message(type); };
    h.on_message_chunk = [](connection& c, std::span<const std::uint8_t> piece, bool fin) {
        c.write_message(piece, fin);
    };
    return h;
}

}  // namespace sockeye::apps
