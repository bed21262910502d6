#include "http/request_parser.hpp"

#include "protocol/http_tokens.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace sockeye::http {

namespace {

constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
constexpr bool is_tchar(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view{"!#$%&'*+-.^_`|~"}.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return is_tchar(static_cast<unsigned char>(c));
    });
}

// RFC 9110 §5.5: field-value bytes are HTAB, SP, VCHAR and obs-text; never NUL, CR, LF or
// other controls. llhttp already enforces this; checking again is cheap insurance.
bool is_valid_field_value(std::string_view s) noexcept {
    return protocol::is_field_value(s);
}

// RFC 9112 §3.2: the target is visible ASCII only. llhttp in loose mode also lets TAB, FF
// and bytes >= 0x80 into URLs, which downstream path handling should never have to face.
bool is_valid_target(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c > 0x20 && c < 0x7f;
    });
}

// What a Transfer-Encoding list holds, over all Transfer-Encoding fields.
struct coding_summary {
    int chunked = 0;
    int other = 0;
};

void summarize_codings(std::string_view list, coding_summary& out) noexcept {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        while (!item.empty() && is_ows(item.front())) item.remove_prefix(1);
        while (!item.empty() && is_ows(item.back())) item.remove_suffix(1);
        if (item.empty()) continue;  // RFC 9110 §5.6.1: empty list elements are ignored
        if (iequals(item, "chunked")) {
            ++out.chunked;
        } else {
            ++out.other;
        }
    }
}

}  // namespace

// llhttp calls plain C functions; these forward to the parser stored in `data`.
struct request_parser::callbacks {
    static request_parser& self(llhttp_t* p) noexcept {
        return *static_cast<request_parser*>(p->data);
    }

    // Records why parsing must stop. Data callbacks then return HPE_USER and *_complete
    // callbacks -1; feed() reports the recorded status either way.
    static int stop(request_parser& rp, int status, std::string_view reason) noexcept {
        rp.cb_status_ = status;
        rp.cb_reason_ = reason;
        return HPE_USER;
    }

    static int on_method_complete(llhttp_t* p) {
        self(p).head_request_ = p->method == HTTP_HEAD;
        return 0;
    }

    static int on_url(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        return rp.fields_.append(rp.target_, at, len) ? 0 : stop(rp, 500, "out of memory");
    }

    // Maps a head_fields status to what the request gets.
    static int check(request_parser& rp, head_fields::status st) noexcept {
        switch (st) {
            case head_fields::status::ok:
                return 0;
            case head_fields::status::too_many_headers:
                return stop(rp, 431, "too many header fields");
            case head_fields::status::out_of_memory:
                return stop(rp, 500, "out of memory");
            case head_fields::status::malformed:
                break;
        }
        return stop(rp, 400, "malformed header");
    }

    static int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        return check(rp, rp.fields_.name_piece(at, len, rp.limits_.max_headers));
    }

    static int on_header_field_complete(llhttp_t* p) {
        auto& rp = self(p);
        if (check(rp, rp.fields_.name_complete()) != 0) return -1;
        // Loose llhttp keeps "Host :" as the name "Host "; RFC 9112 §5.1 wants a 400 for
        // whitespace before the colon (a classic smuggling vector). Empty names too.
        if (!is_token(rp.fields_.last_name())) {
            stop(rp, 400, "invalid header name");
            return -1;
        }
        return 0;
    }

    static int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        return check(rp, rp.fields_.value_piece(at, len));
    }

    static int on_header_value_complete(llhttp_t* p) {
        auto& rp = self(p);
        if (check(rp, rp.fields_.value_complete()) != 0) return -1;
        if (!is_valid_field_value(rp.fields_.last_value())) {
            stop(rp, 400, "invalid header value");
            return -1;
        }
        return 0;
    }

    // Pausing here is what makes feed() stop exactly at the end of the head.
    static int on_headers_complete(llhttp_t*) { return HPE_PAUSED; }

    // Reached only after a body (skipped or read): the pause marks where the next request
    // begins.
    static int on_message_complete(llhttp_t* p) {
        const state s = self(p).state_;
        return s == state::skipping_body || s == state::reading_body ? HPE_PAUSED : 0;
    }

    static int on_body(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        if (rp.state_ == state::reading_body && rp.sink_ != nullptr)
            rp.sink_(rp.sink_ctx_, at, len);
        return 0;
    }

    static const llhttp_settings_t& settings() noexcept {
        static const llhttp_settings_t s = [] {
            llhttp_settings_t t;
            llhttp_settings_init(&t);
            t.on_method_complete = on_method_complete;
            t.on_url = on_url;
            t.on_header_field = on_header_field;
            t.on_header_field_complete = on_header_field_complete;
            t.on_header_value = on_header_value;
            t.on_header_value_complete = on_header_value_complete;
            t.on_headers_complete = on_headers_complete;
            t.on_message_complete = on_message_complete;
            t.on_body = on_body;
            return t;
        }();
        return s;
    }
};

