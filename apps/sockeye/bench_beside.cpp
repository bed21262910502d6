#include "bench_beside.hpp"

#include <algorithm>

namespace sockeye::apps {

beside_stream::beside_stream(uv_loop_t* loop, client_options opts, std::uint64_t message_size)
    : loop_(loop), opts_(std::move(opts)), size_(message_size) {}

beside_stream::~beside_stream() = default;

void beside_stream::start(std::shared_ptr<client_detail::h2_link> link,
                          std::function<void(const std::string&)> on_error) {
    on_error_ = std::move(on_error);
    handlers h;
    h.on_open = [this](connection&) {
        open_ = true;
        pump();
    };
    h.on_message_chunk = [this](connection&, std::span<const std::uint8_t> d, bool) {
        echoed_ += d.size();
    };
    h.on_drain = [this](connection&) { pump(); };
    h.on_close = [this](connection&, std::uint16_t code, std::string_view reason) {
        open_ = false;
        closed_ = true;
        if (!stopping_ && on_error_) {
            on_error_("the stream beside closed early with " + std::to_string(code) + " " +
                      std::string(reason));
        }
    };
    conn_ = std::make_unique<client_detail::client_connection>(
        loop_, opts_, std::move(h), [this](client_error, const std::string& message) {
            closed_ = true;
            if (on_error_) on_error_(message);
        });
    if (link) conn_->join(std::move(link));
    conn_->start();
}

// Keeps about 1 MiB queued: enough to keep the stream's window busy, bounded memory.
void beside_stream::pump() {
    while (open_ && !stopping_ && conn_->buffered_amount() < (1u << 20)) {
        if (left_ == 0) {
            if (!conn_->begin_message(message_type::binary)) return;
            left_ = size_;
        }
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, chunk_.size()));
        left_ -= n;
        if (!conn_->write_message({chunk_.data(), n}, left_ == 0)) return;
    }
}

void beside_stream::stop() {
    stopping_ = true;
    if (!conn_ || closed_) return;
    // A message cut short can't be closed cleanly (the close would sit inside it): the
    // stream is reset; the pingpong's streams close on their own.
    conn_->abort();
    closed_ = true;
}

}  // namespace sockeye::apps
