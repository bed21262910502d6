#include "http/head_fields.hpp"

#include <algorithm>
#include <new>

namespace sockeye::http {

namespace {
constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

void head_fields::reserve(std::size_t bytes, std::size_t headers) {
    buf_.reserve(bytes);
    headers_.reserve(headers);
}

void head_fields::clear() noexcept {
    buf_.clear();
    headers_.clear();
    field_ = field_state::none;
}

bool head_fields::append(span& s, const char* at, std::size_t len) noexcept {
    // Each piece lands right after the previous piece of the same element, because llhttp
    // reports one element at a time. No exception may unwind through llhttp's C frames.
    try {
        buf_.append(at, len);
    } catch (const std::bad_alloc&) {
        return false;
    }
    s.size = static_cast<std::uint32_t>(buf_.size() - s.offset);
    return true;
}

head_fields::status head_fields::name_piece(const char* at, std::size_t len,
                                            std::size_t max_headers) noexcept {
    if (field_ != field_state::name) {
        // Counted before storing, so a flood of tiny headers stops early.
        if (headers_.size() >= max_headers) return status::too_many_headers;
        try {
            headers_.emplace_back();
        } catch (const std::bad_alloc&) {
            return status::out_of_memory;
        }
        headers_.back().name.offset = static_cast<std::uint32_t>(buf_.size());
        field_ = field_state::name;
    }
    return append(headers_.back().name, at, len) ? status::ok : status::out_of_memory;
}

head_fields::status head_fields::name_complete() noexcept {
    if (headers_.empty() || field_ != field_state::name) return status::malformed;
    headers_.back().value.offset = static_cast<std::uint32_t>(buf_.size());
    field_ = field_state::value;
    return status::ok;
}

head_fields::status head_fields::value_piece(const char* at, std::size_t len) noexcept {
    if (headers_.empty() || field_ != field_state::value) return status::malformed;
    return append(headers_.back().value, at, len) ? status::ok : status::out_of_memory;
}

head_fields::status head_fields::value_complete() noexcept {
    // An empty value gets no value_piece call; its offset is already right.
    if (headers_.empty() || field_ != field_state::value) return status::malformed;
    span& v = headers_.back().value;
    while (v.size > 0 && is_ows(buf_[v.offset + v.size - 1])) --v.size;
    field_ = field_state::none;
    return status::ok;
}

std::optional<std::string_view> head_fields::find(std::string_view name) const noexcept {
    for (const entry& h : headers_) {
        if (iequals(view(h.name), name)) return view(h.value);
    }
    return std::nullopt;
}

void head_fields::views(std::vector<protocol::http_header>& out) const {
    out.clear();
    for (std::size_t i = 0; i < headers_.size(); ++i) out.push_back(header(i));
}

}  // namespace sockeye::http
