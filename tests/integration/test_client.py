"""The `sockeye connect` and `sockeye send` client commands against `sockeye serve`, a
Python `websockets` echo server, a Node `ws` echo server and hand-made misbehaving
servers: echo of piped lines, streamed sends with --expect-echo (up to 1 GiB with the
client's peak RSS bounded), wss with a `sockeye cert` CA, and every failure class with its
own exit code (3 connect, 4 TLS, 5 handshake, 6 timeout)."""

import asyncio
import base64
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import websockets

from sockeye_harness import (GiB, LOOPBACK, OP_BINARY, OP_CLOSE, OP_PING, WS_GUID, MiB,
                             ServerTestCase, build_frame, frame_header, main, mask_bytes,
                             server_binary)
from test_tls import TlsServerTestCase

HERE = os.path.dirname(os.path.abspath(__file__))

EXIT_CONNECT, EXIT_TLS, EXIT_HANDSHAKE, EXIT_TIMEOUT, EXIT_MISMATCH, EXIT_ABNORMAL = 3, 4, 5, 6, 7, 8


def run_client(*args, stdin_text=None, timeout=60):
    return subprocess.run([server_binary(), *map(str, args)], input=stdin_text,
                          capture_output=True, text=True, timeout=timeout)


class ClientAssertions(unittest.TestCase):
    def assert_rc(self, proc, rc):
        self.assertEqual(proc.returncode, rc,
                         f"exit {proc.returncode}, expected {rc}\nstdout: {proc.stdout}\n"
                         f"stderr: {proc.stderr}")

    def check_send_echo(self, url, *extra, size=3 * MiB + 17):
        proc = run_client("send", url, "--size", size, "--expect-echo", *extra, timeout=120)
        self.assert_rc(proc, 0)
        self.assertIn(f"sent {size} bytes in", proc.stdout)
        self.assertIn("echo SHA-256 matches", proc.stdout)

    def check_piped_lines(self, url, *extra):
        # Lines go out one per message; the server's echoes come back one per line.
        lines = ["hello", "", "grüße 🎉", "x" * 70000]
        proc = run_client("connect", url, "--linger", "1", *extra,
                          stdin_text="".join(l + "\n" for l in lines))
        self.assert_rc(proc, 0)
        self.assertEqual(proc.stdout.split("\n")[:-1], lines)
        self.assertIn("closed: 1000", proc.stderr)


class SockeyeServeClientTest(ServerTestCase, ClientAssertions):
    def test_piped_lines_echo(self):
        self.check_piped_lines(self.server.url("/lines?x=1"))

    def test_send_text_and_binary(self):
        self.check_send_echo(self.server.url())
        self.check_send_echo(self.server.url(), "--binary")
        self.check_send_echo(self.server.url(), "--binary", size=0)

    def test_send_fragments(self):
        self.check_send_echo(self.server.url(), "--binary", "--fragment", 1000, size=250_001)
        self.check_send_echo(self.server.url(), "--fragment", 1, size=3000)

    def test_send_file(self):
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            f.write(os.urandom(2 * MiB + 3))
            f.flush()
            proc = run_client("send", self.server.url(), "--file", f.name, "--binary",
                              "--expect-echo")
        self.assert_rc(proc, 0)
        self.assertIn(f"sent {2 * MiB + 3} bytes", proc.stdout)
        self.assertIn("echo SHA-256 matches", proc.stdout)

    def test_localhost_name_resolves(self):
        # "localhost" may resolve to ::1 first; the client falls back to 127.0.0.1.
        self.check_send_echo(f"ws://localhost:{self.server.port}/", size=1000)

    def test_abnormal_close_code(self):
        # The server limits messages to 1000 bytes: closing with 1009 is abnormal (8).
        server = self.start_server("--max-message", "1000")
        proc = run_client("send", server.url(), "--size", 5000, "--expect-echo")
        self.assert_rc(proc, EXIT_ABNORMAL)
        self.assertIn("1009", proc.stderr)

    def test_connection_refused(self):
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]  # bound, not listening: connecting is refused
            proc = run_client("connect", f"ws://{LOOPBACK}:{port}/", stdin_text="")
        self.assert_rc(proc, EXIT_CONNECT)
        self.assertIn("connection refused", proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)

    def test_bad_url_is_usage_error(self):
        proc = run_client("connect", "ftp://example.com/", stdin_text="")
        self.assert_rc(proc, 2)
        self.assertIn("unsupported scheme", proc.stderr)

    def test_plain_client_to_tls_port_fails(self):
        proc = run_client("connect", f"wss://{LOOPBACK}:{self.server.port}/", stdin_text="")
        self.assert_rc(proc, EXIT_TLS)


