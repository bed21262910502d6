"""Hardening: hostile clients, faults and limits, each against a real `sockeye serve`.

Slowloris beside normal echo clients, a ping flood, a million one-byte fragments, frame
lengths near 2^63, oversized and malformed handshakes (and request-smuggling shapes),
half-close and vanishing peers, peers that stop reading, SIGINT with 1,000 clients,
SIGHUP under TLS load, TLS garbage, --max-connections, and file-descriptor leak checks.

Everything talks to 127.0.0.1 only, with bounded counts and timeouts. Tests for flags the
server does not have yet skip with a message naming the flag.
"""

import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import websockets

from sockeye_harness import (LOOPBACK, MiB, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                             OP_TEXT, ConnectionClosedByPeer, RawWebSocket, RssSampler,
                             ServerTestCase, build_frame, fetch_metrics, frame_header, main,
                             metric_sum, parse_close, raise_nofile_limit, receive_stream,
                             server_binary, wait_until)

_HELP_CACHE: dict[str, str] = {}


def serve_help() -> str:
    """`sockeye serve --help`, to find out which flags this build has."""
    path = server_binary()
    if path not in _HELP_CACHE:
        p = subprocess.run([path, "serve", "--help"], capture_output=True, text=True,
                           timeout=30)
        _HELP_CACHE[path] = p.stdout + p.stderr
    return _HELP_CACHE[path]


def require_flag(flag: str) -> None:
    if flag not in serve_help():
        raise unittest.SkipTest(f"this sockeye build has no {flag} flag yet")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def ws_open(port: int) -> float:
    return metric_sum(fetch_metrics(port), "sockeye_connections_open") or 0.0


def tcp_open(port: int) -> float:
    """WebSocket + not-yet-upgraded connections, minus the /metrics request itself."""
    m = fetch_metrics(port)
    return ((metric_sum(m, "sockeye_connections_open") or 0.0) +
            (metric_sum(m, "sockeye_http_connections_open") or 0.0) - 1)


