// Turns what a session shows (frame_observer) plus the reads and writes of the I/O side into
// records: frames with their header bytes and first payload bytes, the reads/writes that
// carried them, messages, control frames, errors. Long messages are cut short: the first
// frames and reads in full, then one `elided` record, then the last frame. Sans-I/O: the
// records go to a record_sink (JSON for the inspector, text lines for --trace).
#pragma once
#include <array>
#include <vector>
#include <cstdint>
#include <span>
#include <string_view>

#include "frame_observer.hpp"
#include "opcode.hpp"

namespace sockeye::protocol {

struct frame_record {
    direction dir = direction::in;
    std::uint64_t id = 0;   // 1, 2, ... per direction
    std::uint64_t msg = 0;  // data message number per direction; 0 for control frames
    std::uint64_t at = 0;   // offset of the header's first byte in the direction's stream
    std::uint64_t io = 0;   // the read/write number the header completed in
    frame_header h;
    std::array<std::uint8_t, max_frame_header_size> raw{};
    std::uint8_t raw_len = 0;
    std::array<std::uint8_t, 16> head{};  // first payload bytes, unmasked
    std::uint8_t head_len = 0;
    bool split = false;  // the header came across reads
    // How the length was encoded: 7, 16 or 64.
    unsigned length_bits() const noexcept;
};

struct io_record {
    direction dir = direction::in;  // in = a read, out = a write
    std::uint64_t n = 0;            // 1, 2, ... per direction
    std::uint64_t size = 0;
    std::uint64_t at = 0;
    std::uint64_t began_first = 0, began_count = 0;  // frames whose header began in it
    std::uint64_t ended_first = 0, ended_count = 0;  // frames whose last byte is in it
    std::uint64_t continued = 0;  // a frame begun before that goes on in it (0 = none)
    bool split = false;           // a header began in it and waits for the next read
};

struct message_record {
    direction dir = direction::in;
    std::uint64_t msg = 0;
    message_type type = message_type::binary;
    std::uint64_t size = 0;    // payload bytes on the wire
    std::uint64_t frames = 0;
    bool compressed = false;
};

struct elided_record {
    direction dir = direction::in;
    std::uint64_t msg = 0;
    std::uint64_t frames = 0;  // frames not shown
    std::uint64_t bytes = 0;   // their payload bytes
    std::uint64_t ios = 0;     // reads/writes not shown
};

struct control_record {
    direction dir = direction::in;
    opcode op = opcode::ping;
    std::uint64_t size = 0;
    std::uint16_t code = 0;  // close: 1005 when none
    std::string_view reason;  // close reason (valid during the call)
};

class record_sink {
  public:
    virtual ~record_sink() = default;
    virtual void on_frame(const frame_record& r) = 0;
    virtual void on_io(const io_record& r) = 0;
    virtual void on_message(const message_record& r) = 0;
    virtual void on_elided(const elided_record& r) = 0;
    virtual void on_control(const control_record& r) = 0;
    virtual void on_error(error e) = 0;
};

class frame_recorder final : public frame_observer {
  public:
    // Frames and reads/writes of a message shown in full before the rest is elided.
    static constexpr std::uint64_t frames_shown = 8;
    static constexpr std::uint64_t ios_shown = 16;

    explicit frame_recorder(record_sink& sink) noexcept : sink_(sink) {}

    // Around each session::receive() of `n` bytes.
    void begin_read(std::uint64_t n) noexcept;
    void end_read();
    // `n` bytes of this side's output left in one write (in the order they were sent).
    void note_written(std::uint64_t n);
    // The I/O side's queue holds `unsent` bytes after a flush, this side's frames at its end
    // (anything queued before them, such as the 101, leaves first): what of the frames left
    // since the last call is one write.
    void note_unsent(std::uint64_t unsent);
    // Bytes of the frames sent so far (headers and payloads).
    std::uint64_t bytes_out() const noexcept { return out_.offset; }

    // frame_observer
    void on_frame(direction d, const frame_header& h, std::span<const std::uint8_t> raw,
                  bool split) override;
    void on_payload(direction d, std::span<const std::uint8_t> unmasked, bool frame_end) override;
    void on_control(direction d, opcode op, std::span<const std::uint8_t> payload) override;
    void on_error(error e) override;

  private:
    struct side;
    void flush_frame(side& s);
    void finish_frame(side& s);
    void end_io(side& s);

    // An out frame whose bytes have not all been written yet.
    struct pending_frame {
        std::uint64_t id, at, end;
        bool shown;
    };
    static constexpr std::size_t max_unwritten = 4096;

    struct side {
        explicit side(direction d) noexcept : dir(d) {}
        direction dir;
        std::uint64_t offset = 0;      // bytes of the stream so far (frames seen)
        std::uint64_t frames = 0;      // frame ids given out
        std::uint64_t msgs = 0;        // message numbers given out
        std::uint64_t ios = 0;         // reads/writes so far
        // The frame whose payload passes now.
        frame_record cur;
        bool cur_open = false;          // header seen, last payload byte not yet
        bool cur_sent = false;          // its record went to the sink
        bool cur_shown = true;          // it is shown (not elided)
        std::uint64_t cur_left = 0;     // its payload bytes still to come
        // The data message being carried.
        bool in_msg = false;
        message_record msg;
        elided_record elided;
        bool eliding = false;           // the message is past what is shown
        std::uint64_t msg_frames = 0;   // frames of the message so far
        std::uint64_t msg_ios = 0;      // reads/writes during the message so far
        // The read/write being filled (reads: between begin_read and end_read; writes:
        // the span of the stream from io_at to io_at + io_size).
        io_record io;
        std::uint64_t io_end = 0;     // stream offset after the last read/write
        bool io_touched = false;      // a shown frame began or ended in it
        bool io_in_msg = false;       // a data message was in progress during it
        // Out: frames sent but not wholly written, from unwritten_head on (bounded: beyond
        // max_unwritten, writes no longer name the frames). A vector, which costs nothing
        // until used, rather than a deque, which allocates ~600 B as soon as it exists.
        std::vector<pending_frame> unwritten;
        std::size_t unwritten_head = 0;
        bool unwritten_empty() const noexcept { return unwritten_head == unwritten.size(); }
    };
    record_sink& sink_;
    bool failed_ = false;  // the session failed: nothing more is parsed
    side in_{direction::in};
    side out_{direction::out};
};

// Stable names: "text", "close", ...; "in"/"out"; the error's enum name, RFC section.
std::string_view opcode_name(opcode op) noexcept;
std::string_view error_name(error e) noexcept;
std::string_view error_rfc_section(error e) noexcept;

}  // namespace sockeye::protocol
