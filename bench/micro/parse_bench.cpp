// Receive-path throughput of the protocol core: masked client frames through
// session::receive (parse + unmask in place + UTF-8 for text), for 16-byte and 1 MiB
// frames. The input buffer is re-masked between iterations outside the timing, since
// parsing unmasks it in place.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "protocol/session.hpp"

namespace {

using namespace sockeye::protocol;

class null_handler : public session_handler {
public:
    std::uint64_t bytes = 0;
    void on_message_begin(message_type) override {}
    void on_message_data(std::span<const std::uint8_t> d, bool) override { bytes += d.size(); }
    void on_send(std::span<const std::uint8_t>, std::span<const std::uint8_t>, bool) override {}
};

// `count` masked frames of `size` bytes each, back to back.
std::vector<std::uint8_t> make_stream(std::size_t size, std::size_t count, bool text) {
    std::vector<std::uint8_t> out;
    const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(text ? 0x81 : 0x82);
        if (size < 126) {
            out.push_back(static_cast<std::uint8_t>(0x80 | size));
        } else if (size <= 0xFFFF) {
            out.push_back(0x80 | 126);
            out.push_back(static_cast<std::uint8_t>(size >> 8));
            out.push_back(static_cast<std::uint8_t>(size));
        } else {
            out.push_back(0x80 | 127);
            for (int b = 7; b >= 0; --b) out.push_back(static_cast<std::uint8_t>(size >> (8 * b)));
        }
        out.insert(out.end(), key, key + 4);
        for (std::size_t j = 0; j < size; ++j) {
            out.push_back(static_cast<std::uint8_t>(('a' + j % 26) ^ key[j % 4]));
        }
    }
    return out;
}

void run(benchmark::State& state, std::size_t size, std::size_t count, bool text) {
    const std::vector<std::uint8_t> pristine = make_stream(size, count, text);
    std::vector<std::uint8_t> work(pristine.size());
    null_handler h;
    session s(session_options{}, h);
    for (auto _ : state) {
        state.PauseTiming();
        std::memcpy(work.data(), pristine.data(), pristine.size());
        state.ResumeTiming();
        s.receive(work.data(), work.size());
    }
    benchmark::DoNotOptimize(h.bytes);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * count));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}

void BM_Receive16ByteBinaryFrames(benchmark::State& st) { run(st, 16, 4096, false); }
void BM_Receive16ByteTextFrames(benchmark::State& st) { run(st, 16, 4096, true); }
void BM_Receive1MiBBinaryFrame(benchmark::State& st) { run(st, 1 << 20, 1, false); }
void BM_Receive1MiBTextFrame(benchmark::State& st) { run(st, 1 << 20, 1, true); }

BENCHMARK(BM_Receive16ByteBinaryFrames);
BENCHMARK(BM_Receive16ByteTextFrames);
BENCHMARK(BM_Receive1MiBBinaryFrame);
BENCHMARK(BM_Receive1MiBTextFrame);

}  // namespace
