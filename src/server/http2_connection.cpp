#include "http2_connection.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "http2_stream.hpp"
#include "log.hpp"

namespace sockeye::server_detail {

namespace {

// Rapid reset (CVE-2023-44487): a burst of resets is fine (a page navigated away cancels
// its fetches), a sustained stream of them is an attack.
constexpr double reset_burst = 1000;
constexpr double reset_rate = 33;  // per second

// Output is moved from the session into the transport while the transport holds less than
// this: enough to keep the socket busy between two writes, little enough that a frame of
// another stream queued behind it waits well under a millisecond.
std::size_t pump_limit(const server_options& o) {
    return std::max<std::size_t>(o.low_water_mark, 64 << 10) + (256 << 10);
}

// A header block that decodes to this much is an attack, not a client that misjudged
// MAX_HEADER_LIST_SIZE (which gets 431).
std::size_t hostile_header_bytes(const server_options& o) {
    return std::max<std::size_t>(4 * o.max_header_bytes, 64 << 10);
}

http2_connection* self(void* user_data) {
    return static_cast<http2_connection*>(user_data);
}

nghttp2_session_callbacks* make_callbacks() {
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) throw std::bad_alloc();
    nghttp2_session_callbacks_set_send_callback(
        cb, [](nghttp2_session*, const std::uint8_t* data, std::size_t len, int,
               void* u) -> ssize_t { return self(u)->on_send(data, len); });
    nghttp2_session_callbacks_set_send_data_callback(
        cb, [](nghttp2_session*, nghttp2_frame* f, const std::uint8_t* head, std::size_t len,
               nghttp2_data_source*, void* u) -> int {
            return self(u)->on_send_data(f->hd.stream_id, head, len, f->data.padlen);
        });
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
            if (f->hd.type != NGHTTP2_HEADERS) return 0;
            self(u)->begin_header_block();
            if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
            return self(u)->on_begin_headers(f->hd.stream_id);
        });
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
               std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
               void* u) -> int {
            if (f->hd.type != NGHTTP2_HEADERS) return 0;
            return self(u)->on_header(
                f->hd.stream_id, {reinterpret_cast<const char*>(name), namelen},
                {reinterpret_cast<const char*>(value), valuelen});
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
            return self(u)->on_frame_recv(f->hd.stream_id, f->hd.type, f->hd.flags);
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
               std::size_t len, void* u) -> int { return self(u)->on_data_chunk(id, data, len); });
    nghttp2_session_callbacks_set_on_frame_send_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
            if (f->hd.type == NGHTTP2_DATA && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
                self(u)->on_end_stream_sent(f->hd.stream_id);
            }
            return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) -> int {
            return self(u)->on_stream_close(id, code);
        });
    nghttp2_session_callbacks_set_error_callback2(
        cb, [](nghttp2_session*, int, const char* msg, std::size_t len, void*) -> int {
            log(log_level::debug, "http2: %.*s", static_cast<int>(len), msg);
            return 0;
        });
    return cb;
}

}  // namespace

http2_connection::http2_connection(server_core& core, byte_channel& host, bool tls,
                                   std::string server_name)
    : core_(core),
      host_(host),
      server_name_(std::move(server_name)),
      reset_tokens_(reset_burst),
      reset_refilled_(uv_now(core.loop)),
      idle_since_(uv_now(core.loop)),
      tls_(tls) {
    static nghttp2_session_callbacks* const callbacks = make_callbacks();
    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) throw std::bad_alloc();
    // Windows reopen as the application takes the bytes, not as nghttp2 parses them.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    // Every limit a hostile peer probes is set here, not left to a default that may move.
    nghttp2_option_set_max_outbound_ack(opt, 1000);  // SETTINGS/PING acks queued for a peer
                                                     // that sends them and reads nothing
    nghttp2_option_set_max_settings(opt, 32);        // entries in one SETTINGS frame
    nghttp2_option_set_max_continuations(opt, 8);    // CONTINUATION flood (CVE-2024-28182)
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    nghttp2_option_set_max_send_header_block_length(opt, 64 << 10);
    // nghttp2 keeps closed streams for the RFC 7540 priority tree, as many as its local
    // MAX_CONCURRENT_STREAMS allows, which it never learns (see below): keep none.
    nghttp2_option_set_no_closed_streams(opt, 1);
    const int rv = nghttp2_session_server_new2(&session_, callbacks, this, opt);
    nghttp2_option_del(opt);
    if (rv != 0) throw std::runtime_error("nghttp2_session_server_new2 failed");

    const auto& h2 = core_.opts.http2;
    // MAX_CONCURRENT_STREAMS is not given to nghttp2: once the peer has acknowledged it,
    // nghttp2 answers one stream too many with a connection error (GOAWAY PROTOCOL_ERROR),
    // where RFC 9113 §5.1.2 wants a stream error. on_send() adds it to this SETTINGS frame
    // on its way out and on_begin_headers() refuses the extra stream with REFUSED_STREAM.
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         static_cast<std::uint32_t>(core_.opts.max_header_bytes)},
        // RFC 8441 §3; never withdrawn (clients tear the connection down if it goes to 0).
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    if (h2.connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
        nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                              static_cast<std::int32_t>(h2.connection_window));
    }
    core_.stats.http2_connections_total++;
}

