"""`sockeye serve --proxy HOST:PORT` and `--proxy-map FILE`: a WebSocket in front of a
real TCP service (tcp_backends.py), as websockify puts one in front of VNC.

Bytes both ways (64 MiB, and 1 GiB in the heavy test, SHA-256 checked, server memory
bounded), the connect before the 101 (an unreachable backend is a 502), the ends passed on
(backend EOF -> 1000 after its last bytes, client close -> the backend sees EOF, backend
reset -> 1011), text refused with 1003 unless --proxy-text, the token map with SIGHUP
reload, --proxy-allow, and backpressure in both directions. With --proxy-tls, against a
Python `ssl` service with a certificate made here: bytes through, the certificate checks
(CA, DNS name, IP address) refusing with 502 and the reason, close_notify both ways, the
handshake under --proxy-connect-timeout (504), and the same backpressure."""

import asyncio
import base64
import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import websockets

from sockeye_harness import (GiB, MiB, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, HandshakeFailed,
                             HttpConnection, PatternSource, RawWebSocket, RssSampler,
                             ServerTestCase, StreamSender, main, parse_close, receive_binary,
                             server_binary, wait_until)
from tcp_backends import (EchoProcess, FloodService, LineService, SinkService, TlsService,
                          free_port)

# Sanitizer builds carry shadow memory and a quarantine: the RSS bounds are loosened there.
RSS_SLACK = 3 if os.environ.get("SOCKEYE_SANITIZED") == "1" else 1


def read_bytes_until(ws: RawWebSocket, expected: bytes, timeout: float = 10.0) -> bytes:
    """Concatenates binary messages until `expected` has come (or fails)."""
    ws.sock.settimeout(timeout)
    got = b""
    while len(got) < len(expected):
        op, data = ws.recv_message()
        if op != OP_BINARY:
            raise AssertionError(f"opcode {op}, expected binary")
        got += data
    if got != expected:
        raise AssertionError(f"got {got!r}, expected {expected!r}")
    return got


class ProxyTestCase(ServerTestCase):
    """Starts the backends first (make_backends returns the server's flags), then the
    server."""

    def setUp(self) -> None:
        self._sockets = []
        self.tmp = tempfile.TemporaryDirectory(prefix="sockeye-proxy-")
        self.addCleanup(self.tmp.cleanup)
        flags = self.make_backends()
        self.server = self.start_server("--ping-interval", "0", *flags)

    def backend(self, service):
        self.addCleanup(service.close)
        return service


class ProxyStreamTest(ProxyTestCase):
    def make_backends(self):
        self.echo = self.backend(EchoProcess())
        return ("--proxy", self.echo.target)

    def stream(self, total: int, rss_limit_kib: int) -> None:
        ws = self.raw_ws(timeout=120)
        sender = StreamSender(ws, PatternSource(seed=3), total, fragment=MiB)
        with RssSampler(self.server) as sampler:
            t0 = time.monotonic()
            sender.start()
            stats = receive_binary(ws, total)
            sender.join(60)
            elapsed = time.monotonic() - t0
        self.assertIsNone(sender.error, f"sender failed: {sender.error!r}")
        self.assertEqual(stats["sha256"], sender.hash.hexdigest(), "bytes differ (SHA-256)")
        peak = self.server.peak_rss_kib()
        print(f"\n{total // MiB} MiB through --proxy to a TCP echo: {elapsed:.1f}s, "
              f"{total / MiB / elapsed:.0f} MiB/s each way, {stats['messages']} messages "
              f"(largest {stats['largest'] // 1024} KiB), server VmHWM {peak // 1024} MiB "
              f"(sampled VmRSS max {sampler.max_rss_kib // 1024} MiB)")
        # One read of the backend, one message: not cut into 64 KiB pieces...
        self.assertGreater(stats["largest"], 64 * 1024)
        # ...and not gathered: a message never holds more than one read buffer.
        self.assertLessEqual(stats["largest"], 256 * 1024)
        self.assertLessEqual(peak, rss_limit_kib * RSS_SLACK, f"server VmHWM {peak} KiB")
        ws.send_close(1000)
        code, _, _ = ws.expect_close(timeout=10)
        self.assertEqual(code, 1000)
        return elapsed

    def test_64mib_both_ways(self):
        self.stream(64 * MiB, 64 * 1024)


