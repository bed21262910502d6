// The order check of one subscriber in `sockeye bench fanout`: every published message
// carries a sequence number, and each subscriber must see 0, 1, 2, ... exactly once each.
//
// Eight bytes of history per subscriber (which of the last 64 numbers below the highest
// seen have arrived) tell a late message (reordered: it fills a gap) from a second copy
// (duplicated) without a bitmap of the whole run, which at 10,000 subscribers would be
// the largest thing in the generator. An arrival more than 64 behind cannot be told
// apart and is counted as duplicated: either way the run fails.
#pragma once
#include <cstdint>

namespace sockeye::apps {

class fanout_sequence {
  public:
    enum class verdict : std::uint8_t { in_order, ahead, late, duplicate };

    verdict arrive(std::uint64_t seq) {
        if (seq == next_) {
            seen_ = (seen_ << 1) | 1;
            ++next_;
            return verdict::in_order;
        }
        if (seq > next_) {
            const std::uint64_t skipped = seq - next_;
            gaps_ += skipped;
            seen_ = skipped + 1 >= 64 ? 1 : (seen_ << (skipped + 1)) | 1;
            next_ = seq + 1;
            return verdict::ahead;
        }
        const std::uint64_t back = next_ - 1 - seq;  // bit index in seen_
        if (back >= 64 || (seen_ >> back) & 1) {
            ++duplicated_;
            return verdict::duplicate;
        }
        seen_ |= std::uint64_t{1} << back;
        --gaps_;
        ++reordered_;
        return verdict::late;
    }

    // Messages never seen, given that `published` were sent: the gaps left open plus
    // what has not arrived after the highest number seen.
    std::uint64_t lost(std::uint64_t published) const {
        return gaps_ + (published > next_ ? published - next_ : 0);
    }
    std::uint64_t duplicated() const { return duplicated_; }
    std::uint64_t reordered() const { return reordered_; }
    std::uint64_t next() const { return next_; }

  private:
    std::uint64_t next_ = 0;  // one past the highest number seen
    std::uint64_t seen_ = 0;  // bit i: next_ - 1 - i has arrived
    std::uint64_t gaps_ = 0;  // numbers skipped and not (yet) arrived late
    std::uint32_t duplicated_ = 0;
    std::uint32_t reordered_ = 0;
};

}  // namespace sockeye::apps
