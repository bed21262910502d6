"""Shared helpers for Sockeye's end-to-end tests.

Runs the real ``sockeye serve`` binary (path from $SOCKEYE_BIN) on a free loopback port
and talks to it with hand-made sockets: a raw WebSocket client that builds every frame
by hand (for malformed input and for streaming very large payloads) and a small HTTP/1.1
client. Everything is loopback only and every blocking call has a timeout.

Run with Debian's Python (/usr/bin/python3), which has ``websockets`` 10.4.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

LOOPBACK = "127.0.0.1"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

MiB = 1 << 20
GiB = 1 << 30

LISTEN_RE = re.compile(r"^listening on (?P<scheme>https?)://(?P<host>[^\s]+):(?P<port>\d+)$")


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------

def server_binary() -> str:
    path = os.environ.get("SOCKEYE_BIN")
    if not path:
        raise unittest.SkipTest("SOCKEYE_BIN is not set (run through CTest)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"SOCKEYE_BIN={path!r} is not an executable file")
    return path


def raise_nofile_limit(wanted: int = 8192) -> int:
    """Raises RLIMIT_NOFILE for this process (and so for servers it starts later)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class SockeyeServer:
    """One ``sockeye serve`` process on port 0. Use as a context manager or call stop()."""

    def __init__(self, *flags: str, root: str | None = None, start_timeout: float = 15.0,
                 cwd: str | None = None):
        self.flags = [str(f) for f in flags]
        self.root = root if root is not None else os.environ.get("SOCKEYE_WEB_ROOT")
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.host = LOOPBACK
        self.port = 0
        self.tls = False
        self.returncode: int | None = None
        self.expected_exit = False  # set by tests that end the server themselves
        self._tmp = tempfile.TemporaryDirectory(prefix="sockeye-it-")
        self.stdout_path = os.path.join(self._tmp.name, "stdout.txt")
        self.stderr_path = os.path.join(self._tmp.name, "stderr.txt")
        self.cwd = cwd or self._tmp.name

    # -- lifecycle ----------------------------------------------------------------------
    def argv(self) -> list[str]:
        argv = [server_binary(), "serve", "--host", LOOPBACK, "--port", "0"]
        if self.root and "--root" not in self.flags:
            argv += ["--root", self.root]
        # SOCKEYE_EXTRA_FLAGS runs the whole suite in another mode (e.g. "--threads 2").
        return argv + os.environ.get("SOCKEYE_EXTRA_FLAGS", "").split() + self.flags

    def start(self) -> "SockeyeServer":
        argv = self.argv()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=self.cwd)
        deadline = time.monotonic() + self.start_timeout
        while True:
            line = self._first_stdout_line()
            if line is not None:
                m = LISTEN_RE.match(line)
                if not m:
                    self.kill()
                    raise AssertionError(
                        f"server's first stdout line is {line!r}, expected "
                        f"'listening on http://HOST:PORT'\n{self.describe()}")
                self.host, self.port = m.group("host"), int(m.group("port"))
                self.tls = m.group("scheme") == "https"
                if not 0 < self.port < 65536:
                    self.kill()
                    raise AssertionError(f"bad port in {line!r}")
                return self
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.returncode = rc
                raise AssertionError(
                    f"server exited with {rc} before listening: {' '.join(argv)}\n"
                    f"{self.describe()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f"server printed no 'listening on' line within {self.start_timeout}s: "
                    f"{' '.join(argv)}\n{self.describe()}")
            time.sleep(0.01)

    def _first_stdout_line(self) -> str | None:
        try:
            with open(self.stdout_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        if b"\n" not in data:
            return None
        return data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Waits for exit; returns the exit code, or None if still running."""
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def stop(self, timeout: float = 15.0) -> tuple[int | None, str]:
        """SIGTERM, then wait. Returns (exit code, problem description or '')."""
        if self.proc is None:
            return None, "server never started"
        if self.proc.poll() is not None:
            return self.proc.returncode, ""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            return self.proc.returncode, f"server did not exit within {timeout}s of SIGTERM"
        return rc, ""

    def cleanup(self) -> None:
        self.kill()
        self._tmp.cleanup()

    def __enter__(self) -> "SockeyeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- observation --------------------------------------------------------------------
    def stderr_text(self, limit: int = 6000) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return ""
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...\n" + text[-limit:]

    def describe(self) -> str:
        return f"--- server stderr (tail) ---\n{self.stderr_text()}\n---"

    def proc_status(self) -> dict[str, int]:
        """VmRSS/VmHWM/... from /proc/PID/status, in KiB."""
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key.startswith("Vm"):
                    out[key] = int(rest.split()[0])
        return out

    def peak_rss_kib(self) -> int:
        return self.proc_status()["VmHWM"]

    def rss_kib(self) -> int:
        return self.proc_status()["VmRSS"]

    def url(self, path: str = "/") -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}{path}"


class RssSampler:
    """Samples the server's VmRSS in the background; peak() also consults VmHWM."""

    def __init__(self, server: SockeyeServer, interval: float = 0.05):
        self.server = server
        self.interval = interval
        self.max_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.max_rss_kib = max(self.max_rss_kib, self.server.rss_kib())
            except (OSError, KeyError, ValueError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ServerTestCase(unittest.TestCase):
    """Starts a fresh server for every test (flags from ``server_flags``) and always stops
    it afterwards. On teardown the server gets SIGTERM and must exit 0 (this also
    catches sanitizer reports and crashes)."""

    server_flags: tuple[str, ...] = ()
    server_root: str | None = None
    stop_timeout = 15.0

    def setUp(self) -> None:
        self._sockets: list[socket.socket] = []
        self.server = self.start_server(*self.server_flags, root=self.server_root)

    def start_server(self, *flags: str, root: str | None = None) -> SockeyeServer:
        server = SockeyeServer(*flags, root=root)
        try:
            server.start()
        except BaseException:
            server.cleanup()
            raise
        self.addCleanup(self._finish_server, server)
        return server

    def _finish_server(self, server: SockeyeServer) -> None:
        # Client sockets go first so a graceful shutdown does not wait for them.
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
        self._sockets.clear()
        try:
            if server.returncode is not None or (server.proc and server.proc.poll() is not None):
                rc, problem = server.proc.returncode, ""
                if not server.expected_exit:
                    problem = f"server died during the test with exit code {rc}"
            else:
                rc, problem = server.stop(self.stop_timeout)
                if not problem and rc != 0:
                    problem = f"server exited with code {rc} after SIGTERM (expected 0)"
            if problem:
                self.fail(f"{problem}\n{server.describe()}")
        finally:
            server.cleanup()

    def track(self, sock: socket.socket) -> socket.socket:
        self._sockets.append(sock)
        return sock

    # Conveniences bound to this test's server.
    def raw_ws(self, path: str = "/", timeout: float = 10.0, **kw) -> "RawWebSocket":
        ws = RawWebSocket.connect(self.server.port, path=path, timeout=timeout, **kw)
        self.track(ws.sock)
        return ws

    def http(self, timeout: float = 10.0) -> "HttpConnection":
        conn = HttpConnection(self.server.port, timeout=timeout)
        self.track(conn.sock)
        return conn


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------

def mask_bytes(data: bytes, key: bytes) -> bytes:
    if not data or key == b"\0\0\0\0":
        return bytes(data)
    n = len(data)
    reps = key * (n // 4) + key[: n % 4]
    return (int.from_bytes(data, "little") ^ int.from_bytes(reps, "little")).to_bytes(n, "little")


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv: int = 0,
                 mask_key: bytes | None = b"\x37\xfa\x21\x3d") -> bytes:
    b0 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask_key is not None else 0
    if length < 126:
        head = struct.pack("!BB", b0, mbit | length)
    elif length < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, length)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, length)
    return head + (mask_key if mask_key is not None else b"")


