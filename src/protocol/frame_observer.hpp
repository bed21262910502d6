// What a session shows of the wire to an observer (the frame inspector, `--trace`): every
// frame header in both directions with its raw bytes, the payload as it passes, control
// frames and protocol errors. A session without an observer pays one null test per frame.
#pragma once
#include <cstdint>
#include <span>

#include "error.hpp"
#include "frame_header.hpp"
#include "opcode.hpp"

namespace sockeye::protocol {

// From this side's point of view: `in` came from the peer, `out` goes to it.
enum class direction : std::uint8_t { in, out };

class frame_observer {
  public:
    virtual ~frame_observer() = default;
    // A frame header, decoded (in) or about to be sent (out). `raw` is its bytes as on the
    // wire (2 to 14); `split`: it arrived across more than one receive() call.
    virtual void on_frame(direction d, const frame_header& h, std::span<const std::uint8_t> raw,
                          bool split) = 0;
    // The next piece of the current frame's payload in that direction, unmasked (and, when
    // compressed, still compressed: what the frame carries). Out frames get one call.
    virtual void on_payload(direction d, std::span<const std::uint8_t> unmasked, bool frame_end) = 0;
    // A whole control frame's payload (after its frame and payload calls).
    virtual void on_control(direction d, opcode op, std::span<const std::uint8_t> payload) = 0;
    // The peer broke the protocol; the failing close follows as an out frame.
    virtual void on_error(error e) = 0;
};

}  // namespace sockeye::protocol
