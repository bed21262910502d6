#include "output_queue.hpp"

#include <algorithm>

namespace sockeye::net {

namespace {
// A connection keeps at most this much empty buffer capacity: idle connections stay small.
constexpr std::size_t keep_capacity = 64 * 1024;

// Larger empty buffers go back to a small per-thread pool (one event loop per thread)
// instead of the allocator, and the next large append takes one from it. A stream thus
// cycles through the same few warm buffers: freeing and reallocating ~1 MiB per write
// cost a page fault per 4 KiB of fresh memory, which capped streaming throughput.
constexpr std::size_t pool_buffers = 4;
constexpr std::size_t pool_max_capacity = 8 << 20;  // don't hoard giant one-off sends
thread_local std::vector<std::vector<std::uint8_t>> pool;

void give_back(std::vector<std::uint8_t>& v) noexcept {
    if (v.capacity() <= pool_max_capacity && pool.size() < pool_buffers) {
        v.clear();
        pool.push_back(std::move(v));
    }
    std::vector<std::uint8_t>().swap(v);
}

// Makes room for `extra` more bytes in `v`, from the pool when the buffer must grow large.
void reserve_more(std::vector<std::uint8_t>& v, std::size_t extra) {
    const std::size_t need = v.size() + extra;
    if (need <= v.capacity() || need <= keep_capacity) return;
    for (auto it = pool.begin(); it != pool.end(); ++it) {
        if (it->capacity() >= need) {
            std::vector<std::uint8_t> warm = std::move(*it);
            pool.erase(it);
            warm.assign(v.begin(), v.end());
            v.swap(warm);
            return;
        }
    }
    v.reserve(std::max(need, v.capacity() * 2));
}
}  // namespace

void output_queue::append(std::span<const std::uint8_t> bytes) {
    reserve_more(pending_, bytes.size());
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
}

void output_queue::append(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    reserve_more(pending_, a.size() + b.size());
    pending_.insert(pending_.end(), a.begin(), a.end());
    pending_.insert(pending_.end(), b.begin(), b.end());
}

void output_queue::append_urgent(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    if (urgent_end_ == pending_.size()) {
        append(a, b);
    } else {
        auto at = pending_.begin() + static_cast<std::ptrdiff_t>(urgent_end_);
        at = pending_.insert(at, a.begin(), a.end());
        pending_.insert(at + static_cast<std::ptrdiff_t>(a.size()), b.begin(), b.end());
    }
    urgent_end_ += a.size() + b.size();
}

std::uint8_t* output_queue::grow(std::size_t n) {
    const std::size_t at = pending_.size();
    reserve_more(pending_, n);
    pending_.resize(at + n);
    return pending_.data() + at;
}

std::span<const std::uint8_t> output_queue::start_write() {
    writing_.clear();
    writing_.swap(pending_);
    written_ = 0;
    urgent_end_ = 0;
    return {writing_.data(), writing_.size()};
}

void output_queue::finish_write() noexcept {
    in_flight_ = false;
    writing_.clear();
    written_ = 0;
}

void output_queue::trim() noexcept {
    if (writing_.empty() && writing_.capacity() > keep_capacity) give_back(writing_);
    if (pending_.empty() && pending_.capacity() > keep_capacity) give_back(pending_);
}

}  // namespace sockeye::net
