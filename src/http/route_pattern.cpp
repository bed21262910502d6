#include "http/route_pattern.hpp"

#include <algorithm>

#include "http/percent_decode.hpp"

namespace sockeye::http {

namespace {

bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// RFC 9110 §5.6.2 tchar: what a method may be made of.
bool is_token_char(char c) noexcept {
    return is_name_char(c) || std::string_view{"!#$%&'*+-.^`|~"}.find(c) != std::string_view::npos;
}

}  // namespace

std::string_view route_params::value(std::size_t i) const noexcept {
    const entry& e = entries_[i];
    return e.decoded ? std::string_view{decoded_}.substr(e.offset, e.size) : e.raw;
}

std::optional<std::string_view> route_params::get(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
        if (entries_[i].name == name) return value(i);
    }
    return std::nullopt;
}

void route_params::clear() noexcept {
    count_ = 0;
    decoded_.clear();
}

std::optional<route_pattern> route_pattern::compile(std::string_view pattern, std::string& error) {
    if (pattern.empty() || pattern.front() != '/') {
        error = "a route pattern starts with '/'";
        return std::nullopt;
    }
    for (const char c : pattern) {
        const auto u = static_cast<unsigned char>(c);
        // Request targets cannot hold these raw (RFC 9112 §3.2), so such a literal could
        // never match; '?' and '#' would mean routing on the query or fragment.
        if (u <= 0x20 || u == 0x7f) {
            error = "a route pattern holds no spaces or control characters";
            return std::nullopt;
        }
        if (c == '?' || c == '#') {
            error = "a route pattern is a path: no '?' or '#'";
            return std::nullopt;
        }
    }

    route_pattern p;
    p.text_ = pattern;
    std::string_view rest = pattern.substr(1);
    for (bool more = true; more;) {
        const std::size_t slash = rest.find('/');
        const std::string_view s = rest.substr(0, slash);
        more = slash != std::string_view::npos;
        rest = more ? rest.substr(slash + 1) : std::string_view{};

        segment seg;
        if (s == "*") {
            if (more) {
                error = "'*' must be the last segment";
                return std::nullopt;
            }
            seg.type = kind::wildcard;
            seg.text = "*";
        } else if (!s.empty() && s.front() == ':') {
            const std::string_view name = s.substr(1);
            if (name.empty()) {
                error = "empty parameter name";
                return std::nullopt;
            }
            if (!std::all_of(name.begin(), name.end(), is_name_char)) {
                error = "parameter name '" + std::string{name} +
                        "' must be letters, digits and '_' (and fill its segment)";
                return std::nullopt;
            }
            seg.type = kind::param;
            seg.text = name;
        } else {
            // An empty segment is allowed last only: the trailing slash of "/users/".
            if (s.empty() && more) {
                error = "empty segment ('//')";
                return std::nullopt;
            }
            if (!append_percent_decoded(s, seg.text)) {
                error = "malformed percent-encoding in '" + std::string{s} + "'";
                return std::nullopt;
            }
        }
        if (seg.type != kind::literal) {
            const bool duplicate =
                std::any_of(p.segments_.begin(), p.segments_.end(), [&](const segment& other) {
                    return other.type != kind::literal && other.text == seg.text;
                });
            if (duplicate) {
                error = "duplicate parameter name '" + seg.text + "'";
                return std::nullopt;
            }
            if (++p.param_count_ > max_route_params) {
                error = "more than " + std::to_string(max_route_params) + " parameters";
                return std::nullopt;
            }
        }
        p.segments_.push_back(std::move(seg));
    }
    return p;
}

bool route_pattern::match(std::string_view raw_path, route_params& out) const {
    out.clear();
    if (!match_structure(raw_path, out)) {
        out.count_ = 0;  // whatever the first segments captured means nothing now
        return false;
    }

    // Second pass: decode what needs it. Escapes were checked above, so this cannot fail.
    for (std::size_t i = 0; i < out.count_; ++i) {
        route_params::entry& e = out.entries_[i];
        if (!needs_percent_decoding(e.raw)) continue;
        if (out.decoded_.capacity() < raw_path.size()) out.decoded_.reserve(raw_path.size());
        e.decoded = true;
        e.offset = out.decoded_.size();
        append_percent_decoded(e.raw, out.decoded_);
        e.size = out.decoded_.size() - e.offset;
    }
    return true;
}

