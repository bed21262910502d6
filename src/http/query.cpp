#include "http/query.hpp"

#include "http/percent_decode.hpp"

namespace sockeye::http {

namespace {

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// The offset of the first malformed escape in `s`; only called once decoding failed.
std::size_t first_bad_escape(std::string_view s) noexcept {
    for (std::size_t i = s.find('%'); i != std::string_view::npos; i = s.find('%', i + 1)) {
        if (!is_well_formed_percent_encoding(s.substr(i, 3))) return i;
    }
    return 0;
}

}  // namespace

target_parts split_target(std::string_view target) noexcept {
    // The fragment goes first: a '?' after '#' belongs to the fragment.
    target = target.substr(0, target.find('#'));
    target_parts parts;
    const std::size_t question = target.find('?');
    if (question != std::string_view::npos) {
        parts.query = target.substr(question + 1);
        parts.has_query = true;
        target = target.substr(0, question);
    }
    // RFC 9112 §3.2.2: servers must accept the absolute form, whose path is what routes.
    for (const std::string_view scheme :
         {std::string_view{"http://"}, std::string_view{"https://"}}) {
        if (istarts_with(target, scheme)) {
            const std::size_t slash = target.find('/', scheme.size());
            target = slash == std::string_view::npos ? std::string_view{"/"} : target.substr(slash);
            break;
        }
    }
    parts.path = target;
    return parts;
}

query_param query_params::operator[](std::size_t i) const noexcept {
    const entry& e = entries_[i];
    const std::string_view all = bytes_;
    return {all.substr(e.name_offset, e.name_size), all.substr(e.value_offset, e.value_size)};
}

std::optional<std::string_view> query_params::get(std::string_view name) const noexcept {
    for (const query_param p : *this) {
        if (p.name == name) return p.value;
    }
    return std::nullopt;
}

std::vector<std::string_view> query_params::all(std::string_view name) const {
    std::vector<std::string_view> values;
    for (const query_param p : *this) {
        if (p.name == name) values.push_back(p.value);
    }
    return values;
}

std::optional<query_params> parse_query(std::string_view query, std::size_t* error_offset) {
    query_params out;
    // Decoding never lengthens, so this is the only allocation of the buffer.
    out.bytes_.reserve(query.size());
    std::size_t start = 0;
    while (start <= query.size()) {
        const std::size_t amp = query.find('&', start);
        const std::size_t end = amp == std::string_view::npos ? query.size() : amp;
        const std::string_view piece = query.substr(start, end - start);
        const std::size_t piece_start = start;
        start = end + 1;
        if (piece.empty()) continue;  // "a=1&&b=2", a leading or trailing '&'

        const std::size_t eq = piece.find('=');
        const std::string_view name = piece.substr(0, eq);
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);

        query_params::entry e{};
        e.name_offset = out.bytes_.size();
        bool ok = append_percent_decoded(name, out.bytes_, plus_decoding::space);
        e.name_size = out.bytes_.size() - e.name_offset;
        e.value_offset = out.bytes_.size();
        ok = ok && append_percent_decoded(value, out.bytes_, plus_decoding::space);
        e.value_size = out.bytes_.size() - e.value_offset;
        if (!ok) {
            if (error_offset) *error_offset = piece_start + first_bad_escape(piece);
            return std::nullopt;
        }
        out.entries_.push_back(e);
    }
    return out;
}

}  // namespace sockeye::http
