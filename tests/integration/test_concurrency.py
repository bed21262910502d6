"""Many clients at once: 1,000 concurrent echoing connections, and clients that reset
mid-frame while others keep echoing."""

import asyncio
import base64
import os
import signal
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import websockets

from sockeye_harness import (LOOPBACK, OP_TEXT, ServerTestCase, build_frame, fetch_metrics,
                             frame_header, main, metric_sum, raise_nofile_limit, wait_until)

N_CONNECTIONS = 1000


def open_connections(metrics):
    value = metric_sum(metrics, "sockeye_connections_open")
    if value is None:
        raise AssertionError("/metrics has no sockeye_connections_open sample")
    return value


class ThousandConnectionsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        # Before the server starts, so that it inherits the raised limit too.
        limit = raise_nofile_limit(8192)
        if limit < 2 * N_CONNECTIONS + 100:
            raise AssertionError(f"RLIMIT_NOFILE is only {limit}")

    async def _run(self):
        url = self.server.url("/")
        gate = asyncio.Semaphore(100)  # connection attempts in flight, not connections

        async def connect(i):
            async with gate:
                return await websockets.connect(url, ping_interval=None, open_timeout=30,
                                                close_timeout=10, max_size=None,
                                                compression=None)

        t0 = time.monotonic()
        clients = await asyncio.gather(*(connect(i) for i in range(N_CONNECTIONS)))
        connect_s = time.monotonic() - t0
        try:
            # All 1,000 are open at once now; the server must count them.
            metrics = await asyncio.to_thread(fetch_metrics, self.server.port)
            self.assertGreaterEqual(open_connections(metrics), N_CONNECTIONS,
                                    "sockeye_connections_open while 1000 clients are connected")

            async def echo(i, ws):
                for k in range(3):
                    text = f"client {i} message {k} " + "x" * (i % 300)
                    await ws.send(text)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 30), text)
                    data = os.urandom(1 + (i * 7 + k) % 5000)
                    await ws.send(data)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 30), data)

            t1 = time.monotonic()
            await asyncio.gather(*(echo(i, ws) for i, ws in enumerate(clients)))
            echo_s = time.monotonic() - t1
        finally:
            await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
        self.assertTrue(all(ws.close_code == 1000 for ws in clients),
                        {ws.close_code for ws in clients})
        print(f"\n1000 connections: connect {connect_s:.2f}s, 6000 echoes {echo_s:.2f}s")

    def test_thousand_concurrent_echo_connections(self):
        asyncio.run(asyncio.wait_for(self._run(), 120))
        # Everything closed: the open-connection gauge comes back down.
        settled = wait_until(
            lambda: open_connections(fetch_metrics(self.server.port)) <= 2, 10)
        self.assertTrue(settled, "sockeye_connections_open did not drop after all clients closed")


