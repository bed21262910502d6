// The per-connection output queue: order, urgent insertion, partial writes.
#include "net/output_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sockeye::net {
namespace {

std::span<const std::uint8_t> b(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(std::span<const std::uint8_t> s) {
    return std::string(s.begin(), s.end());
}
// What the next write would hand the kernel, all pieces joined.
std::string next(output_queue& q, std::size_t max_bytes = SIZE_MAX) {
    output_queue::piece pieces[64];
    const std::size_t n = q.next_write(pieces, 64, max_bytes);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += str(pieces[i]);
    return out;
}
// Writes everything queued, as a socket that takes all would.
std::string drain(output_queue& q) {
    std::string out;
    for (std::string s = next(q); !s.empty(); s = next(q)) {
        out += s;
        q.advance(s.size());
    }
    return out;
}
net::shared_bytes* shared(const std::string& s) {
    auto* b = net::shared_bytes::create(s.size());
    std::copy(s.begin(), s.end(), b->data());
    return b;
}

TEST(OutputQueue, AppendsInOrderAndWritesAllPending) {
    output_queue q;
    q.append(b("ab"));
    q.append(b("cd"), b("ef"));
    EXPECT_EQ(q.size(), 6u);
    EXPECT_EQ(next(q), "abcdef");
    EXPECT_EQ(q.size(), 6u);  // still unsent until the kernel takes it
    q.append(b("gh"));        // goes to the next write, not into the current one
    q.advance(4);
    EXPECT_EQ(next(q), "ef");
    EXPECT_EQ(q.size(), 4u);
    q.mark_in_flight(2);
    EXPECT_TRUE(q.writing());
    q.write_done();
    EXPECT_FALSE(q.writing());
    EXPECT_EQ(q.size(), 2u);
    EXPECT_EQ(next(q), "gh");
}

TEST(OutputQueue, PendingBytesWrittenInPlaceKeepTheOrderOfEverythingAfter) {
    output_queue q;
    q.append(b("abc"));
    ASSERT_EQ(str(q.pending_only()), "abc");
    q.pending_written(3);  // the kernel took all
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(q.pending_only().empty());

    // A partial write: the rest is the current write, later bytes wait behind it, and
    // urgent bytes can't go ahead of the part already started.
    q.append(b("defgh"));
    ASSERT_EQ(str(q.pending_only()), "defgh");
    q.pending_written(2);
    EXPECT_EQ(q.size(), 3u);
    EXPECT_TRUE(q.pending_only().empty());  // "fgh" is a write under way now
    q.append(b("ij"));
    q.append_urgent(b("P"), b("!"));
    EXPECT_TRUE(q.pending_only().empty());
    EXPECT_EQ(drain(q), "fghP!ij");
    q.release();
    EXPECT_FALSE(q.holds_state());

    // With a shared piece queued, the gathering write is the way.
    q.append(b("x"));
    auto* sh = shared("S");
    q.append_shared(sh);
    sh->release();
    EXPECT_TRUE(q.pending_only().empty());
    EXPECT_EQ(drain(q), "xS");

    // None written at all: everything still goes out in order.
    q.append(b("kl"));
    q.pending_written(0);
    q.append(b("m"));
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(drain(q), "klm");
}

TEST(OutputQueue, AnEmptiedQueuesStateServesTheNextQueueWithItsBufferAndNoBytes) {
    output_queue qa;
    output_queue qb;
    qa.append(b("first"));
    const std::size_t room = qa.capacity();
    ASSERT_GT(room, 0u);
    qa.pending_written(str(qa.pending_only()).size());
    qa.release();
    EXPECT_FALSE(qa.holds_state());
    qb.append(b("second"));
    EXPECT_GE(qb.capacity(), room);  // the buffer came with the state: no growing
    EXPECT_EQ(str(qb.pending_only()), "second");
    // Both at once: each has its own state.
    qa.append(b("third"));
    EXPECT_EQ(drain(qa), "third");
    EXPECT_EQ(drain(qb), "second");
    qa.release();
    qb.release();
    EXPECT_FALSE(qa.holds_state());
    EXPECT_FALSE(qb.holds_state());
}

TEST(OutputQueue, UrgentBytesGoAheadOfPendingDataInTheirOwnOrder) {
    output_queue q;
    q.append(b("DATA1"));
    q.append_urgent(b("P"), b("1"));
    q.append(b("DATA2"));
    q.append_urgent(b("P"), b("2"));
    EXPECT_EQ(drain(q), "P1P2DATA1DATA2");
}

TEST(OutputQueue, UrgentBytesNeverSplitTheWriteInFlight) {
    output_queue q;
    q.append(b("FRAME-IN-FLIGHT"));
    EXPECT_EQ(next(q), "FRAME-IN-FLIGHT");
    q.mark_in_flight(15);
    q.append(b("NEXT"));
    q.append_urgent(b("PONG"), {});
    q.write_done();
    EXPECT_EQ(drain(q), "PONGNEXT");
}

TEST(OutputQueue, ReleaseLeavesAnEmptyQueueHoldingNoMemory) {
    for (const std::size_t size : {std::size_t{5}, std::size_t{1} << 20}) {
        output_queue q;
        std::string data(size, 'x');
        q.append(b(data));
        EXPECT_GT(q.capacity(), 0u);
        EXPECT_EQ(drain(q).size(), size);
        q.release();
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.capacity(), 0u) << size;
        q.append(b("small"));
        EXPECT_EQ(drain(q), "small");
    }
}

// An idle connection's queue is one pointer: its state exists only while bytes are queued.
TEST(OutputQueue, AnEmptyQueueHoldsNoStateAndABusyOneTakesItBack) {
    EXPECT_EQ(sizeof(output_queue), sizeof(void*));
    output_queue q;
    EXPECT_FALSE(q.holds_state());
    EXPECT_EQ(next(q), "");
    q.release();
    EXPECT_FALSE(q.holds_state());
    q.append(b("hello"));
    EXPECT_TRUE(q.holds_state());
    EXPECT_EQ(next(q), "hello");
    q.advance(2);
    q.mark_in_flight(3);
    q.release();  // bytes in an asynchronous write: the state stays
    EXPECT_TRUE(q.holds_state());
    q.write_done();
    q.release();
    EXPECT_FALSE(q.holds_state());
    EXPECT_EQ(q.size(), 0u);
    // A shared piece not yet written keeps the state too.
    auto* sh = shared("published");
    q.append_shared(sh);
    sh->release();
    q.release();
    EXPECT_TRUE(q.holds_state());
    EXPECT_EQ(drain(q), "published");
    q.release();
    EXPECT_FALSE(q.holds_state());
    // Many queues busy at once each hold their own state (a publication to every
    // subscriber); all of them give it back.
    std::vector<output_queue> many(3000);
    for (auto& m : many) m.append(b("x"));
    for (auto& m : many) {
        EXPECT_EQ(drain(m), "x");
        m.release();
        EXPECT_FALSE(m.holds_state());
    }
}

TEST(OutputQueue, ReleaseKeepsWhatIsStillToBeSent) {
    output_queue q;
    q.append(b("in flight"));
    EXPECT_EQ(next(q), "in flight");
    q.advance(3);
    q.mark_in_flight(6);
    q.append(b("next"));
    q.release();
    EXPECT_EQ(q.size(), 10u);
    q.write_done();
    EXPECT_EQ(drain(q), "next");
}

TEST(OutputQueue, UrgentBytesNeverOvertakeWhatWasSealed) {
    // The 101 is queued as data; a pong produced by a ping in the same read must follow it.
    output_queue q;
    q.append(b("HTTP/1.1 101\r\n\r\n"));
    q.seal();
    q.append_urgent(b("PONG"), {});
    q.append(b("DATA"));
    q.append_urgent(b("CLOSE"), {});
    EXPECT_EQ(drain(q), "HTTP/1.1 101\r\n\r\nPONGCLOSEDATA");
}

TEST(OutputQueue, NextWriteContinuesTheCurrentWriteInPieces) {
    // A write is handed to the kernel in pieces (lengths in uv_buf_t are 32-bit): the rest
    // of the current write comes before anything appended since.
    output_queue q;
    q.append(b("0123456789"));
    EXPECT_EQ(next(q), "0123456789");
    q.append(b("later"));
    q.advance(4);
    EXPECT_EQ(next(q, 3), "456");
    q.mark_in_flight(3);
    EXPECT_TRUE(q.writing());
    EXPECT_EQ(q.size(), 6u + 5u);
    q.write_done();
    EXPECT_FALSE(q.writing());
    EXPECT_EQ(next(q), "789");
    q.advance(3);
    EXPECT_EQ(next(q), "later");
    q.advance(5);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(next(q), "");
    q.release();
    EXPECT_EQ(q.capacity(), 0u);
}


TEST(OutputQueue, SharedPiecesGoOutInPlaceBetweenOwnedBytes) {
    output_queue q;
    auto* f1 = shared("F1");
    auto* f2 = shared("F2");
    q.append(b("a"));
    q.append_shared(f1);
    q.append_shared(f2);
    q.append(b("b"));
    EXPECT_EQ(q.size(), 6u);
    EXPECT_EQ(f1->use_count(), 2u);
    output_queue::piece pieces[8];
    ASSERT_EQ(q.next_write(pieces, 8, SIZE_MAX), 4u);
    EXPECT_EQ(pieces[1].data(), f1->data());  // not a copy: the subscriber's bytes are the frame
    EXPECT_EQ(pieces[2].data(), f2->data());
    q.advance(2);  // "a" and half of F1
    EXPECT_EQ(f1->use_count(), 2u);
    EXPECT_EQ(next(q), "1F2b");
    q.advance(1);  // the rest of F1: let go
    EXPECT_EQ(f1->use_count(), 1u);
    EXPECT_EQ(drain(q), "F2b");
    EXPECT_EQ(f2->use_count(), 1u);
    EXPECT_TRUE(q.empty());
    f1->release();
    f2->release();
}

TEST(OutputQueue, UrgentBytesGoAheadOfSharedPiecesNotStarted) {
    output_queue q;
    auto* f = shared("FRAME");
    q.append(b("101"));
    q.seal();
    q.append_shared(f);
    q.append_urgent(b("PONG"), {});
    q.append(b("DATA"));
    q.append_urgent(b("P2"), {});
    EXPECT_EQ(drain(q), "101PONGP2FRAMEDATA");
    f->release();
}

TEST(OutputQueue, SharedPiecesOfTheCurrentWriteStayWhilePendingOnesQueue) {
    output_queue q;
    auto* f = shared("SHARED");
    q.append_shared(f);
    EXPECT_EQ(next(q), "SHARED");
    q.mark_in_flight(6);
    q.append_shared(f);  // the same frame again, behind the write in flight
    q.append_urgent(b("U"), {});
    EXPECT_EQ(f->use_count(), 3u);
    q.write_done();
    EXPECT_EQ(next(q), "USHARED");  // the next write starts: the written piece is let go
    EXPECT_EQ(f->use_count(), 2u);
    EXPECT_EQ(drain(q), "USHARED");
    q.release();
    EXPECT_LT(q.capacity(), 1024u);  // no byte buffer; a short list of pieces may stay
    EXPECT_EQ(f->use_count(), 1u);
    f->release();
}

TEST(OutputQueue, PiecesAndBytesPerWriteAreBounded) {
    output_queue q;
    auto* f = shared("xy");
    for (int i = 0; i < 10; ++i) q.append_shared(f);
    output_queue::piece pieces[4];
    EXPECT_EQ(q.next_write(pieces, 4, SIZE_MAX), 4u);
    EXPECT_EQ(q.next_write(pieces, 8, 3), 2u);  // "xy" + "x"
    EXPECT_EQ(pieces[1].size(), 1u);
    EXPECT_EQ(drain(q).size(), 20u);
    EXPECT_EQ(f->use_count(), 1u);
    f->release();
}

TEST(OutputQueue, DestroyingAQueueLetsGoOfItsSharedPieces) {
    auto* f = shared("gone");
    {
        output_queue q;
        q.append_shared(f);
        q.append_shared(f);
        EXPECT_EQ(next(q), "gonegone");
        q.advance(1);
        EXPECT_EQ(f->use_count(), 3u);
    }
    EXPECT_EQ(f->use_count(), 1u);
    f->release();
}

TEST(OutputQueue, TakePendingHandsOverOwnedAndSharedInOrder) {
    output_queue q;
    auto* f = shared("S");
    q.append(b("a"));
    q.append_shared(f);
    q.append(b("b"));
    std::string got;
    EXPECT_TRUE(q.take_pending([&](output_queue::piece p) {
        got += str(p);
        return true;
    }));
    EXPECT_EQ(got, "aSb");
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(f->use_count(), 1u);
    f->release();
}

}  // namespace
}  // namespace sockeye::net
