// Payload masking: every kernel (scalar, SSE2, AVX2 when the CPU has it, and the
// dispatcher) against a byte-at-a-time reference, over all lengths up to a few vectors, all
// key offsets and all alignments, so each head/body/tail split of every kernel is hit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "protocol/mask.hpp"
#include "protocol/mask_impl.hpp"

namespace {

using sockeye::protocol::masking_key;
namespace proto = sockeye::protocol;
namespace detail = sockeye::protocol::detail;

using copy_fn = std::size_t (*)(std::uint8_t*, const std::uint8_t*, std::size_t, const masking_key&,
                                std::size_t) noexcept;

struct mask_path {
    std::string name;
    copy_fn copy;
};

std::size_t dispatched_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t len,
                            const masking_key& key, std::size_t offset) noexcept {
    return proto::mask_copy(dst, src, len, key, offset);
}

// In-place entry points are tested separately from mask_copy(dst == src) so that both
// public functions and the apply_mask_* wrappers are covered.
using apply_fn = std::size_t (*)(std::uint8_t*, std::size_t, const masking_key&,
                                 std::size_t) noexcept;

struct apply_path {
    std::string name;
    apply_fn apply;
};

std::size_t dispatched_apply(std::uint8_t* data, std::size_t len, const masking_key& key,
                             std::size_t offset) noexcept {
    return proto::apply_mask(data, len, key, offset);
}

std::vector<mask_path> copy_paths() {
    std::vector<mask_path> paths{{"scalar", &detail::mask_copy_scalar}};
#if SOCKEYE_MASK_X86
    paths.push_back({"sse2", &detail::mask_copy_sse2});
    if (detail::cpu_has_avx2()) paths.push_back({"avx2", &detail::mask_copy_avx2});
#endif
    paths.push_back({"dispatched", &dispatched_copy});
    return paths;
}

std::vector<apply_path> apply_paths() {
    std::vector<apply_path> paths{{"scalar", &detail::apply_mask_scalar}};
#if SOCKEYE_MASK_X86
    paths.push_back({"sse2", &detail::apply_mask_sse2});
    if (detail::cpu_has_avx2()) paths.push_back({"avx2", &detail::apply_mask_avx2});
#endif
    paths.push_back({"dispatched", &dispatched_apply});
    return paths;
}

void reference_mask(std::uint8_t* data, std::size_t len, const masking_key& key,
                    std::size_t offset) {
    for (std::size_t i = 0; i < len; ++i) {
        data[i] = static_cast<std::uint8_t>(data[i] ^ key[(offset + i) % 4]);
    }
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(byte(rng));
    return v;
}

// A key whose bytes all differ, so a key applied at the wrong offset cannot go unnoticed.
const masking_key test_key{0xA5, 0x3C, 0x0F, 0xE1};

constexpr std::size_t max_len = 300;
constexpr std::size_t guard = 40;  // untouched bytes checked on both sides of the data

// Backing store aligned to 64 so that `base + misalignment` has a known alignment.
struct aligned_buffer {
    std::vector<std::uint8_t> storage;
    std::uint8_t* base;
    explicit aligned_buffer(std::size_t n) : storage(n + 128) {
        auto addr = reinterpret_cast<std::uintptr_t>(storage.data());
        base = storage.data() + ((64 - (addr & 63)) & 63);
    }
};

TEST(Mask, Rfc6455Example) {
    // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    const masking_key key{0x37, 0xfa, 0x21, 0x3d};
    const std::uint8_t expected[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        std::uint8_t data[] = {'H', 'e', 'l', 'l', 'o'};
        EXPECT_EQ(path.apply(data, sizeof data, key, 0), 1u);
        EXPECT_EQ(std::memcmp(data, expected, sizeof data), 0);
        // Unmasking is the same operation.
        path.apply(data, sizeof data, key, 0);
        EXPECT_EQ(std::memcmp(data, "Hello", 5), 0);
    }
}

TEST(Mask, DefaultOffsetIsZero) {
    std::uint8_t a[] = {1, 2, 3, 4, 5, 6, 7};
    std::uint8_t b[] = {1, 2, 3, 4, 5, 6, 7};
    EXPECT_EQ(proto::apply_mask(a, sizeof a, test_key),
              proto::apply_mask(b, sizeof b, test_key, 0));
    EXPECT_EQ(std::memcmp(a, b, sizeof a), 0);
    std::uint8_t c[7];
    EXPECT_EQ(proto::mask_copy(c, b, sizeof b, test_key), 3u);
    reference_mask(c, sizeof c, test_key, 0);
    EXPECT_EQ(std::memcmp(c, a, sizeof c), 0);
}

TEST(Mask, EmptyBufferKeepsOffset) {
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t off = 0; off < 4; ++off) {
            EXPECT_EQ(path.apply(nullptr, 0, test_key, off), off);
        }
    }
}

TEST(Mask, InPlaceMatchesReferenceAllLengthsOffsetsAlignments) {
    const auto original = random_bytes(max_len + 2 * guard, 1);
    aligned_buffer buf(max_len + 2 * guard + 8);
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t mis = 0; mis < 8; ++mis) {
            for (std::size_t off = 0; off < 4; ++off) {
                for (std::size_t len = 0; len <= max_len; ++len) {
                    std::uint8_t* region = buf.base + mis;
                    std::memcpy(region, original.data(), original.size());
                    std::vector<std::uint8_t> expected(original);
                    reference_mask(expected.data() + guard, len, test_key, off);

                    const std::size_t next = path.apply(region + guard, len, test_key, off);
                    ASSERT_EQ(next, (off + len) % 4)
                        << "len " << len << " off " << off << " mis " << mis;
                    ASSERT_EQ(std::memcmp(region, expected.data(), expected.size()), 0)
                        << "len " << len << " off " << off << " mis " << mis;
                }
            }
        }
    }
}