class ProxyHeavyTest(ProxyStreamTest):
    test_64mib_both_ways = None

    def test_1gib_both_ways(self):
        elapsed = self.stream(GiB, 64 * 1024)
        # The same gigabyte straight to the echo over TCP, for comparison.
        direct = direct_tcp_seconds(self.echo.port, GiB)
        print(f"direct TCP to the same echo: {direct:.1f}s, {GiB / MiB / direct:.0f} MiB/s "
              f"(the proxy: {elapsed / direct:.2f}x the time)")


def direct_tcp_seconds(port: int, total: int) -> float:
    import threading
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    source = PatternSource(seed=3)
    t0 = time.monotonic()

    def send():
        for c in source.chunks(total):
            sock.sendall(c)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    got, buf = 0, bytearray(4 * MiB)
    while got < total:
        n = sock.recv_into(buf)
        if n == 0:
            break
        got += n
    t.join(60)
    sock.close()
    if got != total:
        raise AssertionError(f"direct echo returned {got} of {total} bytes")
    return time.monotonic() - t0


class ProxyLifecycleTest(ProxyTestCase):
    def make_backends(self):
        self.line = self.backend(LineService("line"))
        return ("--proxy", self.line.target)

    def test_banner_and_lines_with_websockets_client(self):
        async def run():
            async with websockets.connect(self.server.url("/")) as ws:
                self.assertEqual(await ws.recv(), b"HELLO line\n")
                await ws.send(b"abc\n")
                self.assertEqual(await ws.recv(), b"ABC\n")
                await ws.send(b"de")  # a line in two messages is one line to the service
                await ws.send(b"f\n")
                self.assertEqual(await ws.recv(), b"DEF\n")
        asyncio.run(asyncio.wait_for(run(), 20))

    def test_backend_eof_is_close_1000_after_its_last_bytes(self):
        ws = self.raw_ws()
        read_bytes_until(ws, b"HELLO line\n")
        ws.send_binary(b"QUIT\n")
        code, reason, skipped = ws.expect_close(timeout=10)
        self.assertEqual(b"".join(f.payload for f in skipped), b"BYE\n")
        self.assertEqual(code, 1000)
        ws.send_close(1000)
        ws.wait_tcp_closed(timeout=5)

    def test_client_close_is_eof_at_the_backend(self):
        ws = self.raw_ws()
        read_bytes_until(ws, b"HELLO line\n")
        ws.send_binary(b"last words")  # no newline: the service only stores them
        ws.send_close(1000)
        code, _, _ = ws.expect_close(timeout=10)
        self.assertEqual(code, 1000)
        rec = self.line.wait_for(lambda: self.line.connections and self.line.connections[0])
        self.assertTrue(self.line.wait_for(lambda: rec["eof"], timeout=10),
                        "the backend saw no EOF after the client's close")
        self.assertEqual(bytes(rec["data"]), b"last words")

    def test_backend_reset_is_close_1011_with_the_reason(self):
        ws = self.raw_ws()
        read_bytes_until(ws, b"HELLO line\n")
        ws.send_binary(b"RESET\n")
        code, reason, _ = ws.expect_close(timeout=10)
        self.assertEqual(code, 1011)
        self.assertIn(b"reset", reason)

    def test_text_is_refused_with_1003(self):
        ws = self.raw_ws()
        read_bytes_until(ws, b"HELLO line\n")
        ws.send_text("abc\n")
        ws.send_binary(b"after the refusal\n")  # nothing goes through once one was refused
        code, _, _ = ws.expect_close(timeout=10)
        self.assertEqual(code, 1003)
        time.sleep(0.2)
        self.assertEqual(bytes(self.line.connections[0]["data"]), b"",
                         "the refused text reached the backend")

    def test_unreachable_backend_is_502_at_the_handshake(self):
        port = free_port()
        server = self.start_server("--proxy", f"127.0.0.1:{port}")
        with self.assertRaises(HandshakeFailed) as cm:
            RawWebSocket.connect(server.port, "/")
        self.assertEqual(cm.exception.status, 502)

    def test_connect_happens_before_the_101(self):
        # The TCP connection exists by the time the 101 is read; the service's accept
        # thread may register it a moment later (the kernel completed the connect), so
        # that is awaited briefly. That the connect comes first at all is what the
        # backend-down 502 test proves.
        ws = self.raw_ws()
        self.assertTrue(wait_until(lambda: len(self.line.connections) == 1, 2.0))
        read_bytes_until(ws, b"HELLO line\n")


