"""Piped `sockeye connect` after stdin ends: it keeps receiving until the server has been
quiet for --linger seconds (default 1), or until the server closes, then closes with 1000.
Against a Python `websockets` server whose echoes come late, as from a slow backend."""

import asyncio
import threading
import time
import unittest

import websockets

from sockeye_harness import LOOPBACK, main
from test_client import ClientAssertions, run_client


class SlowEchoServer:
    """websockets' asyncio server on a free port: echoes each message `delay` seconds after
    the previous echo (so echoes of a burst come spaced out); the message "bye" gets a close
    1000 "bye" instead."""

    def __init__(self, delay):
        self.delay = delay

    def __enter__(self):
        ready = threading.Event()

        async def echo(ws, path=None):
            try:
                async for message in ws:
                    await asyncio.sleep(self.delay)
                    if message == "bye":
                        await ws.close(1000, "bye")
                        return
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
        self.url = f"ws://{LOOPBACK}:{self.port}/"
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        self.thread.join(timeout=15)


def connect(url, lines, *extra):
    started = time.monotonic()
    proc = run_client("connect", url, *extra, stdin_text="".join(l + "\n" for l in lines))
    return proc, time.monotonic() - started


class ConnectLingerTest(ClientAssertions):
    def test_default_waits_for_late_echoes(self):
        # Both echoes come 200 and 400 ms after stdin ended; the default linger (1 s of
        # quiet) receives them, then closes cleanly.
        with SlowEchoServer(0.2) as srv:
            proc, took = connect(srv.url, ["one", "two"])
        self.assert_rc(proc, 0)
        self.assertEqual(proc.stdout, "one\ntwo\n")
        self.assertIn("closed: 1000", proc.stderr)
        self.assertLess(took, 8, proc.stderr)

    def test_quiet_period_restarts_with_each_frame(self):
        # Echoes 300 ms apart, the last 1.2 s after stdin ended: a fixed 0.5 s wait would
        # miss all but the first, a 0.5 s quiet period gets them all.
        lines = ["a", "b", "c", "d"]
        with SlowEchoServer(0.3) as srv:
            proc, took = connect(srv.url, lines, "--linger", "0.5")
        self.assert_rc(proc, 0)
        self.assertEqual(proc.stdout.split("\n")[:-1], lines)
        self.assertGreater(took, 1.2)

    def test_linger_zero_closes_at_once(self):
        # The close goes out right behind the lines: the server, still waiting to echo,
        # answers the close and drops its echoes.
        with SlowEchoServer(0.2) as srv:
            proc, took = connect(srv.url, ["one", "two"], "--linger", "0")
        self.assert_rc(proc, 0)
        self.assertEqual(proc.stdout, "")
        self.assertIn("closed: 1000", proc.stderr)
        self.assertLess(took, 5, proc.stderr)

    def test_server_closing_first_ends_it(self):
        # A long linger does not keep the client once the server closes.
        with SlowEchoServer(0.2) as srv:
            proc, took = connect(srv.url, ["one", "bye"], "--linger", "30")
        self.assert_rc(proc, 0)
        self.assertEqual(proc.stdout, "one\n")
        self.assertIn("closed: 1000 bye", proc.stderr)
        self.assertLess(took, 10, proc.stderr)


if __name__ == "__main__":
    main()
