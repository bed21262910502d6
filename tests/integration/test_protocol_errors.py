"""Every framing and close-handshake error ends with the right close code, end to end,
and the server closes TCP afterwards."""

import socket
import struct
import time

from sockeye_harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                             ServerTestCase, build_frame, close_payload, main)


class ProtocolErrorTest(ServerTestCase):
    server_flags = ("--close-timeout", "2")

    def assert_closed_with(self, ws, code, what):
        """The server must send close ``code``; we answer it; then TCP must close."""
        got, reason, skipped = ws.expect_close(timeout=5)
        self.assertEqual(got, code, f"{what}: close code {got} (reason {reason!r}), "
                                    f"expected {code}")
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what}: close reason is not UTF-8: {reason!r}")
        for f in skipped:
            self.assertIn(f.opcode, (OP_TEXT, OP_BINARY, OP_CONT, OP_PONG, OP_PING),
                          f"{what}: unexpected frame before close")
        try:
            ws.send_close(code)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may already have closed TCP; that is fine too
        ws.wait_tcp_closed(timeout=5, allow_reset=True)

    def check(self, frames: bytes, code: int, what: str):
        ws = self.raw_ws()
        ws.send_raw(frames)
        self.assert_closed_with(ws, code, what)
        ws.close()

    # -- 1002 ---------------------------------------------------------------------------
    def test_unmasked_frame(self):
        self.check(build_frame(OP_TEXT, b"hello", mask=False), 1002, "unmasked frame")

    def test_unmasked_empty_frame(self):
        self.check(build_frame(OP_BINARY, b"", mask=False), 1002, "unmasked empty frame")

    def test_reserved_opcodes(self):
        for op in (0x3, 0x7, 0xB, 0xF):
            with self.subTest(opcode=op):
                self.check(build_frame(op, b"x"), 1002, f"reserved opcode {op:#x}")

    def test_rsv_bits(self):
        for rsv in (4, 2, 1):
            with self.subTest(rsv=rsv):
                self.check(build_frame(OP_TEXT, b"x", rsv=rsv), 1002, f"RSV bits {rsv}")

    def test_ping_payload_over_125(self):
        self.check(build_frame(OP_PING, b"p" * 126), 1002, "ping of 126 bytes")

    def test_close_payload_over_125(self):
        self.check(build_frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002,
                   "close of 126 bytes")

    def test_fragmented_ping(self):
        self.check(build_frame(OP_PING, b"abc", fin=False), 1002, "fragmented ping")

    def test_continuation_without_start(self):
        self.check(build_frame(OP_CONT, b"abc", fin=True), 1002, "continuation without start")

    def test_unfinished_continuation_without_start(self):
        self.check(build_frame(OP_CONT, b"abc", fin=False), 1002,
                   "non-final continuation without start")

    def test_new_message_inside_fragmented_one(self):
        for second in (OP_TEXT, OP_BINARY):
            with self.subTest(second=second):
                self.check(build_frame(OP_TEXT, b"part1", fin=False) +
                           build_frame(second, b"part2", fin=True), 1002,
                           "data frame inside a fragmented message")

    def test_64bit_length_with_high_bit(self):
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 63) + b"\0\0\0\0"
        ws = self.raw_ws()
        ws.send_raw(head + b"x" * 16)
        got, _, _ = ws.expect_close()
        self.assertIn(got, (1002, 1009), "64-bit length with the top bit set")

    def test_bad_close_codes(self):
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
            with self.subTest(code=code):
                self.check(build_frame(OP_CLOSE, close_payload(code)), 1002,
                           f"close code {code}")

    def test_one_byte_close_payload(self):
        self.check(build_frame(OP_CLOSE, b"\x03"), 1002, "1-byte close payload")

    # -- 1007 ---------------------------------------------------------------------------
    def test_invalid_utf8_text(self):
        cases = {
            "lone continuation byte": b"abc\x80def",
            "overlong slash": b"\xc0\xaf",
            "surrogate": b"\xed\xa0\x80",
            "above U+10FFFF": b"\xf4\x90\x80\x80",
            "0xFF": b"hello\xff",
            "truncated at end": b"ok\xe2\x82",
        }
        for name, payload in cases.items():
            with self.subTest(case=name):
                self.check(build_frame(OP_TEXT, payload), 1007, f"invalid UTF-8: {name}")

    def test_invalid_utf8_in_later_fragment(self):
        self.check(build_frame(OP_TEXT, b"fine so far ", fin=False) +
                   build_frame(OP_CONT, b"then \xff", fin=True), 1007,
                   "invalid UTF-8 in a continuation")

    def test_truncated_utf8_at_end_of_fragmented_message(self):
        self.check(build_frame(OP_TEXT, b"abc", fin=False) +
                   build_frame(OP_CONT, b"\xf0\x9d\x84", fin=True), 1007,
                   "message ends inside a UTF-8 sequence")

    def test_close_reason_invalid_utf8(self):
        self.check(build_frame(OP_CLOSE, close_payload(1000, b"bye\xff")), 1007,
                   "close reason invalid UTF-8")

    def test_binary_is_not_utf8_checked(self):
        ws = self.raw_ws()
        ws.send_binary(b"\xff\xfe\xc0\xaf")
        self.assertEqual(ws.recv_message(), (OP_BINARY, b"\xff\xfe\xc0\xaf"))

    # -- close handshake ----------------------------------------------------------------
    def test_close_1000_echoed_then_tcp_closed(self):
        ws = self.raw_ws()
        ws.send_close(1000, b"bye")
        code, reason, skipped = ws.expect_close()
        self.assertEqual(code, 1000)
        self.assertEqual(skipped, [])
        t0 = time.monotonic()
        self.assertEqual(ws.wait_tcp_closed(timeout=3), "eof",
                         "server must close TCP right after its close reply")
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_application_close_codes_echoed(self):
        for code in (1001, 1003, 1011, 3000, 4000, 4999):
            with self.subTest(code=code):
                ws = self.raw_ws()
                ws.send_close(code, "reason ✓".encode())
                got, _, _ = ws.expect_close()
                self.assertEqual(got, code)
                self.assertEqual(ws.wait_tcp_closed(timeout=3), "eof")
                ws.close()

    def test_empty_close_answered(self):
        ws = self.raw_ws()
        ws.send_close(None)
        code, reason, _ = ws.expect_close()
        self.assertIn(code, (None, 1000), "empty close must be answered with an empty or 1000 close")
        self.assertEqual(ws.wait_tcp_closed(timeout=3), "eof")

    def test_close_in_the_middle_of_fragmented_message(self):
        ws = self.raw_ws()
        ws.send_raw(build_frame(OP_TEXT, b"part", fin=False) +
                    build_frame(OP_CLOSE, close_payload(1000)))
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1000)
        self.assertEqual(ws.wait_tcp_closed(timeout=3), "eof")

    def test_frames_after_close_are_ignored(self):
        ws = self.raw_ws()
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"late"))
        code, _, skipped = ws.expect_close()
        self.assertEqual(code, 1000)
        self.assertEqual(skipped, [], "server echoed a message sent after the close")
        ws.wait_tcp_closed(timeout=3, allow_reset=True)

    def test_server_drops_tcp_after_close_timeout(self):
        # Server-initiated close (protocol error) and a client that never answers it:
        # the server gives up after --close-timeout (2 s here).
        ws = self.raw_ws()
        ws.send_raw(build_frame(OP_TEXT, b"x", mask=False))
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1002)
        t0 = time.monotonic()
        ws.wait_tcp_closed(timeout=6, allow_reset=True)
        self.assertLess(time.monotonic() - t0, 4.5)

    def test_other_connections_unaffected_by_protocol_error(self):
        good = self.raw_ws()
        bad = self.raw_ws()
        bad.send_raw(build_frame(OP_TEXT, b"x", rsv=4))
        self.assertEqual(bad.expect_close()[0], 1002)
        good.send_text("still fine")
        self.assertEqual(good.recv_message(), (OP_TEXT, b"still fine"))


