// Fresh, unpredictable masking keys for the client role (§5.3 requires keys an
// intermediary cannot predict).
#pragma once
#include "mask.hpp"

namespace sockeye::protocol {

// Returns a key from OpenSSL's CSPRNG. Keys are drawn from a per-thread pool refilled
// 256 at a time, so one RAND_bytes call serves many frames.
masking_key next_masking_key();

}  // namespace sockeye::protocol
