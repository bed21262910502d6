// Incremental frame parser (RFC 6455 §5.2): fed TCP chunks of any size, down to one byte,
// it reports each frame header as soon as it is complete and hands the payload on as it
// arrives, unmasked in place. It never buffers payload, so a frame of any length (up to
// 2^63 - 1 bytes) takes no more memory than the chunk being parsed. A partial header waits
// in a 14-byte buffer inside the parser.
//
// Frame-level rules are checked here, at header time, before any payload is accepted:
// masking by role (§5.1), RSV bits without an extension (§5.2), reserved opcodes (§5.2),
// control frames fragmented or over 125 bytes (§5.5), 64-bit length top bit (§5.2).
// Rules that span frames (fragmentation, message size, UTF-8, close) live in session.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "error.hpp"
#include "frame_header.hpp"
#include "opcode.hpp"

namespace sockeye::protocol {

// Receives what the parser finds. Returning false stops parsing right after the call.
class frame_sink {
public:
    virtual ~frame_sink() = default;
    // A complete, valid header. Every frame then gets one or more payload calls. `raw` is
    // the header's bytes as received (valid during the call; frame_parser::split() tells
    // whether they came across more than one feed()).
    virtual bool on_frame_header(const frame_header& h, std::span<const std::uint8_t> raw) = 0;
    // The next piece of the payload, already unmasked. `frame_end` is true on the last
    // piece; a zero-length frame gets exactly one call, with an empty span.
    virtual bool on_frame_payload(std::span<std::uint8_t> data, bool frame_end) = 0;
};

struct frame_parser_options {
    role local_role = role::server;
    // RSV bits an extension has negotiated: 0x4 = RSV1, 0x2 = RSV2, 0x1 = RSV3.
    std::uint8_t allowed_rsv = 0;
};

struct parse_result {
    error err = error::none;
    std::size_t consumed = 0;  // bytes used; less than given only on error or a stop
};

class frame_parser {
public:
    explicit constexpr frame_parser(frame_parser_options opts = {}) noexcept : opts_(opts) {}

    // Back to a frame boundary, as if new (with `opts`): a receive state reused for another
    // connection's read.
    void restart(frame_parser_options opts) noexcept {
        opts_ = opts;
        state_ = state::header;
        have_ = 0;
        need_ = 2;
        err_ = error::none;
    }

    // Parses `data`, unmasking payload bytes in place. After an error the parser is
    // broken for good: the connection is to be failed.
    parse_result feed(std::uint8_t* data, std::size_t len, frame_sink& sink);

    void set_allowed_rsv(std::uint8_t bits) noexcept { opts_.allowed_rsv = bits; }

    // Whether the `raw` header bytes given to on_frame_header came across more than one
    // feed() call (they were gathered in the parser's own buffer).
    bool split(std::span<const std::uint8_t> raw) const noexcept { return raw.data() == buf_; }

    // True between frames (no header bytes or payload pending).
    bool at_frame_boundary() const noexcept { return state_ == state::header && have_ == 0; }

private:
    enum class state : std::uint8_t { header, payload, failed };

    // Validates the first two bytes; returns the full header size or 0 with err_ set.
    std::size_t check_first_bytes(std::uint8_t b0, std::uint8_t b1) noexcept;
    // Decodes a complete header from `p` into current_.
    error decode_header(const std::uint8_t* p) noexcept;

    frame_parser_options opts_;
    state state_ = state::header;
    std::uint8_t have_ = 0;  // header bytes buffered in buf_
    std::uint8_t need_ = 2;  // header bytes needed in all (known after the first two)
    std::uint8_t key_offset_ = 0;
    error err_ = error::none;
    std::uint64_t remaining_ = 0;  // payload bytes of the current frame not yet seen
    frame_header current_{};
    std::uint8_t buf_[max_frame_header_size]{};
};

}  // namespace sockeye::protocol
