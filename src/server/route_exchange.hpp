// One request to an application route and its response (sockeye::http_exchange), on the
// HTTP/1.1 connection or HTTP/2 stream that carries it (its exchange_host). The host feeds
// it the body and reads its state; the exchange writes the response head (an HTTP/1.1 head,
// which an HTTP/2 host turns into HEADERS) and the body pieces into the host. It never ends
// itself: the host destroys it once the response has ended and the body is read, or after
// telling it that the client went away.
#pragma once
#include <sockeye/http.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

namespace sockeye::server_detail {

// What carries an exchange.
class exchange_host {
  public:
    // How a response of unknown length is delimited.
    enum class framing : std::uint8_t {
        close,    // HTTP/1.0: by the end of the connection
        chunked,  // HTTP/1.1
        frames,   // HTTP/2: DATA frames and END_STREAM
    };
    // The head first (in one call), then body pieces as they are to be sent.
    virtual void exchange_output(std::span<const std::uint8_t> a,
                                 std::span<const std::uint8_t> b) = 0;
    // Ended, paused, resumed: looked at once it is safe to.
    virtual void exchange_changed() = 0;
    virtual framing exchange_framing() const noexcept = 0;
    virtual std::size_t exchange_buffered() const noexcept = 0;
    virtual std::uint64_t loop_now() const noexcept = 0;

  protected:
    ~exchange_host() = default;
};

class route_exchange final : public http_exchange {
  public:
    route_exchange(exchange_host& conn, http_request request, bool head_only, bool keep_alive,
                   std::uint64_t max_body, std::uint64_t now);

    // ---- the connection's side
    // A piece of the body (inside the parser: must not throw).
    void deliver_body(std::span<const std::uint8_t> piece) noexcept;
    void body_complete() noexcept;
    // The client went away before the response ended.
    void abort() noexcept;
    void drained() noexcept;
    // The handler (or a body callback) threw: answer 500 if no response began.
    void fail() noexcept;

    bool body_done() const noexcept { return body_done_; }
    bool body_paused() const noexcept { return paused_; }
    bool ended() const noexcept { return ended_; }
    bool began() const noexcept { return began_; }
    bool too_large() const noexcept { return too_large_; }
    // When a body byte last arrived or a response byte was last written (loop ms).
    std::uint64_t last_activity() const noexcept { return last_activity_; }
    void note_activity(std::uint64_t now) noexcept { last_activity_ = now; }
    // After the response: may the connection read the next request?
    bool keep_alive() const noexcept { return keep_alive_ && !broken_; }

    // ---- sockeye::http_exchange
    void on_body(std::function<void(std::span<const std::uint8_t>, bool)> fn) override;
    void pause_body() override;
    void resume_body() override;
    void on_abort(std::function<void()> fn) override;
    bool respond(int status, std::string_view body, std::vector<name_value> headers,
                 std::string_view content_type) override;
    bool begin_response(int status, std::vector<name_value> headers,
                        std::optional<std::uint64_t> length) override;
    bool write(std::span<const std::uint8_t> piece) override;
    bool end() override;
    std::size_t buffered_amount() const override;
    void on_drain(std::function<void()> fn) override;

  private:
    template <class Fn>
    void guarded(const char* what, Fn&& fn) noexcept;
    void output(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b = {});

    exchange_host& conn_;
    std::function<void(std::span<const std::uint8_t>, bool)> on_body_;
    std::function<void()> on_abort_;
    std::function<void()> on_drain_;
    std::uint64_t max_body_;
    std::uint64_t body_seen_ = 0;
    std::uint64_t last_activity_;
    std::optional<std::uint64_t> left_;  // Content-Length responses: bytes still owed
    bool head_only_;
    bool keep_alive_;
    bool chunked_ = false;
    bool no_body_ = false;  // HEAD, 204, 304: whatever is written is not sent
    bool began_ = false;
    bool ended_ = false;
    bool body_done_ = false;
    bool paused_ = false;
    bool too_large_ = false;
    bool broken_ = false;  // the response can't be followed by another on this connection
    bool aborted_ = false;
};

}  // namespace sockeye::server_detail