class ProxyTextTest(ProxyTestCase):
    def make_backends(self):
        self.line = self.backend(LineService("line"))
        return ("--proxy", self.line.target, "--proxy-text")

    def test_text_goes_through_as_bytes(self):
        ws = self.raw_ws()
        read_bytes_until(ws, b"HELLO line\n")
        ws.send_text("h\u00e9llo\n")
        read_bytes_until(ws, "H\u00e9LLO\n".encode())


class ProxyMapTest(ProxyTestCase):
    def make_backends(self):
        self.a = self.backend(LineService("a"))
        self.b = self.backend(LineService("b"))
        self.map = os.path.join(self.tmp.name, "targets")
        self.write_map(f"# tokens\nalpha: {self.a.target}\n\n  beta :  {self.b.target}  \n")
        return ("--proxy-map", self.map)

    def write_map(self, text: str) -> None:
        with open(self.map + ".new", "w") as f:
            f.write(text)
        os.replace(self.map + ".new", self.map)

    def banner(self, path: str) -> bytes:
        ws = self.raw_ws(path)
        ws.sock.settimeout(10)
        op, data = ws.recv_message()
        ws.close()
        return data

    def status(self, path: str) -> int:
        try:
            ws = self.raw_ws(path)
        except HandshakeFailed as e:
            return e.status
        ws.close()
        return 101

    def test_tokens_select_the_target(self):
        self.assertEqual(self.banner("/?token=alpha"), b"HELLO a\n")
        self.assertEqual(self.banner("/vnc/beta"), b"HELLO b\n")
        self.assertEqual(self.banner("/vnc/alpha?token=beta"), b"HELLO b\n")  # query first
        self.assertEqual(self.status("/?token=gamma"), 404)
        self.assertEqual(self.status("/vnc/gamma"), 404)
        self.assertEqual(self.status("/"), 404)

    def test_sighup_reloads_the_map(self):
        self.assertEqual(self.status("/?token=gamma"), 404)
        self.write_map(f"gamma: {self.b.target}\n")
        self.server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self.status("/?token=gamma") != 101:
            self.assertLess(time.monotonic(), deadline, "SIGHUP did not load the new map")
            time.sleep(0.05)
        self.assertEqual(self.banner("/?token=gamma"), b"HELLO b\n")
        self.assertEqual(self.status("/?token=alpha"), 404)
        # A broken map keeps the old one, and the log says why.
        self.write_map("gamma 127.0.0.1\n")
        self.server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "keeping the old one" not in self.server.stderr_text():
            self.assertLess(time.monotonic(), deadline, "failed reload was not logged")
            time.sleep(0.05)
        self.assertIn("line 1", self.server.stderr_text())
        self.assertEqual(self.banner("/?token=gamma"), b"HELLO b\n")


class ProxyAllowTest(ProxyTestCase):
    def make_backends(self):
        self.a = self.backend(LineService("a"))
        self.b = self.backend(LineService("b"))
        path = os.path.join(self.tmp.name, "targets")
        with open(path, "w") as f:
            f.write(f"alpha: {self.a.target}\nbeta: {self.b.target}\n")
        return ("--proxy-map", path, "--proxy-allow", self.a.target)

    def test_a_pair_outside_the_allow_list_is_refused(self):
        ws = self.raw_ws("/?token=alpha")
        read_bytes_until(ws, b"HELLO a\n")
        with self.assertRaises(HandshakeFailed) as cm:
            self.raw_ws("/?token=beta")
        self.assertEqual(cm.exception.status, 403)
        time.sleep(0.2)
        self.assertEqual(len(self.b.connections), 0, "a refused target was connected to")

    def test_a_static_target_outside_the_allow_list_does_not_start(self):
        r = subprocess.run([server_binary(), "serve", "--port", "0", "--proxy", self.b.target,
                            "--proxy-allow", self.a.target],
                           capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"not in --proxy-allow", r.stderr)


