"""Timers: heartbeat pings with pong timeout, the handshake deadline, the idle timeout."""

import select
import socket
import time

from sockeye_harness import (LOOPBACK, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT,
                             ConnectionClosedByPeer, ServerTestCase, main, parse_close)


def read_until_dropped(ws, limit):
    """Reads frames (never answering) until the server drops TCP. Returns
    (seconds waited, frames seen) or fails after ``limit`` seconds."""
    t0 = time.monotonic()
    frames = []
    while True:
        left = limit - (time.monotonic() - t0)
        if left <= 0:
            return None, frames
        ws.sock.settimeout(left)
        try:
            frames.append(ws.recv_frame())
        except ConnectionClosedByPeer:
            return time.monotonic() - t0, frames
        except socket.timeout:
            return None, frames


class HeartbeatTest(ServerTestCase):
    server_flags = ("--ping-interval", "0.5", "--pong-timeout", "0.5", "--close-timeout", "0.5")

    def test_client_that_never_answers_pings_is_dropped(self):
        ws = self.raw_ws()
        elapsed, frames = read_until_dropped(ws, limit=5)
        self.assertIsNotNone(elapsed, f"not dropped within 5 s; frames: "
                                      f"{[(f.opcode, f.payload[:20]) for f in frames]}")
        pings = [f for f in frames if f.opcode == OP_PING]
        self.assertGreaterEqual(len(pings), 1, "server never pinged")
        self.assertLess(elapsed, 2.5, f"dropped only after {elapsed:.2f}s")
        self.assertGreater(elapsed, 0.4, f"dropped already after {elapsed:.2f}s")
        for f in frames:
            self.assertIn(f.opcode, (OP_PING, OP_CLOSE))

    def test_client_that_answers_pings_stays(self):
        ws = self.raw_ws()
        t0 = time.monotonic()
        pings = 0
        ws.sock.settimeout(1)
        while time.monotonic() - t0 < 3.0:
            try:
                f = ws.recv_frame()
            except socket.timeout:
                continue
            except ConnectionClosedByPeer as e:
                self.fail(f"answering client dropped after {time.monotonic() - t0:.2f}s: {e}")
            if f.opcode == OP_CLOSE:
                self.fail(f"answering client got close {parse_close(f.payload)}")
            self.assertEqual(f.opcode, OP_PING)
            pings += 1
            ws.send_frame(OP_PONG, f.payload)
        self.assertGreaterEqual(pings, 3, "expected a ping every 0.5 s")
        ws.sock.settimeout(5)
        ws.send_text("alive")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"alive"))
        ws.send_close(1000)
        self.assertEqual(ws.expect_close()[0], 1000)


class HeartbeatOffTest(ServerTestCase):
    server_flags = ("--ping-interval", "0")

    def test_no_pings_when_disabled(self):
        ws = self.raw_ws()
        r, _, _ = select.select([ws.sock], [], [], 1.5)
        self.assertEqual(r, [], "server sent something with --ping-interval 0")
        ws.send_text("x")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"x"))


class HandshakeTimeoutTest(ServerTestCase):
    server_flags = ("--handshake-timeout", "1")

    def wait_closed(self, sock, limit, trickle=None):
        """Waits until the server closes ``sock``; optionally sends one byte of
        ``trickle`` every 0.3 s. Returns elapsed seconds or None."""
        t0 = time.monotonic()
        next_send, pos = t0, 0
        while True:
            now = time.monotonic()
            if now - t0 > limit:
                return None
            if trickle is not None and now >= next_send and pos < len(trickle):
                try:
                    sock.send(trickle[pos:pos + 1])
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - t0
                pos += 1
                next_send += 0.3
            wait = 0.05
            if trickle is not None and pos < len(trickle):
                wait = max(0.0, min(next_send - time.monotonic(), 0.05))
            r, _, _ = select.select([sock], [], [], wait)
            if r:
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    return time.monotonic() - t0
                if not data:
                    return time.monotonic() - t0
                # A 408 (or other) response before the close is fine; keep waiting for EOF.

    def connect(self):
        s = socket.create_connection((LOOPBACK, self.server.port), timeout=5)
        return self.track(s)

    def test_silent_client_dropped(self):
        s = self.connect()
        elapsed = self.wait_closed(s, limit=5)
        self.assertIsNotNone(elapsed, "silent client still connected after 5 s")
        self.assertGreater(elapsed, 0.7)
        self.assertLess(elapsed, 2.0)

    def test_trickling_client_dropped_on_total_deadline(self):
        s = self.connect()
        head = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n")
        elapsed = self.wait_closed(s, limit=6, trickle=head)
        self.assertIsNotNone(elapsed, "trickling client still connected after 6 s")
        self.assertLess(elapsed, 2.0, f"trickle extended the deadline: dropped after {elapsed:.2f}s")
        self.assertGreater(elapsed, 0.7)

    def test_complete_handshake_in_time_is_not_dropped(self):
        ws = self.raw_ws()
        time.sleep(1.6)
        ws.send_text("after the handshake deadline")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"after the handshake deadline"))

    def test_prompt_http_request_answered(self):
        s = self.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(3)
        data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])


class IdleTimeoutTest(ServerTestCase):
    server_flags = ("--idle-timeout", "0.5", "--close-timeout", "1")

    def test_idle_client_gets_1001(self):
        ws = self.raw_ws()
        t0 = time.monotonic()
        code, _, skipped = ws.expect_close(timeout=5)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 1001)
        self.assertGreater(elapsed, 0.3)
        self.assertLess(elapsed, 2.0)
        ws.send_close(1001)
        ws.wait_tcp_closed(timeout=3, allow_reset=True)

    def test_active_client_is_not_idle(self):
        ws = self.raw_ws()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            ws.send_frame(OP_PING, b"k")
            f = ws.recv_frame()
            if f.opcode == OP_CLOSE:
                self.fail(f"active client closed with {parse_close(f.payload)} after "
                          f"{time.monotonic() - t0:.2f}s")
            self.assertEqual((f.opcode, f.payload), (OP_PONG, b"k"))
            time.sleep(0.2)
        ws.send_text("still here")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"still here"))
        # Then falling silent gets the idle close.
        self.assertEqual(ws.expect_close(timeout=3)[0], 1001)


if __name__ == "__main__":
    main()
