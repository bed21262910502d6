// libFuzzer target for the HTTP request parser: arbitrary bytes, fed in two pieces split
// where the first byte says, then every complete head is turned into the handshake's
// view and the parser moves on to the next pipelined request. Must never crash, and the
// parser's promises (consumed within bounds, head within the limit) must hold. When the
// first byte's top bit is set, bodies are read with feed_body() (as application routes
// do) instead of skipped: every piece must lie inside the input, and a Content-Length
// body must deliver exactly that many bytes. Afterwards the parser is restarted, as a kept
// HTTP-phase state is for the next connection, and must parse a request exactly as a new
// parser does, whatever the input left in it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_parser.hpp"
#include "http/static_files.hpp"
#include "protocol/handshake.hpp"

namespace {

using sockeye::http::parse_status;

void check(bool ok) {
    if (!ok) std::abort();
}

// Touches every view the parser hands out so the sanitizers see any bad pointer.
std::size_t touch(std::string_view s) {
    std::size_t sum = 0;
    for (const char c : s) sum += static_cast<unsigned char>(c);
    return sum;
}

struct body_count {
    const char* begin;
    const char* end;
    std::uint64_t bytes = 0;
};

void count_piece(void* ctx, const char* piece, std::size_t n) {
    auto& c = *static_cast<body_count*>(ctx);
    check(piece >= c.begin && piece + n <= c.end);
    c.bytes += n;
}

// Everything a parsed head shows, flattened, to compare two parsers.
std::string describe(const sockeye::http::request_parser& p) {
    std::string s(p.method());
    s += ' ';
    s += p.target();
    s += p.keep_alive() ? " ka" : " close";
    for (std::size_t i = 0; i < p.header_count(); ++i) {
        const auto h = p.header(i);
        s += '|';
        s += h.name;
        s += ':';
        s += h.value;
    }
    return s;
}

void feed_input(sockeye::http::request_parser& parser, const std::uint8_t* data,
                std::size_t size);

}  // namespace

// After any input, a parser restarted for a new connection (as kept HTTP-phase states
// are) must parse a request exactly as a new parser does.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    constexpr std::size_t head_limit = 1024;
    sockeye::http::request_parser parser{{head_limit, 32}};
    feed_input(parser, data, size);
    parser.restart();
    static constexpr std::string_view next = "GET /next?a=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n";
    sockeye::http::request_parser fresh{{head_limit, 32}};
    const auto a = parser.feed(next.data(), next.size());
    const auto b = fresh.feed(next.data(), next.size());
    check(a.status == parse_status::head_complete && b.status == parse_status::head_complete);
    check(a.consumed == b.consumed && describe(parser) == describe(fresh));
    return 0;
}

namespace {

void feed_input(sockeye::http::request_parser& parser, const std::uint8_t* data,
                std::size_t size) {
    const bool read_bodies = (data[0] & 0x80) != 0;
    const std::size_t split = (data[0] & 0x7f) % size;  // bytes in the first piece
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const std::size_t len = size - 1;
    const std::size_t first = split < len ? split : len;

    std::vector<sockeye::protocol::http_header> scratch;
    volatile std::size_t sink = 0;

    // The pieces still to feed; a completed head resumes from where it ended.
    const char* pieces[2] = {bytes, bytes + first};
    std::size_t sizes[2] = {first, len - first};
    for (int i = 0; i < 2;) {
        const auto r = parser.feed(pieces[i], sizes[i]);
        check(r.consumed <= sizes[i]);
        if (r.status == parse_status::error) {
            check(r.http_status >= 400 && r.http_status <= 599 && !r.reason.empty());
            return;
        }
        if (r.status == parse_status::need_more) {
            check(r.consumed == sizes[i]);
            ++i;
            continue;
        }
        const auto head = parser.as_request_head(scratch);
        check(head.version_major == 1 && head.version_minor <= 1);
        check(head.headers.size() == parser.header_count());
        sink = sink + touch(head.method) + touch(head.target);
        for (const auto& h : head.headers) sink = sink + touch(h.name) + touch(h.value);
        if (sockeye::protocol::is_websocket_request(head)) {
            sink = sink + sockeye::protocol::validate_upgrade(head, {}).headers.size();
        }
        sink = sink + sockeye::http::decode_target_path(head.target).path.size();
        pieces[i] += r.consumed;
        sizes[i] -= r.consumed;
        if (read_bodies) {
            body_count count{bytes, bytes + len};
            bool complete = false;
            while (i < 2) {
                const auto b = parser.feed_body(pieces[i], sizes[i], count_piece, &count);
                check(b.consumed <= sizes[i]);
                if (b.status == parse_status::error) return;
                pieces[i] += b.consumed;
                sizes[i] -= b.consumed;
                if (b.status == parse_status::body_complete) {
                    complete = true;
                    break;
                }
                ++i;
            }
            if (!complete) return;
            if (!parser.chunked()) check(count.bytes == parser.content_length());
        }
        parser.reset();
    }
}

}  // namespace
