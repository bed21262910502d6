"""HTTP answers to HEAD, and what peers can make the server (and the client CLI) print.

HEAD: every kind of answer, each followed on the same connection by a pipelined GET. A
response to HEAD carries the headers GET would get (Content-Length included) and no body;
a body would be read as the start of the next response. Answers that end the connection
must end it right after the head.

Logs and terminals: close reasons and request targets are the peer's text. A newline in
one must not start a new log record, and control characters must not reach a terminal.
"""

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from sockeye_harness import (LOOPBACK, HttpConnection, ServerTestCase, http_get, main,
                             server_binary, wait_until)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY),
           ("Sec-WebSocket-Version", "13")]
FAR_FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


def request_bytes(port, method, path, headers=(), version="HTTP/1.1", host=True):
    lines = [f"{method} {path} {version}"]
    if host:
        lines.append(f"Host: {LOOPBACK}:{port}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HeadPipelineCase(ServerTestCase):
    """HEAD, then GET /healthz, in one write on one connection."""

    def head_then_get(self, path, headers=(), **kw):
        conn = self.http()
        conn.send(request_bytes(self.server.port, "HEAD", path, headers, **kw) +
                  request_bytes(self.server.port, "GET", "/healthz"))
        return conn, conn.read_response(head_request=True)

    def check_keep_alive(self, path, status, headers=(), compare_length=True):
        conn, head = self.head_then_get(path, headers)
        self.assertEqual(head.status, status, head)
        self.assertNotEqual(head.header("connection", "").lower(), "close", head)
        # The same request as GET: the HEAD answer must announce exactly its length.
        get = http_get(self.server.port, path, headers=list(headers))
        self.assertEqual(get.status, status)
        if status != 304:
            self.assertIsNotNone(head.header("content-length"), head)
        if compare_length and status != 304:
            self.assertEqual(head.header("content-length"), str(len(get.body)),
                             f"HEAD {path}: Content-Length differs from GET's body")
        nxt = conn.read_response()
        self.assertEqual((nxt.status, nxt.body), (200, b"ok\n"),
                         f"HEAD {path} ({status}) left bytes that broke the next response: "
                         f"{nxt!r}")
        self.assertEqual(bytes(conn.buf), b"")

    def check_closing(self, path, status, headers=(), **kw):
        conn, head = self.head_then_get(path, headers, **kw)
        self.assertEqual(head.status, status, head)
        self.assertEqual(head.header("connection", "").lower(), "close", head)
        self.assertIsNotNone(head.header("content-length"), head)
        # Nothing may follow the head, not even a body that a close would delimit.
        self.assertEqual(bytes(conn.buf), b"", f"HEAD {path} ({status}) sent a body")
        self.assertTrue(conn.is_closed_by_peer(5.0),
                        f"HEAD {path} ({status}): bytes after the head: {bytes(conn.buf)!r}")


class HeadEverywhereTest(HeadPipelineCase):
    server_flags = ("--ws-path", "/ws")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockeye-head-")
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(os.path.join(cls.root, "dir"))
        with open(os.path.join(cls.root, "file.txt"), "wb") as f:
            f.write(b"some file content\n")
        with open(os.path.join(cls.root, "dir", "index.html"), "wb") as f:
            f.write(b"<p>index</p>")
        os.mkfifo(os.path.join(cls.root, "fifo"))
        cls.server_root = cls.root

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # Answers that keep the connection open.
    def test_static_file_200(self):
        self.check_keep_alive("/file.txt", 200)

    def test_directory_index_200(self):
        self.check_keep_alive("/dir/", 200)

    def test_not_modified_304(self):
        self.check_keep_alive("/file.txt", 304, [("If-Modified-Since", FAR_FUTURE)])

    def test_missing_404(self):
        self.check_keep_alive("/nope.txt", 404)

    def test_forbidden_403(self):
        self.check_keep_alive("/fifo", 403)

    def test_backslash_403(self):
        self.check_keep_alive("/a%5cb", 403)

    def test_bad_escape_400(self):
        self.check_keep_alive("/%zz", 400)

    def test_healthz(self):
        self.check_keep_alive("/healthz", 200)

    def test_metrics(self):
        # The counters move between the HEAD and the GET, so the lengths may differ.
        self.check_keep_alive("/metrics", 200, compare_length=False)

    def test_ws_path_without_upgrade_426(self):
        self.check_keep_alive("/ws", 426)

    # Answers that end the connection.
    def test_head_upgrade_on_ws_path_405(self):
        self.check_closing("/ws", 405, UPGRADE)

    def test_head_upgrade_elsewhere_404(self):
        self.check_closing("/other", 404, UPGRADE)

    def test_head_without_host_400(self):
        self.check_closing("/file.txt", 400, host=False)

    def test_head_bad_version_505(self):
        self.check_closing("/file.txt", 505, version="HTTP/1.2")

    def test_head_unimplemented_coding_501(self):
        self.check_closing("/file.txt", 501, [("Transfer-Encoding", "gzip, chunked")])

    def test_head_too_large_431(self):
        self.check_closing("/file.txt", 431, [("X-Big", "b" * 20000)])


class HeadUpgradeAnyPathTest(HeadPipelineCase):
    """Without --ws-path every path takes upgrades: HEAD with Upgrade headers is a 405."""

    def test_head_upgrade_405(self):
        self.check_closing("/", 405, UPGRADE)


# ---------------------------------------------------------------- log forging

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) ")
FORGED = "2026-01-01T00:00:00.000Z error forged"


