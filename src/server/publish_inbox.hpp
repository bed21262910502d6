// Published messages waiting for one loop, from other threads. Unlike the loop's mailbox of
// tasks, an entry is one pointer: handing a message to a loop allocates nothing (the
// queue's storage is reused), and a burst of publishes is taken in one wake-up. FIFO, so
// messages from one publisher keep their order on every loop.
#pragma once
#include <uv.h>

#include <memory>
#include <mutex>
#include <vector>

#include "publication.hpp"

namespace sockeye::server_detail {

class publish_inbox {
  public:
    explicit publish_inbox(uv_async_t* wake) : wake_(wake) {}
    publish_inbox(const publish_inbox&) = delete;
    publish_inbox& operator=(const publish_inbox&) = delete;

    // Any thread. False once the loop has closed the inbox.
    bool post(std::shared_ptr<publication> p) {
        std::lock_guard lock(mutex_);  // held while waking: close() cannot pass in between
        if (!open_) return false;
        queue_.push_back(std::move(p));
        uv_async_send(wake_);
        return true;
    }
    // The loop: hands each waiting message to `deliver`, in order.
    template <class Deliver>
    void run(Deliver&& deliver) {
        {
            std::lock_guard lock(mutex_);
            running_.swap(queue_);
        }
        for (auto& p : running_) deliver(*p);
        running_.clear();
    }
    // The loop is going away: later posts fail; what waits is finished with no delivery.
    void close() {
        std::vector<std::shared_ptr<publication>> left;
        {
            std::lock_guard lock(mutex_);
            open_ = false;
            left.swap(queue_);
        }
        for (auto& p : left) p->loop_finished(0);
    }

  private:
    std::mutex mutex_;
    std::vector<std::shared_ptr<publication>> queue_;
    std::vector<std::shared_ptr<publication>> running_;
    uv_async_t* wake_;
    bool open_ = true;
};

}  // namespace sockeye::server_detail