class OriginRejectionTest(ServerTestCase, ClientAssertions):
    server_flags = ("--origin", "https://good.example")

    def test_403_without_origin(self):
        proc = run_client("connect", self.server.url(), stdin_text="")
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("HTTP 403", proc.stderr)

    def test_403_with_wrong_origin(self):
        proc = run_client("connect", self.server.url(), "--origin", "https://evil.example",
                          stdin_text="")
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("HTTP 403", proc.stderr)

    def test_right_origin_connects(self):
        self.check_piped_lines(self.server.url(), "--origin", "https://good.example")


class WssClientTest(TlsServerTestCase, ClientAssertions):
    def wss(self):
        return f"wss://localhost:{self.server.port}/"

    def test_with_cacert(self):
        self.check_send_echo(self.wss(), "--cacert", self.cert, "--binary")
        self.check_piped_lines(self.wss(), "--cacert", self.cert)

    def test_ip_literal_with_cacert(self):
        # The sockeye cert names 127.0.0.1 too: checked as an IP address SAN.
        self.check_send_echo(f"wss://{LOOPBACK}:{self.server.port}/", "--cacert", self.cert)

    def test_untrusted_certificate_fails(self):
        proc = run_client("send", self.wss(), "--size", 10)
        self.assert_rc(proc, EXIT_TLS)
        self.assertIn("certificate", proc.stderr)

    def test_wrong_name_fails(self):
        certdir = tempfile.mkdtemp(prefix="sockeye-tls-other-")
        self.addCleanup(shutil.rmtree, certdir, True)
        from test_tls import make_cert
        cert, key = make_cert(certdir, "other.example")
        server = self.start_server("--tls-cert", cert, "--tls-key", key)
        proc = run_client("send", f"wss://localhost:{server.port}/", "--size", 10,
                          "--cacert", cert)
        self.assert_rc(proc, EXIT_TLS)

    def test_insecure_skips_verification(self):
        self.check_send_echo(self.wss(), "--insecure")


# ---------------------------------------------------------------- third-party servers

class PythonWebsocketsServer:
    """websockets' asyncio echo server on a free port, in a thread with its own loop."""

    def __enter__(self):
        ready = threading.Event()

        async def echo(ws, path=None):
            try:
                async for message in ws:
                    await ws.send(message)
            except websockets.ConnectionClosed:
                pass

        async def serve():
            self.stop = asyncio.get_running_loop().create_future()
            async with websockets.serve(echo, LOOPBACK, 0, max_size=None) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await self.stop

        def run():
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(serve())
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(15):
            raise AssertionError("websockets server did not start")
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        self.thread.join(timeout=15)


class PythonWebsocketsServerTest(ClientAssertions):
    def test_echo(self):
        with PythonWebsocketsServer() as srv:
            url = f"ws://{LOOPBACK}:{srv.port}/py"
            self.check_piped_lines(url)
            self.check_send_echo(url)
            self.check_send_echo(url, "--binary", "--fragment", 4096, size=MiB + 1)


