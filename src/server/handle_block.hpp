// The control block behind every connection_handle of one server connection. Created on
// the loop the first time the application asks for a handle (idle connections that never
// do pay one null pointer), shared by the handles and the connection, outliving either.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

#include <sockeye/handle.hpp>

#include "loop_mailbox.hpp"

namespace sockeye::server_detail {

class websocket_connection;

class handle_block final : public detail::handle_target,
                           public std::enable_shared_from_this<handle_block> {
  public:
    handle_block(std::shared_ptr<loop_mailbox> mailbox, websocket_connection* conn)
        : mailbox_(std::move(mailbox)), conn_(conn) {}

    bool send(message_type type, std::span<const std::uint8_t> data) override;
    bool close(std::uint16_t code, std::string_view reason) override;
    std::size_t buffered_amount() const override;
    bool post(std::function<void(connection&)> fn) override;
    bool alive() const override { return alive_.load(std::memory_order_acquire); }

    // Loop thread: the connection's output after a flush; stored only when it changed, so
    // a steady connection costs a load and a compare.
    void note_buffered(std::size_t n) noexcept {
        if (buffered_.load(std::memory_order_relaxed) != n)
            buffered_.store(n, std::memory_order_relaxed);
    }
    // Loop thread: the connection ended. Tasks still queued find it gone and do nothing.
    void connection_ended() noexcept;

    // The connection's own reference, dropped when it ends: the connection keeps a plain
    // pointer (8 bytes), the block keeps itself alive for as long as the connection is.
    std::shared_ptr<handle_block> self;

  private:
    // Runs `task` on the loop with the connection if it still exists; `queued` bytes are
    // counted in buffered_amount() until then.
    template <class Task>
    bool post_task(std::size_t queued, Task task);

    const std::shared_ptr<loop_mailbox> mailbox_;
    websocket_connection* conn_;  // loop thread only; null once the connection ended
    std::atomic<bool> alive_{true};
    std::atomic<std::size_t> buffered_{0};  // mirror of the transport's, for other threads
    std::atomic<std::size_t> queued_{0};    // payload bytes posted by other threads, not sent yet
};

}  // namespace sockeye::server_detail
