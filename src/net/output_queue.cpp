#include "output_queue.hpp"

namespace sockeye::net {

namespace {
// Buffers larger than this are released once empty rather than kept for reuse.
constexpr std::size_t keep_capacity = 64 * 1024;
}  // namespace

void output_queue::append(std::span<const std::uint8_t> bytes) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
}

void output_queue::append(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    pending_.reserve(pending_.size() + a.size() + b.size());
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
    if (writing_.empty() && writing_.capacity() > keep_capacity)
        std::vector<std::uint8_t>().swap(writing_);
    if (pending_.empty() && pending_.capacity() > keep_capacity)
        std::vector<std::uint8_t>().swap(pending_);
}

}  // namespace sockeye::net