class NodeWsServerTest(ClientAssertions):
    def test_echo(self):
        node = os.environ.get("SOCKEYE_NODE")
        modules = os.environ.get("SOCKEYE_NODE_MODULES")
        if not node or not modules or not os.path.isdir(os.path.join(modules, "ws")):
            self.fail(f"needs SOCKEYE_NODE and ws in SOCKEYE_NODE_MODULES={modules!r}")
        proc = subprocess.Popen([node, os.path.join(HERE, "node", "ws_echo_server.js")],
                                env=dict(os.environ, NODE_PATH=modules), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = proc.stdout.readline()
            if not line.startswith("listening "):
                proc.kill()
                self.fail(f"node echo server did not start: {line}{proc.stderr.read()}")
            url = f"ws://{LOOPBACK}:{int(line.split()[1])}/node"
            self.check_piped_lines(url)
            self.check_send_echo(url)
            self.check_send_echo(url, "--binary", "--fragment", 65536, size=4 * MiB)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()
            proc.stderr.close()


# ---------------------------------------------------------------- misbehaving servers

class RawServer:
    """Accepts connections and answers each request head with `reply` (None: never)."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if self.reply is not None:
                    conn.sendall(self.reply(data))
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class HandshakeFailureTest(ClientAssertions):
    def raw(self, reply):
        server = RawServer(reply)
        self.addCleanup(server.close)
        return f"ws://{LOOPBACK}:{server.port}/"

    def test_426(self):
        url = self.raw(lambda req: b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13"
                                   b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        proc = run_client("connect", url, stdin_text="")
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("HTTP 426", proc.stderr)

    def test_wrong_accept(self):
        url = self.raw(lambda req: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   b"Connection: Upgrade\r\n"
                                   b"Sec-WebSocket-Accept: dGhpcyBpcyBub3QgaXQ=\r\n\r\n")
        proc = run_client("send", url, "--size", 10)
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("Accept", proc.stderr)

    def test_missing_upgrade_header(self):
        import base64
        import hashlib

        def reply(req):
            key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(hashlib.sha1(
                key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            return (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        proc = run_client("connect", self.raw(reply), stdin_text="")
        self.assert_rc(proc, EXIT_HANDSHAKE)

    def test_garbage_answer(self):
        proc = run_client("connect", self.raw(lambda req: b"SSH-2.0-OpenSSH_9.2\r\n"),
                          stdin_text="")
        self.assert_rc(proc, EXIT_HANDSHAKE)

    def test_silent_server_times_out(self):
        started = time.monotonic()
        proc = run_client("connect", self.raw(None), "--connect-timeout", "1", stdin_text="")
        self.assert_rc(proc, EXIT_TIMEOUT)
        self.assertIn("timed out", proc.stderr)
        self.assertLess(time.monotonic() - started, 10)


# ---------------------------------------------------------------- hostile servers

def accept_header(request: bytes) -> bytes:
    key = [l.split(b":", 1)[1].strip() for l in request.split(b"\r\n")
           if l.lower().startswith(b"sec-websocket-key:")][0]
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


class HostileServer:
    """One WebSocket connection on loopback: completes the upgrade, then runs
    `behaviour(conn, server)` on its own thread. Every socket call has a timeout."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(1)
        self.sock.settimeout(15)
        self.port = self.sock.getsockname()[1]
        self.url = f"ws://{LOOPBACK}:{self.port}/"
        self.conn = None
        self.error = None
        self.result = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            conn, _ = self.sock.accept()
            self.conn = conn
            conn.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                         accept_header(request) + b"\r\n\r\n")
            self.behaviour(conn, self)
        except OSError as e:
            self.error = e

    def close(self):
        self.stop.set()
        self.thread.join(timeout=30)
        for s in (self.conn, self.sock):
            if s is not None:
                s.close()


