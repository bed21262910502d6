// An HTTP/2 stream's request and its plain answer.
#include "http2_stream.hpp"

#include <nghttp2/nghttp2.h>
#include <unistd.h>

#include <algorithm>

#include "http/response.hpp"
#include "http1_head_to_h2.hpp"
#include "log.hpp"

namespace sockeye::server_detail {

namespace {

ssize_t read_callback(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                      std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<http2_stream*>(source->ptr);
    bool no_copy = false;
    bool eof = false;
    const long n = s->read_out(buf, length, no_copy, eof);
    if (n < 0) return NGHTTP2_ERR_DEFERRED;
    if (no_copy) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return n;
}

}  // namespace

http2_stream::http2_stream(http2_connection& conn, std::int32_t id)
    : conn_(conn), id_(id), req_(std::make_unique<request_state>()) {
    started_ = uv_now(conn_.core().loop);
    last_progress_ = started_;
}

http2_stream::~http2_stream() {
    cancel_upgrade_wait();
    if (file_fd_ >= 0) ::close(file_fd_);
}

void http2_stream::add_header(std::string_view name, std::string_view value) {
    if (!req_) return;  // trailers
    auto& r = *req_;
    // §6.5.2: name + value + 32 for each field.
    r.bytes += name.size() + value.size() + 32;
    if (r.bytes > conn_.core().opts.max_header_bytes || r.headers.size() >= 100) {
        r.too_large = true;
        return;
    }
    if (!name.empty() && name[0] == ':') {
        if (name == ":method") r.method = value;
        else if (name == ":scheme") r.scheme = value;
        else if (name == ":authority") r.authority = value;
        else if (name == ":path") r.path = value;
        else if (name == ":protocol") r.protocol = value;
        return;
    }
    r.headers.push_back({std::string(name), std::string(value)});
}

void http2_stream::request_complete(bool end_stream) {
    if (!req_ || responded_) return;
    req_->complete = true;
    if (end_stream) peer_ended_ = true;
    if (req_->too_large) {
        respond_status(431, "request header fields too large\n");
        return;
    }
    if (req_->method == "CONNECT") {
        handle_connect();
    } else {
        handle_plain();
    }
}

// The request as the HTTP/1.1 code knows it: `method target HTTP/1.1`, Host from
// :authority, the headers, cookie crumbs joined again (RFC 9113 §8.2.3).
bool http2_stream::parse_as_http1(std::string_view method) {
    auto& r = *req_;
    std::string head;
    head.reserve(64 + r.bytes);
    head.append(method).append(" ").append(r.path.empty() ? "/" : r.path).append(" HTTP/1.1\r\n");
    const bool has_host = std::any_of(r.headers.begin(), r.headers.end(),
                                      [](const auto& h) { return h.name == "host"; });
    if (!has_host) head.append("host: ").append(r.authority).append("\r\n");
    std::string cookies;
    for (const auto& h : r.headers) {
        if (h.name == "cookie") {
            if (!cookies.empty()) cookies += "; ";
            cookies += h.value;
            continue;
        }
        head.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!cookies.empty()) head.append("cookie: ").append(cookies).append("\r\n");
    head.append("\r\n");
    r.parser = std::make_unique<http::request_parser>(
        http::request_limits{conn_.core().opts.max_header_bytes + 1024, 101});
    const auto res = r.parser->feed(head.data(), head.size());
    if (res.status != http::parse_status::head_complete) {
        const int status = res.status == http::parse_status::error ? res.http_status : 400;
        respond_status(status, std::string(res.reason) + "\n");
        return false;
    }
    return true;
}

void http2_stream::handle_plain() {
    auto& core = conn_.core();
    core.stats.http_requests++;
    core.stats.http2_requests++;
    if (!parse_as_http1(req_->method)) return;
    if (core.shared.app_routes.size() != 0 && start_route()) return;
    const http::request_parser& req = *req_->parser;
    http_answer a = core.routes->answer(req, core.stats, true);
    respond_http1(std::move(a.head), a.file_fd, a.file_size);
}

// An answer built for HTTP/1.1 (status line, headers, maybe a body) sent as an h2
// response: the same statuses, headers and bytes, minus what only HTTP/1.1 has.
void http2_stream::respond_http1(std::string response, int file_fd, std::uint64_t file_size) {
    int status = 500;
    std::vector<protocol::owned_header> headers;
    const std::size_t body_at = split_http1_head(response, status, headers);
    if (body_at < response.size()) {
        out_.append({reinterpret_cast<const std::uint8_t*>(response.data() + body_at),
                     response.size() - body_at});
    }
    file_fd_ = file_fd;
    file_left_ = file_fd >= 0 ? file_size : 0;
    finishing_ = true;
    submit(status, headers, !out_.empty() || file_left_ > 0);
    // A peer that never opens its window for the body must not hold the stream (and a
    // file descriptor) for ever: the send timeout judges its progress.
    if (!out_.empty() || file_left_ > 0) watch_progress();
}

void http2_stream::respond_status(int status, std::string_view body,
                                  const std::vector<protocol::owned_header>& extra) {
    std::vector<protocol::http_header> views;
    for (const auto& h : extra) views.push_back({h.name, h.value});
    std::string response = http::text_response(status, body, false, views);
    if (req_ && req_->method == "HEAD") http::drop_body(response);
    if (status >= 400) conn_.core().stats.http2_refused++;
    respond_http1(std::move(response), -1, 0);
}

void http2_stream::submit(int status, const std::vector<protocol::owned_header>& headers,
                          bool body) {
    responded_ = true;
    const std::string status_text = std::to_string(status);
    std::vector<nghttp2_nv> nva;
    nva.reserve(headers.size() + 1);
    auto nv = [](std::string_view n, std::string_view v) {
        return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                          reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                          v.size(), NGHTTP2_NV_FLAG_NONE};
    };
    nva.push_back(nv(":status", status_text));
    for (const auto& h : headers) nva.push_back(nv(h.name, h.value));
    nghttp2_data_provider prd{};
    prd.source.ptr = this;
    prd.read_callback = read_callback;
    // A WebSocket (200 to CONNECT) always has a data provider: its frames follow.
    const bool provider = body || ws_.has_value() || !finishing_;
    nghttp2_submit_response(conn_.session(), id_, nva.data(), nva.size(),
                            provider ? &prd : nullptr);
    conn_.request_flush();
}

