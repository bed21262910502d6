// permessage-deflate's compression (RFC 7692 §7.2) over zlib's streaming API, in bounded
// pieces both ways: a message of any size, compressed or inflated, passes through a
// fixed scratch buffer, so neither a huge message nor a decompression bomb takes memory.
//
// Wire format (§7.2.1): a message's payload is raw DEFLATE data ending in a sync flush
// whose final 0x00 0x00 0xff 0xff is removed by the sender and appended by the receiver.
#pragma once
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace sockeye::protocol {

// What one connection agreed on, seen from this endpoint.
struct deflate_settings {
    // This side resets its compressor after every message (its "no_context_takeover").
    bool local_no_context_takeover = false;
    // The peer resets its compressor after every message, so our inflater may too.
    bool peer_no_context_takeover = false;
    int local_window_bits = 15;  // our compressor's LZ77 window: 9-15
    int peer_window_bits = 15;   // the peer's window: our inflater needs at least this
    int mem_level = 8;           // zlib memLevel for our compressor: 1-9 (memory vs ratio)
    int level = Z_DEFAULT_COMPRESSION;
    // Whole messages shorter than this are sent uncompressed (compressing them costs more
    // than it saves).
    std::size_t threshold = 64;
};

// Receives the output of compress()/inflate() piece by piece. `last` marks the final piece
// of the message; pieces point into a scratch buffer valid only during the call.
class deflate_sink {
  public:
    virtual ~deflate_sink() = default;
    // Return false to stop (the receiver failed the message, e.g. over the size limit).
    virtual bool on_piece(std::span<const std::uint8_t> piece, bool last) = 0;
};

class deflate_codec {
  public:
    explicit deflate_codec(const deflate_settings& s) : settings_(s) {}
    ~deflate_codec();
    deflate_codec(const deflate_codec&) = delete;
    deflate_codec& operator=(const deflate_codec&) = delete;

    const deflate_settings& settings() const noexcept { return settings_; }

    // ---- sending: compress a message given in pieces; `fin` on its last piece. Output
    // pieces never end the message early: the 4-byte sync tail is held back until fin and
    // then dropped. Returns false if zlib failed (out of memory).
    bool compress(std::span<const std::uint8_t> piece, bool fin, deflate_sink& out);

    // ---- receiving: inflate a compressed message given in pieces; `fin` on its last.
    enum class inflate_status { ok, stopped, corrupt };
    inflate_status inflate(std::span<const std::uint8_t> piece, bool fin, deflate_sink& out);

    // Memory held by zlib for this codec now (for reports).
    bool has_compressor() const noexcept { return deflater_ != nullptr; }
    bool has_inflater() const noexcept { return inflater_ != nullptr; }

  private:
    bool ensure_deflater();
    bool ensure_inflater();
    inflate_status run_inflate(const std::uint8_t* data, std::size_t len, bool fin,
                               deflate_sink& out);

    deflate_settings settings_;
    std::unique_ptr<z_stream> deflater_;
    std::unique_ptr<z_stream> inflater_;
    std::uint8_t carry_[4]{};  // the held-back tail of the compressed output so far
    std::uint8_t carry_len_ = 0;
};

}  // namespace sockeye::protocol
