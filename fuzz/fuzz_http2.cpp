// Fuzzes the HTTP/2 front door: arbitrary bytes after the client connection preface go
// into a real http2_connection (the real nghttp2 server session, the real streams, plain
// answers, extended CONNECT and the websocket_connection over a stream, echoing) on a real
// libuv loop that only ever runs with UV_RUN_NOWAIT. The transport below is a byte channel
// that takes whatever the session writes and throws it away.
//
// The first input byte picks how the rest arrives and ends: the chunk size the bytes are cut
// into (so frames straddle reads) and whether the connection is shut down gracefully (every
// WebSocket gets 1001, GOAWAY once they are done) before it goes.
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "server/byte_channel.hpp"
#include "server/http2_connection.hpp"
#include "server/log.hpp"
#include "server/loop_mailbox.hpp"
#include "server/server_core.hpp"

namespace {

using namespace sockeye;
using namespace sockeye::server_detail;

constexpr char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// What an accepted TCP connection is to the session, minus the socket: output is taken
// (and dropped) at every flush, as a peer that reads everything at once would.
class sink_channel final : public byte_channel {
  public:
    explicit sink_channel(uv_loop_t* loop) : loop_(loop) {}

    net::output_queue& output() noexcept override { return out_; }
    void request_flush() override { drain(); }
    std::size_t buffered() const noexcept override { return out_.size(); }
    std::uint64_t undelivered() const override { return out_.size(); }
    std::uint64_t last_progress() const noexcept override { return uv_now(loop_); }
    void watch_progress() override {}
    bool reading() const noexcept override { return !paused_; }
    void set_paused(bool paused) override { paused_ = paused; }
    void finish() override { finished_ = true; }
    void abort(const char*) override { finished_ = true; }
    void rearm() override {}
    const std::string& peer() const noexcept override { return peer_; }

    void drain() {
        net::output_queue::piece pieces[16];
        while (!out_.empty()) {
            const std::size_t n = out_.next_write(pieces, std::size(pieces), SIZE_MAX);
            if (n == 0) break;
            std::size_t took = 0;
            for (std::size_t i = 0; i < n; ++i) took += pieces[i].size();
            out_.advance(took);
        }
        out_.release();
    }

  private:
    uv_loop_t* loop_;
    net::output_queue out_;
    std::string peer_ = "127.0.0.1:1";
    bool paused_ = false;
    bool finished_ = false;
};

// One server's shared state and one loop's, as server.cpp sets them up, with default
// options and an echoing application. Lives for the whole run: nothing in it grows with
// the inputs (connections are created and destroyed per input).
struct environment {
    server_shared shared;
    std::unique_ptr<server_core> core;
    uv_loop_t loop{};
    uv_async_t wakeup{};

    environment() {
        // Every input opens and closes WebSockets: their records would be all the run does.
        // SOCKEYE_FUZZ_LOG=1 keeps them (to follow a reproducer).
        set_log_level(std::getenv("SOCKEYE_FUZZ_LOG") ? log_level::debug : log_level::off);
        shared.routes.builtins = shared.opts.builtin_endpoints;
        shared.routes.ws_path = shared.opts.ws_path;
        shared.h.on_message = [](connection& c, message_type type,
                                 std::span<const std::uint8_t> data) { c.send(type, data); };
        core = std::make_unique<server_core>(shared);
        uv_loop_init(&loop);
        core->loop = &loop;
        core->transport_io.high_water = shared.opts.high_water_mark;
        core->transport_io.low_water = shared.opts.low_water_mark;
        core->deadlines.start(&loop, [](net::deadline_entry&) {});
        uv_async_init(&loop, &wakeup, [](uv_async_t* a) {
            static_cast<environment*>(a->data)->core->mailbox->run_pending();
        });
        wakeup.data = this;
        uv_unref(reinterpret_cast<uv_handle_t*>(&wakeup));
        core->mailbox = std::make_shared<loop_mailbox>(&wakeup);
    }
};

environment& env() {
    static environment* e = new environment();  // never destroyed: the process just ends
    return *e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& e = env();
    const loop_mailbox::loop_scope here(*e.core->mailbox);
    std::size_t chunk = 1 << 20;
    bool graceful = false;
    if (size > 0) {
        const std::uint8_t mode = data[0];
        static constexpr std::size_t chunks[] = {1 << 20, 1, 7, 9, 64, 1000, 4096, 16384};
        chunk = chunks[mode & 7];
        graceful = (mode & 8) != 0;
        ++data;
        --size;
    }
    {
        sink_channel host(&e.loop);
        auto h2 = std::make_unique<http2_connection>(*e.core, host, false, "");
        bool alive = h2->receive(reinterpret_cast<const std::uint8_t*>(preface), sizeof preface - 1);
        // nghttp2 reads in place (WebSocket frames are unmasked where they lie): a copy.
        std::string bytes(reinterpret_cast<const char*>(data), size);
        auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
        for (std::size_t at = 0; alive && at < bytes.size(); at += chunk) {
            alive = h2->receive(p + at, std::min(chunk, bytes.size() - at));
            uv_run(&e.loop, UV_RUN_NOWAIT);
        }
        if (alive && graceful) {
            h2->shutdown();
            h2->pump();
        }
        h2->note_flushed();
        h2->end_all("fuzz input over");
        h2.reset();
        uv_run(&e.loop, UV_RUN_NOWAIT);
    }
    return 0;
}
