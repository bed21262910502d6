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
// Entries of the shared-piece list a queue keeps when empty (16 bytes each).
constexpr std::size_t max_kept_shared = 32;

struct buffer_pool {
    std::vector<std::uint8_t> free[pool_buffers];  // [0, count) hold buffers, the rest none
    std::size_t count = 0;
};

// The pool is reached through a plain thread_local pointer: an object with a destructor
// as the thread_local itself would put a guarded initialisation call in front of every
// access, a few dozen instructions per message on the echo path.
thread_local buffer_pool* current_pool = nullptr;

[[gnu::noinline]] buffer_pool& make_pool() {
    thread_local buffer_pool owner;  // freed at thread exit
    current_pool = &owner;
    return owner;
}

buffer_pool& pool() noexcept {
    if (current_pool) [[likely]] return *current_pool;
    return make_pool();
}

void give_back(std::vector<std::uint8_t>& v) noexcept {
    if (v.capacity() == 0) return;
    if (v.capacity() <= pool_max_capacity) {
        v.clear();
        buffer_pool& p = pool();
        if (p.count < pool_buffers) {
            p.free[p.count++].swap(v);  // that slot held no buffer: v is left with none
            return;
        }
        // Full: keep the larger buffers, they serve every size.
        auto* smallest = std::min_element(p.free, p.free + p.count, [](auto& a, auto& b) {
            return a.capacity() < b.capacity();
        });
        if (smallest->capacity() < v.capacity()) smallest->swap(v);
    }
    std::vector<std::uint8_t>().swap(v);
}

// Makes room for `extra` more bytes in `v`, from the pool when the buffer must grow.
void reserve_more(std::vector<std::uint8_t>& v, std::size_t extra) {
    const std::size_t need = v.size() + extra;
    if (need <= v.capacity()) return;
    buffer_pool& p = pool();
    for (std::size_t i = 0; i < p.count; ++i) {
        if (p.free[i].capacity() < need) continue;
        std::vector<std::uint8_t> warm;
        warm.swap(p.free[i]);
        p.free[i].swap(p.free[--p.count]);  // the last buffer fills the gap
        if (v.capacity() == 0) {
            v.swap(warm);  // the usual case: an empty queue's first append
            return;
        }
        warm.assign(v.begin(), v.end());
        v.swap(warm);
        give_back(warm);
        return;
    }
    v.reserve(std::max({need, v.capacity() * 2, min_capacity}));
}

}  // namespace

output_queue::~output_queue() {
    for (shared_at& s : shared_) {
        if (s.bytes) s.bytes->release();
    }
}

void output_queue::append(piece bytes) {
    reserve_more(pending_, bytes.size());
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    pending_size_ += bytes.size();
}

void output_queue::append(piece a, piece b) {
    reserve_more(pending_, a.size() + b.size());
    pending_.insert(pending_.end(), a.begin(), a.end());
    pending_.insert(pending_.end(), b.begin(), b.end());
    pending_size_ += a.size() + b.size();
}

void output_queue::append_urgent(piece a, piece b) {
    const std::size_t n = a.size() + b.size();
    if (urgent_end_ == pending_.size()) {
        append(a, b);
    } else {
        reserve_more(pending_, n);
        auto at = pending_.begin() + static_cast<std::ptrdiff_t>(urgent_end_);
        at = pending_.insert(at, a.begin(), a.end());
        pending_.insert(at + static_cast<std::ptrdiff_t>(a.size()), b.begin(), b.end());
        pending_size_ += n;
    }
    // Shared pieces queued after the insertion point have not started either: they move
    // behind the urgent bytes with the owned data there.
    for (std::size_t i = writing_shared_; i < shared_.size(); ++i) {
        if (shared_[i].at >= urgent_end_) shared_[i].at += n;
    }
    urgent_end_ += n;
}

void output_queue::append_shared(shared_bytes* b) {
    b->retain();
    shared_.push_back({b, pending_.size()});
    pending_size_ += b->size();
}