class ProxyBackpressureTest(ProxyTestCase):
    def make_backends(self):
        self.flood = self.backend(FloodService())
        return ("--proxy", self.flood.target)

    def test_client_that_does_not_read_stops_the_backend(self):
        ws = self.raw_ws(timeout=30)
        rec = self.flood.wait_for(lambda: self.flood.connections and self.flood.connections[0])
        with RssSampler(self.server) as sampler:
            # Nothing read: the socket buffers fill, then the server must stop reading the
            # backend rather than queue what it sends.
            deadline = time.monotonic() + 20
            last, since = -1, time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.2)
                if rec["sent"] != last:
                    last, since = rec["sent"], time.monotonic()
                elif time.monotonic() - since > 2:
                    break
            stalled = rec["sent"]
            rss = self.server.rss_kib()
        print(f"\nbackend stalled after {stalled / MiB:.0f} MiB; server VmRSS {rss // 1024} MiB, "
              f"sampled max {sampler.max_rss_kib // 1024} MiB")
        self.assertLess(time.monotonic(), deadline, "the backend was never stopped")
        self.assertLess(sampler.max_rss_kib, 48 * 1024 * RSS_SLACK)
        # Reading again resumes the flow (on_drain restarts the backend).
        stats = receive_binary(ws, stalled + 32 * MiB, exact=False)
        self.assertGreater(rec["sent"], stalled + 16 * MiB)
        self.assertGreater(stats["bytes"], stalled)


class ProxySlowBackendTest(ProxyTestCase):
    def make_backends(self):
        self.sink = self.backend(SinkService())
        return ("--proxy", self.sink.target)

    def test_backend_that_does_not_read_stops_the_client(self):
        ws = self.raw_ws(timeout=30)
        total = 512 * MiB
        sender = StreamSender(ws, PatternSource(seed=9), total)
        with RssSampler(self.server) as sampler:
            sender.start()
            deadline = time.monotonic() + 30
            last, since = -1, time.monotonic()
            while not sender.done.is_set() and time.monotonic() < deadline:
                time.sleep(0.2)
                if sender.sent != last:
                    last, since = sender.sent, time.monotonic()
                elif time.monotonic() - since > 2:
                    break
        print(f"\nclient stalled after {sender.sent / MiB:.0f} MiB; server sampled VmRSS max "
              f"{sampler.max_rss_kib // 1024} MiB")
        self.assertIsNone(sender.error)
        self.assertFalse(sender.done.is_set(), "512 MiB went into a backend that reads nothing")
        self.assertLess(sender.sent, 128 * MiB)
        self.assertLess(sampler.max_rss_kib, 48 * 1024 * RSS_SLACK)


# ---------------------------------------------------------------- --proxy-tls

