// The echo application behind `sockeye serve`, written against the public API.
#pragma once
#include <sockeye/server.hpp>

namespace sockeye::apps {

// Every message comes back with the same type, streamed piece by piece as it arrives, so
// memory stays bounded whatever the message size.
handlers echo_handlers();

}  // namespace sockeye::apps
