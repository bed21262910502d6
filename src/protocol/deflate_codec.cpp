#include "deflate_codec.hpp"

#include <cstring>

namespace sockeye::protocol {

namespace {

// Each direction works through its own buffer a piece at a time; per thread, so nothing
// is allocated per message and a connection holds no output buffer of its own. Two, not
// one: an echo compresses an inflated piece while that piece still lives in the inflate
// buffer.
constexpr std::size_t scratch_size = 64 * 1024;
thread_local std::uint8_t deflate_scratch[scratch_size];
thread_local std::uint8_t inflate_scratch[scratch_size];

constexpr std::uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

unsigned clamp_uint(std::size_t n) {
    return n > 0x7fffffffu ? 0x7fffffffu : static_cast<unsigned>(n);
}

}  // namespace

deflate_codec::~deflate_codec() {
    if (deflater_) deflateEnd(deflater_.get());
    if (inflater_) inflateEnd(inflater_.get());
}

bool deflate_codec::ensure_deflater() {
    if (deflater_) return true;
    auto z = std::make_unique<z_stream>();
    std::memset(z.get(), 0, sizeof(z_stream));
    // Negative window bits: raw DEFLATE, no zlib header or checksum (§7.2.1).
    if (deflateInit2(z.get(), settings_.level, Z_DEFLATED, -settings_.local_window_bits,
                     settings_.mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
        return false;
    }
    deflater_ = std::move(z);
    return true;
}

bool deflate_codec::ensure_inflater() {
    if (inflater_) return true;
    auto z = std::make_unique<z_stream>();
    std::memset(z.get(), 0, sizeof(z_stream));
    // The peer's window may be up to 15 bits whatever it announced smaller: a 15-bit
    // inflater reads any of them.
    if (inflateInit2(z.get(), -15) != Z_OK) return false;
    inflater_ = std::move(z);
    return true;
}

bool deflate_codec::compress(std::span<const std::uint8_t> piece, bool fin, deflate_sink& out) {
    if (!ensure_deflater()) return false;
    z_stream& z = *deflater_;
    z.next_in = const_cast<Bytef*>(piece.data());
    z.avail_in = clamp_uint(piece.size());
    std::size_t left = piece.size() - z.avail_in;  // input beyond 2 GiB waits its turn
    const int flush = fin ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    for (;;) {
        // The held-back bytes go first, so the output stays contiguous.
        std::memcpy(deflate_scratch, carry_, carry_len_);
        z.next_out = deflate_scratch + carry_len_;
        z.avail_out = static_cast<uInt>(scratch_size - carry_len_);
        const int rc = ::deflate(&z, flush);
        if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
        const std::size_t n = scratch_size - z.avail_out;
        const bool more_output = z.avail_out == 0;
        if (z.avail_in == 0 && left > 0) {
            const std::size_t done = piece.size() - left;
            z.next_in = const_cast<Bytef*>(piece.data() + done);
            z.avail_in = clamp_uint(left);
            left -= z.avail_in;
        }
        const bool input_done = z.avail_in == 0 && left == 0;
        if (fin && input_done && !more_output) {
            // The sync flush is complete: its output ends with 00 00 ff ff, which the wire
            // format leaves out (§7.2.1).
            std::size_t keep = n;
            if (keep >= 4 && std::memcmp(deflate_scratch + keep - 4, sync_tail, 4) == 0) keep -= 4;
            carry_len_ = 0;
            if (settings_.local_no_context_takeover) deflateReset(&z);
            return out.on_piece({deflate_scratch, keep}, true);
        }
        // Hold back the last 4 bytes: they might be the tail to drop.
        const std::size_t hold = n < 4 ? n : 4;
        std::memcpy(carry_, deflate_scratch + n - hold, hold);
        carry_len_ = static_cast<std::uint8_t>(hold);
        if (n > hold && !out.on_piece({deflate_scratch, n - hold}, false)) return true;
        if (!more_output && input_done) return true;  // zlib keeps the rest for later
    }
}

deflate_codec::inflate_status deflate_codec::run_inflate(const std::uint8_t* data, std::size_t len,
                                                         bool fin, deflate_sink& out) {
    z_stream& z = *inflater_;
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = clamp_uint(len);
    std::size_t left = len - z.avail_in;
    for (;;) {
        z.next_out = inflate_scratch;
        z.avail_out = scratch_size;
        int rc = ::inflate(&z, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR) {
            inflateReset(&z);
            return inflate_status::corrupt;
        }
        if (rc == Z_STREAM_END) {
            // A final block (BFINAL) inside a message: whatever follows starts afresh.
            inflateReset(&z);
        }
        const std::size_t n = scratch_size - z.avail_out;
        if (z.avail_in == 0 && left > 0) {
            z.next_in = const_cast<Bytef*>(data + (len - left));
            z.avail_in = clamp_uint(left);
            left -= z.avail_in;
        }
        const bool done = z.avail_in == 0 && left == 0 && z.avail_out != 0;
        if (n != 0 || (done && fin)) {
            if (!out.on_piece({inflate_scratch, n}, done && fin)) return inflate_status::stopped;
        }
        if (done) return inflate_status::ok;
        if (rc == Z_BUF_ERROR && n == 0 && z.avail_in == 0 && left == 0) return inflate_status::ok;
    }
}

deflate_codec::inflate_status deflate_codec::inflate(std::span<const std::uint8_t> piece, bool fin,
                                                     deflate_sink& out) {
    if (!ensure_inflater()) return inflate_status::corrupt;
    if (!piece.empty()) {
        const auto st = run_inflate(piece.data(), piece.size(), false, out);
        if (st != inflate_status::ok) return st;
    }
    if (!fin) return inflate_status::ok;
    // The message is complete: give zlib the sync tail the sender left out (§7.2.2).
    const auto st = run_inflate(sync_tail, sizeof sync_tail, true, out);
    if (st == inflate_status::ok && settings_.peer_no_context_takeover)
        inflateReset(inflater_.get());
    return st;
}

}  // namespace sockeye::protocol