def build_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                mask: bool = True, mask_key: bytes | None = None) -> bytes:
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return frame_header(opcode, len(payload), fin=fin, rsv=rsv, mask_key=key) + \
            mask_bytes(payload, key)
    return frame_header(opcode, len(payload), fin=fin, rsv=rsv, mask_key=None) + payload


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


Frame = collections.namedtuple("Frame", "fin rsv opcode payload")


class ConnectionClosedByPeer(Exception):
    """The server closed TCP (EOF or reset) while a frame was expected."""


# --------------------------------------------------------------------------------------
# Raw WebSocket client
# --------------------------------------------------------------------------------------

class HandshakeFailed(AssertionError):
    def __init__(self, status: int, head: bytes):
        super().__init__(f"handshake failed: status {status}: {head[:400]!r}")
        self.status = status
        self.head = head


class RawWebSocket:
    """A WebSocket client over a plain socket; every byte on the wire is chosen here."""

    def __init__(self, sock: socket.socket, pending: bytes = b""):
        self.sock = sock
        self.pending = bytearray(pending)
        self.response_head = b""
        self.response_headers: dict[str, str] = {}

    @classmethod
    def connect(cls, port: int, path: str = "/", *, timeout: float = 10.0,
                extra_headers: list[tuple[str, str]] | None = None,
                subprotocols: list[str] | None = None,
                key: bytes | None = None, ssl_context=None,
                server_hostname: str = "localhost") -> "RawWebSocket":
        sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        sock.settimeout(timeout)
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
            except BaseException:
                sock.close()
                raise
        ws = cls(sock)
        try:
            ws._handshake(port, path, extra_headers or [], subprotocols, key)
        except BaseException:
            sock.close()
            raise
        return ws

    def _handshake(self, port, path, extra_headers, subprotocols, key) -> None:
        key = key or base64.b64encode(os.urandom(16))
        lines = [f"GET {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}",
                 "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13"]
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
        lines += [f"{k}: {v}" for k, v in extra_headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = bytearray()
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HandshakeFailed(0, bytes(head))
            head += chunk
            if len(head) > 65536:
                raise AssertionError("handshake response head too large")
        head, _, rest = bytes(head).partition(b"\r\n\r\n")
        self.response_head = head
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for hl in header_lines:
            k, _, v = hl.partition(":")
            headers[k.strip().lower()] = v.strip()
        self.response_headers = headers
        if status != 101:
            raise HandshakeFailed(status, head)
        expected = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise AssertionError(f"bad Sec-WebSocket-Accept in {head!r}, expected {expected}")
        self.pending += rest

    # -- sending ------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **kw) -> None:
        self.sock.sendall(build_frame(opcode, payload, **kw))

    def send_text(self, text: str | bytes, **kw) -> None:
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_binary(self, data: bytes, **kw) -> None:
        self.send_frame(OP_BINARY, data, **kw)

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # -- receiving ----------------------------------------------------------------------
    def _recv_some(self, n: int = 65536) -> bytes:
        try:
            data = self.sock.recv(n)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosedByPeer(f"connection reset: {e}") from e
        if not data:
            raise ConnectionClosedByPeer("EOF")
        return data

    def read_exact(self, n: int) -> bytes:
        while len(self.pending) < n:
            self.pending += self._recv_some(max(65536, n - len(self.pending)))
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out

    def recv_frame_header(self) -> tuple[bool, int, int, int, bytes | None]:
        b0, b1 = self.read_exact(2)
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        masked, length = bool(b1 & 0x80), b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        key = self.read_exact(4) if masked else None
        return fin, rsv, opcode, length, key

    def recv_frame(self) -> Frame:
        fin, rsv, opcode, length, key = self.recv_frame_header()
        if key is not None:
            raise AssertionError("server sent a masked frame")
        if length > 256 * MiB:
            raise AssertionError(f"frame of {length} bytes is too big for recv_frame")
        return Frame(fin, rsv, opcode, self.read_exact(length))

    def recv_message(self, *, answer_pings: bool = True,
                     controls: list | None = None) -> tuple[int, bytes]:
        """Next data message (reassembled). Control frames met on the way are appended to
        ``controls``; pings are answered. A close frame raises AssertionError."""
        opcode, parts = None, []
        while True:
            f = self.recv_frame()
            if f.rsv:
                raise AssertionError(f"server set RSV bits {f.rsv}")
            if f.opcode >= 0x8:
                if controls is not None:
                    controls.append(f)
                if f.opcode == OP_PING and answer_pings:
                    self.send_frame(OP_PONG, f.payload)
                elif f.opcode == OP_CLOSE:
                    raise AssertionError(f"unexpected close frame {parse_close(f.payload)}")
                continue
            if opcode is None:
                if f.opcode not in (OP_TEXT, OP_BINARY):
                    raise AssertionError(f"message starts with opcode {f.opcode}")
                opcode = f.opcode
            elif f.opcode != OP_CONT:
                raise AssertionError(f"opcode {f.opcode} inside a fragmented message")
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def expect_close(self, timeout: float = 5.0) -> tuple[int | None, bytes, list]:
        """Reads frames (skipping data and pings) until a close frame arrives.
        Returns (code or None, reason, frames skipped)."""
        skipped = []
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                try:
                    f = self.recv_frame()
                except ConnectionClosedByPeer as e:
                    raise AssertionError(f"server closed TCP without a close frame ({e}); "
                                         f"frames before: {summarize(skipped)}") from None
                except socket.timeout:
                    raise AssertionError(f"no close frame within {timeout}s; frames before: "
                                         f"{summarize(skipped)}") from None
                if f.opcode == OP_CLOSE:
                    if not f.fin:
                        raise AssertionError("server sent a fragmented close frame")
                    code, reason = parse_close(f.payload)
                    return code, reason, skipped
                skipped.append(f)
        finally:
            self.sock.settimeout(old)

    def wait_tcp_closed(self, timeout: float = 5.0, allow_reset: bool = False) -> str:
        """Expects the server to close TCP: returns 'eof' or 'reset'. Data bytes arriving
        first are an error (nothing may follow a close frame)."""
        deadline = time.monotonic() + timeout
        if self.pending:
            raise AssertionError(f"bytes after the close frame: {bytes(self.pending)[:60]!r}")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server did not close TCP within {timeout}s")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"server did not close TCP within {timeout}s") from None
            except ConnectionResetError:
                if allow_reset:
                    return "reset"
                raise AssertionError("server reset the connection instead of closing it")
            if not data:
                return "eof"
            raise AssertionError(f"bytes after the close frame: {data[:60]!r}")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def parse_close(payload: bytes) -> tuple[int | None, bytes]:
    if not payload:
        return None, b""
    if len(payload) == 1:
        raise AssertionError("server sent a 1-byte close payload")
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def summarize(frames) -> str:
    return "[" + ", ".join(f"op={f.opcode} fin={int(f.fin)} len={len(f.payload)}"
                           for f in frames[:10]) + ("...]" if len(frames) > 10 else "]")


# --------------------------------------------------------------------------------------
# Streaming big messages (no Python-side masking, constant memory)
# --------------------------------------------------------------------------------------

class PatternSource:
    """Deterministic pseudo-random bytes produced in distinct 1 MiB-ish slices of one
    random pool, so that chunks differ from each other without generating fresh data."""

    def __init__(self, seed: int = 1234, chunk: int = MiB):
        import random
        rnd = random.Random(seed)
        self.chunk = chunk
        self.pool = memoryview(rnd.randbytes(chunk + 65536))

    def chunks(self, total: int, chunk: int | None = None):
        chunk = chunk or self.chunk
        i, sent = 0, 0
        while sent < total:
            n = min(chunk, total - sent)
            off = (i * 4099) % 65536
            yield self.pool[off: off + n]
            sent += n
            i += 1

    def sha256(self, total: int, chunk: int | None = None) -> str:
        h = hashlib.sha256()
        for c in self.chunks(total, chunk):
            h.update(c)
        return h.hexdigest()


class StreamSender(threading.Thread):
    """Sends one binary message of ``total`` bytes with an all-zero masking key, either
    as a single frame or as fragments of ``fragment`` bytes; hashes what it sends."""

    def __init__(self, ws: RawWebSocket, source: PatternSource, total: int,
                 fragment: int | None = None):
        super().__init__(daemon=True)
        self.ws, self.source, self.total, self.fragment = ws, source, total, fragment
        self.sent = 0
        self.hash = hashlib.sha256()
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        zero = b"\0\0\0\0"
        sock = self.ws.sock
        try:
            if self.fragment is None:
                sock.sendall(frame_header(OP_BINARY, self.total, mask_key=zero))
                for c in self.source.chunks(self.total):
                    sock.sendall(c)
                    self.hash.update(c)
                    self.sent += len(c)
            else:
                first = True
                for c in self.source.chunks(self.total, self.fragment):
                    last = self.sent + len(c) >= self.total
                    sock.sendall(frame_header(OP_BINARY if first else OP_CONT, len(c),
                                              fin=last, mask_key=zero))
                    sock.sendall(c)
                    self.hash.update(c)
                    self.sent += len(c)
                    first = False
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.done.set()


def receive_stream(ws: RawWebSocket, expected_total: int, *, expected_opcode: int = OP_BINARY,
                   bufsize: int = 4 * MiB, progress=None) -> dict:
    """Receives one (possibly fragmented) data message of unknown framing, hashing the
    payload as it streams. Pings are answered. Returns stats."""
    h = hashlib.sha256()
    buf = bytearray(bufsize)
    mv = memoryview(buf)
    total, frames, opcode = 0, 0, None
    while True:
        fin, rsv, op, length, key = ws.recv_frame_header()
        if key is not None:
            raise AssertionError("server sent a masked frame")
        if rsv:
            raise AssertionError(f"server set RSV bits {rsv}")
        if op >= 0x8:
            payload = ws.read_exact(length)
            if op == OP_PING:
                ws.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            raise AssertionError(f"close frame {parse_close(payload)} after {total} bytes")
        if opcode is None:
            if op != expected_opcode:
                raise AssertionError(f"echo starts with opcode {op}, expected {expected_opcode}")
            opcode = op
        elif op != OP_CONT:
            raise AssertionError(f"opcode {op} inside the echoed message after {total} bytes")
        frames += 1
        if total + length > expected_total:
            raise AssertionError(f"echo longer than sent: {total + length} > {expected_total}")
        remaining = length
        if ws.pending:
            take = min(len(ws.pending), remaining)
            h.update(bytes(ws.pending[:take]))
            del ws.pending[:take]
            remaining -= take
            total += take
        while remaining:
            try:
                n = ws.sock.recv_into(mv, min(bufsize, remaining))
            except ConnectionResetError as e:
                raise AssertionError(f"connection reset after {total} bytes") from e
            if n == 0:
                raise AssertionError(f"EOF after {total} of {expected_total} bytes")
            h.update(mv[:n])
            remaining -= n
            total += n
            if progress is not None:
                progress(total)
        if fin:
            break
    return {"sha256": h.hexdigest(), "bytes": total, "frames": frames}


# --------------------------------------------------------------------------------------
# HTTP/1.1 over a raw socket
# --------------------------------------------------------------------------------------

class HttpResponse:
    def __init__(self, version: str, status: int, reason: str, headers: list, body: bytes,
                 head: bytes):
        self.version, self.status, self.reason = version, status, reason
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body, self.head = body, head

    def header(self, name: str, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self) -> str:
        return f"<HTTP {self.status} {self.reason} {self.headers} body={self.body[:80]!r}>"


class HttpConnection:
    def __init__(self, port: int, timeout: float = 10.0):
        self.port = port
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)

    def request(self, method: str, path: str, headers: list | None = None,
                body: bytes = b"", version: str = "HTTP/1.1", read: bool = True):
        lines = [f"{method} {path} {version}", f"Host: {LOOPBACK}:{self.port}"]
        for k, v in headers or []:
            lines.append(f"{k}: {v}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if read:
            return self.read_response(head_request=(method == "HEAD"))
        return None

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def read_response(self, head_request: bool = False) -> HttpResponse:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionClosedByPeer(
                    f"connection closed before a complete response head: {bytes(self.buf)[:200]!r}")
        idx = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:idx])
        del self.buf[: idx + 4]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, *reason = status_line.split(" ", 2)
        headers = []
        for line in lines:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        hmap = {k.lower(): v for k, v in headers}
        status = int(status)
        body = b""
        if head_request or status in (101, 204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in hmap.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in hmap:
            n = int(hmap["content-length"])
            while len(self.buf) < n:
                if not self._fill():
                    raise ConnectionClosedByPeer(f"body truncated at {len(self.buf)} of {n}")
            body = bytes(self.buf[:n])
            del self.buf[:n]
        else:  # delimited by close
            while self._fill():
                pass
            body = bytes(self.buf)
            self.buf.clear()
        return HttpResponse(version, status, reason[0] if reason else "", headers, body, head)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill():
                    raise ConnectionClosedByPeer("chunked body truncated")
            idx = self.buf.index(b"\r\n")
            size = int(bytes(self.buf[:idx]).split(b";")[0], 16)
            del self.buf[: idx + 2]
            while len(self.buf) < size + 2:
                if not self._fill():
                    raise ConnectionClosedByPeer("chunked body truncated")
            out += self.buf[:size]
            del self.buf[: size + 2]
            if size == 0:
                return bytes(out)

    def is_closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True if the server closes the connection within ``timeout`` (and sends nothing)."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if data:
            self.buf += data
            return False
        return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def http_get(port: int, path: str, method: str = "GET", headers: list | None = None,
             timeout: float = 10.0) -> HttpResponse:
    conn = HttpConnection(port, timeout=timeout)
    try:
        return conn.request(method, path, headers=(headers or []) + [("Connection", "close")])
    finally:
        conn.close()


PROM_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)(\s+-?\d+)?$')


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition → {'name{labels}': value}. Raises on malformed lines."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = PROM_LINE.match(line)
        if not m:
            raise AssertionError(f"malformed metrics line: {line!r}")
        out[m.group("name") + (m.group("labels") or "")] = float(m.group("value"))
    return out