def make_cert(folder: str, *hosts: str) -> tuple[str, str]:
    """A self-signed certificate (and its key) for `hosts`, from `sockeye cert`."""
    os.makedirs(folder, exist_ok=True)
    args = [server_binary(), "cert", "--out", folder]
    for h in hosts:
        args += ["--host", h]
    subprocess.run(args, check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    return os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")


def upgrade_answer(port: int, path: str = "/"):
    """The server's answer to an upgrade request, body included (for refusals)."""
    conn = HttpConnection(port, timeout=20)
    try:
        return conn.request("GET", path, [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", "13")])
    finally:
        conn.sock.close()


class ProxyTlsTestCase(ProxyTestCase):
    """A TLS service (`mode`) with a certificate for localhost and 127.0.0.1, and the server
    verifying it against that certificate."""
    mode = "echo"

    def make_backends(self):
        self.cert, self.key = make_cert(os.path.join(self.tmp.name, "good"), "localhost",
                                        "127.0.0.1")
        self.tls = self.backend(TlsService(self.cert, self.key, self.mode))
        return ("--proxy", self.tls.target, "--proxy-tls", "--proxy-cacert", self.cert)

    def record(self):
        return self.tls.wait_for(lambda: self.tls.connections and self.tls.connections[0])

    def refusal(self, *flags: str):
        """Starts a server with `flags`; its answer to an upgrade, which must be a 502."""
        server = self.start_server(*flags)
        r = upgrade_answer(server.port)
        self.assertEqual(r.status, 502, r)
        return r, server


class ProxyTlsTest(ProxyTlsTestCase):
    def test_bytes_echo_through_verified_tls(self):
        ws = self.raw_ws(timeout=30)
        ws.send_binary(b"hello")
        read_bytes_until(ws, b"hello")
        big = os.urandom(3 * MiB + 17)  # several TLS records and socket reads
        ws.send_binary(big)
        read_bytes_until(ws, big, timeout=30)
        rec = self.record()
        self.assertTrue(rec["handshake"])
        self.assertEqual(rec["sni"], "localhost")
        self.assertIsNone(rec["alpn"], "a raw TCP service must be offered no ALPN")
        self.assertEqual(bytes(rec["data"]), b"hello" + big)
        # The client's close: close_notify to the service, not a bare EOF.
        ws.send_close(1000)
        code, _, _ = ws.expect_close(timeout=10)
        self.assertEqual(code, 1000)
        ws.close()  # else the WebSocket ends only at --close-timeout
        self.assertTrue(self.tls.wait_for(lambda: rec["eof"], timeout=10),
                        "the service saw no end after the client's close")
        self.assertTrue(rec["close_notify"], "the service got a bare EOF, no close_notify")

    def test_ip_literal_target_is_checked_by_address_without_sni(self):
        if self.tls.address != "127.0.0.1":
            self.skipTest(f"localhost is {self.tls.address} here")
        server = self.start_server("--proxy", f"127.0.0.1:{self.tls.port}", "--proxy-tls",
                                   "--proxy-cacert", self.cert)
        ws = RawWebSocket.connect(server.port, "/")
        self.track(ws.sock)
        ws.send_binary(b"by address")
        read_bytes_until(ws, b"by address")
        self.assertIsNone(self.record()["sni"], "SNI must not carry an IP address")

    def test_every_map_target_speaks_tls(self):
        path = os.path.join(self.tmp.name, "targets")
        with open(path, "w") as f:
            f.write(f"name: {self.tls.target}\n")
        server = self.start_server("--proxy-map", path, "--proxy-tls", "--proxy-cacert",
                                   self.cert)
        ws = RawWebSocket.connect(server.port, "/?token=name")
        self.track(ws.sock)
        ws.send_binary(b"through the map")
        read_bytes_until(ws, b"through the map")
        self.assertTrue(self.record()["handshake"])

    def test_system_store_refuses_a_self_signed_certificate(self):
        r, server = self.refusal("--proxy", self.tls.target, "--proxy-tls")
        self.assertIn(b"certificate verify failed: self-signed certificate", r.body)
        self.assertIn("certificate verify failed: self-signed certificate",
                      server.stderr_text())
        rec = self.record()
        self.assertTrue(self.tls.wait_for(lambda: rec["closed"], timeout=10))
        self.assertFalse(rec["handshake"])
        # The server told the service why (an alert), rather than just hanging up.
        self.assertIn("alert", rec["error"] or "")

    def test_a_certificate_for_another_name_is_refused(self):
        cert, key = make_cert(os.path.join(self.tmp.name, "other"), "other.example")
        other = self.backend(TlsService(cert, key, "echo"))
        r, _ = self.refusal("--proxy", other.target, "--proxy-tls", "--proxy-cacert", cert)
        self.assertIn(b"certificate verify failed: hostname mismatch", r.body)

    def test_a_certificate_without_the_ip_address_is_refused(self):
        cert, key = make_cert(os.path.join(self.tmp.name, "name-only"), "localhost")
        other = self.backend(TlsService(cert, key, "echo"))
        if other.address != "127.0.0.1":
            self.skipTest(f"localhost is {other.address} here")
        r, _ = self.refusal("--proxy", f"127.0.0.1:{other.port}", "--proxy-tls",
                            "--proxy-cacert", cert)
        self.assertIn(b"certificate verify failed: IP address mismatch", r.body)

    def test_a_plain_tcp_service_fails_the_handshake(self):
        line = self.backend(LineService("plain"))
        r, _ = self.refusal("--proxy", line.target, "--proxy-tls", "--proxy-cacert", self.cert)
        self.assertIn(b"backend TLS handshake failed", r.body)

    def test_cacert_goes_with_proxy_tls_only(self):
        r = subprocess.run([server_binary(), "serve", "--port", "0", "--proxy", self.tls.target,
                            "--proxy-cacert", self.cert],
                           capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--proxy-tls", r.stderr)
        bad = os.path.join(self.tmp.name, "not-pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        r = subprocess.run([server_binary(), "serve", "--port", "0", "--proxy", self.tls.target,
                            "--proxy-tls", "--proxy-cacert", bad],
                           capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot load CA certificates", r.stderr)


class ProxyTlsCloseTest(ProxyTlsTestCase):
    mode = "bye"

    def test_close_notify_is_close_1000_after_the_last_bytes(self):
        ws = self.raw_ws()
        code, reason, skipped = ws.expect_close(timeout=10)
        self.assertEqual(b"".join(f.payload for f in skipped), b"BYE\n")
        self.assertEqual(code, 1000)
        ws.send_close(1000)
        ws.wait_tcp_closed(timeout=5)
        ws.close()  # else the WebSocket ends only at --close-timeout
        rec = self.record()
        self.assertTrue(self.tls.wait_for(lambda: rec["closed"], timeout=10))
        self.assertTrue(rec["close_notify"], "no close_notify came back to the service")


class ProxyTlsEofTest(ProxyTlsTestCase):
    mode = "bye-eof"

    def test_a_bare_eof_is_close_1000_too(self):
        # As on plain TCP: many services end without close_notify.
        ws = self.raw_ws()
        code, _, skipped = ws.expect_close(timeout=10)
        self.assertEqual(b"".join(f.payload for f in skipped), b"BYE\n")
        self.assertEqual(code, 1000)


class ProxyTlsTimeoutTest(ProxyTlsTestCase):
    mode = "silent"

    def make_backends(self):
        return super().make_backends() + ("--proxy-connect-timeout", "0.5")

    def test_a_handshake_that_never_ends_is_504(self):
        t0 = time.monotonic()
        r = upgrade_answer(self.server.port)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 504, r)
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 5)
        self.assertEqual(len(self.tls.connections), 1, "the TCP connect did not happen")
        self.assertIn("no TLS handshake within", self.server.stderr_text())


class ProxyTlsStreamTest(ProxyStreamTest):
    """64 MiB both ways through TLS: still one message per read's worth, bounded memory."""

    def make_backends(self):
        cert, key = make_cert(os.path.join(self.tmp.name, "good"), "127.0.0.1")
        self.echo = self.backend(EchoProcess(cert, key))
        return ("--proxy", self.echo.target, "--proxy-tls", "--proxy-cacert", cert)


class ProxyTlsBackpressureTest(ProxyBackpressureTest):
    def make_backends(self):
        cert, key = make_cert(os.path.join(self.tmp.name, "good"), "localhost")
        self.flood = self.backend(TlsService(cert, key, "flood"))
        return ("--proxy", self.flood.target, "--proxy-tls", "--proxy-cacert", cert)


class ProxyTlsSlowBackendTest(ProxySlowBackendTest):
    def make_backends(self):
        cert, key = make_cert(os.path.join(self.tmp.name, "good"), "localhost")
        self.sink = self.backend(TlsService(cert, key, "sink"))
        return ("--proxy", self.sink.target, "--proxy-tls", "--proxy-cacert", cert)


if __name__ == "__main__":
    main()
