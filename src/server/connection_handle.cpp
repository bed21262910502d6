// connection_handle's server side: the control block (handle_block.hpp) and how a
// connection hands it out and lets go of it.
#include <string>
#include <vector>

#include "handle_block.hpp"
#include "websocket_connection.hpp"

namespace sockeye::server_detail {

template <class Task>
bool handle_block::post_task(std::size_t queued, Task task) {
    if (!alive()) return false;
    queued_.fetch_add(queued, std::memory_order_relaxed);
    // The task keeps the block alive; the connection may be long gone when it runs.
    const bool posted =
        mailbox_->post([b = shared_from_this(), queued, task = std::move(task)]() mutable {
            if (b->conn_) task(*b->conn_);
            // The bytes move from "queued" to the mirror at once, so that other threads
            // never see them counted nowhere (the task may have ended the connection).
            if (b->conn_) b->note_buffered(b->conn_->buffered_amount());
            b->queued_.fetch_sub(queued, std::memory_order_relaxed);
        });
    if (!posted) queued_.fetch_sub(queued, std::memory_order_relaxed);
    return posted;
}

bool handle_block::send(message_type type, std::span<const std::uint8_t> data) {
    // On the loop the connection is used directly: no copy, and in order with the loop's
    // own sends.
    if (mailbox_->on_loop_thread()) return conn_ && conn_->send(type, data);
    // From elsewhere the payload must outlive the caller's buffer: one copy per send.
    std::vector<std::uint8_t> copy(data.begin(), data.end());
    const std::size_t n = copy.size();
    return post_task(
        n, [type, copy = std::move(copy)](websocket_connection& c) { c.send(type, copy); });
}

bool handle_block::close(std::uint16_t code, std::string_view reason) {
    if (mailbox_->on_loop_thread()) return conn_ && conn_->close(code, reason);
    return post_task(
        0, [code, r = std::string(reason)](websocket_connection& c) { c.close(code, r); });
}

std::size_t handle_block::buffered_amount() const {
    if (!alive()) return 0;
    const std::size_t queued = queued_.load(std::memory_order_relaxed);
    if (mailbox_->on_loop_thread() && conn_) return conn_->buffered_amount() + queued;
    return buffered_.load(std::memory_order_relaxed) + queued;
}

bool handle_block::post(std::function<void(connection&)> fn) {
    if (!fn) return false;
    // Queued even on the loop's thread: the caller may be deep inside this connection's
    // own handler, where running more of the application now could surprise it.
    return post_task(0, [fn = std::move(fn)](websocket_connection& c) { fn(c); });
}

void handle_block::connection_ended() noexcept {
    conn_ = nullptr;
    buffered_.store(0, std::memory_order_relaxed);
    alive_.store(false, std::memory_order_release);
}

connection_handle websocket_connection::handle() {
    if (ended_) return {};  // on_close or later: nothing left to reach
    if (!handle_) {
        auto b = std::make_shared<handle_block>(core_.mailbox, this);
        b->note_buffered(channel_.buffered());
        b->self = b;
        handle_ = b.get();
    }
    return connection_handle(handle_->self);
}

void websocket_connection::release_handle() noexcept {
    if (!handle_) return;
    handle_->connection_ended();
    // Moved out first: dropping the last reference destroys the block.
    std::shared_ptr<handle_block> last = std::move(handle_->self);
    handle_ = nullptr;
}

void websocket_connection::note_flushed() {
    if (handle_) handle_->note_buffered(channel_.buffered());
    if (connection_tap* t = tap()) t->flushed(channel_.buffered());
}

}  // namespace sockeye::server_detail