http2_connection::~http2_connection() {
    end_all("connection closed");
    nghttp2_session_del(session_);
}

http2_stream* http2_connection::find(std::int32_t id) const {
    const auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
}

bool http2_connection::receive(const std::uint8_t* data, std::size_t len) {
    if (failed_) return false;
    const auto rv = nghttp2_session_mem_recv(session_, data, len);
    if (rv < 0) {
        log(log_level::debug, "http2 peer=%s: %s", host_.peer().c_str(),
            nghttp2_strerror(static_cast<int>(rv)));
        failed_ = true;  // nghttp2 queued GOAWAY where the error allows one
    }
    pump();
    return !failed_ && !over();
}

void http2_connection::pump() {
    const std::size_t limit = pump_limit(core_.opts);
    while (true) {
        // What streams do in reaction (an application writing more) may give the loop
        // below more to send, and the sending may drain more streams.
        while (!changed_.empty()) {
            changed_batch_.swap(changed_);
            for (const auto id : changed_batch_) {
                if (auto* s = find(id)) s->after_changes();
            }
            changed_batch_.clear();
        }
        if (!nghttp2_session_want_write(session_) || host_.buffered() >= limit) break;
        const std::size_t before = host_.buffered();
        if (const int rv = nghttp2_session_send(session_); rv != 0) {
            log(log_level::debug, "http2 send peer=%s: %s", host_.peer().c_str(),
                nghttp2_strerror(rv));
            failed_ = true;
            break;
        }
        if (host_.buffered() == before && changed_.empty()) break;  // the rest is deferred
    }
    // No request_flush() here: every caller is about to flush (the end of a read, the
    // flusher, a write's completion, a deadline), and asking again from inside the
    // flusher would keep the loop spinning.
}