def metric_sum(metrics: dict[str, float], name: str) -> float | None:
    vals = [v for k, v in metrics.items() if k == name or k.startswith(name + "{")]
    return sum(vals) if vals else None


def fetch_metrics(port: int) -> dict[str, float]:
    r = http_get(port, "/metrics")
    if r.status != 200:
        raise AssertionError(f"/metrics answered {r.status}")
    return parse_metrics(r.body.decode("utf-8"))


def wait_until(pred, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def random_text(n: int, seed: int = 7) -> str:
    """ASCII text of exactly n bytes."""
    import random
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_"
    if n <= 1 << 16:
        return "".join(rnd.choices(alphabet, k=n))
    block = "".join(rnd.choices(alphabet, k=65521))
    reps = n // len(block) + 1
    return (block * reps)[:n]


def random_bytes(n: int, seed: int = 11) -> bytes:
    import random
    return random.Random(seed).randbytes(n)


def main() -> None:
    unittest.main(verbosity=2)


def receive_binary(ws: RawWebSocket, total: int, bufsize: int = 4 * MiB,
                   exact: bool = True) -> dict:
    """Reads binary messages (any framing: a bridge sends what it reads as it comes) until
    `total` payload bytes have come — exactly, unless `exact` is false — hashing them as
    they stream; pings are answered. Returns sha256, bytes, messages, largest message."""
    h = hashlib.sha256()
    buf = bytearray(bufsize)
    mv = memoryview(buf)
    got, messages, largest, in_message = 0, 0, 0, 0
    while got < total:
        fin, rsv, op, length, key = ws.recv_frame_header()
        if key is not None or rsv:
            raise AssertionError("masked frame or RSV bits from the server")
        if op >= 0x8:
            payload = ws.read_exact(length)
            if op == OP_PING:
                ws.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            raise AssertionError(f"close {parse_close(payload)} after {got} of {total} bytes")
        if op not in (OP_BINARY, 0):
            raise AssertionError(f"opcode {op} after {got} bytes: expected binary")
        if exact and got + length > total:
            raise AssertionError(f"more than was sent: {got + length} > {total}")
        remaining = length
        if ws.pending:
            take = min(len(ws.pending), remaining)
            h.update(bytes(ws.pending[:take]))
            del ws.pending[:take]
            remaining -= take
            got += take
        while remaining:
            n = ws.sock.recv_into(mv, min(bufsize, remaining))
            if n == 0:
                raise AssertionError(f"EOF after {got} of {total} bytes")
            h.update(mv[:n])
            remaining -= n
            got += n
        in_message += length
        if fin:
            messages += 1
            largest = max(largest, in_message)
            in_message = 0
    if exact and got != total:
        raise AssertionError(f"received {got} bytes, sent {total}")
    return {"sha256": h.hexdigest(), "bytes": got, "messages": messages, "largest": largest}
