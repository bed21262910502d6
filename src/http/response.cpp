#include "http/response.hpp"

#include <array>
#include <charconv>

namespace sockeye::http {

namespace {

constexpr std::array<std::string_view, 7> short_days = {"Sun", "Mon", "Tue", "Wed",
                                                        "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_days = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void append_number(std::string& out, std::uint64_t n) {
    char digits[20];
    const auto r = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, r.ptr);
}

void append_two_digits(std::string& out, int n) {
    out += static_cast<char>('0' + n / 10);
    out += static_cast<char>('0' + n % 10);
}

// ---- calendar arithmetic (proleptic Gregorian, UTC) ----

constexpr bool is_leap(std::int64_t y) noexcept {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr int days_in_month(std::int64_t y, int month) noexcept {  // month 1..12
    constexpr int lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(y) ? 29 : lengths[month - 1];
}

// Leap years in [1, y), for y >= 1.
constexpr std::int64_t leap_years_before(std::int64_t y) noexcept {
    const std::int64_t p = y - 1;
    return p / 4 - p / 100 + p / 400;
}

// Days from 1970-01-01 to y-month-day; y >= 1, month 1..12, day already range-checked.
constexpr std::int64_t days_since_epoch(std::int64_t y, int month, int day) noexcept {
    std::int64_t days = (y - 1970) * 365 + leap_years_before(y) - leap_years_before(1970);
    for (int m = 1; m < month; ++m) days += days_in_month(y, m);
    return days + day - 1;
}

// A cursor over the date text; each step consumes exactly what the grammar demands.
struct date_reader {
    std::string_view s;

    bool literal(std::string_view lit) noexcept {
        if (s.substr(0, lit.size()) != lit) return false;
        s.remove_prefix(lit.size());
        return true;
    }

    // Exactly `count` digits.
    bool digits(int count, int& out) noexcept {
        if (s.size() < static_cast<std::size_t>(count)) return false;
        int v = 0;
        for (int i = 0; i < count; ++i) {
            const char c = s[static_cast<std::size_t>(i)];
            if (c < '0' || c > '9') return false;
            v = v * 10 + (c - '0');
        }
        s.remove_prefix(static_cast<std::size_t>(count));
        out = v;
        return true;
    }

    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names, int& index) noexcept {
        for (std::size_t i = 0; i < N; ++i) {
            if (literal(names[i])) {
                index = static_cast<int>(i);
                return true;
            }
        }
        return false;
    }

    // time-of-day = hour ":" minute ":" second
    bool time_of_day(int& h, int& m, int& sec) noexcept {
        return digits(2, h) && literal(":") && digits(2, m) && literal(":") && digits(2, sec);
    }
};

std::optional<std::time_t> to_time(std::int64_t year, int month, int day, int h, int m,
                                   int sec) noexcept {
    // RFC 9110 §5.6.7 allows second 60 for a leap second; it simply rolls into the next
    // minute here.
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        h > 23 || m > 59 || sec > 60) {
        return std::nullopt;
    }
    const std::int64_t days = days_since_epoch(year, month, day);
    return static_cast<std::time_t>(days * 86400 + h * 3600 + m * 60 + sec);
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (after the weekday)
std::optional<std::time_t> parse_imf_fixdate(date_reader r) noexcept {
    int day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
    if (!(r.literal(", ") && r.digits(2, day) && r.literal(" ") && r.one_of(months, month) &&
          r.literal(" ") && r.digits(4, year) && r.literal(" ") && r.time_of_day(h, m, sec) &&
          r.literal(" GMT") && r.s.empty())) {
        return std::nullopt;
    }
    return to_time(year, month + 1, day, h, m, sec);
}

// "Sunday, 06-Nov-94 08:49:37 GMT" (after the weekday)
std::optional<std::time_t> parse_rfc850(date_reader r) noexcept {
    int day = 0, month = 0, yy = 0, h = 0, m = 0, sec = 0;
    if (!(r.literal(", ") && r.digits(2, day) && r.literal("-") && r.one_of(months, month) &&
          r.literal("-") && r.digits(2, yy) && r.literal(" ") && r.time_of_day(h, m, sec) &&
          r.literal(" GMT") && r.s.empty())) {
        return std::nullopt;
    }
    // RFC 9110 §5.6.7: a two-digit year that looks more than 50 years in the future is
    // the most recent past year with those last two digits.
    std::tm now_tm{};
    const std::time_t now = std::time(nullptr);
    gmtime_r(&now, &now_tm);
    const int this_year = now_tm.tm_year + 1900;
    int year = this_year - this_year % 100 + yy;
    if (year > this_year + 50) year -= 100;
    return to_time(year, month + 1, day, h, m, sec);
}

// "Sun Nov  6 08:49:37 1994" (after the weekday)
std::optional<std::time_t> parse_asctime(date_reader r) noexcept {
    int day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
    if (!(r.literal(" ") && r.one_of(months, month) && r.literal(" "))) return std::nullopt;
    if (!r.s.empty() && r.s.front() == ' ') {  // day = ( SP DIGIT ) / 2DIGIT
        r.s.remove_prefix(1);
        if (!r.digits(1, day)) return std::nullopt;
    } else if (!r.digits(2, day)) {
        return std::nullopt;
    }
    if (!(r.literal(" ") && r.time_of_day(h, m, sec) && r.literal(" ") && r.digits(4, year) &&
          r.s.empty())) {
        return std::nullopt;
    }
    return to_time(year, month + 1, day, h, m, sec);
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 416:
            return "Range Not Satisfiable";
        case 426:
            return "Upgrade Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "";
    }
}

