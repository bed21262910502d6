"""TLS: https and wss on one port, with a certificate made by `sockeye cert`.

Real peers: Python `websockets` and `ssl`, curl, Node `ws` (in test_node_client). Also
plain HTTP, garbage and a stalled handshake on the TLS port, SIGHUP certificate reload,
shutdown over TLS, and a large message over wss with bounded server memory."""

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import websockets

from sockeye_harness import (LOOPBACK, MiB, OP_BINARY, PatternSource, RawWebSocket,
                             RssSampler, ServerTestCase, StreamSender, main, receive_stream,
                             server_binary)


def make_cert(out_dir: str, *hosts: str, force: bool = False) -> tuple[str, str]:
    argv = [server_binary(), "cert", "--out", out_dir]
    for h in hosts or ("localhost", "127.0.0.1"):
        argv += ["--host", h]
    if force:
        argv.append("--force")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"sockeye cert failed: {proc.stdout}{proc.stderr}")
    return os.path.join(out_dir, "cert.pem"), os.path.join(out_dir, "key.pem")


def client_context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


def served_fingerprint(port: int) -> str:
    """SHA-256 of the certificate the server presents to a new connection. No chain check
    here: the caller compares the fingerprint with the files' (old and new certificates
    share a subject name, which makes a two-anchor trust store ambiguous)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(cert_path: str) -> str:
    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True if the server closes (EOF or RST) within `timeout`, reading whatever it sends."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class TlsServerTestCase(ServerTestCase):
    extra_flags: tuple[str, ...] = ()

    def setUp(self):
        self.certdir = tempfile.mkdtemp(prefix="sockeye-tls-")
        self.addCleanup(shutil.rmtree, self.certdir, True)
        self.cert, self.key = make_cert(self.certdir)
        self.server_flags = ("--tls-cert", self.cert, "--tls-key", self.key) + self.extra_flags
        super().setUp()
        self.assertTrue(self.server.tls, "the listening line should say https://")

    def wss(self, path="/"):
        return f"wss://localhost:{self.server.port}{path}"


class WssEchoTest(TlsServerTestCase):
    def test_websockets_client_echo_over_wss(self):
        async def run():
            async with websockets.connect(self.wss("/tls"), ssl=client_context(self.cert),
                                          max_size=None, compression=None) as ws:
                for n in (0, 125, 126, 65535, 65536, 150_000, 4 * MiB):
                    data = os.urandom(n)
                    await ws.send(data)
                    self.assertEqual(await ws.recv(), data, n)
                    text = ("é" * n)[:n]
                    await ws.send(text)
                    self.assertEqual(await ws.recv(), text, n)
                await ws.close(4000, "done")
                self.assertEqual(ws.close_code, 4000)
        asyncio.run(asyncio.wait_for(run(), 60))

    def test_curl_fetches_the_page_and_health(self):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("curl is not installed")
        base = f"https://localhost:{self.server.port}"
        resolve = f"localhost:{self.server.port}:127.0.0.1"
        page = subprocess.run([curl, "-sS", "--fail", "--cacert", self.cert, "--resolve", resolve,
                               base + "/"], capture_output=True, timeout=30)
        self.assertEqual(page.returncode, 0, page.stderr)
        with open(os.path.join(os.environ["SOCKEYE_WEB_ROOT"], "index.html"), "rb") as f:
            self.assertEqual(page.stdout, f.read())
        health = subprocess.run([curl, "-sS", "--fail", "--cacert", self.cert, "--resolve",
                                 resolve, base + "/healthz"], capture_output=True, timeout=30)
        self.assertEqual(health.stdout.strip(), b"ok")
        # And curl refuses the server without the CA: the certificate is really checked.
        untrusted = subprocess.run([curl, "-sS", "--resolve", resolve, base + "/healthz"],
                                   capture_output=True, timeout=30)
        self.assertNotEqual(untrusted.returncode, 0)

    def test_alpn_selects_h2_then_http11(self):
        # HTTP/2 is on by default: h2 when offered (test_http2 speaks it), else http/1.1.
        for offered, chosen in ((["h2", "http/1.1"], "h2"), (["http/1.1", "h2"], "h2"),
                                (["http/1.1"], "http/1.1")):
            ctx = client_context(self.cert)
            ctx.set_alpn_protocols(offered)
            with socket.create_connection((LOOPBACK, self.server.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    self.assertEqual(s.selected_alpn_protocol(), chosen, offered)
                    self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))

    def test_tls_1_1_is_refused(self):
        ctx = client_context(self.cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection((LOOPBACK, self.server.port), timeout=10) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                ctx.wrap_socket(raw, server_hostname="localhost")

    def test_sigterm_closes_wss_clients_with_1001(self):
        async def run():
            ws = await websockets.connect(self.wss(), ssl=client_context(self.cert))
            await ws.send("hi")
            self.assertEqual(await ws.recv(), "hi")
            self.server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), 10)
            return ws.close_code, ws.close_reason
        code, reason = asyncio.run(run())
        self.assertEqual((code, reason), (1001, "server shutting down"))
        self.assertEqual(self.server.wait(10), 0)
        self.server.expected_exit = True


class TlsHostileClientsTest(TlsServerTestCase):
    extra_flags = ("--handshake-timeout", "1")

    def test_plain_http_to_the_tls_port_is_dropped(self):
        s = self.track(socket.create_connection((LOOPBACK, self.server.port), timeout=5))
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(closed_by_server(s, 5), "plain HTTP on the TLS port was not dropped")

    def test_garbage_is_dropped(self):
        s = self.track(socket.create_connection((LOOPBACK, self.server.port), timeout=5))
        s.sendall(os.urandom(4096))
        self.assertTrue(closed_by_server(s, 5), "garbage on the TLS port was not dropped")

    def test_stalled_handshake_is_dropped_without_disturbing_others(self):
        # One client says nothing, one sends half a ClientHello and stalls.
        silent = self.track(socket.create_connection((LOOPBACK, self.server.port), timeout=5))
        half = self.track(socket.create_connection((LOOPBACK, self.server.port), timeout=5))
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        t0 = time.monotonic()
        # Meanwhile a real client echoes normally.
        ws = RawWebSocket.connect(self.server.port, ssl_context=client_context(self.cert))
        self.track(ws.sock)
        ws.send_text(b"still here")
        self.assertEqual(ws.recv_message()[1], b"still here")
        self.assertTrue(closed_by_server(silent, 4), "silent TLS client was not dropped")
        self.assertTrue(closed_by_server(half, 4), "stalled TLS handshake was not dropped")
        self.assertLess(time.monotonic() - t0, 4)
        ws.send_text(b"and still")
        self.assertEqual(ws.recv_message()[1], b"and still")


class CertificateReloadTest(TlsServerTestCase):
    def test_sighup_switches_new_handshakes_to_the_new_certificate(self):
        old = served_fingerprint(self.server.port)
        self.assertEqual(old, file_fingerprint(self.cert))
        # A connection opened with the old certificate...
        ws = RawWebSocket.connect(self.server.port, ssl_context=client_context(self.cert))
        self.track(ws.sock)

        make_cert(self.certdir, "localhost", "127.0.0.1", force=True)
        new = file_fingerprint(self.cert)
        self.assertNotEqual(new, old)
        self.server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while served_fingerprint(self.server.port) != new:
            self.assertLess(time.monotonic(), deadline, "SIGHUP did not switch the certificate")
            time.sleep(0.05)
        # ...keeps working after the reload.
        ws.send_text(b"after reload")
        self.assertEqual(ws.recv_message()[1], b"after reload")

        # A broken key file: the reload fails, the working pair stays, the log says why.
        with open(self.key, "w") as f:
            f.write("not a key\n")
        self.server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "keeping the old one" not in self.server.stderr_text():
            self.assertLess(time.monotonic(), deadline, "failed reload was not logged")
            time.sleep(0.05)
        self.assertEqual(served_fingerprint(self.server.port), new)


class WssLargeMessageTest(TlsServerTestCase):
    def test_256_mib_over_wss_with_bounded_memory(self):
        total = 256 * MiB
        ws = RawWebSocket.connect(self.server.port, ssl_context=client_context(self.cert),
                                  timeout=60)
        self.track(ws.sock)
        # Python's SSL sockets misbehave when two threads use one with a timeout (a read
        # can report EOF while the other thread writes): block instead, bounded by CTest.
        ws.sock.settimeout(None)
        source = PatternSource(seed=7)
        with RssSampler(self.server):
            sender = StreamSender(ws, source, total, fragment=MiB)
            t0 = time.monotonic()
            sender.start()
            got = receive_stream(ws, total, expected_opcode=OP_BINARY)
            sender.join(60)
            elapsed = time.monotonic() - t0
        self.assertIsNone(sender.error)
        self.assertEqual(got["bytes"], total)
        self.assertEqual(got["sha256"], sender.hash.hexdigest())
        peak = self.server.peak_rss_kib()
        print(f"\n256 MiB over wss: {total / elapsed / 1e6:.0f} MB/s, server peak RSS {peak} KiB")
        self.assertLess(peak, 128 * 1024, "server peak RSS over 128 MiB while streaming over wss")


if __name__ == "__main__":
    main()