request_parser::request_parser(request_limits limits) : limits_(limits) {
    limits_.max_head_bytes = std::min(limits_.max_head_bytes, head_fields::max_bytes);
    // The lenient modes stay off: each of them re-opens a request-smuggling door.
    llhttp_init(&parser_, HTTP_REQUEST, &callbacks::settings());
    reserve_fields();
}

// Typical heads fit without regrowing; larger ones grow geometrically, once.
void request_parser::reserve_fields() {
    fields_.reserve(std::min<std::size_t>(limits_.max_head_bytes, 1024),
                    std::min<std::size_t>(limits_.max_headers, 16));
}

void request_parser::restart() {
    llhttp_init(&parser_, HTTP_REQUEST, &callbacks::settings());
    state_ = state::head;
    sink_ = nullptr;
    sink_ctx_ = nullptr;
    clear_head();
    // A large head grew the buffers: a kept parser holds only what a new one would.
    constexpr std::size_t kept = 4096;
    if (fields_.capacity() > kept) {
        fields_ = head_fields();
        reserve_fields();
    }
}

request_parse_result request_parser::fail(int status, std::string_view reason) {
    state_ = state::failed;
    error_ = {parse_status::error, 0, status, reason};
    return error_;
}

request_parse_result request_parser::fail_from_llhttp(llhttp_errno_t err) {
    if (cb_status_ != 0) return fail(cb_status_, cb_reason_);
    const std::string_view reason =
        parser_.reason != nullptr ? parser_.reason : "malformed request";
    switch (err) {
        case HPE_INVALID_VERSION:
            // llhttp says "Invalid HTTP version" for a well-formed HTTP/x.y it does not
            // know (1.2, 3.0); its other version errors are about malformed syntax.
            if (reason == "Invalid HTTP version") return fail(505, "HTTP version not supported");
            return fail(400, reason);
        case HPE_PAUSED_H2_UPGRADE:
            return fail(505, "HTTP/2 is not supported");
        default:
            return fail(400, reason);
    }
}

std::string_view request_parser::scan_line_endings(const char* p, std::size_t len) noexcept {
    // RFC 9112 §2.2 lets recipients accept a bare LF; a proxy in front may not, and
    // disagreement about where a line ends is how requests get smuggled. A header line
    // starting with whitespace continues the previous one: obs-fold, which RFC 9112 §5.2
    // allows a server to reject with 400. Both are about the bytes at an LF, so the scan
    // goes from LF to LF (memchr) instead of looking at every byte of the head.
    if (len == 0) return {};
    if (line_start_ && is_ows(p[0])) return "obs-fold line folding";
    const char* const end = p + len;
    for (const char* lf = p; (lf = static_cast<const char*>(std::memchr(lf, '\n', end - lf)));) {
        const bool cr_before = lf == p ? prev_cr_ : lf[-1] == '\r';
        if (!cr_before) return "bare LF line ending";
        if (++lf == end) break;
        if (is_ows(*lf)) return "obs-fold line folding";
    }
    prev_cr_ = end[-1] == '\r';
    line_start_ = end[-1] == '\n';
    return {};
}

request_parse_result request_parser::feed(const char* data, std::size_t len) {
    parser_.data = this;  // refreshed on every call, so the parser may be moved or copied
    if (state_ == state::failed) return error_;
    if (state_ == state::complete || state_ == state::reading_body || state_ == state::body_read) {
        return {parse_status::head_complete, 0, 0, {}};
    }

    std::size_t offset = 0;
    if (state_ == state::skipping_body) {
        const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
        if (err == HPE_OK) return {parse_status::need_more, len, 0, {}};
        if (err != HPE_PAUSED) return fail_from_llhttp(err);
        // The body ended inside this input; a fresh llhttp parses what follows.
        offset = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
        llhttp_reset(&parser_);
        state_ = state::head;
    }

    // Never hand llhttp more than the head may still grow by: if the head is not complete
    // within that many bytes and more input exists, it is too large.
    const std::size_t available = len - offset;
    const std::size_t allowance = limits_.max_head_bytes - head_bytes_;
    const std::size_t n = std::min(available, allowance);
    if (n == 0) {
        if (available == 0) return {parse_status::need_more, len, 0, {}};
        return fail(431, "request head too large");
    }

    const char* start = data + offset;
    const llhttp_errno_t err = llhttp_execute(&parser_, start, n);
    if (err == HPE_OK) {
        if (const auto bad = scan_line_endings(start, n); !bad.empty()) return fail(400, bad);
        head_bytes_ += n;
        if (available > n) return fail(431, "request head too large");
        return {parse_status::need_more, len, 0, {}};
    }
    if (err == HPE_PAUSED) {  // on_headers_complete: the head ends here
        const auto used = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - start);
        if (const auto bad = scan_line_endings(start, used); !bad.empty()) return fail(400, bad);
        head_bytes_ += used;
        return finish_head(offset + used);
    }
    return fail_from_llhttp(err);
}

