#include "wire.hpp"

#include <stdexcept>

namespace sockeye::test {

std::vector<sent_frame> decode_frames(const bytes& wire) {
    std::vector<sent_frame> frames;
    std::size_t i = 0;
    auto need = [&](std::size_t n) {
        if (wire.size() - i < n) throw std::runtime_error("truncated frame");
    };
    while (i < wire.size()) {
        need(2);
        sent_frame f{};
        f.fin = (wire[i] & 0x80) != 0;
        f.rsv = (wire[i] >> 4) & 0x7;
        f.opcode = wire[i] & 0x0F;
        f.masked = (wire[i + 1] & 0x80) != 0;
        std::uint64_t n = wire[i + 1] & 0x7F;
        i += 2;
        if (n == 126) {
            need(2);
            n = (std::uint64_t{wire[i]} << 8) | wire[i + 1];
            i += 2;
        } else if (n == 127) {
            need(8);
            n = 0;
            for (int k = 0; k < 8; ++k) n = (n << 8) | wire[i + k];
            i += 8;
        }
        std::uint8_t key[4] = {};
        if (f.masked) {
            need(4);
            for (int k = 0; k < 4; ++k) key[k] = wire[i + k];
            i += 4;
        }
        need(n);
        for (std::uint64_t k = 0; k < n; ++k) {
            f.payload.push_back(static_cast<std::uint8_t>(wire[i + k] ^ (f.masked ? key[k % 4] : 0)));
        }
        i += n;
        frames.push_back(std::move(f));
    }
    return frames;
}

}  // namespace sockeye::test
