// The per-connection output queue: order, urgent insertion, partial writes.
#include "net/output_queue.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sockeye::net {
namespace {

std::span<const std::uint8_t> b(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(std::span<const std::uint8_t> s) {
    return std::string(s.begin(), s.end());
}

TEST(OutputQueue, AppendsInOrderAndWritesAllPending) {
    output_queue q;
    q.append(b("ab"));
    q.append(b("cd"), b("ef"));
    EXPECT_EQ(q.size(), 6u);
    EXPECT_EQ(str(q.start_write()), "abcdef");
    EXPECT_EQ(q.size(), 6u);  // still unsent until the write finishes
    q.append(b("gh"));        // goes to the next write, not into the one in flight
    q.advance(4);
    EXPECT_EQ(str(q.unwritten()), "ef");
    EXPECT_EQ(q.size(), 4u);
    q.mark_in_flight(2);
    EXPECT_TRUE(q.writing());
    q.finish_write();
    EXPECT_FALSE(q.writing());
    EXPECT_EQ(q.size(), 2u);
    EXPECT_EQ(str(q.start_write()), "gh");
}

TEST(OutputQueue, UrgentBytesGoAheadOfPendingDataInTheirOwnOrder) {
    output_queue q;
    q.append(b("DATA1"));
    q.append_urgent(b("P"), b("1"));
    q.append(b("DATA2"));
    q.append_urgent(b("P"), b("2"));
    EXPECT_EQ(str(q.start_write()), "P1P2DATA1DATA2");
}

TEST(OutputQueue, UrgentBytesNeverSplitTheWriteInFlight) {
    output_queue q;
    q.append(b("FRAME-IN-FLIGHT"));
    q.start_write();
    q.mark_in_flight(15);
    q.append(b("NEXT"));
    q.append_urgent(b("PONG"), {});
    q.finish_write();
    EXPECT_EQ(str(q.start_write()), "PONGNEXT");
}

TEST(OutputQueue, ReleaseLeavesAnEmptyQueueHoldingNoMemory) {
    for (const std::size_t size : {std::size_t{5}, std::size_t{1} << 20}) {
        output_queue q;
        std::string data(size, 'x');
        q.append(b(data));
        EXPECT_GT(q.capacity(), 0u);
        q.start_write();
        q.finish_write();
        q.release();
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.capacity(), 0u) << size;
        q.append(b("small"));
        EXPECT_EQ(str(q.start_write()), "small");
    }
}

TEST(OutputQueue, ReleaseKeepsWhatIsStillToBeSent) {
    output_queue q;
    q.append(b("in flight"));
    q.start_write();
    q.advance(3);
    q.mark_in_flight(6);
    q.append(b("next"));
    q.release();
    EXPECT_EQ(str(q.unwritten()), "flight");
    q.finish_write();
    EXPECT_EQ(str(q.start_write()), "next");
}

TEST(OutputQueue, UrgentBytesNeverOvertakeWhatWasSealed) {
    // The 101 is queued as data; a pong produced by a ping in the same read must follow it.
    output_queue q;
    q.append(b("HTTP/1.1 101\r\n\r\n"));
    q.seal();
    q.append_urgent(b("PONG"), {});
    q.append(b("DATA"));
    q.append_urgent(b("CLOSE"), {});
    EXPECT_EQ(str(q.start_write()), "HTTP/1.1 101\r\n\r\nPONGCLOSEDATA");
}

TEST(OutputQueue, NextWriteContinuesTheCurrentWriteInPieces) {
    // A write is handed to the kernel in pieces (lengths in uv_buf_t are 32-bit): the rest
    // of the current write comes before anything appended since.
    output_queue q;
    q.append(b("0123456789"));
    EXPECT_EQ(str(q.next_write()), "0123456789");
    q.append(b("later"));
    q.advance(4);
    EXPECT_EQ(str(q.next_write()), "456789");
    q.mark_in_flight(3);
    EXPECT_TRUE(q.writing());
    EXPECT_EQ(q.size(), 6u + 5u);
    q.write_done();
    EXPECT_FALSE(q.writing());
    EXPECT_EQ(str(q.next_write()), "789");
    q.advance(3);
    EXPECT_EQ(str(q.next_write()), "later");
    q.advance(5);
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(q.next_write().empty());
    q.release();
    EXPECT_EQ(q.capacity(), 0u);
}

}  // namespace
}  // namespace sockeye::net