long http2_stream::read_out(std::uint8_t* copy_to, std::size_t cap, bool& no_copy, bool& eof) {
    if (!out_.empty()) {
        no_copy = true;
        const std::size_t n = std::min(cap, out_.size());
        eof = finishing_ && n == out_.size() && file_left_ == 0;
        deferred_ = false;
        return static_cast<long>(n);
    }
    if (file_left_ > 0) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(cap, file_left_));
        const ssize_t n = ::read(file_fd_, copy_to, want);
        if (n <= 0) {  // the file shrank or failed under us: the response can't be completed
            reset(NGHTTP2_INTERNAL_ERROR, "file read failed");
            return -1;
        }
        file_left_ -= static_cast<std::uint64_t>(n);
        bytes_out_ += static_cast<std::uint64_t>(n);
        last_progress_ = uv_now(conn_.core().loop);
        eof = file_left_ == 0 && finishing_;
        if (file_left_ == 0) {
            ::close(file_fd_);
            file_fd_ = -1;
        }
        return n;
    }
    if (finishing_) {
        eof = true;
        return 0;
    }
    deferred_ = true;
    return -1;
}

void http2_stream::write_out(net::output_queue& dst, std::size_t len) {
    net::output_queue::piece pieces[16];
    while (len > 0) {
        const std::size_t n = out_.next_write(pieces, std::size(pieces), len);
        if (n == 0) break;
        std::size_t took = 0;
        for (std::size_t i = 0; i < n; ++i) {
            dst.append(pieces[i]);
            took += pieces[i].size();
        }
        out_.advance(took);
        len -= took;
        bytes_out_ += took;
    }
    last_progress_ = uv_now(conn_.core().loop);
    if (out_.empty()) out_.release();
    if (congested_ && out_.size() <= conn_.core().opts.low_water_mark) {
        // Inside nghttp2's send: what reacts (the application writing more) runs after it.
        congested_ = false;
        send_deadline_ = 0;
        drain_pending_ = true;
        conn_.stream_changed(id_);
    }
}

void http2_stream::peer_ended() {
    peer_ended_ = true;
    if (exchange_) {
        if (held_.empty() && !exchange_->body_paused()) {
            in_exchange_call_ = true;
            exchange_->body_complete();
            in_exchange_call_ = false;
        }
        after_exchange_event();
        return;
    }
    if (ws_ && !finishing_) {
        // The peer's END_STREAM is its FIN: a WebSocket that has not closed yet is over.
        end_why_ = "peer ended the stream";
        finish();
    }
}

void http2_stream::closed(std::uint32_t error_code) {
    if (ended_) return;
    ended_ = true;
    cancel_upgrade_wait();
    abort_exchange();
    if (ws_) {
        const char* why = end_why_;
        if (why == nullptr && error_code != NGHTTP2_NO_ERROR) why = "stream reset";
        ws_->end(why, bytes_in_, bytes_out_, started_);
    }
}

void http2_stream::end_now(const char* why) {
    if (ended_) return;
    if (end_why_ == nullptr) end_why_ = why;
    closed(NGHTTP2_CANCEL);
}

void http2_stream::shutdown() {
    if (ws_) {
        ws_->shutdown();
    }
}

void http2_stream::note_send_timeout() {
    if (ws_) ws_->note_send_timeout();
}

void http2_stream::reset(std::uint32_t error_code, const char* why) {
    if (end_why_ == nullptr) end_why_ = why;
    nghttp2_submit_rst_stream(conn_.session(), NGHTTP2_FLAG_NONE, id_, error_code);
    conn_.request_flush();
}

}  // namespace sockeye::server_detail
