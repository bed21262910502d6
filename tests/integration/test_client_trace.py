"""`sockeye connect --trace` and `sockeye send --trace` against a raw TCP server that does
the HTTP upgrade by hand and sends frames built by hand: every trace line on stderr is
checked field by field against the bytes that were sent, and the client's own frames
against the bytes the server received (masked, with their key in the header)."""

import re
import socket
import struct
import time
import unittest

from sockeye_harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, build_frame,
                             frame_header, main, mask_bytes)
from test_client import (EXIT_ABNORMAL, ClientAssertions, HostileServer, run_client)

FRAME_RE = re.compile(
    r"^(?P<dir>[<>]) frame (?P<id>\d+)(?: msg=(?P<msg>\d+))? at=(?P<at>\d+) "
    r"FIN=(?P<fin>[01]) RSV1=(?P<rsv1>[01]) RSV2=(?P<rsv2>[01]) RSV3=(?P<rsv3>[01]) "
    r"op=(?P<op>\w+) MASK=(?P<mask>[01]) len=(?P<len>\d+) enc=(?P<enc>7|16|64)"
    r"(?: key=(?P<key>[0-9a-f]{8}))? hdr=(?P<hdr>[0-9a-f]+)"
    r"(?: data=(?P<data>[0-9a-f]*)(?P<more>\.\.\.)?)?(?P<rest>.*)$")


def frames_in(stderr, direction):
    out = []
    for line in stderr.splitlines():
        m = FRAME_RE.match(line)
        if m and m.group("dir") == direction:
            out.append(m.groupdict())
    return out


def raw_frame(opcode, payload=b"", *, fin=True):
    """An unmasked server frame with the minimal length encoding."""
    return frame_header(opcode, len(payload), fin=fin, mask_key=None) + payload