class MaxMessageTest(ServerTestCase):
    server_flags = ("--max-message", "1000", "--close-timeout", "2")

    def test_exactly_the_limit_is_echoed(self):
        ws = self.raw_ws()
        ws.send_binary(b"a" * 1000)
        self.assertEqual(ws.recv_message(), (OP_BINARY, b"a" * 1000))
        ws.send_text("b" * 1000)
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"b" * 1000))

    def test_single_frame_over_limit(self):
        ws = self.raw_ws()
        ws.send_binary(b"a" * 1001)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1009)
        ws.wait_tcp_closed(timeout=5, allow_reset=True)

    def test_fragments_adding_up_over_limit(self):
        ws = self.raw_ws()
        ws.send_raw(build_frame(OP_TEXT, b"a" * 600, fin=False) +
                    build_frame(OP_CONT, b"a" * 401, fin=True))
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1009)

    def test_announced_huge_frame_rejected_before_payload(self):
        # Only the header of a 1 GiB frame is sent: the server must not wait for the body.
        ws = self.raw_ws()
        ws.send_raw(struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 30) + b"\1\2\3\4")
        code, _, _ = ws.expect_close(timeout=3)
        self.assertEqual(code, 1009)

    def test_limit_is_per_message(self):
        ws = self.raw_ws()
        for i in range(5):
            ws.send_binary(bytes([i]) * 900)
            self.assertEqual(ws.recv_message(), (OP_BINARY, bytes([i]) * 900))


class RejectEmptyTest(ServerTestCase):
    server_flags = ("--reject-empty", "--close-timeout", "2")

    def test_empty_text_gets_1008(self):
        ws = self.raw_ws()
        ws.send_text(b"")
        self.assertEqual(ws.expect_close()[0], 1008)

    def test_empty_binary_gets_1008(self):
        ws = self.raw_ws()
        ws.send_binary(b"")
        self.assertEqual(ws.expect_close()[0], 1008)

    def test_empty_fragmented_message_gets_1008(self):
        ws = self.raw_ws()
        ws.send_raw(build_frame(OP_BINARY, b"", fin=False) + build_frame(OP_CONT, b"", fin=True))
        self.assertEqual(ws.expect_close()[0], 1008)

    def test_non_empty_still_echoed_and_empty_ping_fine(self):
        ws = self.raw_ws()
        ws.send_frame(OP_PING, b"")
        f = ws.recv_frame()
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b""))
        ws.send_text("x")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"x"))


if __name__ == "__main__":
    main()
