#include "http/percent_decode.hpp"

namespace sockeye::http {

namespace {

// The byte an escape at in[i] ('%') stands for, or -1 when it is malformed.
int escape_at(std::string_view in, std::size_t i) noexcept {
    if (in.size() - i < 3) return -1;
    const int hi = hex_digit_value(in[i + 1]);
    const int lo = hex_digit_value(in[i + 2]);
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

}  // namespace

bool is_well_formed_percent_encoding(std::string_view in) noexcept {
    for (std::size_t i = in.find('%'); i != std::string_view::npos; i = in.find('%', i + 3)) {
        if (escape_at(in, i) < 0) return false;
    }
    return true;
}

bool append_percent_decoded(std::string_view in, std::string& out, plus_decoding plus) {
    const bool plus_is_space = plus == plus_decoding::space;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '%') {
            const int byte = escape_at(in, i);
            if (byte < 0) return false;
            out += static_cast<char>(byte);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return true;
}

bool needs_percent_decoding(std::string_view in, plus_decoding plus) noexcept {
    return in.find_first_of(plus == plus_decoding::space ? "%+" : "%") != std::string_view::npos;
}

bool percent_decoded_equals(std::string_view encoded, std::string_view plain) noexcept {
    std::size_t j = 0;
    for (std::size_t i = 0; i < encoded.size(); ++i, ++j) {
        if (j == plain.size()) return false;
        char c = encoded[i];
        if (c == '%') {
            const int byte = escape_at(encoded, i);
            if (byte < 0) return false;
            c = static_cast<char>(byte);
            i += 2;
        }
        if (c != plain[j]) return false;
    }
    return j == plain.size();
}

}  // namespace sockeye::http