TEST(Mask, CopyMatchesReferenceAllLengthsOffsetsAlignments) {
    const auto original = random_bytes(max_len, 2);
    aligned_buffer src_buf(max_len + 8);
    aligned_buffer dst_buf(max_len + 2 * guard + 8);
    const std::uint8_t fill = 0x5A;
    for (const auto& path : copy_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t src_mis = 0; src_mis < 8; ++src_mis) {
            std::uint8_t* src = src_buf.base + src_mis;
            std::memcpy(src, original.data(), original.size());
            for (std::size_t dst_mis = 0; dst_mis < 8; ++dst_mis) {
                for (std::size_t off = 0; off < 4; ++off) {
                    for (std::size_t len = 0; len <= max_len; ++len) {
                        std::uint8_t* region = dst_buf.base + dst_mis;
                        std::memset(region, fill, max_len + 2 * guard);
                        std::vector<std::uint8_t> expected(max_len + 2 * guard, fill);
                        std::memcpy(expected.data() + guard, original.data(), len);
                        reference_mask(expected.data() + guard, len, test_key, off);

                        const std::size_t next = path.copy(region + guard, src, len, test_key, off);
                        ASSERT_EQ(next, (off + len) % 4) << "len " << len << " off " << off;
                        ASSERT_EQ(std::memcmp(region, expected.data(), expected.size()), 0)
                            << "len " << len << " off " << off << " src_mis " << src_mis
                            << " dst_mis " << dst_mis;
                        // The source is read-only for the kernel.
                        ASSERT_EQ(std::memcmp(src, original.data(), original.size()), 0);
                    }
                }
            }
        }
    }
}

TEST(Mask, CopyWithDstEqualSrc) {
    const auto original = random_bytes(max_len, 3);
    aligned_buffer buf(max_len + 8);
    for (const auto& path : copy_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t mis = 0; mis < 8; ++mis) {
            for (std::size_t off = 0; off < 4; ++off) {
                for (std::size_t len = 0; len <= max_len; ++len) {
                    std::uint8_t* data = buf.base + mis;
                    std::memcpy(data, original.data(), len);
                    std::vector<std::uint8_t> expected(original.begin(), original.begin() + len);
                    reference_mask(expected.data(), len, test_key, off);
                    ASSERT_EQ(path.copy(data, data, len, test_key, off), (off + len) % 4);
                    ASSERT_TRUE(std::equal(expected.begin(), expected.end(), data))
                        << "len " << len << " off " << off << " mis " << mis;
                }
            }
        }
    }
}

TEST(Mask, ChunkedEqualsWhole) {
    const auto original = random_bytes(max_len, 4);
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t off = 0; off < 4; ++off) {
            std::vector<std::uint8_t> whole(original);
            const std::size_t whole_next = path.apply(whole.data(), whole.size(), test_key, off);
            for (std::size_t split = 0; split <= original.size(); ++split) {
                std::vector<std::uint8_t> chunked(original);
                std::size_t next = path.apply(chunked.data(), split, test_key, off);
                next = path.apply(chunked.data() + split, chunked.size() - split, test_key, next);
                ASSERT_EQ(next, whole_next) << "split " << split;
                ASSERT_EQ(chunked, whole) << "split " << split << " off " << off;
            }
        }
    }
}

TEST(Mask, ManyRandomChunksEqualWhole) {
    // Long buffer cut into random pieces: exercises the vector loops with every offset and
    // alignment carried over from the previous piece.
    const auto original = random_bytes(64 * 1024 + 13, 5);
    std::vector<std::uint8_t> whole(original);
    reference_mask(whole.data(), whole.size(), test_key, 0);
    std::mt19937 rng(6);
    std::uniform_int_distribution<std::size_t> piece(0, 700);
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        for (int round = 0; round < 5; ++round) {
            std::vector<std::uint8_t> data(original);
            std::size_t pos = 0;
            std::size_t next = 0;
            while (pos < data.size()) {
                const std::size_t n = std::min(piece(rng), data.size() - pos);
                next = path.apply(data.data() + pos, n, test_key, next);
                pos += n;
            }
            ASSERT_EQ(next, data.size() % 4);
            ASSERT_EQ(data, whole);
        }
    }
}

TEST(Mask, MaskTwiceIsIdentity) {
    const auto original = random_bytes(4096 + 7, 7);
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        for (std::size_t off = 0; off < 4; ++off) {
            for (std::size_t start = 0; start < 8; ++start) {
                std::vector<std::uint8_t> data(original);
                const std::size_t len = data.size() - start;
                path.apply(data.data() + start, len, test_key, off);
                EXPECT_NE(data, original);
                path.apply(data.data() + start, len, test_key, off);
                ASSERT_EQ(data, original) << "off " << off << " start " << start;
            }
        }
    }
}

TEST(Mask, KeyOffsetIsTakenModuloFour) {
    // Offsets are documented as 0-3; a caller passing a running byte count must not read
    // outside the key.
    const auto original = random_bytes(100, 8);
    for (const auto& path : apply_paths()) {
        SCOPED_TRACE(path.name);
        std::vector<std::uint8_t> a(original);
        std::vector<std::uint8_t> b(original);
        EXPECT_EQ(path.apply(a.data(), a.size(), test_key, 1), 1u);
        EXPECT_EQ(path.apply(b.data(), b.size(), test_key, 13) % 4, 1u);
        EXPECT_EQ(a, b);
    }
}

}  // namespace