bool route_pattern::match_structure(std::string_view raw_path, route_params& out) const {
    if (raw_path.empty() || raw_path.front() != '/') return false;

    // Structure only, capturing views. Nothing here allocates, so a failed
    // match (the common case while scanning a table) costs no memory.
    std::string_view rest = raw_path.substr(1);
    bool path_left = true;  // "/" itself has one (empty) segment
    for (const segment& seg : segments_) {
        if (!path_left) return false;  // the path is shorter than the pattern
        if (seg.type == kind::wildcard) {
            if (!is_well_formed_percent_encoding(rest)) return false;
            out.entries_[out.count_++] = {seg.text, rest};
            rest = {};
            path_left = false;
            break;  // compile() makes sure it is last
        }
        const std::size_t slash = rest.find('/');
        const std::string_view s = rest.substr(0, slash);
        path_left = slash != std::string_view::npos;
        rest = path_left ? rest.substr(slash + 1) : std::string_view{};
        if (seg.type == kind::literal) {
            if (!percent_decoded_equals(s, seg.text)) return false;
        } else {
            if (s.empty() || !is_well_formed_percent_encoding(s)) return false;
            out.entries_[out.count_++] = {seg.text, s};
        }
    }
    return !path_left;  // a path longer than the pattern does not match
}

bool route_pattern::same_shape(const route_pattern& other) const noexcept {
    return std::equal(segments_.begin(), segments_.end(), other.segments_.begin(),
                      other.segments_.end(), [](const segment& a, const segment& b) {
                          return a.type == b.type && (a.type != kind::literal || a.text == b.text);
                      });
}

bool route_table::add(std::string_view method, std::string_view pattern, std::size_t handler,
                      std::string& error) {
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
        error = "a method is a token (RFC 9110 §9.1)";
        return false;
    }
    std::optional<route_pattern> compiled = route_pattern::compile(pattern, error);
    if (!compiled) return false;
    for (const route& r : routes_) {
        if (r.method == method && r.pattern.same_shape(*compiled)) {
            error = std::string{method} + " " + std::string{pattern} + " is shadowed by " +
                    r.method + " " + r.pattern.text();
            return false;
        }
    }
    routes_.push_back({std::string{method}, std::move(*compiled), handler});
    return true;
}

route_result route_table::find(std::string_view method, std::string_view raw_path,
                               route_params& params) const {
    params.clear();
    route_result result;
    if (!is_well_formed_percent_encoding(raw_path)) {
        result.status = route_status::bad_request;
        return result;
    }
    const auto first_match = [&](std::string_view m) {
        for (const route& r : routes_) {
            if (r.method == m && r.pattern.match(raw_path, params)) {
                result.status = route_status::found;
                result.handler = r.handler;
                return true;
            }
        }
        return false;
    };
    if (first_match(method)) return result;
    if (method == "HEAD" && first_match("GET")) return result;

    // 405 needs the methods that would have matched (RFC 9110 §15.5.6: Allow is required).
    bool has_get = false, has_head = false;
    std::vector<std::string_view> allowed;
    for (const route& r : routes_) {
        if (std::find(allowed.begin(), allowed.end(), r.method) != allowed.end()) continue;
        if (!r.pattern.match(raw_path, params)) continue;
        allowed.push_back(r.method);
        has_get = has_get || r.method == "GET";
        has_head = has_head || r.method == "HEAD";
    }
    params.clear();
    if (allowed.empty()) return result;  // not_found
    if (has_get && !has_head) {
        allowed.insert(std::find(allowed.begin(), allowed.end(), "GET") + 1, "HEAD");
    }
    result.status = route_status::method_not_allowed;
    for (const std::string_view m : allowed) {
        if (!result.allow.empty()) result.allow += ", ";
        result.allow += m;
    }
    return result;
}

}  // namespace sockeye::http
