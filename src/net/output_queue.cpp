#include "output_queue.hpp"

#include <algorithm>

namespace sockeye::net {

namespace {
// Buffers of queues that have nothing to send go to a small per-thread pool (one event
// loop per thread) instead of staying with their connection, and the next append of any
// queue on the thread takes one from there. So an idle connection holds no output buffer
// at all, while a busy loop cycles through the same few warm buffers: what would otherwise
// be a malloc/free per message, or for large sends a page fault per 4 KiB of fresh memory
// (which capped streaming throughput), becomes a pointer swap.
constexpr std::size_t pool_buffers = 4;
constexpr std::size_t pool_max_capacity = 8 << 20;  // don't hoard giant one-off sends
// Fresh buffers start at least this big, so a pooled buffer fits the next small message.
constexpr std::size_t min_capacity = 16 * 1024;

struct buffer_pool {
    std::vector<std::vector<std::uint8_t>> free;
    buffer_pool() { free.reserve(pool_buffers); }
};
thread_local buffer_pool pool;

void give_back(std::vector<std::uint8_t>& v) noexcept {
    if (v.capacity() == 0) return;
    auto& free = pool.free;
    if (v.capacity() <= pool_max_capacity) {
        v.clear();
        if (free.size() < pool_buffers) {
            free.push_back(std::move(v));
        } else {
            // Full: keep the larger buffers, they serve every size.
            auto smallest = std::min_element(free.begin(), free.end(), [](auto& a, auto& b) {
                return a.capacity() < b.capacity();
            });
            if (smallest->capacity() < v.capacity()) smallest->swap(v);
        }
    }
    std::vector<std::uint8_t>().swap(v);
}

// Makes room for `extra` more bytes in `v`, from the pool when the buffer must grow.
void reserve_more(std::vector<std::uint8_t>& v, std::size_t extra) {
    const std::size_t need = v.size() + extra;
    if (need <= v.capacity()) return;
    auto& free = pool.free;
    for (auto it = free.begin(); it != free.end(); ++it) {
        if (it->capacity() >= need) {
            std::vector<std::uint8_t> warm = std::move(*it);
            free.erase(it);
            warm.assign(v.begin(), v.end());
            v.swap(warm);
            give_back(warm);
            return;
        }
    }
    v.reserve(std::max({need, v.capacity() * 2, min_capacity}));
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

std::span<const std::uint8_t> output_queue::next_write() {
    if (written_ == writing_.size() && !pending_.empty()) return start_write();
    return unwritten();
}

void output_queue::finish_write() noexcept {
    in_flight_ = 0;
    writing_.clear();
    written_ = 0;
}

void output_queue::release() noexcept {
    if (in_flight_ == 0 && written_ == writing_.size()) {
        writing_.clear();
        written_ = 0;
        give_back(writing_);
    }
    if (pending_.empty()) give_back(pending_);
}

}  // namespace sockeye::net