class LogForgingTest(ServerTestCase):
    server_flags = ("--log-level", "debug")

    def log_lines(self):
        text = open(self.server.stderr_path, "rb").read().decode("utf-8", "replace")
        return text.splitlines()

    def assert_every_line_is_a_record(self, lines):
        for line in lines:
            self.assertRegex(line, TIMESTAMP, f"a log line that is no record: {line!r}")
            self.assertFalse(line.startswith("2026-01-01T"), f"forged record: {line!r}")

    def test_close_reason_with_newline_is_escaped(self):
        reason = ("bye\n" + FORGED + "\r\x1b[31m\t\x7f \"q\" \\ \u0085").encode()
        ws = self.raw_ws("/")
        ws.send_close(1000, reason)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1000)
        ws.close()
        self.assertTrue(wait_until(
            lambda: any(" close peer=" in l for l in self.log_lines()), 5.0))
        lines = self.log_lines()
        self.assert_every_line_is_a_record(lines)
        close = [l for l in lines if " close peer=" in l]
        self.assertEqual(len(close), 1, lines)
        self.assertIn('reason="bye\\n' + FORGED + '\\r\\x1b[31m\\t\\x7f \\"q\\" \\\\ \\u0085"',
                      close[0])

    def test_request_targets_cannot_forge_records(self):
        # Percent-escapes stay escapes in the log; raw control bytes never get that far
        # (the request parser answers 400).
        ws = self.raw_ws("/p%0a" + FORGED.replace(" ", "%20"))
        ws.send_close(1000, b"")
        ws.expect_close()
        ws.close()
        for raw in (b"GET /a\nb HTTP/1.1\r\n\r\n", b"GET /a\x1bb HTTP/1.1\r\n\r\n",
                    b"GET /a\x7f\r\n" + FORGED.encode() + b" HTTP/1.1\r\n\r\n"):
            conn = HttpConnection(self.server.port)
            conn.send(raw)
            self.assertEqual(conn.read_response().status, 400)
            conn.close()
        self.assertTrue(wait_until(
            lambda: any(" close peer=" in l for l in self.log_lines()), 5.0))
        time.sleep(0.2)
        self.assert_every_line_is_a_record(self.log_lines())


# ---------------------------------------------------------------- the client's terminal

class ClosingServer:
    """Accepts one WebSocket handshake, then sends a close frame with `reason`."""

    def __init__(self, reason: bytes, subprotocol: str | None = None):
        self.reason, self.subprotocol = reason, subprotocol
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            key = [l.split(b":", 1)[1].strip() for l in data.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(
                hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                         b"\r\n\r\n")
            payload = (1000).to_bytes(2, "big") + self.reason
            conn.sendall(bytes([0x88, len(payload)]) + payload)
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass

    def close(self):
        self.sock.close()


class ClientTerminalTest(unittest.TestCase):
    def test_close_reason_is_escaped_on_stderr(self):
        server = ClosingServer(("x\n" + FORGED + "\x1b]0;pwned\x07").encode())
        self.addCleanup(server.close)
        proc = subprocess.run([server_binary(), "connect", f"ws://{LOOPBACK}:{server.port}/"],
                              input="", capture_output=True, text=True, timeout=30)
        self.assertNotIn("\x1b", proc.stderr)
        self.assertNotIn("\x07", proc.stderr)
        closed = [l for l in proc.stderr.splitlines() if l.startswith("closed:")]
        self.assertEqual(len(closed), 1, proc.stderr)
        self.assertIn("x\\n" + FORGED + "\\x1b]0;pwned\\x07", closed[0])
        self.assertFalse(any(l.startswith("2026-") for l in proc.stderr.splitlines()),
                         proc.stderr)


if __name__ == "__main__":
    main()