class ClientFrames:
    """Reads the client's frames off the socket, keeping each one's header bytes."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""
        self.frames = []  # (header bytes, fin, opcode, key, unmasked payload)

    def need(self, n, deadline):
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError("no frame from the client in time")
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError
            self.buf += chunk

    def next(self, timeout=10):
        deadline = time.monotonic() + timeout
        self.need(2, deadline)
        fin, opcode = bool(self.buf[0] & 0x80), self.buf[0] & 0x0F
        length, at = self.buf[1] & 0x7F, 2
        if length == 126:
            self.need(4, deadline)
            length, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif length == 127:
            self.need(10, deadline)
            length, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        masked = bool(self.buf[1] & 0x80)
        head = at + (4 if masked else 0)
        self.need(head + length, deadline)
        key = self.buf[at:head]
        payload = self.buf[head:head + length]
        if masked:
            payload = mask_bytes(payload, key)
        frame = (self.buf[:head], fin, opcode, key, payload)
        self.buf = self.buf[head + length:]
        self.frames.append(frame)
        return frame

    def until(self, opcode):
        while True:
            f = self.next()
            if f[2] == opcode:
                return f


OPNAMES = {OP_CONT: "continuation", OP_TEXT: "text", OP_BINARY: "binary", OP_CLOSE: "close",
           OP_PING: "ping", 0xA: "pong"}


class TraceTestCase(ClientAssertions):
    def serve(self, behaviour):
        server = HostileServer(behaviour)
        self.addCleanup(server.close)
        return server

    def assert_client_frames_match(self, stderr, received):
        """Every frame the client traced as sent is, in order, one the server received:
        masked, with the same header bytes, key, length encoding and payload head."""
        sent = frames_in(stderr, ">")
        self.assertEqual(len(sent), len(received), stderr)
        for line, (hdr, fin, opcode, key, payload) in zip(sent, received):
            self.assertEqual(line["hdr"], hdr.hex(), line)
            self.assertEqual(line["mask"], "1", line)
            self.assertEqual(line["key"], key.hex(), line)
            self.assertEqual(line["fin"], "1" if fin else "0", line)
            self.assertEqual(line["op"], OPNAMES[opcode], line)
            self.assertEqual(int(line["len"]), len(payload), line)
            self.assertEqual(int(line["enc"]),
                             7 if len(payload) < 126 else 16 if len(payload) < 65536 else 64)
            self.assertEqual(line["data"] or "", payload[:16].hex(), line)
            self.assertEqual(line["more"] is not None, len(payload) > 16, line)


class ConnectTraceTest(TraceTestCase):
    def test_frames_both_ways(self):
        big = bytes(range(256)) * 273 + b"\x07" * 112  # 70,000 bytes
        mid = bytes((i * 7) & 0xFF for i in range(300))
        sent_by_server = [
            raw_frame(OP_TEXT, b"hello"),
            raw_frame(OP_BINARY, mid),
            raw_frame(OP_BINARY, big),
            raw_frame(OP_TEXT, b"frag", fin=False),
            raw_frame(OP_CONT, b"men", fin=False),
            raw_frame(OP_CONT, b"ted"),
            raw_frame(OP_PING, b"p1"),
            raw_frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye"),
        ]

        def behaviour(conn, server):
            frames = ClientFrames(conn)
            server.result["frames"] = frames
            frames.until(OP_TEXT)  # the piped line
            conn.sendall(b"".join(sent_by_server))
            frames.until(OP_CLOSE)
            conn.shutdown(socket.SHUT_WR)  # the server closes TCP first (RFC 6455 7.1.1)

        server = self.serve(behaviour)
        proc = run_client("connect", server.url, "--trace", "--linger", "10",
                          stdin_text="one\n", timeout=60)
        self.assert_rc(proc, 0)
        self.assertEqual(proc.stdout.splitlines()[0], "hello")
        self.assertEqual(proc.stdout.splitlines()[-1], "fragmented")
        err = proc.stderr

        got = frames_in(err, "<")
        self.assertEqual(len(got), len(sent_by_server), err)
        expect = [  # op, FIN, len, enc
            ("text", "1", 5, "7"), ("binary", "1", 300, "16"), ("binary", "1", 70000, "64"),
            ("text", "0", 4, "7"), ("continuation", "0", 3, "7"), ("continuation", "1", 3, "7"),
            ("ping", "1", 2, "7"), ("close", "1", 5, "7"),
        ]
        at = 0
        for line, raw, (op, fin, n, enc) in zip(got, sent_by_server, expect):
            self.assertEqual((line["op"], line["fin"], int(line["len"]), line["enc"]),
                             (op, fin, n, enc), line)
            self.assertEqual(line["mask"], "0", line)
            self.assertIsNone(line["key"], line)
            self.assertEqual((line["rsv1"], line["rsv2"], line["rsv3"]), ("0", "0", "0"))
            header_len = len(raw) - n
            self.assertEqual(line["hdr"], raw[:header_len].hex(), line)
            self.assertEqual(line["data"], raw[header_len:header_len + 16].hex(), line)
            self.assertEqual(int(line["at"]), at, line)
            at += len(raw)
        self.assertEqual([l["id"] for l in got], [str(i) for i in range(1, 9)])
        # Data frames carry message numbers; the fragments share one; control frames none.
        self.assertEqual([l["msg"] for l in got], ["1", "2", "3", "4", "4", "4", None, None])
        self.assertIn('"hello"', got[0]["rest"])

        self.assertIn("< message 1 type=text size=5 frames=1 compressed=0", err)
        self.assertIn("< message 2 type=binary size=300 frames=1 compressed=0", err)
        self.assertIn("< message 3 type=binary size=70000 frames=1 compressed=0", err)
        self.assertIn("< message 4 type=text size=10 frames=3 compressed=0", err)
        self.assertIn("< ping size=2", err)
        self.assertIn('< close code=1000 reason="bye"', err)
        self.assertIn("> pong size=2", err)
        self.assertIn("> close code=1000", err)
        self.assertRegex(err, r"(?m)^< read \d+ size=\d+ at=\d+")
        self.assertRegex(err, r"(?m)^> write 1 size=\d+ at=0 began=1")

        # The client's frames: its line, the pong, the close reply.
        received = server.result["frames"].frames
        self.assertEqual([f[2] for f in received], [OP_TEXT, 0xA, OP_CLOSE])
        self.assert_client_frames_match(err, received)
        self.assertEqual(received[1][4], b"p1")
        sent = frames_in(err, ">")
        self.assertIn('"one"', sent[0]["rest"])
        self.assertEqual(sent[0]["msg"], "1")
        # Written bytes add up to what the server read.
        written = sum(int(m) for m in re.findall(r"(?m)^> write \d+ size=(\d+)", err))
        self.assertEqual(written, sum(len(f[0]) + len(f[4]) for f in received))

    def test_protocol_error(self):
        # A server must not mask its frames (RFC 6455 5.1).
        def behaviour(conn, server):
            frames = ClientFrames(conn)
            server.result["frames"] = frames
            conn.sendall(build_frame(OP_TEXT, b"masked!", mask=True))
            frames.until(OP_CLOSE)
            conn.shutdown(socket.SHUT_WR)

        server = self.serve(behaviour)
        proc = run_client("connect", server.url, "--trace", "--linger", "10", stdin_text="",
                          timeout=60)
        self.assert_rc(proc, EXIT_ABNORMAL)
        err = proc.stderr
        errors = [l for l in err.splitlines() if l.startswith("! error ")]
        self.assertEqual(len(errors), 1, err)
        self.assertRegex(errors[0], r'^! error masked_frame code=1002 rfc=5\.1 ".+"$')
        self.assertIn("> close code=1002", err)
        received = server.result["frames"].frames
        self.assertEqual(received[-1][2], OP_CLOSE)
        self.assertEqual(received[-1][4][:2], struct.pack("!H", 1002))
        self.assert_client_frames_match(err, received)
        self.assertIn("closed: 1002", err)


class SendTraceTest(TraceTestCase):
    def close_after_message(self, conn, server):
        frames = ClientFrames(conn)
        server.result["frames"] = frames
        frames.until(OP_CLOSE)
        conn.sendall(raw_frame(OP_CLOSE, struct.pack("!H", 1000)))
        conn.shutdown(socket.SHUT_WR)

    def test_64_bit_frame(self):
        server = self.serve(self.close_after_message)
        proc = run_client("send", server.url, "--size", 70000, "--binary", "--trace")
        self.assert_rc(proc, 0)
        received = server.result["frames"].frames
        self.assertEqual([(f[2], len(f[4])) for f in received], [(OP_BINARY, 70000), (OP_CLOSE, 2)])
        self.assert_client_frames_match(proc.stderr, received)
        sent = frames_in(proc.stderr, ">")
        self.assertEqual(sent[0]["enc"], "64")
        self.assertTrue(sent[0]["hdr"].startswith("82ff0000000000011170"), sent[0])
        self.assertIn("> message 1 type=binary size=70000 frames=1 compressed=0", proc.stderr)
        self.assertIn('< close code=1000 reason=""', proc.stderr)

    def test_long_message_is_cut_short(self):
        # Ten 300-byte frames: the first eight, a count of the one left out, the last.
        server = self.serve(self.close_after_message)
        proc = run_client("send", server.url, "--size", 3000, "--fragment", 300, "--trace")
        self.assert_rc(proc, 0)
        received = server.result["frames"].frames
        self.assertEqual(len(received), 11)  # ten data frames and the close
        sent = frames_in(proc.stderr, ">")
        self.assertEqual([l["id"] for l in sent], ["1", "2", "3", "4", "5", "6", "7", "8", "10",
                                                   "11"])
        self.assertEqual(sent[0]["op"], "text")
        self.assertEqual(sent[0]["enc"], "16")
        self.assertTrue(all(l["op"] == "continuation" for l in sent[1:9]), sent)
        self.assertEqual([l["fin"] for l in sent[:9]], ["0"] * 8 + ["1"])
        self.assertIn("> elided msg=1 frames=1 bytes=300 writes=", proc.stderr)
        self.assertIn("> message 1 type=text size=3000 frames=10 compressed=0", proc.stderr)
        self.assert_client_frames_match(proc.stderr, received[:8] + received[9:])


if __name__ == "__main__":
    main()
