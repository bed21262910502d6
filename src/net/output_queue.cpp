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
// Emptied queues' states kept per thread (136 bytes each, plus a short shared-piece list).
constexpr std::size_t max_states = 1024;
// A few of the kept states keep their byte buffer too (up to this size): the next queue
// to take one then has room at once, with no trip through the buffer pool at either end.
// That is an echo's cycle, one state and one buffer taken and given back per message.
constexpr std::size_t states_with_buffer = pool_buffers;
constexpr std::size_t max_buffer_with_state = 256 << 10;

// The state an echo's cycle takes and gives back: the last emptied state with its byte
// buffer, in a slot of its own, so that a queue emptied by its write and the next one to
// queue bytes pass it on with a pointer swap (the pool's lists and counters are the way
// for every other case). Freed with the pool at thread exit. constinit: no TLS guard.
constinit thread_local output_queue::state* hot_state = nullptr;

struct buffer_pool {
    std::vector<std::uint8_t> free[pool_buffers];  // [0, count) hold buffers, the rest none
    std::size_t count = 0;
    // States of queues that emptied, with no byte buffer. Many queues can be non-empty at
    // once (a message published to every subscriber of a loop), and each takes a state
    // from here; up to max_states are kept for the next burst, the rest are freed.
    std::vector<output_queue::state*> states;
    // Of those, how many hold a byte buffer (in `pending`, empty).
    std::size_t buffered_states = 0;
    buffer_pool() { states.reserve(max_states); }  // so giving one back never allocates
    ~buffer_pool() {
        for (auto* s : states) delete s;
        delete std::exchange(hot_state, nullptr);
    }
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

// Grows `v` to hold `need` bytes, from the pool if it has a buffer that large.
[[gnu::noinline]] void grow_buffer(std::vector<std::uint8_t>& v, std::size_t need) {
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

// Makes room for `extra` more bytes in `v`; usually there is (a kept buffer).
inline void reserve_more(std::vector<std::uint8_t>& v, std::size_t extra) {
    const std::size_t need = v.size() + extra;
    if (need > v.capacity()) [[unlikely]] grow_buffer(v, need);
}

}  // namespace

output_queue::~output_queue() {
    if (!s_) return;
    for (shared_at& sh : s_->shared) {
        if (sh.bytes) sh.bytes->release();
    }
    delete s_;
}

output_queue::state& output_queue::need() {
    if (s_) [[likely]] return *s_;
    if (hot_state) {
        s_ = std::exchange(hot_state, nullptr);
        return *s_;
    }
    buffer_pool& p = pool();
    if (p.states.empty()) {
        s_ = new state;
    } else {
        s_ = p.states.back();
        p.states.pop_back();
        if (s_->pending.capacity() != 0) --p.buffered_states;
    }
    return *s_;
}

void output_queue::append(piece bytes) {
    state& s = need();
    reserve_more(s.pending, bytes.size());
    s.pending.insert(s.pending.end(), bytes.begin(), bytes.end());
    s.pending_size += bytes.size();
}

void output_queue::append(piece a, piece b) {
    state& s = need();
    reserve_more(s.pending, a.size() + b.size());
    s.pending.insert(s.pending.end(), a.begin(), a.end());
    s.pending.insert(s.pending.end(), b.begin(), b.end());
    s.pending_size += a.size() + b.size();
}

void output_queue::append_urgent(piece a, piece b) {
    state& s = need();
    const std::size_t n = a.size() + b.size();
    if (s.urgent_end == s.pending.size()) {
        append(a, b);
    } else {
        reserve_more(s.pending, n);
        auto at = s.pending.begin() + static_cast<std::ptrdiff_t>(s.urgent_end);
        at = s.pending.insert(at, a.begin(), a.end());
        s.pending.insert(at + static_cast<std::ptrdiff_t>(a.size()), b.begin(), b.end());
        s.pending_size += n;
    }
    // Shared pieces queued after the insertion point have not started either: they move
    // behind the urgent bytes with the owned data there.
    for (std::size_t i = s.writing_shared; i < s.shared.size(); ++i) {
        if (s.shared[i].at >= s.urgent_end) s.shared[i].at += n;
    }
    s.urgent_end += n;
}

void output_queue::append_shared(shared_bytes* b) {
    state& s = need();
    b->retain();
    s.shared.push_back({b, s.pending.size()});
    s.pending_size += b->size();
}

std::uint8_t* output_queue::grow(std::size_t n) {
    state& s = need();
    const std::size_t at = s.pending.size();
    reserve_more(s.pending, n);
    s.pending.resize(at + n);
    s.pending_size += n;
    return s.pending.data() + at;
}

void output_queue::start_write() {
    state& s = *s_;
    s.writing_shared = s.shared.size();  // end_write() left only pending pieces
    s.writing.clear();
    s.writing.swap(s.pending);
    s.writing_size = s.pending_size;
    s.pending_size = 0;
    s.written = 0;
    s.segment = 0;
    s.segment_off = 0;
    s.urgent_end = 0;
}

void output_queue::end_write() noexcept {
    state& s = *s_;
    if (s.writing_shared != 0) {
        for (std::size_t i = 0; i < s.writing_shared; ++i) {
            if (s.shared[i].bytes) std::exchange(s.shared[i].bytes, nullptr)->release();
        }
        s.shared.erase(s.shared.begin(),
                       s.shared.begin() + static_cast<std::ptrdiff_t>(s.writing_shared));
        s.writing_shared = 0;
    }
    s.writing.clear();
    s.writing_size = s.written = 0;
    s.segment = s.segment_off = 0;
}

output_queue::piece output_queue::segment(std::size_t k) const noexcept {
    const state& s = *s_;
    const std::size_t i = k / 2;
    if (k % 2 == 1) return s.shared[i].bytes->bytes();
    const std::size_t from = i == 0 ? 0 : s.shared[i - 1].at;
    const std::size_t to = i < s.writing_shared ? s.shared[i].at : s.writing.size();
    return {s.writing.data() + from, to - from};
}

std::size_t output_queue::next_write(piece* out, std::size_t max_pieces, std::size_t max_bytes) {
    if (!s_) return 0;
    state& s = *s_;
    if (s.written == s.writing_size) {
        end_write();
        if (s.pending_size == 0) return 0;
        start_write();
    }
    if (s.writing_shared == 0) {
        // Owned bytes only (every echo): one piece, from where the kernel stopped.
        if (max_pieces == 0 || max_bytes == 0) return 0;
        const piece p = piece(s.writing).subspan(s.segment_off);
        out[0] = p.first(std::min(p.size(), max_bytes));
        return 1;
    }
    std::size_t n = 0;
    std::size_t bytes = 0;
    const std::size_t segments = 2 * s.writing_shared + 1;
    for (std::size_t k = s.segment; k < segments && n < max_pieces && bytes < max_bytes; ++k) {
        piece p = segment(k);
        if (k == s.segment) p = p.subspan(s.segment_off);
        if (p.empty()) continue;
        if (p.size() > max_bytes - bytes) p = p.first(max_bytes - bytes);
        out[n++] = p;
        bytes += p.size();
    }
    return n;
}

void output_queue::advance(std::size_t n) noexcept {
    if (n == 0) return;
    state& s = *s_;
    s.written += n;
    // All of it (the usual case): the next next_write() or release() lets go of the pieces.
    if (s.written == s.writing_size) return;
    const std::size_t segments = 2 * s.writing_shared + 1;
    while (s.segment < segments) {
        const std::size_t left = segment(s.segment).size() - s.segment_off;
        if (n < left) {
            s.segment_off += n;
            return;
        }
        n -= left;
        // Once the kernel has all of a shared piece, this queue lets go of it.
        if (s.segment % 2 == 1) std::exchange(s.shared[s.segment / 2].bytes, nullptr)->release();
        if (s.segment + 1 == segments) {
            s.segment_off += left;  // the end: stay on the last segment
            return;
        }
        ++s.segment;
        s.segment_off = 0;
    }
}

void output_queue::pending_written(std::size_t n) noexcept {
    state& s = *s_;
    if (n == s.pending.size()) {
        s.pending.clear();
        s.pending_size = 0;
        s.urgent_end = 0;
        return;
    }
    end_write();
    start_write();
    advance(n);
}

// An emptied queue's state goes back to the thread's pool (or is freed when that is full).
void output_queue::return_state() noexcept {
    auto& states = pool().states;
    if (states.size() < max_states) {
        states.push_back(std::exchange(s_, nullptr));  // within the reserved capacity
    } else {
        delete std::exchange(s_, nullptr);
    }
}

void output_queue::release() noexcept {
    if (!s_) return;
    state& s = *s_;
    if (s.in_flight == 0 && s.written == s.writing_size && s.pending_size == 0 &&
        s.writing_shared == 0 && s.shared.empty() && s.shared.capacity() <= max_kept_shared) {
        // The usual case (all of a write of owned bytes went out): the buffers and the
        // state go back in one step, the state with its buffer while few kept ones have one.
        s.writing_size = s.written = 0;
        s.segment = s.segment_off = 0;
        s.urgent_end = 0;
        // An echo's: the bytes went out of pending where they were (pending_written), and
        // the next queue to take a state takes this one, buffer and all.
        if (hot_state == nullptr && s.writing.capacity() == 0 && s.pending.capacity() != 0 &&
            s.pending.capacity() <= max_buffer_with_state) {
            s.pending.clear();
            hot_state = std::exchange(s_, nullptr);
            return;
        }
        buffer_pool& p = pool();
        if (s.pending.capacity() == 0) s.pending.swap(s.writing);
        if (s.writing.capacity() != 0) give_back(s.writing);
        if (s.pending.capacity() != 0) {
            if (p.buffered_states < states_with_buffer && p.states.size() < max_states &&
                s.pending.capacity() <= max_buffer_with_state) {
                s.pending.clear();
                ++p.buffered_states;
                p.states.push_back(std::exchange(s_, nullptr));
                return;
            }
            give_back(s.pending);
        }
        return_state();
        return;
    }
    if (s.in_flight == 0 && s.written == s.writing_size) {
        end_write();
        give_back(s.writing);
    }
    if (s.pending.empty()) give_back(s.pending);
    if (s.pending_size == 0 && s.writing_size == 0 && s.in_flight == 0 && s.shared.empty()) {
        // Nothing queued at all: the state goes back to the pool (a long shared-piece list
        // with it would be kept by every pooled state, so it is freed).
        if (s.shared.capacity() > max_kept_shared) std::vector<shared_at>().swap(s.shared);
        s.urgent_end = 0;
        return_state();
        return;
    }
    // A subscriber keeps a short list of shared pieces (a pool could not serve thousands
    // of subscribers that all have a message queued at once); a long one is given back.
    if (s.shared.empty() && s.shared.capacity() > max_kept_shared) {
        std::vector<shared_at>().swap(s.shared);
    }
}

}  // namespace sockeye::net
