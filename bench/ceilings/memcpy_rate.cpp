// memcpy_rate: the memory-copy ceiling of this machine, for the comparison benchmarks.
//
// A WebSocket echo of large messages moves every byte through user-space buffers at least
// once or twice, so memcpy bandwidth bounds what any server can stream. Two figures:
//   memcpy_gbps       64 MiB buffers: DRAM-bound, the figure that bounds streaming
//   memcpy_1mib_gbps  1 MiB buffers copied repeatedly: cache-resident copies
// GB/s here are 10^9 bytes copied per second (each byte is read once and written once).
// Buffers are touched before timing (first-touch page faults would otherwise dominate) and
// each figure is the best of several runs, so it is the ceiling, not a typical value.
//
// Usage: memcpy_rate   prints "memcpy_gbps=<x> memcpy_1mib_gbps=<y>"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

// Keeps the compiler from dropping or merging copies whose result is never read.
inline void clobber(void* p) {
    asm volatile("" : : "r"(p) : "memory");
}

// Best rate over `runs` runs, each copying `size` bytes `reps` times.
double best_gbps(std::size_t size, int reps, int runs) {
    std::vector<char> src(size, 'a');
    std::vector<char> dst(size, 'b');  // filled so its pages exist before timing
    double best = 0;
    for (int r = 0; r < runs; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) {
            std::memcpy(dst.data(), src.data(), size);
            clobber(dst.data());
        }
        std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        best = std::max(best, static_cast<double>(size) * reps / dt.count() / 1e9);
    }
    return best;
}

}  // namespace

int main() {
    // 64 MiB is far beyond any cache here; 4 copies per run keep each timing ~10+ ms.
    double big = best_gbps(std::size_t{64} << 20, 4, 10);
    // 1 MiB fits in L2; 256 copies per run make the timing long enough to be stable.
    double small = best_gbps(std::size_t{1} << 20, 256, 10);
    std::printf("memcpy_gbps=%.2f memcpy_1mib_gbps=%.2f\n", big, small);
    return 0;
}
