#include "random_key.hpp"

#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace sockeye::protocol {

namespace {
constexpr std::size_t pool_keys = 256;

struct key_pool {
    std::uint8_t bytes[pool_keys * 4];
    std::size_t next = pool_keys;  // empty: refill on first use
};
thread_local key_pool pool;
}  // namespace

masking_key next_masking_key() {
    if (pool.next == pool_keys) {
        if (RAND_bytes(pool.bytes, sizeof pool.bytes) != 1) {
            throw std::runtime_error("RAND_bytes failed: no randomness for masking keys");
        }
        pool.next = 0;
    }
    masking_key key;
    std::memcpy(key.data(), pool.bytes + 4 * pool.next, 4);
    ++pool.next;
    return key;
}

}  // namespace sockeye::protocol