request_parse_result request_parser::finish_head(std::size_t consumed) {
    version_major_ = parser_.http_major;
    version_minor_ = parser_.http_minor;
    // llhttp accepts 0.9, 1.0, 1.1 and 2.0; only HTTP/1.x with a known minor is spoken
    // here (RFC 9110 §15.6.6).
    if (version_major_ != 1 || version_minor_ > 1) {
        return fail(505, "HTTP version not supported");
    }
    if (!is_valid_target(target())) return fail(400, "invalid request target");

    int hosts = 0;
    coding_summary codings;
    bool has_transfer_encoding = false;
    for (std::size_t i = 0; i < fields_.count(); ++i) {
        const protocol::http_header h = fields_.header(i);
        if (iequals(h.name, "host")) {
            ++hosts;
        } else if (iequals(h.name, "transfer-encoding")) {
            has_transfer_encoding = true;
            summarize_codings(h.value, codings);
        }
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one.
    if (hosts > 1) return fail(400, "multiple Host headers");
    if (hosts == 0 && version_minor_ == 1) return fail(400, "missing Host header");

    method_ = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    chunked_ = (parser_.flags & F_CHUNKED) != 0;
    content_length_ = (parser_.flags & F_CONTENT_LENGTH) != 0 ? parser_.content_length : 0;
    has_body_ = chunked_ || content_length_ > 0;

    if (has_transfer_encoding) {
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing cannot be trusted.
        if (version_minor_ == 0) return fail(400, "Transfer-Encoding in HTTP/1.0");
        // llhttp already refused chunked-not-last (400); what remains is either plain
        // "chunked" or codings stacked under it that are not implemented here.
        if (codings.chunked != 1) return fail(400, "invalid Transfer-Encoding");
        if (codings.other > 0) return fail(501, "transfer coding not implemented");
    }
    // RFC 9110 §9.3.6: CONNECT has no content. llhttp would treat anything after the head
    // as tunnel data, so a "body" here could later be parsed as a request.
    if (parser_.method == HTTP_CONNECT && (has_body_ || has_transfer_encoding)) {
        return fail(400, "CONNECT with a body");
    }

    keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
    upgrade_ = parser_.upgrade != 0;
    state_ = state::complete;
    return {parse_status::head_complete, consumed, 0, {}};
}

void request_parser::clear_head() noexcept {
    fields_.clear();
    target_ = {};
    prev_cr_ = false;
    line_start_ = false;
    head_bytes_ = 0;
    cb_status_ = 0;
    cb_reason_ = {};
    error_ = {};
    method_ = {};
    head_request_ = false;
    version_major_ = 0;
    version_minor_ = 0;
    keep_alive_ = false;
    has_body_ = false;
    chunked_ = false;
    upgrade_ = false;
    content_length_ = 0;
}

request_parse_result request_parser::feed_body(const char* data, std::size_t len, body_sink sink,
                                               void* ctx) {
    parser_.data = this;
    if (state_ == state::failed) return error_;
    if (state_ == state::body_read) return {parse_status::body_complete, 0, 0, {}};
    if (state_ == state::complete) {
        if (!has_body_) {
            state_ = state::body_read;
            return {parse_status::body_complete, 0, 0, {}};
        }
        llhttp_resume(&parser_);  // paused at the end of the head
        state_ = state::reading_body;
    }
    if (state_ != state::reading_body) return {parse_status::need_more, 0, 0, {}};
    sink_ = sink;
    sink_ctx_ = ctx;
    const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    sink_ = nullptr;
    sink_ctx_ = nullptr;
    if (err == HPE_OK) return {parse_status::need_more, len, 0, {}};
    if (err != HPE_PAUSED) return fail_from_llhttp(err);
    state_ = state::body_read;
    const auto used = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
    return {parse_status::body_complete, used, 0, {}};
}

void request_parser::reset() {
    if (state_ == state::body_read) {
        llhttp_reset(&parser_);
        state_ = state::head;
    } else if (state_ == state::complete && has_body_) {
        // Let llhttp walk over the body (it knows Content-Length and chunked framing);
        // on_message_complete pauses where the next request starts.
        llhttp_resume(&parser_);
        state_ = state::skipping_body;
    } else if (state_ != state::skipping_body) {
        llhttp_reset(&parser_);
        state_ = state::head;
    }
    clear_head();
}

std::optional<std::string_view> request_parser::find_header(std::string_view name) const noexcept {
    return fields_.find(name);
}

protocol::request_head request_parser::as_request_head(
    std::vector<protocol::http_header>& scratch) const {
    fields_.views(scratch);
    protocol::request_head head;
    head.method = method_;
    head.target = target();
    head.version_major = version_major_;
    head.version_minor = version_minor_;
    head.headers = scratch;
    return head;
}

}  // namespace sockeye::http
