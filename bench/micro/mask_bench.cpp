// Masking throughput against memcpy, the practical ceiling for a pass that reads and writes
// every byte once. In-place masking (the server's case: client payloads are unmasked in the
// receive buffer) for each kernel, plus mask_copy.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "protocol/mask.hpp"
#include "protocol/mask_impl.hpp"

namespace {

using sockeye::protocol::masking_key;
namespace detail = sockeye::protocol::detail;

const masking_key bench_key{0x37, 0xfa, 0x21, 0x3d};

std::vector<std::uint8_t> make_buffer(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 131 + 7);
    return v;
}

void set_throughput(benchmark::State& state, std::size_t n) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(n));
}

void BM_memcpy(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto src = make_buffer(n);
    std::vector<std::uint8_t> dst(n);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), n);
        benchmark::ClobberMemory();
    }
    set_throughput(state, n);
}

template <typename Fn>
void run_in_place(benchmark::State& state, Fn fn) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto buf = make_buffer(n);
    std::size_t offset = 0;
    for (auto _ : state) {
        offset = fn(buf.data(), n, bench_key, offset);
        benchmark::DoNotOptimize(offset);
        benchmark::ClobberMemory();
    }
    set_throughput(state, n);
}

void BM_apply_mask(benchmark::State& state) {
    run_in_place(state, [](std::uint8_t* d, std::size_t n, const masking_key& k, std::size_t o) {
        return sockeye::protocol::apply_mask(d, n, k, o);
    });
}

void BM_apply_mask_scalar(benchmark::State& state) {
    run_in_place(state, detail::apply_mask_scalar);
}

#if SOCKEYE_MASK_X86
void BM_apply_mask_sse2(benchmark::State& state) {
    run_in_place(state, detail::apply_mask_sse2);
}

void BM_apply_mask_avx2(benchmark::State& state) {
    if (!detail::cpu_has_avx2()) {
        state.SkipWithError("CPU has no AVX2");
        return;
    }
    run_in_place(state, detail::apply_mask_avx2);
}
#endif

void BM_mask_copy(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto src = make_buffer(n);
    std::vector<std::uint8_t> dst(n);
    for (auto _ : state) {
        benchmark::DoNotOptimize(
            sockeye::protocol::mask_copy(dst.data(), src.data(), n, bench_key));
        benchmark::ClobberMemory();
    }
    set_throughput(state, n);
}

constexpr std::int64_t sizes[] = {16, 4 << 10, 1 << 20};

void sizes_args(benchmark::internal::Benchmark* b) {
    for (auto s : sizes) b->Arg(s);
}

}  // namespace

BENCHMARK(BM_memcpy)->Apply(sizes_args);
BENCHMARK(BM_apply_mask)->Apply(sizes_args);
BENCHMARK(BM_apply_mask_scalar)->Apply(sizes_args);
#if SOCKEYE_MASK_X86
BENCHMARK(BM_apply_mask_sse2)->Apply(sizes_args);
BENCHMARK(BM_apply_mask_avx2)->Apply(sizes_args);
#endif
BENCHMARK(BM_mask_copy)->Apply(sizes_args);
