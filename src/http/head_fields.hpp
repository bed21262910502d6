// The strings of one parsed HTTP head (request target or reason phrase, then every header
// name and value) in one buffer, addressed by 32-bit offsets: no allocation per header, and
// capacity kept across keep-alive requests. Fed by llhttp's callbacks, which may split any
// element over several calls when input arrives in pieces. Shared by the request and the
// response parser.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/handshake.hpp"

namespace sockeye::http {

class head_fields {
  public:
    // Offsets rather than pointers: the buffer may reallocate while it grows.
    struct span {
        std::uint32_t offset = 0;
        std::uint32_t size = 0;
    };

    enum class status : std::uint8_t { ok, too_many_headers, out_of_memory, malformed };

    // Offsets are 32-bit; parsers cap heads far below that, so every offset is in range.
    static constexpr std::size_t max_bytes = std::size_t{1} << 30;

    void reserve(std::size_t bytes, std::size_t headers);
    // Forgets the head, keeping capacity.
    void clear() noexcept;

    // Appends a piece of a single element (the target, the reason phrase) to `s`.
    bool append(span& s, const char* at, std::size_t len) noexcept;

    // llhttp's header callbacks, one for one. A name piece after a value starts a header.
    status name_piece(const char* at, std::size_t len, std::size_t max_headers) noexcept;
    status name_complete() noexcept;
    status value_piece(const char* at, std::size_t len) noexcept;
    // Also drops trailing whitespace, which llhttp keeps (leading whitespace it drops).
    status value_complete() noexcept;
    // The header being completed.
    std::string_view last_name() const noexcept { return view(headers_.back().name); }
    std::string_view last_value() const noexcept { return view(headers_.back().value); }

    std::string_view view(span s) const noexcept { return {buf_.data() + s.offset, s.size}; }
    std::size_t count() const noexcept { return headers_.size(); }
    // Bytes of buffer held (names, values and the header list).
    std::size_t capacity() const noexcept {
        return buf_.capacity() + headers_.capacity() * sizeof(entry);
    }
    protocol::http_header header(std::size_t i) const noexcept {
        return {view(headers_[i].name), view(headers_[i].value)};
    }
    // The first header with this name (case-insensitive), if any.
    std::optional<std::string_view> find(std::string_view name) const noexcept;
    // Views of every header into `out` (cleared and refilled, so a reused vector does not
    // allocate); they stay valid while this head does.
    void views(std::vector<protocol::http_header>& out) const;

  private:
    struct entry {
        span name;
        span value;
    };
    enum class field_state : std::uint8_t { none, name, value };

    std::string buf_;
    std::vector<entry> headers_;
    field_state field_ = field_state::none;
};

bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace sockeye::http