def reset_client(port, mode, seed):
    """Opens a WebSocket (or part of one), stops in the middle of something and resets."""
    s = socket.create_connection((LOOPBACK, port), timeout=10)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET / HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
        if mode == "mid-handshake":
            s.sendall(req[: len(req) // 2])
        else:
            s.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError("server closed during handshake")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                raise AssertionError(f"handshake failed: {head[:80]!r}")
            size = 1000 + seed * 37
            if mode == "mid-header":
                s.sendall(frame_header(0x2, 70_000)[:3])
            elif mode == "mid-payload":
                frame = build_frame(0x2, os.urandom(size))
                s.sendall(frame[: len(frame) // 2])
            elif mode == "mid-big-payload":
                # A big frame whose echo is streaming back when the reset hits.
                s.sendall(frame_header(0x2, 4 << 20, mask_key=b"\0\0\0\0") + b"\0" * (1 << 20))
        time.sleep(0.01 * (seed % 5))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()  # with SO_LINGER 0 → RST
    return mode


class ResetStormTest(ServerTestCase):
    N_RESET = 100
    N_ECHO = 20

    def test_resets_mid_frame_do_not_disturb_others(self):
        port = self.server.port
        modes = ["mid-payload", "mid-header", "mid-handshake", "mid-big-payload"]
        results = {}
        echoes = [0]  # completed echo round trips, all clients together

        async def echo_client(i, stop):
            done = 0
            async with websockets.connect(self.server.url("/"), ping_interval=None,
                                          open_timeout=10, max_size=None,
                                          compression=None) as ws:
                while not stop.is_set() or done < 20:
                    msg = os.urandom(1 + (i * 131 + done * 17) % 20000)
                    await ws.send(msg)
                    echo = await asyncio.wait_for(ws.recv(), 20)
                    self.assertEqual(echo, msg, f"echo client {i} got a wrong echo")
                    text = f"{i}:{done}"
                    await ws.send(text)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 20), text)
                    done += 1
                    echoes[0] += 1
                await ws.close()
                self.assertEqual(ws.close_code, 1000)
            results[i] = done

        async def main_task():
            stop = asyncio.Event()
            echoers = [asyncio.create_task(echo_client(i, stop)) for i in range(self.N_ECHO)]
            await asyncio.sleep(0.2)
            before = echoes[0]
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(max_workers=20) as pool:
                resets = [loop.run_in_executor(pool, reset_client, port,
                                               modes[k % len(modes)], k)
                          for k in range(self.N_RESET)]
                done_modes = await asyncio.gather(*resets)
            during = echoes[0] - before
            stop.set()
            self.assertGreaterEqual(during, self.N_ECHO,
                                    "echo clients made no progress while the resets happened")
            await asyncio.gather(*echoers)
            return done_modes

        done_modes = asyncio.run(asyncio.wait_for(main_task(), 90))
        self.assertEqual(len(done_modes), self.N_RESET)
        self.assertEqual(len(results), self.N_ECHO)
        self.assertTrue(all(n >= 20 for n in results.values()), results)
        self.assertTrue(self.server.alive(), "server died during the reset storm")
        # The reset connections are all cleaned up.
        settled = wait_until(
            lambda: open_connections(fetch_metrics(self.server.port)) <= 2, 10)
        last = open_connections(fetch_metrics(self.server.port))
        self.assertTrue(settled, f"sockeye_connections_open stuck at {last} after the storm")
        # And a fresh client is served normally.
        ws = self.raw_ws()
        ws.send_text("after the storm")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"after the storm"))


class ThreadedServerTest(ServerTestCase):
    """--threads 2: connections spread over two loops, all echo, the shared counters add
    up, and SIGTERM (handled on the first loop) closes the clients of both with 1001."""

    server_flags = ("--threads", "2")

    def test_two_loops_echo_count_and_shut_down_together(self):
        raise_nofile_limit(4096)
        n = 300

        async def run():
            url = self.server.url("/")
            clients = await asyncio.gather(*(websockets.connect(url, ping_interval=None)
                                             for _ in range(n)))
            metrics = await asyncio.to_thread(fetch_metrics, self.server.port)
            self.assertGreaterEqual(open_connections(metrics), n)

            async def echo(i, ws):
                for k in range(5):
                    text = f"{i}:{k}:" + "t" * (i % 97)
                    await ws.send(text)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 30), text)
            await asyncio.gather(*(echo(i, ws) for i, ws in enumerate(clients)))
            metrics = await asyncio.to_thread(fetch_metrics, self.server.port)
            self.assertGreaterEqual(metric_sum(metrics, "sockeye_messages_received_total"), n * 5)
            with open(f"/proc/{self.server.pid}/status") as f:
                threads = int(next(x for x in f if x.startswith("Threads:")).split()[1])
            self.assertGreaterEqual(threads, 2)
            self.server.send_signal(signal.SIGTERM)
            await asyncio.gather(*(asyncio.wait_for(ws.wait_closed(), 15) for ws in clients))
            return {ws.close_code for ws in clients}

        codes = asyncio.run(asyncio.wait_for(run(), 120))
        self.assertEqual(codes, {1001})
        self.assertEqual(self.server.wait(15), 0)
        self.server.expected_exit = True


if __name__ == "__main__":
    main()
