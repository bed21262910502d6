"""Graceful shutdown on SIGINT/SIGTERM: every WebSocket client gets close 1001
"server shutting down" and the process exits 0."""

import asyncio
import signal
import socket
import time

import websockets

from sockeye_harness import (LOOPBACK, OP_TEXT, ServerTestCase, http_get, main)


class ShutdownTest(ServerTestCase):
    server_flags = ("--close-timeout", "2")

    async def _clients_get_1001(self, sig, n):
        clients = []
        for _ in range(n):
            clients.append(await websockets.connect(self.server.url(), ping_interval=None,
                                                    open_timeout=10, close_timeout=5))
        # Make sure every connection is fully established on the server side.
        for i, ws in enumerate(clients):
            await ws.send(f"hello {i}")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 10), f"hello {i}")
        t0 = time.monotonic()
        self.server.expected_exit = True
        self.server.send_signal(sig)
        for ws in clients:
            await asyncio.wait_for(ws.wait_closed(), 10)
        elapsed = time.monotonic() - t0
        codes = [(ws.close_code, ws.close_reason) for ws in clients]
        self.assertEqual(codes, [(1001, "server shutting down")] * n)
        self.assertLess(elapsed, 3.0)

    def _run(self, sig, n):
        asyncio.run(asyncio.wait_for(self._clients_get_1001(sig, n), 60))
        rc = self.server.wait(timeout=10)
        self.assertIsNotNone(rc, "server still running 10 s after the signal")
        self.assertEqual(rc, 0, self.server.describe())

    def test_sigint_ten_clients(self):
        self._run(signal.SIGINT, 10)

    def test_sigterm_ten_clients(self):
        self._run(signal.SIGTERM, 10)

    def test_sigint_idle_server_exits_0(self):
        self.server.expected_exit = True
        self.server.send_signal(signal.SIGINT)
        self.assertEqual(self.server.wait(timeout=5), 0, self.server.describe())

    def test_stops_accepting_after_signal(self):
        ws = self.raw_ws()
        self.server.expected_exit = True
        self.server.send_signal(signal.SIGINT)
        code, reason, _ = ws.expect_close(timeout=5)
        self.assertEqual((code, reason), (1001, b"server shutting down"))
        # While it waits for our close reply, new connections must not be served.
        try:
            s = socket.create_connection((LOOPBACK, self.server.port), timeout=2)
        except OSError:
            s = None
        if s is not None:
            self.track(s)
            s.settimeout(3)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b""
            self.assertFalse(data.startswith(b"HTTP/1.1 200"),
                             "server accepted and served a new request during shutdown")
        ws.send_close(1001)
        ws.wait_tcp_closed(timeout=5, allow_reset=True)
        self.assertEqual(self.server.wait(timeout=5), 0, self.server.describe())

    def test_unresponsive_client_bounded_by_close_timeout(self):
        ws = self.raw_ws()
        ws.send_text("x")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"x"))
        t0 = time.monotonic()
        self.server.expected_exit = True
        self.server.send_signal(signal.SIGINT)
        code, _, _ = ws.expect_close(timeout=5)
        self.assertEqual(code, 1001)
        # We never answer the close: the server must give up after --close-timeout 2.
        rc = self.server.wait(timeout=10)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, self.server.describe())
        self.assertGreater(elapsed, 1.0, "server did not wait for the close reply at all")
        self.assertLess(elapsed, 5.0)


if __name__ == "__main__":
    main()
