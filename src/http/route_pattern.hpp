// Route patterns and a route table, without I/O.
//
// A pattern is '/'-separated segments:
//   literal   "users", "caf%C3%A9"  matched against the path segment after decoding both,
//                                   so "/a b" in a path written "/a%20b" matches "/a%20b"
//   :name     one whole, non-empty segment; name is letters, digits and '_'
//   *         last segment only: the rest of the path, possibly empty, as parameter "*"
// "/users/" (trailing slash) and "/users" are different patterns, and "/a/*" does not
// match "/a": a path is matched exactly as written, so that one resource has one URL
// (the application can register both, or redirect).
//
// Matching works on the raw path (still percent-encoded, query removed: split_target()).
// The path is cut at its literal '/' first and each segment decoded afterwards, so an
// encoded slash stays inside its segment: "/users/a%2Fb" matches "/users/:id" with
// id = "a/b". Decoding the whole path first would make that "/users/a/b", a different
// resource. The cost: a parameter value may contain '/', and also "..", NUL or invalid
// UTF-8 — nothing is normalized, so a value used as a file name must be checked by the
// application. "*" is decoded the same way, so its '/' and a decoded "%2F" look alike;
// route_params::raw() gives the text as sent for who needs the difference.
// A malformed escape in a segment that is compared or captured fails the match;
// route_table::find() answers such paths with bad_request before trying any route.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockeye::http {

// Patterns with more parameters do not compile; it keeps route_params allocation-free.
inline constexpr std::size_t max_route_params = 16;

// The parameters one match captured. Names view the pattern, raw values view the path,
// decoded values view the path or this object (only values with escapes are copied), so
// all are valid while the pattern, the path and this object are. Reusing one object
// across requests keeps its buffer.
class route_params {
  public:
    // Number of parameters captured.
    std::size_t size() const noexcept { return count_; }
    // True when nothing was captured.
    bool empty() const noexcept { return count_ == 0; }
    // The i-th parameter's name ("*" for the wildcard), in pattern order.
    std::string_view name(std::size_t i) const noexcept { return entries_[i].name; }
    // The i-th parameter's value, percent-decoded ('+' stays '+').
    std::string_view value(std::size_t i) const noexcept;
    // The i-th parameter's value as it appeared in the path, still encoded.
    std::string_view raw(std::size_t i) const noexcept { return entries_[i].raw; }
    // The decoded value of the parameter `name`, or nullopt.
    std::optional<std::string_view> get(std::string_view name) const noexcept;
    // Forgets every parameter, keeping the buffer for the next match.
    void clear() noexcept;

  private:
    friend class route_pattern;
    struct entry {
        std::string_view name;
        std::string_view raw;
        std::size_t offset = 0;  // in decoded_, when `decoded`
        std::size_t size = 0;
        bool decoded = false;  // false: the value is `raw` itself
    };
    std::array<entry, max_route_params> entries_{};
    std::size_t count_ = 0;
    std::string decoded_;
};

// A compiled pattern: compile once at startup, match per request.
class route_pattern {
  public:
    // The compiled `pattern`, or nullopt with a one-line reason in `error`.
    static std::optional<route_pattern> compile(std::string_view pattern, std::string& error);

    // Whether the raw path matches; fills `out` when it does. Allocates nothing when it
    // does not (nor when it does and no parameter value holds an escape).
    bool match(std::string_view raw_path, route_params& out) const;

    // The pattern as given to compile().
    const std::string& text() const noexcept { return text_; }
    // Number of parameters, the wildcard included.
    std::size_t param_count() const noexcept { return param_count_; }
    // Whether both match exactly the same paths (same literals, parameters in the same
    // places, whatever their names).
    bool same_shape(const route_pattern& other) const noexcept;

  private:
    enum class kind : std::uint8_t { literal, param, wildcard };
    struct segment {
        kind type = kind::literal;
        std::string text;  // literal: decoded; param: the name; wildcard: "*"
    };
    route_pattern() = default;
    // match()'s first pass: segments compared and parameters captured, nothing decoded.
    bool match_structure(std::string_view raw_path, route_params& out) const;

    std::string text_;
    std::vector<segment> segments_;
    std::size_t param_count_ = 0;
};

enum class route_status : std::uint8_t {
    found,               // `handler` is set: 200 (or whatever the handler says)
    not_found,           // no route has this path: 404
    method_not_allowed,  // routes have this path, not this method: 405 with `allow`
    bad_request,         // the path has a malformed escape: 400
};

struct route_result {
    route_status status = route_status::not_found;
    std::size_t handler = 0;  // found: the index given to add()
    std::string allow;        // method_not_allowed: "GET, HEAD, POST", for the Allow field
};

// Routes in registration order. The first route registered that matches both method and
// path wins, so register specific routes ("/users/me") before general ones
// ("/users/:id"); it is predictable and lets one route deliberately shadow another.
// Methods are case-sensitive (RFC 9110 §9.1). GET routes also answer HEAD, but a HEAD
// route, wherever registered, comes first for HEAD; Allow then lists HEAD after GET.
class route_table {
  public:
    // Adds a route to `handler` (any index the caller likes); false with a reason in
    // `error` when the method is not a token, the pattern does not compile, or an earlier
    // route has the same method and shape (this one could never match).
    bool add(std::string_view method, std::string_view pattern, std::size_t handler,
             std::string& error);

    // Routes a request: `raw_path` is the path of split_target(), still encoded.
    // `params` gets the winning route's parameters (cleared otherwise).
    route_result find(std::string_view method, std::string_view raw_path,
                      route_params& params) const;

    // Number of routes.
    std::size_t size() const noexcept { return routes_.size(); }

  private:
    struct route {
        std::string method;
        route_pattern pattern;
        std::size_t handler;
    };
    std::vector<route> routes_;
};

}  // namespace sockeye::http
