#include "http/response_parser.hpp"

#include <algorithm>
#include <new>

namespace sockeye::http {

namespace {}  // namespace

// llhttp calls plain C functions; these forward to the parser stored in `data`.
struct response_parser::callbacks {
    static response_parser& self(llhttp_t* p) noexcept {
        return *static_cast<response_parser*>(p->data);
    }

    static int stop(response_parser& rp, std::string_view why) noexcept {
        rp.cb_error_ = why;
        return HPE_USER;
    }

    static int on_status(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        return rp.fields_.append(rp.reason_, at, len) ? 0 : stop(rp, "out of memory");
    }

    static int check(response_parser& rp, head_fields::status st) noexcept {
        switch (st) {
            case head_fields::status::ok:
                return 0;
            case head_fields::status::too_many_headers:
                return stop(rp, "too many header fields in the response");
            case head_fields::status::out_of_memory:
                return stop(rp, "out of memory");
            case head_fields::status::malformed:
                break;
        }
        return stop(rp, "malformed header in the response");
    }

    static int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        return check(rp, rp.fields_.name_piece(at, len, rp.limits_.max_headers));
    }

    static int on_header_field_complete(llhttp_t* p) {
        auto& rp = self(p);
        return check(rp, rp.fields_.name_complete()) == 0 ? 0 : -1;
    }

    static int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
        auto& rp = self(p);
        return check(rp, rp.fields_.value_piece(at, len));
    }

    static int on_header_value_complete(llhttp_t* p) {
        auto& rp = self(p);
        return check(rp, rp.fields_.value_complete()) == 0 ? 0 : -1;
    }

    // Pausing here is what makes feed() stop exactly at the end of the head.
    static int on_headers_complete(llhttp_t*) { return HPE_PAUSED; }

    static const llhttp_settings_t& settings() noexcept {
        static const llhttp_settings_t s = [] {
            llhttp_settings_t t;
            llhttp_settings_init(&t);
            t.on_status = on_status;
            t.on_header_field = on_header_field;
            t.on_header_field_complete = on_header_field_complete;
            t.on_header_value = on_header_value;
            t.on_header_value_complete = on_header_value_complete;
            t.on_headers_complete = on_headers_complete;
            return t;
        }();
        return s;
    }
};

response_parser::response_parser(response_limits limits) : limits_(limits) {
    limits_.max_head_bytes = std::min(limits_.max_head_bytes, head_fields::max_bytes);
    llhttp_init(&parser_, HTTP_RESPONSE, &callbacks::settings());
    fields_.reserve(std::min<std::size_t>(limits_.max_head_bytes, 512),
                    std::min<std::size_t>(limits_.max_headers, 8));
}

response_parse_result response_parser::fail(std::string_view reason) {
    state_ = state::failed;
    error_ = {parse_status::error, 0, reason};
    return error_;
}

response_parse_result response_parser::feed(const char* data, std::size_t len) {
    parser_.data = this;  // refreshed on every call, so the parser may be moved
    if (state_ == state::failed) return error_;
    if (state_ == state::complete) return {parse_status::head_complete, 0, {}};
    if (len == 0) return {parse_status::need_more, 0, {}};

    // Never hand llhttp more than the head may still grow by.
    const std::size_t allowance = limits_.max_head_bytes - head_bytes_;
    const std::size_t n = std::min(len, allowance);
    if (n == 0) return fail("response head too large");

    const llhttp_errno_t err = llhttp_execute(&parser_, data, n);
    if (err == HPE_OK) {
        head_bytes_ += n;
        if (len > n) return fail("response head too large");
        return {parse_status::need_more, len, {}};
    }
    if (err != HPE_PAUSED) {
        if (!cb_error_.empty()) return fail(cb_error_);
        return fail(parser_.reason != nullptr ? parser_.reason : "malformed HTTP response");
    }

    // on_headers_complete: the head ends here.
    const auto used = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
    version_major_ = parser_.http_major;
    version_minor_ = parser_.http_minor;
    if (version_major_ != 1) return fail("not an HTTP/1.x response");
    status_code_ = parser_.status_code;
    state_ = state::complete;
    return {parse_status::head_complete, used, {}};
}

std::optional<std::string_view> response_parser::find_header(std::string_view name) const noexcept {
    return fields_.find(name);
}

protocol::response_head response_parser::as_response_head(
    std::vector<protocol::http_header>& scratch) const {
    fields_.views(scratch);
    protocol::response_head head;
    head.status = status_code_;
    head.headers = scratch;
    return head;
}

}  // namespace sockeye::http