std::uint8_t* output_queue::grow(std::size_t n) {
    const std::size_t at = pending_.size();
    reserve_more(pending_, n);
    pending_.resize(at + n);
    pending_size_ += n;
    return pending_.data() + at;
}

void output_queue::start_write() {
    writing_shared_ = shared_.size();  // end_write() left only pending pieces
    writing_.clear();
    writing_.swap(pending_);
    writing_size_ = pending_size_;
    pending_size_ = 0;
    written_ = 0;
    segment_ = 0;
    segment_off_ = 0;
    urgent_end_ = 0;
}

void output_queue::end_write() noexcept {
    if (writing_shared_ != 0) {
        for (std::size_t i = 0; i < writing_shared_; ++i) {
            if (shared_[i].bytes) std::exchange(shared_[i].bytes, nullptr)->release();
        }
        shared_.erase(shared_.begin(),
                      shared_.begin() + static_cast<std::ptrdiff_t>(writing_shared_));
        writing_shared_ = 0;
    }
    writing_.clear();
    writing_size_ = written_ = 0;
    segment_ = segment_off_ = 0;
}

output_queue::piece output_queue::segment(std::size_t k) const noexcept {
    const std::size_t i = k / 2;
    if (k % 2 == 1) return shared_[i].bytes->bytes();
    const std::size_t from = i == 0 ? 0 : shared_[i - 1].at;
    const std::size_t to = i < writing_shared_ ? shared_[i].at : writing_.size();
    return {writing_.data() + from, to - from};
}

std::size_t output_queue::next_write(piece* out, std::size_t max_pieces, std::size_t max_bytes) {
    if (written_ == writing_size_) {
        end_write();
        if (pending_size_ == 0) return 0;
        start_write();
    }
    if (writing_shared_ == 0) {
        // Owned bytes only (every echo): one piece, from where the kernel stopped.
        if (max_pieces == 0 || max_bytes == 0) return 0;
        const piece p = piece(writing_).subspan(segment_off_);
        out[0] = p.first(std::min(p.size(), max_bytes));
        return 1;
    }
    std::size_t n = 0;
    std::size_t bytes = 0;
    const std::size_t segments = 2 * writing_shared_ + 1;
    for (std::size_t k = segment_; k < segments && n < max_pieces && bytes < max_bytes; ++k) {
        piece p = segment(k);
        if (k == segment_) p = p.subspan(segment_off_);
        if (p.empty()) continue;
        if (p.size() > max_bytes - bytes) p = p.first(max_bytes - bytes);
        out[n++] = p;
        bytes += p.size();
    }
    return n;
}

void output_queue::advance(std::size_t n) noexcept {
    written_ += n;
    // All of it (the usual case): the next next_write() or release() lets go of the pieces.
    if (written_ == writing_size_) return;
    const std::size_t segments = 2 * writing_shared_ + 1;
    while (segment_ < segments) {
        const std::size_t left = segment(segment_).size() - segment_off_;
        if (n < left) {
            segment_off_ += n;
            return;
        }
        n -= left;
        // Once the kernel has all of a shared piece, this queue lets go of it.
        if (segment_ % 2 == 1) std::exchange(shared_[segment_ / 2].bytes, nullptr)->release();
        if (segment_ + 1 == segments) {
            segment_off_ += left;  // the end: stay on the last segment
            return;
        }
        ++segment_;
        segment_off_ = 0;
    }
}

void output_queue::release() noexcept {
    if (in_flight_ == 0 && written_ == writing_size_) {
        end_write();
        give_back(writing_);
    }
    if (pending_.empty()) give_back(pending_);
    // A subscriber keeps a short list of shared pieces (a pool could not serve thousands
    // of subscribers that all have a message queued at once); a long one is given back.
    if (shared_.empty() && shared_.capacity() > max_kept_shared) std::vector<shared_at>().swap(shared_);
}

}  // namespace sockeye::net
