"""nghttpx (Debian's nghttp2-proxy) in front of Sockeye, with an HTTP/2 backend connection.

nghttpx listens in plain text (``-f HOST,PORT;no-tls``) and forwards everything to Sockeye
over h2c with prior knowledge (``-b 127.0.0.1,PORT;;proto=h2``). Its clients speak either
HTTP/1.1 (requests, and WebSocket Upgrades from Python `websockets`) or HTTP/2 (Python h2,
with RFC 8441 extended CONNECT for WebSockets). Every WebSocket reaches Sockeye as an
extended CONNECT on a stream of nghttpx's one backend connection, which Sockeye's /metrics
shows: sockeye_websockets_by_http_version_total{version="2"} and
sockeye_http2_connections_total.

Seen with nghttpx 1.52: after the WebSocket's close handshake nghttpx does not end its
side of the backend stream (no END_STREAM, no RST_STREAM) while Sockeye has ended its own,
so Sockeye holds the stream until --close-timeout and then resets it (logged as "close
timeout"). Clients see a clean close at once; only the server's bookkeeping (and a
shutdown behind nghttpx) waits.

Skipped when nghttpx is not installed (scripts/install-deps --test installs it)."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import websockets

from h2_websocket import H2Client
from sockeye_harness import ServerTestCase, fetch_metrics, main, wait_until

# Debian puts it in /usr/sbin, which is not on every user's PATH.
NGHTTPX = shutil.which("nghttpx") or shutil.which("nghttpx", path="/usr/sbin:/sbin")
ENABLE_CONNECT_PROTOCOL = 8
WS_V11 = 'sockeye_websockets_by_http_version_total{version="1.1"}'
WS_V2 = 'sockeye_websockets_by_http_version_total{version="2"}'
H2_CONNECTIONS = "sockeye_http2_connections_total"
H2_REQUESTS = "sockeye_http2_requests_total"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Nghttpx:
    """One nghttpx (master and worker, in their own process group) in front of `backend`."""

    def __init__(self, backend_port: int):
        self._tmp = tempfile.TemporaryDirectory(prefix="sockeye-nghttpx-")
        self.log_path = os.path.join(self._tmp.name, "nghttpx.log")
        self.backend_port = backend_port
        self.port = 0
        self.proc = None

    def start(self, attempts: int = 3) -> "Nghttpx":
        for _ in range(attempts):  # a free port may be taken before nghttpx binds it
            self.port = free_port()
            argv = [NGHTTPX, "--conf=/dev/null", "--workers=1", "--no-ocsp",
                    f"--frontend=127.0.0.1,{self.port};no-tls",
                    f"--backend=127.0.0.1,{self.backend_port};;proto=h2",
                    "--log-level=WARN", f"--errorlog-file={self.log_path}"]
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
            if wait_until(lambda: self.proc.poll() is not None or can_connect(self.port), 15):
                if self.proc.poll() is None:
                    return self
            self.stop()
        raise AssertionError(f"nghttpx did not start: {' '.join(argv)}\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            # Its own process group: the master and the worker it forked, nothing else.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        self._tmp.cleanup()


@unittest.skipIf(NGHTTPX is None, "nghttpx not installed (Debian package nghttp2-proxy)")
class NghttpxFrontTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.proxy = Nghttpx(self.server.port).start()
        self.addCleanup(self.proxy.cleanup)
        self.before = fetch_metrics(self.server.port)  # straight to Sockeye, HTTP/1.1

    def moved(self) -> dict[str, float]:
        after = fetch_metrics(self.server.port)
        return {k: after[k] - self.before[k]
                for k in (WS_V11, WS_V2, H2_CONNECTIONS, H2_REQUESTS)}

    def run_async(self, coro, timeout=30):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    def proxy_ws_url(self, path="/"):
        return f"ws://127.0.0.1:{self.proxy.port}{path}"

    def test_plain_get_reaches_sockeye_over_h2(self):
        conn = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10)
        self.track(conn)
        conn.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK", head)
        headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        # "2 nghttpx": nghttpx got the response over HTTP/2.
        self.assertEqual(headers.get("via"), "2 nghttpx", head)
        with open(os.path.join(os.environ["SOCKEYE_WEB_ROOT"], "index.html"), "rb") as f:
            self.assertEqual(body, f.read())
        m = self.moved()
        self.assertEqual(m[H2_CONNECTIONS], 1, m)
        self.assertEqual(m[H2_REQUESTS], 1, m)

    def test_websocket_upgrade_to_nghttpx_is_rfc8441_to_sockeye(self):
        async def session():
            async with websockets.connect(self.proxy_ws_url("/chat?via=nghttpx"),
                                          max_size=None) as ws:
                await ws.send("hello through nghttpx")
                text = await ws.recv()
                payload = os.urandom(300_000)  # past every 64 KiB window on both hops
                await ws.send(payload)
                echo = await ws.recv()
                await ws.close(1000, "done")
                return text, echo == payload, ws.close_code

        text, same, code = self.run_async(session())
        self.assertEqual(text, "hello through nghttpx")
        self.assertTrue(same, "the 300,000 B binary echo differs")
        self.assertEqual(code, 1000)
        m = self.moved()
        self.assertEqual((m[WS_V2], m[WS_V11]), (1, 0), m)
        self.assertEqual(m[H2_CONNECTIONS], 1, m)

    def test_websockets_share_the_one_backend_connection(self):
        async def one(i):
            async with websockets.connect(self.proxy_ws_url(f"/ws/{i}")) as ws:
                await ws.send(f"message {i}")
                return await ws.recv()

        async def many():
            return await asyncio.gather(*(one(i) for i in range(5)))

        self.assertEqual(self.run_async(many()), [f"message {i}" for i in range(5)])
        m = self.moved()
        self.assertEqual((m[WS_V2], m[WS_V11]), (5, 0), m)
        self.assertEqual(m[H2_CONNECTIONS], 1, m)

    def test_rfc8441_client_through_nghttpx(self):
        c = H2Client(self.proxy.port)
        self.track(c.sock)
        self.assertEqual(c.server_settings.get(ENABLE_CONNECT_PROTOCOL), 1,
                         "nghttpx's frontend does not offer extended CONNECT")
        s = c.open_websocket("/rfc8441")
        self.assertEqual(s.status, 200, s.headers)
        self.assertEqual(s.headers.get("via"), "2 nghttpx", s.headers)
        s.send_text("h2 on both hops ✓")
        self.assertEqual(s.receive_message(), "h2 on both hops ✓")
        payload = os.urandom(100_000)
        s.send_bytes(payload)
        self.assertEqual(s.receive_message(), payload)
        s.close(4001, "bye")
        self.assertEqual(s.wait_close().code, 4001)
        c.close()
        m = self.moved()
        self.assertEqual((m[WS_V2], m[WS_V11]), (1, 0), m)
        self.assertEqual(m[H2_CONNECTIONS], 1, m)

    def test_server_shutdown_reaches_the_client_as_1001(self):
        async def session():
            async with websockets.connect(self.proxy_ws_url()) as ws:
                await ws.send("before shutdown")
                self.assertEqual(await ws.recv(), "before shutdown")
                self.server.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(ws.recv(), 15)
                except websockets.ConnectionClosed as e:
                    return e.rcvd.code if e.rcvd else None
                return "no close"

        self.assertEqual(self.run_async(session()), 1001)
        self.assertTrue(wait_until(lambda: self.server.proc.poll() is not None, 15),
                        "sockeye did not exit after SIGTERM")
        self.server.expected_exit = True
        self.assertEqual(self.server.proc.returncode, 0, self.server.describe())


if __name__ == "__main__":
    main()
