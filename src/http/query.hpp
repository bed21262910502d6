// Request-target splitting and query-string decoding, without I/O.
//
// The query is decoded as application/x-www-form-urlencoded (WHATWG URL, "urlencoded
// parsing"): pieces separated by '&' (empty pieces skipped), each split at its first '='
// into name and value (no '=' means an empty value), '+' read as a space, then
// percent-decoded. Two deliberate differences from WHATWG:
//   - A malformed escape ("%", "%4", "%zz") is an error, not kept literally: a server
//     should answer 400 rather than guess what the client meant.
//   - Decoded bytes are kept as they are, NUL and invalid UTF-8 included, instead of
//     being replaced with U+FFFD: the application knows whether a parameter is text
//     (protocol/utf8.hpp's is_valid_utf8 checks it) or binary.
// ';' is not a separator (WHATWG dropped it; HTML 4 suggested it).
#pragma once
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::http {

// A request target cut into its parts; views into the target.
struct target_parts {
    std::string_view path;   // starts with '/' for origin and absolute forms; still encoded
    std::string_view query;  // after '?', before '#'; still encoded
    bool has_query = false;  // a '?' was present, even with nothing after it
};

// Splits "/a/b?x=1#f" into "/a/b" and "x=1"; the absolute form ("http://h/a?x") gives
// its path ("/" when it has none). The fragment, which clients should not send, is dropped.
target_parts split_target(std::string_view target) noexcept;

// One decoded pair, viewing storage owned by the query_params it came from.
struct query_param {
    std::string_view name;
    std::string_view value;
};

// The decoded pairs of a query string in their original order, repeats included. Holds
// all decoded bytes in one buffer, so parsing costs two allocations whatever the count.
class query_params {
  public:
    class iterator;

    // Number of pairs.
    std::size_t size() const noexcept { return entries_.size(); }
    // True when the query had no pairs.
    bool empty() const noexcept { return entries_.empty(); }
    // The i-th pair (i < size()).
    query_param operator[](std::size_t i) const noexcept;
    // The value of the first pair named `name`, or nullopt; names are case-sensitive.
    std::optional<std::string_view> get(std::string_view name) const noexcept;
    // The values of every pair named `name`, in order.
    std::vector<std::string_view> all(std::string_view name) const;
    // Whether some pair is named `name`.
    bool contains(std::string_view name) const noexcept { return get(name).has_value(); }

    iterator begin() const noexcept;
    iterator end() const noexcept;

  private:
    friend std::optional<query_params> parse_query(std::string_view, std::size_t*);
    struct entry {
        std::size_t name_offset, name_size, value_offset, value_size;
    };
    std::string bytes_;  // every decoded name and value, back to back
    std::vector<entry> entries_;
};

class query_params::iterator {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = query_param;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = query_param;

    iterator() = default;
    query_param operator*() const noexcept { return (*params_)[index_]; }
    iterator& operator++() noexcept {
        ++index_;
        return *this;
    }
    iterator operator++(int) noexcept {
        iterator old = *this;
        ++index_;
        return old;
    }
    bool operator==(const iterator& other) const noexcept = default;

  private:
    friend class query_params;
    iterator(const query_params* params, std::size_t index) : params_(params), index_(index) {}
    const query_params* params_ = nullptr;
    std::size_t index_ = 0;
};

inline query_params::iterator query_params::begin() const noexcept {
    return {this, 0};
}
inline query_params::iterator query_params::end() const noexcept {
    return {this, size()};
}

// Decodes a query string (no leading '?', no fragment). Nullopt on a malformed escape,
// whose offset in `query` goes to `*error_offset` when given.
std::optional<query_params> parse_query(std::string_view query,
                                        std::size_t* error_offset = nullptr);

}  // namespace sockeye::http