void append_status_line(std::string& out, int status) {
    // The status code is always three digits on the wire (RFC 9110 §15).
    if (status < 100 || status > 999) status = 500;
    out += "HTTP/1.1 ";
    append_number(out, static_cast<std::uint64_t>(status));
    out += ' ';
    out += reason_phrase(status);
    out += "\r\n";
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    for (const char c : value) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    out += "\r\n";
}

void append_header(std::string& out, std::string_view name, std::uint64_t value) {
    out += name;
    out += ": ";
    append_number(out, value);
    out += "\r\n";
}

void append_date_header(std::string& out, std::string_view name, std::time_t t) {
    out += name;
    out += ": ";
    append_http_date(out, t);
    out += "\r\n";
}

void append_connection(std::string& out, bool keep_alive) {
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
}

std::string text_response_head(int status, std::size_t body_size, bool keep_alive,
                               std::span<const protocol::http_header> extra_headers) {
    std::string out;
    out.reserve(192);
    append_status_line(out, status);
    // RFC 9110 §6.6.1: an origin server with a clock must send Date.
    append_date_header(out, "Date", std::time(nullptr));
    append_header(out, "Content-Type", "text/plain; charset=utf-8");
    append_header(out, "Content-Length", static_cast<std::uint64_t>(body_size));
    append_header(out, "X-Content-Type-Options", "nosniff");
    append_connection(out, keep_alive);
    for (const protocol::http_header& h : extra_headers) append_header(out, h.name, h.value);
    end_head(out);
    return out;
}

std::string text_response(int status, std::string_view body, bool keep_alive,
                          std::span<const protocol::http_header> extra_headers) {
    std::string fallback;
    if (body.empty()) {
        fallback = std::string{reason_phrase(status)} + "\n";
        body = fallback;
    }
    std::string out = text_response_head(status, body.size(), keep_alive, extra_headers);
    out += body;
    return out;
}

void drop_body(std::string& response) noexcept {
    const std::size_t end = response.find("\r\n\r\n");
    if (end != std::string::npos) response.resize(end + 4);
}

std::string method_not_allowed_response(std::string_view allow, bool keep_alive) {
    const protocol::http_header allow_header{"Allow", allow};
    return text_response(405, "method not allowed\n", keep_alive, {&allow_header, 1});
}

std::string format_http_date(std::time_t t) {
    std::string out;
    append_http_date(out, t);
    return out;
}

void append_http_date(std::string& out, std::time_t t) {
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        // Out of the four-digit-year range the format can express; clamp to the epoch
        // rather than emit something no client parses.
        const std::time_t zero = 0;
        gmtime_r(&zero, &tm);
    }
    out += short_days[static_cast<std::size_t>(tm.tm_wday)];
    out += ", ";
    append_two_digits(out, tm.tm_mday);
    out += ' ';
    out += months[static_cast<std::size_t>(tm.tm_mon)];
    out += ' ';
    const int year = tm.tm_year + 1900;
    append_two_digits(out, year / 100);
    append_two_digits(out, year % 100);
    out += ' ';
    append_two_digits(out, tm.tm_hour);
    out += ':';
    append_two_digits(out, tm.tm_min);
    out += ':';
    append_two_digits(out, tm.tm_sec);
    out += " GMT";
}

std::optional<std::time_t> parse_http_date(std::string_view s) noexcept {
    date_reader r{s};
    int weekday = 0;
    // Long names first: "Sunday" would otherwise match as "Sun" followed by garbage.
    if (r.one_of(long_days, weekday)) return parse_rfc850(r);
    if (!r.one_of(short_days, weekday)) return std::nullopt;
    if (!r.s.empty() && r.s.front() == ',') return parse_imf_fixdate(r);
    return parse_asctime(r);
}

}  // namespace sockeye::http