bool http2_connection::over() const noexcept {
    return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void http2_connection::fail(std::uint32_t error_code, const char* why) {
    log(log_level::warn, "http2 peer=%s: %s: ending the connection", host_.peer().c_str(), why);
    nghttp2_session_terminate_session(session_, error_code);
    failed_ = true;
}

void http2_connection::shutdown() {
    if (shutting_down_) return;
    shutting_down_ = true;
    // WebSockets close with 1001 and requests in flight are answered; new streams are
    // refused meanwhile. GOAWAY goes once the last stream is done: some peers (Python h2)
    // take GOAWAY as the end of everything, the frames of streams still closing included.
    for (auto& [id, s] : streams_) s->shutdown();
    goaway_when_idle();
    host_.request_flush();
}

void http2_connection::goaway_when_idle() {
    if (!shutting_down_ || goaway_sent_ || !streams_.empty()) return;
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
}

void http2_connection::end_all(const char* why) {
    // end_now() may not erase: take the streams out first.
    auto streams = std::move(streams_);
    streams_.clear();
    idle_since_ = uv_now(core_.loop);
    for (auto& [id, s] : streams) {
        nghttp2_session_set_stream_user_data(session_, id, nullptr);
        s->end_now(why);
    }
}

void http2_connection::note_send_timeout() {
    for (auto& [id, s] : streams_) s->note_send_timeout();
}

void http2_connection::release_handles() noexcept {
    for (auto& [id, s] : streams_) s->release_handle();
}

void http2_connection::note_flushed() {
    for (auto& [id, s] : streams_) s->note_flushed();
}

std::uint64_t http2_connection::idle_deadline() const noexcept {
    if (!streams_.empty() || idle_closed_ || failed_ || goaway_sent_) return 0;
    const auto t = to_ms(core_.opts.handshake_timeout);
    return t == 0 ? 0 : idle_since_ + t;
}

std::uint64_t http2_connection::next_deadline() const noexcept {
    std::uint64_t next = idle_deadline();
    for (const auto& [id, s] : streams_) {
        const auto t = s->next_deadline();
        if (t != 0 && (next == 0 || t < next)) next = t;
    }
    return next;
}

void http2_connection::handle_deadline(std::uint64_t now, bool undelivered) {
    // A connection that says nothing holds a descriptor and a session: one without a stream
    // gets as long as an HTTP/1.1 connection gets for its request head.
    if (const auto t = idle_deadline(); t != 0 && now >= t) {
        log(log_level::debug, "http2 peer=%s: no stream for the handshake timeout, GOAWAY",
            host_.peer().c_str());
        idle_closed_ = true;
        nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
        pump();
        return;
    }
    // A stream may end (and be erased) in its handler: collect the due ones first.
    std::vector<std::int32_t> due;
    for (const auto& [id, s] : streams_) {
        const auto t = s->next_deadline();
        if (t != 0 && t <= now) due.push_back(id);
    }
    for (const auto id : due) {
        if (auto* s = find(id)) s->handle_deadline(now, undelivered);
    }
    pump();
}

void http2_connection::consume(std::int32_t stream_id, std::size_t n) {
    if (n != 0) nghttp2_session_consume(session_, stream_id, n);
}

bool http2_connection::allow_reset() {
    const auto now = uv_now(core_.loop);
    reset_tokens_ = std::min(reset_burst, reset_tokens_ + static_cast<double>(now - reset_refilled_) *
                                                              reset_rate / 1000.0);
    reset_refilled_ = now;
    if (reset_tokens_ < 1) return false;
    reset_tokens_ -= 1;
    return true;
}

// ---------------------------------------------------------------- nghttp2 callbacks

int http2_connection::on_begin_headers(std::int32_t stream_id) {
    if (shutting_down_ || streams_.size() >= core_.opts.http2.max_concurrent_streams) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    auto s = std::make_unique<http2_stream>(*this, stream_id);
    nghttp2_session_set_stream_user_data(session_, stream_id, s.get());
    streams_[stream_id] = std::move(s);
    core_.stats.http2_streams_total++;
    return 0;
}

int http2_connection::on_header(std::int32_t stream_id, std::string_view name,
                                std::string_view value) {
    // An HPACK bomb: a few bytes per field on the wire, each a reference to a large entry
    // of the dynamic table. Beyond max_header_bytes a request gets 431, but nghttp2 would
    // still check every further field, kilobytes each: 128 KiB of references cost the
    // loop half a second. A block this far beyond what we advertised (request, trailers
    // or a refused stream's alike) ends the connection at once.
    block_bytes_ += name.size() + value.size() + 32;
    if (block_bytes_ > hostile_header_bytes(core_.opts)) {
        fail(NGHTTP2_ENHANCE_YOUR_CALM, "header block far beyond MAX_HEADER_LIST_SIZE");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (auto* s = find(stream_id)) s->add_header(name, value);
    return 0;
}

int http2_connection::on_frame_recv(std::int32_t stream_id, std::uint8_t type, std::uint8_t flags) {
    switch (type) {
        case NGHTTP2_HEADERS: {
            auto* s = find(stream_id);
            if (s != nullptr && (flags & NGHTTP2_FLAG_END_HEADERS)) {
                s->request_complete((flags & NGHTTP2_FLAG_END_STREAM) != 0);
            } else if (s != nullptr && (flags & NGHTTP2_FLAG_END_STREAM)) {
                s->peer_ended();  // trailers
            }
            break;
        }
        case NGHTTP2_DATA:
            if (flags & NGHTTP2_FLAG_END_STREAM) {
                if (auto* s = find(stream_id)) s->peer_ended();
            }
            break;
        case NGHTTP2_RST_STREAM:
            if (!allow_reset()) {
                core_.stats.http2_rapid_reset++;
                fail(NGHTTP2_ENHANCE_YOUR_CALM, "streams reset faster than any client does");
            }
            break;
        default:
            break;
    }
    return 0;
}

int http2_connection::on_data_chunk(std::int32_t stream_id, const std::uint8_t* data,
                                    std::size_t len) {
    if (auto* s = find(stream_id)) {
        s->receive(data, len);
    } else {
        consume(stream_id, len);  // a stream we answered and forgot: its bytes are dropped
    }
    return 0;
}

int http2_connection::on_stream_close(std::int32_t stream_id, std::uint32_t error_code) {
    const auto it = streams_.find(stream_id);
    if (it == streams_.end()) return 0;
    std::unique_ptr<http2_stream> s = std::move(it->second);
    streams_.erase(it);
    s->closed(error_code);
    if (streams_.empty()) {
        idle_since_ = uv_now(core_.loop);
        host_.rearm();  // the idle deadline starts now
    }
    goaway_when_idle();
    return 0;
}

void http2_connection::on_end_stream_sent(std::int32_t stream_id) {
    if (auto* s = find(stream_id)) s->end_stream_sent();
}

long http2_connection::on_send(const std::uint8_t* data, std::size_t len) {
    if (host_.buffered() >= pump_limit(core_.opts)) return NGHTTP2_ERR_WOULDBLOCK;
    if (!settings_sent_) {
        settings_sent_ = true;
        if (send_first_settings(data, len)) return static_cast<long>(len);
    }
    host_.output().append({data, len});
    return static_cast<long>(len);
}

// The first frame of a server session is its SETTINGS (RFC 9113 §3.4): it goes out with
// MAX_CONCURRENT_STREAMS added, one entry nghttp2 does not know of (see the constructor).
// The peer's one ACK still matches the one frame nghttp2 sent.
bool http2_connection::send_first_settings(const std::uint8_t* data, std::size_t len) {
    if (len < 9 || data[3] != NGHTTP2_SETTINGS || data[4] != 0 ||
        (data[5] | data[6] | data[7] | data[8]) != 0) {
        log(log_level::error, "http2: the first frame is not SETTINGS");
        return false;
    }
    const std::size_t payload = (std::size_t{data[0]} << 16) | (std::size_t{data[1]} << 8) | data[2];
    if (len < 9 + payload) return false;
    const std::size_t grown = payload + 6;
    const std::uint32_t max = core_.opts.http2.max_concurrent_streams;
    const std::uint8_t head[9] = {static_cast<std::uint8_t>(grown >> 16),
                                  static_cast<std::uint8_t>(grown >> 8),
                                  static_cast<std::uint8_t>(grown), NGHTTP2_SETTINGS, 0, 0, 0, 0, 0};
    const std::uint8_t entry[6] = {0,
                                   NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                   static_cast<std::uint8_t>(max >> 24),
                                   static_cast<std::uint8_t>(max >> 16),
                                   static_cast<std::uint8_t>(max >> 8),
                                   static_cast<std::uint8_t>(max)};
    auto& out = host_.output();
    out.append({head, 9}, {data + 9, payload});
    out.append({entry, 6});
    if (len > 9 + payload) out.append({data + 9 + payload, len - 9 - payload});
    return true;
}

int http2_connection::on_send_data(std::int32_t stream_id, const std::uint8_t* frame_head,
                                   std::size_t len, std::size_t padding) {
    auto* s = find(stream_id);
    if (s == nullptr) return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (host_.buffered() >= pump_limit(core_.opts)) return NGHTTP2_ERR_WOULDBLOCK;
    auto& out = host_.output();
    out.append({frame_head, 9});
    if (padding > 0) {
        const std::uint8_t pad_length = static_cast<std::uint8_t>(padding - 1);
        out.append({&pad_length, 1});
    }
    s->write_out(out, len);
    if (padding > 1) {
        static const std::uint8_t zeros[256] = {};
        out.append({zeros, padding - 1});
    }
    return 0;
}

}  // namespace sockeye::server_detail