def read_client_frames(conn, deadline):
    """Yields (opcode, payload) for each (masked) frame the client sends, until EOF or the
    deadline."""
    buf = b""

    def need(n):
        nonlocal buf
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError("no frame from the client in time")
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError
            buf += chunk

    while True:
        need(2)
        opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
        at = 2
        if length == 126:
            need(4)
            length, at = struct.unpack("!H", buf[2:4])[0], 4
        elif length == 127:
            need(10)
            length, at = struct.unpack("!Q", buf[2:10])[0], 10
        need(at + 4 + length)
        key = buf[at:at + 4]
        payload = mask_bytes(buf[at + 4:at + 4 + length], key)
        buf = buf[at + 4 + length:]
        yield opcode, payload


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class HostileServerTest(ClientAssertions):
    """`sockeye connect` against servers that try to exhaust its memory. The client's peak
    RSS (VmHWM) must stay bounded: without limits it grew by everything the server sent."""

    # Unbounded, the client reached 137 MiB (ping flood) and 323 MiB (one 200 MB message);
    # bounded it stays near its idle size, which sanitizers roughly triple.
    RSS_LIMIT_KIB = (96 if os.environ.get("SOCKEYE_SANITIZED") else 48) * 1024

    def connect(self, server, *extra):
        # stdin stays open: the client must not close on its own.
        proc = subprocess.Popen([server_binary(), "connect", server.url, *extra],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            proc.stdin.close()
            proc.stderr.close()
        self.addCleanup(stop)
        return proc

    def test_ping_flood_without_reading_keeps_client_memory_bounded(self):
        # 120 MB of 125-byte pings, never reading the pongs. A client that answers every
        # ping while still reading queues ~124 MB of pongs; one that stops reading while
        # its replies are unsent stalls this sender in the TCP window instead.
        ping = build_frame(OP_PING, b"p" * 125, mask=False)
        batch = ping * (MiB // len(ping))
        total = 120 * 1000 * 1000

        def flood(conn, server):
            conn.settimeout(3)
            sent, t0 = 0, time.monotonic()
            try:
                while sent < total and time.monotonic() - t0 < 60 and not server.stop.is_set():
                    conn.sendall(batch)
                    sent += len(batch)
                server.result["stalled"] = False
            except socket.timeout:
                server.result["stalled"] = True  # the client stopped reading
            server.result["sent"] = sent

        server = HostileServer(flood)
        self.addCleanup(server.close)
        proc = self.connect(server)
        server.thread.join(timeout=90)
        self.assertFalse(server.thread.is_alive(), "the flood did not end")
        self.assertIsNone(server.error)
        self.assertIsNone(proc.poll(), "the client exited during the flood")
        time.sleep(0.5)  # whatever the client still does with what it read
        peak = vm_hwm_kib(proc.pid)
        print(f"\nping flood: sent {server.result['sent'] / 1e6:.0f} MB of pings "
              f"(stalled: {server.result['stalled']}); client peak RSS {peak // 1024} MiB")
        self.assertLess(peak, self.RSS_LIMIT_KIB, f"client peak RSS {peak} KiB")

    def test_huge_message_is_refused_with_1009(self):
        # A single 200 MB binary message: `connect` prints whole messages, so without a
        # limit it buffers all of it. The default --max-message refuses it at the header.
        size = 200 * 1000 * 1000
        chunk = b"\0" * MiB

        def huge(conn, server):
            conn.settimeout(3)

            def send_all():
                try:
                    conn.sendall(frame_header(OP_BINARY, size, mask_key=None))
                    sent = 0
                    while sent < size and not server.stop.is_set():
                        conn.sendall(chunk[:min(len(chunk), size - sent)])
                        sent += min(len(chunk), size - sent)
                except OSError:
                    pass  # the client closed: expected
            sender = threading.Thread(target=send_all, daemon=True)
            sender.start()
            conn.settimeout(0.5)
            try:
                for opcode, payload in read_client_frames(conn, time.monotonic() + 30):
                    if opcode == OP_CLOSE:
                        server.result["close"] = payload
                        break
            except (EOFError, TimeoutError, OSError) as e:
                server.result["read_end"] = repr(e)
            server.stop.set()
            sender.join(timeout=30)
            try:
                conn.settimeout(3)
                conn.sendall(build_frame(OP_CLOSE, server.result.get("close", b"")[:2],
                                         mask=False))
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        server = HostileServer(huge)
        self.addCleanup(server.close)
        proc = self.connect(server)
        server.thread.join(timeout=60)
        self.assertFalse(server.thread.is_alive(), "the hostile server did not finish")
        peak = vm_hwm_kib(proc.pid) if proc.poll() is None else None
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        err = proc.stderr.read() if rc is not None else ""
        if peak is not None:
            print(f"\nhuge message: client peak RSS {peak // 1024} MiB")
        close = server.result.get("close")
        self.assertIsNotNone(close, f"no close frame from the client: {server.result}")
        self.assertEqual(struct.unpack("!H", close[:2])[0], 1009, close)
        self.assertEqual(rc, EXIT_ABNORMAL, err)
        self.assertIn("closed: 1009", err)
        if peak is not None:
            self.assertLess(peak, self.RSS_LIMIT_KIB, f"client peak RSS {peak} KiB")


# ---------------------------------------------------------------- heavy

class GiBSendTest(ServerTestCase, ClientAssertions):
    def test_1gib_send_expect_echo_bounded_memory(self):
        argv = [server_binary(), "send", self.server.url(), "--size", str(GiB), "--binary",
                "--expect-echo"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        peak_kib = 0
        deadline = time.monotonic() + 500
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith(("VmHWM:", "VmRSS:")):
                            peak_kib = max(peak_kib, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, f"{out}\n{err}")
        self.assertIn(f"sent {GiB} bytes in", out)
        self.assertIn("echo SHA-256 matches", out)
        print(f"client peak RSS {peak_kib // 1024} MiB; {out.strip()}")
        self.assertLess(peak_kib, 64 * 1024, f"client peak RSS {peak_kib} KiB")


if __name__ == "__main__":
    main()
