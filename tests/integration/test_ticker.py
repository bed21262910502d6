"""examples/ticker: a worker thread pushes a tick to every client every 100 ms through
connection handles. Clients get the ticks in order at that pace, clients that leave in
the middle of the stream harm nobody, and SIGTERM ends the process with 0."""

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import unittest

import websockets

LISTEN_RE = re.compile(rb"^listening on ws://127\.0\.0\.1:(\d+)/$")


def ticker_binary() -> str:
    path = os.environ.get("SOCKEYE_TICKER")
    if not path:
        raise unittest.SkipTest("SOCKEYE_TICKER is not set (run through CTest)")
    return path


class TickerTest(unittest.TestCase):
    def setUp(self):
        self.proc = subprocess.Popen([ticker_binary(), "0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().rstrip(b"\r\n")
        m = LISTEN_RE.match(line)
        if not m:
            self.proc.kill()
            self.fail(f"first stdout line {line!r}, expected 'listening on ws://...'")
        self.url = f"ws://127.0.0.1:{int(m.group(1))}/"

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    async def _ticks(self, ws, n):
        got = []
        for _ in range(n):
            got.append((time.monotonic(), json.loads(await asyncio.wait_for(ws.recv(), 5))))
        return got

    async def _one_client_in_order(self):
        async with websockets.connect(self.url, ping_interval=None) as ws:
            got = await self._ticks(ws, 8)
        ticks = [t["tick"] for _, t in got]
        self.assertEqual(ticks, list(range(ticks[0], ticks[0] + 8)), ticks)
        gaps = [b[0] - a[0] for a, b in zip(got, got[1:])]
        average = sum(gaps) / len(gaps)
        self.assertGreater(average, 0.06, gaps)
        self.assertLess(average, 0.2, gaps)
        stamps = [t["ms"] for _, t in got]
        self.assertEqual(stamps, sorted(stamps))

    async def _many_clients_some_leave(self):
        clients = [await websockets.connect(self.url, ping_interval=None) for _ in range(50)]
        for ws in clients:
            await self._ticks(ws, 1)
        # Every other client leaves in the middle of the stream: half with a close
        # handshake, half by dropping TCP without one.
        leaving, staying = clients[::2], clients[1::2]
        for i, ws in enumerate(leaving):
            if i % 2:
                await ws.close()
            else:
                ws.transport.abort()
        results = await asyncio.gather(*(self._ticks(ws, 5) for ws in staying))
        for got in results:
            ticks = [t["tick"] for _, t in got]
            self.assertEqual(ticks, list(range(ticks[0], ticks[0] + 5)), ticks)
        for ws in staying:
            await ws.close()
        # The server still takes new clients.
        async with websockets.connect(self.url, ping_interval=None) as ws:
            await self._ticks(ws, 2)

    def _terminate(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("ticker still running 15 s after SIGTERM")
        self.assertEqual(rc, 0, self.proc.stderr.read().decode("utf-8", "replace"))

    def test_ticks_in_order_at_100ms(self):
        asyncio.run(asyncio.wait_for(self._one_client_in_order(), 60))
        self._terminate()

    def test_fifty_clients_some_leave_mid_stream(self):
        asyncio.run(asyncio.wait_for(self._many_clients_some_leave(), 60))
        self._terminate()

    def test_sigterm_with_clients_connected(self):
        async def run():
            clients = [await websockets.connect(self.url, ping_interval=None)
                       for _ in range(5)]
            for ws in clients:
                await self._ticks(ws, 1)
            self.proc.send_signal(signal.SIGTERM)
            for ws in clients:
                await asyncio.wait_for(ws.wait_closed(), 10)
                self.assertEqual(ws.close_code, 1001)
        asyncio.run(asyncio.wait_for(run(), 60))
        rc = self.proc.wait(timeout=15)
        self.assertEqual(rc, 0, self.proc.stderr.read().decode("utf-8", "replace"))


if __name__ == "__main__":
    unittest.main()