def upgrade_request(port: int, extra: bytes = b"", path: bytes = b"/") -> bytes:
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    return (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:" + str(port).encode() +
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
            b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n")


def send_and_read_status(port: int, data: bytes, timeout: float = 10.0):
    """Sends ``data`` (the server may cut us off part-way) and reads the answer.
    Returns (status or None, closed): status of the first response line, closed = the
    server closed the connection within ``timeout`` afterwards."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        closed = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            if buf.startswith(b"HTTP/1.1 101"):
                break
        status = None
        if buf.startswith(b"HTTP/1.1 "):
            status = int(buf[9:12])
        return status, closed, buf
    finally:
        s.close()


class HardeningCase(ServerTestCase):
    """ServerTestCase plus leak checks: open fds of the server come back to what they were
    right after start."""

    def setUp(self):
        super().setUp()
        self.fd_baseline = fd_count(self.server.pid)

    def assert_fds_back(self, timeout: float = 10.0, slack: int = 0):
        ok = wait_until(lambda: fd_count(self.server.pid) <= self.fd_baseline + slack, timeout)
        self.assertTrue(ok, f"server holds {fd_count(self.server.pid)} fds, baseline "
                            f"{self.fd_baseline} (fd leak?)\n"
                            f"{sorted(os.listdir(f'/proc/{self.server.pid}/fd'))[:50]}")

    def assert_echoes(self, text: str = "still alive"):
        ws = self.raw_ws()
        ws.send_text(text)
        self.assertEqual(ws.recv_message(), (OP_TEXT, text.encode()))
        ws.send_close(1000)
        self.assertEqual(ws.expect_close()[0], 1000)
        ws.close()


# --------------------------------------------------------------------------------------
# Slowloris
# --------------------------------------------------------------------------------------

SLOWLORIS_CHILD = r"""
import json, resource, selectors, socket, sys, time
port, n, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
head = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"X-Slow: " + b"s" * 4000 + b"\r\n\r\n")
sel = selectors.DefaultSelector()
socks, opened, pos, closed = [], {}, {}, {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    opened[s] = time.monotonic()
    pos[s] = 0
    socks.append(s)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
start = time.monotonic()
next_send = start
sent = 0
while len(closed) < n and time.monotonic() - start < limit:
    now = time.monotonic()
    if now >= next_send:
        for s in socks:
            if s in closed:
                continue
            try:
                s.send(head[pos[s]:pos[s] + 1])
                pos[s] += 1
                sent += 1
            except BlockingIOError:
                pass
            except OSError:
                closed[s] = time.monotonic() - opened[s]
                sel.unregister(s)
        next_send += 0.25
    for key, _ in sel.select(timeout=0.02):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:  # a 408 before the close is fine: keep reading until EOF
            closed[s] = time.monotonic() - opened[s]
            sel.unregister(s)
lat = sorted(closed.values())
print(json.dumps({"n": n, "closed": len(closed), "bytes_sent": sent,
                  "max_close_s": lat[-1] if lat else None,
                  "min_close_s": lat[0] if lat else None}), flush=True)
for s in socks:
    s.close()
"""


def echo_latencies(clients, duration: float) -> list:
    """Round-robin echo of a small text over ``clients`` for ``duration`` s: RTTs in ms."""
    out = []
    t_end = time.monotonic() + duration
    i = 0
    while time.monotonic() < t_end:
        ws = clients[i % len(clients)]
        msg = f"ping {i}".encode()
        t0 = time.perf_counter()
        ws.send_text(msg)
        got = ws.recv_message()
        out.append((time.perf_counter() - t0) * 1000)
        if got != (OP_TEXT, msg):
            raise AssertionError(f"wrong echo {got!r}")
        i += 1
        time.sleep(0.002)
    return out


class SlowlorisTest(HardeningCase):
    HANDSHAKE_TIMEOUT = 3
    N_SLOW = 500
    server_flags = ("--handshake-timeout", str(HANDSHAKE_TIMEOUT), "--ping-interval", "0")

    @classmethod
    def setUpClass(cls):
        raise_nofile_limit(8192)

    def test_500_trickling_clients_do_not_slow_echo(self):
        clients = [self.raw_ws() for _ in range(5)]
        echo_latencies(clients, 0.3)  # warm up
        base = echo_latencies(clients, 2.0)
        child = subprocess.Popen(
            [sys.executable, "-c", SLOWLORIS_CHILD, str(self.server.port), str(self.N_SLOW),
             str(self.HANDSHAKE_TIMEOUT + 8)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: child.poll() is None and child.kill())
        ready = child.stdout.readline().strip()
        self.assertEqual(ready, "ready", child.stderr.read() if not ready else ready)
        slow_open = tcp_open(self.server.port)
        during = echo_latencies(clients, 2.0)  # within the handshake timeout
        out, err = child.communicate(timeout=self.HANDSHAKE_TIMEOUT + 20)
        res = json.loads(out.strip().splitlines()[-1])
        p50_base, p50_during = statistics.median(base), statistics.median(during)
        p99_during = sorted(during)[int(len(during) * 0.99)]
        print(f"\nslowloris: {self.N_SLOW} trickling, {slow_open:.0f} open on the server; "
              f"echo p50 {p50_base:.3f} ms -> {p50_during:.3f} ms (p99 {p99_during:.3f} ms, "
              f"{len(during)} echoes); trickling closed after {res['min_close_s']:.2f}.."
              f"{res['max_close_s']:.2f} s")
        self.assertGreaterEqual(slow_open, self.N_SLOW, "trickling clients were not all open")
        self.assertEqual(res["closed"], self.N_SLOW,
                         f"{self.N_SLOW - res['closed']} trickling sockets still open "
                         f"after {self.HANDSHAKE_TIMEOUT + 8}s")
        self.assertLess(res["max_close_s"], self.HANDSHAKE_TIMEOUT + 2)
        self.assertGreater(res["min_close_s"], self.HANDSHAKE_TIMEOUT - 0.5)
        # Latency unchanged: within 3x of the quiet run (1 ms floor for loopback jitter),
        # and under 50 ms absolute.
        self.assertLess(p50_during, max(3 * p50_base, 1.0))
        self.assertLess(p50_during, 50.0)
        for ws in clients:
            ws.send_text("after")
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"after"))
            ws.close()
        self.assertTrue(wait_until(lambda: tcp_open(self.server.port) <= 0, 10))
        self.assert_fds_back()


# --------------------------------------------------------------------------------------
# Ping flood
# --------------------------------------------------------------------------------------

class PingFloodTest(HardeningCase):
    N_PINGS = 200_000
    server_flags = ("--ping-interval", "0")

    def test_200k_pings_unread_then_read(self):
        ws = self.raw_ws(timeout=60)
        batch = [struct.pack("!I", i) + b"p" * 121 for i in range(1000)]  # 125-byte payloads
        blob = b"".join(build_frame(OP_PING, p) for p in batch)
        sent = [0]
        err = []

        def sender():
            try:
                for _ in range(self.N_PINGS // len(batch)):
                    ws.sock.sendall(blob)
                    sent[0] += len(batch)
            except BaseException as e:  # reported below
                err.append(e)

        t = threading.Thread(target=sender, daemon=True)
        with RssSampler(self.server) as rss:
            t.start()
            # Don't read: wait until the sender is done or stalled (backpressure).
            last, stalled_since = -1, time.monotonic()
            while t.is_alive():
                if sent[0] != last:
                    last, stalled_since = sent[0], time.monotonic()
                elif time.monotonic() - stalled_since > 2.0:
                    break
                time.sleep(0.1)
            unread_peak = rss.max_rss_kib
            sent_before_reading = sent[0]
            # Now read every pong (or a close).
            pongs, closed, bad = 0, None, 0
            ws.sock.settimeout(30)
            deadline = time.monotonic() + 90
            try:
                while pongs < self.N_PINGS and time.monotonic() < deadline:
                    f = ws.recv_frame()
                    if f.opcode == OP_PONG:
                        if f.payload != batch[pongs % 1000] and f.payload not in batch:
                            bad += 1
                        pongs += 1
                    elif f.opcode == OP_CLOSE:
                        closed = parse_close(f.payload)
                        break
                    else:
                        self.fail(f"unexpected opcode {f.opcode} in the pong stream")
            except (ConnectionClosedByPeer, socket.timeout) as e:
                closed = ("tcp", str(e))
            t.join(60)
        print(f"\nping flood: {sent_before_reading} pings sent before reading "
              f"(sender {'stalled' if sent_before_reading < self.N_PINGS else 'done'}), "
              f"peak RSS unread {unread_peak / 1024:.1f} MiB, overall "
              f"{rss.max_rss_kib / 1024:.1f} MiB; {pongs} pongs read; close {closed}")
        self.assertLess(unread_peak, 64 * 1024, "server RSS over 64 MiB while pongs pile up")
        self.assertLess(rss.max_rss_kib, 64 * 1024)
        self.assertEqual(bad, 0, "pongs with payloads that were never pinged")
        if closed is None:
            self.assertEqual(pongs, self.N_PINGS)
            self.assertFalse(err, err)
            ws.send_close(1000)
            self.assertEqual(ws.expect_close(10)[0], 1000)
        ws.close()
        self.assertTrue(self.server.alive())
        self.assert_echoes()
        self.assert_fds_back()


# --------------------------------------------------------------------------------------
# A million one-byte fragments
# --------------------------------------------------------------------------------------

def one_byte_fragments(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    """Every payload byte as its own masked frame (zero key), 7 bytes per frame."""
    n = len(payload)
    out = bytearray(7 * n)
    out[0::7] = bytes([OP_CONT]) * n
    out[1::7] = b"\x81" * n
    out[6::7] = payload
    out[0] = opcode
    out[7 * (n - 1)] |= 0x80
    return bytes(out)


class TinyFragmentsTest(HardeningCase):
    N = 1_000_000
    server_flags = ("--ping-interval", "0")

    def test_million_one_byte_fragments_echoed(self):
        payload = random.Random(5).randbytes(self.N)
        wire = one_byte_fragments(payload)
        ws = self.raw_ws(timeout=60)
        err = []

        def sender():
            try:
                for i in range(0, len(wire), 1 << 20):
                    ws.sock.sendall(wire[i:i + (1 << 20)])
            except BaseException as e:
                err.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t0 = time.monotonic()
        with RssSampler(self.server) as rss:
            t.start()
            stats = receive_stream(ws, self.N)
            t.join(60)
        took = time.monotonic() - t0
        print(f"\n1M one-byte fragments: echoed in {took:.1f}s as {stats['frames']} frames, "
              f"peak RSS {rss.max_rss_kib / 1024:.1f} MiB")
        self.assertFalse(err, err)
        self.assertEqual(stats["bytes"], self.N)
        self.assertEqual(stats["sha256"], hashlib.sha256(payload).hexdigest())
        self.assertLess(rss.max_rss_kib, 64 * 1024)
        ws.send_text("after")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"after"))
        ws.close()
        self.assert_fds_back()


class MaxFragmentsTest(HardeningCase):
    LIMIT = 1000

    def setUp(self):
        require_flag("--max-fragments")
        self.server_flags = ("--max-fragments", str(self.LIMIT), "--ping-interval", "0")
        super().setUp()

    def _close_code_for(self, n: int):
        ws = self.raw_ws(timeout=20)
        try:
            ws.send_raw(one_byte_fragments(b"x" * n))
        except (BrokenPipeError, ConnectionResetError):
            pass
        frames = 0
        while True:
            try:
                f = ws.recv_frame()
            except ConnectionClosedByPeer:
                return "tcp", frames
            if f.opcode == OP_CLOSE:
                return parse_close(f.payload)[0], frames
            frames += 1
            if f.fin and f.opcode in (OP_BINARY, OP_CONT):
                return "echoed", frames

    def test_at_limit_is_echoed(self):
        code, _ = self._close_code_for(self.LIMIT)
        self.assertEqual(code, "echoed")

    def test_over_limit_is_closed(self):
        code, frames = self._close_code_for(100_000)
        print(f"\n--max-fragments {self.LIMIT}: 100000 fragments -> close {code}")
        self.assertEqual(code, 1008, f"expected close 1008, got {code}")
        self.assert_echoes()

    def test_million_fragments_cut_off_early(self):
        with RssSampler(self.server) as rss:
            code, _ = self._close_code_for(1_000_000)
        self.assertEqual(code, 1008)
        self.assertLess(rss.max_rss_kib, 64 * 1024)


# --------------------------------------------------------------------------------------
# 64-bit lengths near 2^63
# --------------------------------------------------------------------------------------

HUGE_LENGTHS = ((1 << 63) - 1, 1 << 62)


class HugeLengthLimitedTest(HardeningCase):
    server_flags = ("--max-message", str(MiB))

    def test_huge_lengths_closed_with_1009(self):
        for length in HUGE_LENGTHS:
            with self.subTest(length=length):
                ws = self.raw_ws()
                ws.send_raw(frame_header(OP_BINARY, length) + b"abcd")
                code, reason, _ = ws.expect_close(5)
                self.assertEqual(code, 1009, reason)
                ws.send_close(1000)
                ws.wait_tcp_closed(5, allow_reset=True)
                ws.close()
        self.assert_echoes()
        self.assert_fds_back()


class HugeLengthUnlimitedTest(HardeningCase):
    server_flags = ("--ping-interval", "0")

    def test_huge_lengths_stream_until_client_leaves(self):
        for length in HUGE_LENGTHS:
            with self.subTest(length=length):
                ws = self.raw_ws()
                ws.send_raw(frame_header(OP_BINARY, length, mask_key=b"\0\0\0\0") +
                            b"z" * (256 << 10))
                # The echo streams: its header announces the same length (or the server
                # splits it), then the bytes we sent so far.
                fin, rsv, op, n, key = ws.recv_frame_header()
                self.assertEqual((op, key), (OP_BINARY, None))
                got = ws.read_exact(min(n, 256 << 10))
                self.assertEqual(set(got), {ord("z")})
                ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
                ws.close()  # RST mid-frame
        self.assertTrue(wait_until(lambda: ws_open(self.server.port) == 0, 10),
                        "connections left open after the clients left")
        self.assertTrue(self.server.alive())
        self.assert_echoes()
        self.assert_fds_back()


# --------------------------------------------------------------------------------------
# Oversized and malformed handshakes, request smuggling shapes
# --------------------------------------------------------------------------------------

class MalformedHandshakeTest(HardeningCase):
    server_flags = ("--ping-interval", "0")

    def check(self, data: bytes, statuses, *, must_close: bool = True):
        status, closed, buf = send_and_read_status(self.server.port, data)
        self.assertIn(status, statuses, f"answer {buf[:200]!r}")
        if must_close:
            self.assertTrue(closed, f"connection left open after {status}")
        return status

    def test_one_mib_header(self):
        big = b"X-Big: " + b"a" * MiB + b"\r\n"
        self.check(upgrade_request(self.server.port, big), (431,))

    def test_ten_thousand_headers(self):
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
        self.check(upgrade_request(self.server.port, many), (431,))

    def test_one_mib_request_line(self):
        self.check(b"GET /" + b"a" * MiB + b" HTTP/1.1\r\nHost: x\r\n\r\n", (414, 431, 400))

    def test_nul_in_header_value(self):
        self.check(upgrade_request(self.server.port, b"X-Nul: a\0b\r\n"), (400,))

    def test_nul_in_header_name(self):
        self.check(upgrade_request(self.server.port, b"X-N\0ul: ab\r\n"), (400,))

    def test_nul_in_request_target(self):
        self.check(upgrade_request(self.server.port, path=b"/a\0b"), (400,))

    def test_non_ascii_header_name(self):
        self.check(upgrade_request(self.server.port, "X-Ünï: v\r\n".encode()), (400,))

    def test_non_ascii_header_value_is_obs_text(self):
        # RFC 9110 allows obs-text (0x80-0xFF) in field values: accepted, not a crash.
        status, _, _ = send_and_read_status(
            self.server.port, upgrade_request(self.server.port, "X-Name: Zoë\r\n".encode()),
            timeout=3)
        self.assertIn(status, (101, 400))

    def test_binary_garbage_request(self):
        self.check(bytes(range(256)) * 4 + b"\r\n\r\n", (400, None))

    def test_tls_client_hello_to_plain_port(self):
        self.check(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
                   (400, None))

    def test_bare_lf_and_missing_host(self):
        self.check(b"GET / HTTP/1.1\nUpgrade: websocket\n\n", (400, None))

    def test_smuggling_content_length_with_transfer_encoding(self):
        self.check(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", (400,))

    def test_smuggling_duplicate_content_length(self):
        self.check(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                   b"Content-Length: 5\r\n\r\nhello", (400,))

    def test_smuggling_obs_fold(self):
        self.check(b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n", (400,))

    def test_smuggling_obs_fold_in_upgrade(self):
        self.check(upgrade_request(self.server.port, b"X-Folded: a\r\n\tb\r\n"), (400,))

    def test_server_fine_after_everything(self):
        for data in (upgrade_request(self.server.port, b"X-Nul: \0\r\n"),
                     upgrade_request(self.server.port, b"X: " + b"b" * 100_000 + b"\r\n"),
                     os.urandom(4096)):
            send_and_read_status(self.server.port, data, timeout=3)
        self.assert_echoes()
        self.assertTrue(wait_until(lambda: tcp_open(self.server.port) <= 0, 10))
        self.assert_fds_back()


class TraversalEncodingsTest(HardeningCase):
    """Encodings test_http.StaticFilesTest does not try: double encoding, overlong UTF-8,
    absolute-form targets, mixed separators, and symlinks to files and directories
    outside the root (absolute and relative, nested)."""
    SECRET = b"hardening-secret-7f3a"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockeye-trav-")
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(os.path.join(cls.root, "a", "b"))
        with open(os.path.join(cls.root, "ok.txt"), "wb") as f:
            f.write(b"fine")
        with open(os.path.join(cls.tmp, "secret.txt"), "wb") as f:
            f.write(cls.SECRET)
        os.symlink("/etc/passwd", os.path.join(cls.root, "passwd"))
        os.symlink("../../../secret.txt", os.path.join(cls.root, "a", "b", "up.txt"))
        os.symlink(cls.tmp, os.path.join(cls.root, "a", "dir"))
        os.symlink("/etc", os.path.join(cls.root, "etc"))
        os.symlink(os.path.join(cls.root, "a", "dir"), os.path.join(cls.root, "chain"))
        cls.server_root = cls.root

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_nothing_outside_the_root_is_served(self):
        from sockeye_harness import http_get
        paths = ["/%252e%252e/secret.txt", "/%c0%ae%c0%ae/secret.txt",
                 "/%c0%af..%c0%afsecret.txt", "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt",
                 "/%2e./secret.txt", "/a/b/%2e%2e/%2e%2e/%2e%2e/secret.txt",
                 "/a/..%5c..%5csecret.txt", "/a%2f..%2f..%2fsecret.txt", "/%00/../secret.txt",
                 "/passwd", "/a/b/up.txt", "/a/dir/secret.txt", "/etc/passwd",
                 "/chain/secret.txt", "/chain/root/ok.txt/../../secret.txt",
                 "http://127.0.0.1/../secret.txt", "/a/b/..;/..;/..;/secret.txt",
                 "/" + "../" * 50 + "etc/passwd", "/." + "/." * 1000 + "/../secret.txt"]
        for path in paths:
            with self.subTest(path=path):
                r = http_get(self.server.port, path)
                self.assertNotIn(self.SECRET, r.body, f"{path} leaked the secret")
                self.assertNotIn(b"root:x:0:0", r.body, f"{path} leaked /etc/passwd")
                self.assertTrue(400 <= r.status < 500, f"{path} answered {r.status}")
        self.assertEqual(http_get(self.server.port, "/ok.txt").body, b"fine")
        self.assert_fds_back()


# --------------------------------------------------------------------------------------
# Half-close, vanishing peers, peers that stop reading
# --------------------------------------------------------------------------------------

def wait_eof(sock, timeout):
    """Reads until EOF/RST; returns (elapsed or None, bytes seen)."""
    t0 = time.monotonic()
    seen = b""
    sock.settimeout(timeout)
    try:
        while time.monotonic() - t0 < timeout:
            d = sock.recv(65536)
            if not d:
                return time.monotonic() - t0, seen
            seen += d
    except ConnectionResetError:
        return time.monotonic() - t0, seen
    except socket.timeout:
        pass
    return None, seen


class HalfCloseTest(HardeningCase):
    server_flags = ("--ping-interval", "0", "--close-timeout", "1")

    def _half_close(self, data: bytes):
        ws = self.raw_ws()
        ws.send_raw(data)
        ws.sock.shutdown(socket.SHUT_WR)
        elapsed, seen = wait_eof(ws.sock, 5)
        ws.close()
        self.assertIsNotNone(elapsed, "server kept the half-closed connection open for 5 s")
        self.assertLess(elapsed, 3)
        return seen

    def test_half_frame_then_fin(self):
        frame = build_frame(OP_BINARY, os.urandom(1000))
        self._half_close(frame[:500])
        self.assertTrue(wait_until(lambda: ws_open(self.server.port) == 0, 5))
        self.assertIn("why=", self.server.stderr_text(), "the drop was not logged")
        self.assert_fds_back()

    def test_half_header_then_fin(self):
        self._half_close(frame_header(OP_BINARY, 70_000)[:3])
        self.assertTrue(wait_until(lambda: ws_open(self.server.port) == 0, 5))
        self.assert_fds_back()

    def test_first_fragment_then_fin(self):
        self._half_close(build_frame(OP_TEXT, b"first half ", fin=False))
        self.assertTrue(wait_until(lambda: ws_open(self.server.port) == 0, 5))
        self.assert_fds_back()

    def test_many_half_closes_no_leak(self):
        for i in range(50):
            s = socket.create_connection((LOOPBACK, self.server.port), timeout=5)
            ws = RawWebSocket(s)
            ws._handshake(self.server.port, "/", [], None, None)
            ws.send_raw(build_frame(OP_BINARY, os.urandom(100 + i))[: 50 + i])
            s.shutdown(socket.SHUT_WR)
            self.assertIsNotNone(wait_eof(s, 5)[0])
            s.close()
        self.assertTrue(wait_until(lambda: ws_open(self.server.port) == 0, 5))
        self.assert_fds_back()
        self.assert_echoes()


VANISH_CHILD = r"""
import base64, os, socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
key = base64.b64encode(os.urandom(16))
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
assert head.startswith(b"HTTP/1.1 101"), head
print("ready", flush=True)
time.sleep(60)
"""


class VanishTest(HardeningCase):
    server_flags = ("--ping-interval", "0.5", "--pong-timeout", "0.5", "--close-timeout", "0.5")

    def test_frozen_peer_is_dropped_by_heartbeat(self):
        child = subprocess.Popen([sys.executable, "-c", VANISH_CHILD, str(self.server.port)],
                                 stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (child.poll() is None and child.kill(), child.wait(5),
                                 child.stdout.close()))
        self.assertEqual(child.stdout.readline().strip(), "ready")
        os.kill(child.pid, signal.SIGSTOP)  # the peer vanishes: no reads, no pongs, no FIN
        t0 = time.monotonic()
        self.assertEqual(ws_open(self.server.port), 1)
        dropped = wait_until(lambda: ws_open(self.server.port) == 0, 6)
        elapsed = time.monotonic() - t0
        self.assertTrue(dropped, "frozen peer still counted open after 6 s")
        self.assertLess(elapsed, 3.0)
        self.assertIn("no pong", self.server.stderr_text())
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait(5)
        self.assert_fds_back()

    def test_live_clients_survive_while_frozen_one_is_dropped(self):
        child = subprocess.Popen([sys.executable, "-c", VANISH_CHILD, str(self.server.port)],
                                 stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (child.poll() is None and child.kill(), child.wait(5),
                                 child.stdout.close()))
        self.assertEqual(child.stdout.readline().strip(), "ready")
        os.kill(child.pid, signal.SIGSTOP)
        ws = self.raw_ws()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:  # recv_message answers the server's pings
            ws.send_text("live")
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"live"))
            time.sleep(0.05)
        self.assertEqual(ws_open(self.server.port), 1)
        os.kill(child.pid, signal.SIGCONT)
        child.kill()


class StopReadingTest(HardeningCase):
    """A peer that sends but never reads: backpressure bounds memory; with --send-timeout
    the server gives up on it."""
    SEND_TIMEOUT = 2

    def setUp(self):
        require_flag("--send-timeout")
        self.server_flags = ("--send-timeout", str(self.SEND_TIMEOUT), "--close-timeout", "1",
                             "--ping-interval", "0")
        super().setUp()

    def test_non_reader_is_dropped_after_send_timeout(self):
        ws = self.raw_ws(timeout=30)
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        total = 64 * MiB
        stop = threading.Event()

        def sender():
            try:
                ws.sock.sendall(frame_header(OP_BINARY, total, mask_key=b"\0\0\0\0"))
                chunk = b"\0" * MiB
                for _ in range(64):
                    if stop.is_set():
                        return
                    ws.sock.sendall(chunk)
            except OSError:
                pass

        t = threading.Thread(target=sender, daemon=True)
        other = self.raw_ws()
        with RssSampler(self.server) as rss:
            t.start()
            t0 = time.monotonic()
            dropped = wait_until(lambda: ws_open(self.server.port) <= 1, self.SEND_TIMEOUT + 8)
            elapsed = time.monotonic() - t0
        stop.set()
        print(f"\nnon-reader dropped after {elapsed:.2f}s (send-timeout {self.SEND_TIMEOUT}), "
              f"peak RSS {rss.max_rss_kib / 1024:.1f} MiB")
        self.assertTrue(dropped, f"non-reading peer still open after {elapsed:.1f}s")
        self.assertGreater(elapsed, self.SEND_TIMEOUT - 0.5)
        self.assertLess(elapsed, self.SEND_TIMEOUT + 4)
        self.assertLess(rss.max_rss_kib, 64 * 1024)
        # Whatever it had received ends with close 1008 or just EOF/RST.
        ws.sock.settimeout(10)
        tail = b""
        try:
            while True:
                d = ws.sock.recv(1 << 20)
                if not d:
                    break
                tail = (tail + d)[-200:]
        except (ConnectionResetError, socket.timeout):
            pass
        ws.close()
        other.send_text("unaffected")
        self.assertEqual(other.recv_message(), (OP_TEXT, b"unaffected"))
        other.close()
        t.join(10)
        self.assert_fds_back()


# --------------------------------------------------------------------------------------
# SIGINT with 1,000 clients
# --------------------------------------------------------------------------------------

class ShutdownThousandTest(HardeningCase):
    N = 1000
    N_DEAF = 50
    CLOSE_TIMEOUT = 3
    server_flags = ("--close-timeout", str(CLOSE_TIMEOUT), "--ping-interval", "0")

    @classmethod
    def setUpClass(cls):
        limit = raise_nofile_limit(8192)
        if limit < 2 * cls.N + 200:
            raise unittest.SkipTest(f"RLIMIT_NOFILE is only {limit}")

    async def _run(self):
        url = self.server.url("/")
        gate = asyncio.Semaphore(100)

        async def connect():
            async with gate:
                ws = await websockets.connect(url, ping_interval=None, open_timeout=30,
                                              close_timeout=10, compression=None)
                await ws.send("hi")
                assert await asyncio.wait_for(ws.recv(), 30) == "hi"
                return ws

        clients = await asyncio.gather(*(connect() for _ in range(self.N)))
        # Plus peers that will never answer the close frame (nor read).
        deaf = [self.raw_ws() for _ in range(self.N_DEAF)]
        self.assertGreaterEqual(ws_open(self.server.port), self.N + self.N_DEAF)
        self.server.expected_exit = True
        t0 = time.monotonic()
        self.server.send_signal(signal.SIGINT)
        await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in clients)),
                               self.CLOSE_TIMEOUT + 10)
        all_closed = time.monotonic() - t0
        rc = await asyncio.to_thread(self.server.wait, self.CLOSE_TIMEOUT + 10)
        exit_s = time.monotonic() - t0
        codes = {}
        for ws in clients:
            codes[(ws.close_code, ws.close_reason)] = codes.get(
                (ws.close_code, ws.close_reason), 0) + 1
        deaf_codes = {}
        for ws in deaf:
            ws.sock.settimeout(5)
            try:
                c = ws.expect_close(5)[0]
            except AssertionError as e:
                c = str(e)[:40]
            deaf_codes[c] = deaf_codes.get(c, 0) + 1
        print(f"\nSIGINT with {self.N}+{self.N_DEAF} clients: all answered clients closed "
              f"after {all_closed:.2f}s, exit {rc} after {exit_s:.2f}s; codes {codes}; "
              f"deaf peers {deaf_codes}")
        self.assertEqual(codes, {(1001, "server shutting down"): self.N})
        self.assertEqual(deaf_codes, {1001: self.N_DEAF})
        self.assertEqual(rc, 0, self.server.describe())
        self.assertLess(exit_s, self.CLOSE_TIMEOUT + 2.5,
                        "exit not bounded by --close-timeout with unresponsive peers")

    def test_sigint_with_1000_clients(self):
        asyncio.run(asyncio.wait_for(self._run(), 120))


# --------------------------------------------------------------------------------------
# TLS: SIGHUP reload under load, garbage on the TLS port
# --------------------------------------------------------------------------------------

def make_cert(out_dir: str, force: bool = False):
    argv = [server_binary(), "cert", "--out", out_dir, "--host", "localhost",
            "--host", "127.0.0.1"] + (["--force"] if force else [])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"sockeye cert failed: {p.stdout}{p.stderr}")
    return os.path.join(out_dir, "cert.pem"), os.path.join(out_dir, "key.pem")


class TlsHardeningCase(HardeningCase):
    extra_flags: tuple[str, ...] = ()

    def setUp(self):
        self.certdir = tempfile.mkdtemp(prefix="sockeye-hard-")
        self.addCleanup(shutil.rmtree, self.certdir, True)
        self.cert, self.key = make_cert(self.certdir)
        self.server_flags = ("--tls-cert", self.cert, "--tls-key", self.key,
                             "--ping-interval", "0") + self.extra_flags
        super().setUp()
        self.assertTrue(self.server.tls)

    def insecure_ctx(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def wss(self):
        return f"wss://localhost:{self.server.port}/"


class SighupUnderLoadTest(TlsHardeningCase):
    N_CLIENTS = 20
    N_HUP = 10

    async def _run(self):
        ctx = self.insecure_ctx()  # the certificate is replaced half-way
        stop = asyncio.Event()
        counts = [0] * self.N_CLIENTS
        new_conns = [0]

        async def echoer(i):
            async with websockets.connect(self.wss(), ssl=ctx, ping_interval=None,
                                          open_timeout=10, compression=None) as ws:
                k = 0
                while not stop.is_set():
                    msg = f"{i}:{k}:" + "y" * (k % 2000)
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 10)
                    assert got == msg, f"client {i} wrong echo"
                    k += 1
                    counts[i] += 1
                await ws.close()
                assert ws.close_code == 1000

        async def newcomer():
            while not stop.is_set():
                async with websockets.connect(self.wss(), ssl=ctx, ping_interval=None,
                                              open_timeout=10, compression=None) as ws:
                    await ws.send("new")
                    assert await asyncio.wait_for(ws.recv(), 10) == "new"
                new_conns[0] += 1

        tasks = [asyncio.create_task(echoer(i)) for i in range(self.N_CLIENTS)]
        tasks += [asyncio.create_task(newcomer()) for _ in range(2)]
        await asyncio.sleep(0.5)
        for n in range(self.N_HUP):
            if n == self.N_HUP // 2:
                # A new pair on disk (written next to it, then moved in place).
                tmp = tempfile.mkdtemp(dir=self.certdir)
                c, k = make_cert(tmp)
                os.replace(k, self.key)
                os.replace(c, self.cert)
            self.server.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.5)
        stop.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        return counts, new_conns[0], [r for r in results if isinstance(r, BaseException)]

    def _log(self):
        with open(self.server.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def test_ten_reloads_while_20_clients_echo(self):
        counts, new_conns, errors = asyncio.run(asyncio.wait_for(self._run(), 60))
        print(f"\nSIGHUP x{self.N_HUP}: {sum(counts)} echoes by {self.N_CLIENTS} clients "
              f"(min {min(counts)}), {new_conns} new connections, errors {errors[:3]}")
        self.assertEqual(errors, [])
        self.assertGreater(min(counts), 10)
        self.assertGreater(new_conns, 5)
        reloaded = wait_until(
            lambda: self._log().count("certificate reloaded") >= self.N_HUP, 5)
        self.assertTrue(reloaded, f"{self._log().count('certificate reloaded')} reloads logged"
                                  f" for {self.N_HUP} SIGHUPs")
        self.assertNotIn("certificate reload failed", self._log())
        self.assertTrue(self.server.alive())
        self.assert_fds_back()


def truncated_client_hello() -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    return hello[: len(hello) // 2]


class TlsGarbageTest(TlsHardeningCase):
    HANDSHAKE_TIMEOUT = 2
    extra_flags = ("--handshake-timeout", str(HANDSHAKE_TIMEOUT))
    N_EACH = 25

    def test_garbage_while_a_wss_client_echoes(self):
        kinds = {
            "random": lambda: os.urandom(random.randint(1, 4096)),
            "random-record": lambda: b"\x16\x03\x01\xff\xff" + os.urandom(2000),
            "truncated-hello": truncated_client_hello,
            "plain-http": lambda: b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "silent": lambda: b"",
        }
        stop = threading.Event()
        echo = {"n": 0, "err": None}
        ctx = self.insecure_ctx()

        def echo_loop():
            try:
                ws = RawWebSocket.connect(self.server.port, ssl_context=ctx, timeout=10)
                while not stop.is_set():
                    msg = f"wss {echo['n']}"
                    ws.send_text(msg)
                    if ws.recv_message() != (OP_TEXT, msg.encode()):
                        raise AssertionError("wrong echo")
                    echo["n"] += 1
                ws.close()
            except BaseException as e:
                echo["err"] = e

        t = threading.Thread(target=echo_loop, daemon=True)
        t.start()
        socks = []
        for kind, make in kinds.items():
            for _ in range(self.N_EACH):
                s = socket.create_connection((LOOPBACK, self.server.port), timeout=10)
                data = make()
                if data:
                    try:
                        s.sendall(data)
                    except OSError:
                        pass
                s.setblocking(False)
                socks.append((kind, s, time.monotonic()))
        # Every one is closed by the server within the handshake timeout + 2 s.
        deadline = time.monotonic() + self.HANDSHAKE_TIMEOUT + 2
        open_ = {id(s): (k, s, t0) for k, s, t0 in socks}
        while open_ and time.monotonic() < deadline:
            for key, (k, s, t0) in list(open_.items()):
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    del open_[key]
            time.sleep(0.05)
        before_stop = echo["n"]
        time.sleep(0.3)
        stop.set()
        t.join(15)
        for _, s, _ in socks:
            s.close()
        left = sorted({k for k, _, _ in open_.values()})
        print(f"\nTLS garbage: {len(socks)} hostile connections, {len(open_)} not closed "
              f"in time {left}; {echo['n']} wss echoes meanwhile")
        self.assertIsNone(echo["err"], f"wss echo client failed: {echo['err']!r}")
        self.assertEqual(len(open_), 0, f"not closed within handshake timeout + 2 s: {left}")
        self.assertGreater(before_stop, 10)
        self.assertTrue(wait_until(lambda: fd_count(self.server.pid) <= self.fd_baseline, 10))
        self.assert_fds_back()


# --------------------------------------------------------------------------------------
# --max-connections
# --------------------------------------------------------------------------------------

class MaxConnectionsTest(HardeningCase):
    LIMIT = 20

    def setUp(self):
        require_flag("--max-connections")
        self.server_flags = ("--max-connections", str(self.LIMIT), "--ping-interval", "0")
        super().setUp()

    def _extra_status(self):
        """Connects one more client and returns what it gets: (status, closed)."""
        status, closed, buf = send_and_read_status(
            self.server.port, upgrade_request(self.server.port), timeout=5)
        return status, closed, buf

    def test_limit_503_then_accepts_again(self):
        clients = [self.raw_ws() for _ in range(self.LIMIT)]
        extras = [self._extra_status() for _ in range(5)]
        for status, closed, buf in extras:
            self.assertEqual(status, 503, f"over the limit got {buf[:200]!r}")
            self.assertTrue(closed, "503 connection left open")
        for i, ws in enumerate(clients):
            ws.send_text(f"c{i}")
            self.assertEqual(ws.recv_message(), (OP_TEXT, f"c{i}".encode()))
        # Make room: close five, then five new clients get in and echo.
        for ws in clients[:5]:
            ws.send_close(1000)
            ws.expect_close()
            ws.close()
        ok = wait_until(lambda: self._can_connect(), 5)
        self.assertTrue(ok, "no new connection accepted after closing some")
        fresh = [self.raw_ws() for _ in range(4)]  # _can_connect used one slot briefly
        for ws in fresh + clients[5:]:
            ws.send_text("again")
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"again"))
        for ws in fresh + clients[5:]:
            ws.close()
        self.assertTrue(wait_until(lambda: self.server.alive() and self._idle(), 10))
        self.assert_fds_back()

    def _can_connect(self):
        try:
            ws = RawWebSocket.connect(self.server.port, timeout=5)
        except AssertionError:
            return False
        ws.send_text("x")
        ok = ws.recv_message() == (OP_TEXT, b"x")
        ws.close()
        return ok

    def _idle(self):
        try:
            return fd_count(self.server.pid) <= self.fd_baseline
        except OSError:
            return False

    def test_hammering_at_the_limit_does_not_busy_loop(self):
        clients = [self.raw_ws() for _ in range(self.LIMIT)]
        cpu0 = self._cpu_seconds()
        t0 = time.monotonic()
        refused = 0
        while time.monotonic() - t0 < 2:
            status, _, _ = self._extra_status()
            refused += status == 503
        # Then idle at the limit: the server must not spin.
        time.sleep(2)
        cpu_idle0 = self._cpu_seconds()
        time.sleep(2)
        idle_cpu = self._cpu_seconds() - cpu_idle0
        print(f"\nat the limit: {refused} refused in 2 s; CPU while idle at the limit "
              f"{idle_cpu * 50:.1f}% (total {self._cpu_seconds() - cpu0:.2f}s)")
        self.assertGreater(refused, 10)
        self.assertLess(idle_cpu, 0.2, "server burns CPU while at the connection limit")
        for ws in clients:
            ws.send_text("ok")
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"ok"))
            ws.close()
        self.assertTrue(wait_until(self._idle, 10))

    def _cpu_seconds(self):
        with open(f"/proc/{self.server.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FdExhaustionTest(HardeningCase):
    """EMFILE: the server runs with a small RLIMIT_NOFILE; connections beyond it must not
    crash it or make it spin, and it recovers when clients leave."""
    NOFILE = 64

    def setUp(self):
        self._sockets = []
        server = None
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.NOFILE, hard))

        from sockeye_harness import SockeyeServer
        orig_popen = subprocess.Popen

        def popen(*a, **kw):
            kw["preexec_fn"] = limit
            return orig_popen(*a, **kw)

        subprocess.Popen = popen
        try:
            self.server = self.start_server("--ping-interval", "0",
                                            "--handshake-timeout", "3")
        finally:
            subprocess.Popen = orig_popen
        self.fd_baseline = fd_count(self.server.pid)

    def test_emfile_no_crash_no_spin_recovers(self):
        socks = []
        for _ in range(self.NOFILE + 40):
            try:
                s = socket.create_connection((LOOPBACK, self.server.port), timeout=2)
            except OSError:
                break
            socks.append(s)
        time.sleep(1)
        fds = fd_count(self.server.pid)

        def cpu():
            with open(f"/proc/{self.server.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        c0 = cpu()
        time.sleep(2)
        spent = cpu() - c0
        print(f"\nEMFILE: {len(socks)} sockets opened at RLIMIT_NOFILE {self.NOFILE}; "
              f"server fds {fds}; CPU over 2 s at the limit {spent:.2f}s")
        self.assertTrue(self.server.alive(), self.server.describe())
        self.assertGreaterEqual(fds, self.NOFILE - 2, "the test did not reach EMFILE")
        self.assertLess(spent, 0.5, "server spins at EMFILE")
        for s in socks:
            s.close()
        # The handshake timeout clears whatever was accepted; the server serves again.
        ok = wait_until(lambda: self._echo_ok(), 10, interval=0.5)
        self.assertTrue(ok, "server does not serve again after the fds were freed")
        self.assert_fds_back(timeout=10)

    def _echo_ok(self):
        try:
            ws = RawWebSocket.connect(self.server.port, timeout=2)
            ws.send_text("back")
            ok = ws.recv_message() == (OP_TEXT, b"back")
            ws.close()
            return ok
        except (OSError, AssertionError, ConnectionClosedByPeer):
            return False


if __name__ == "__main__":
    main()
