"""Smoke test of `sockeye bench`, the load generator of the comparison benchmarks: each
mode runs briefly against `sockeye serve` and must report sane numbers in its JSON line
(messages and latencies, a verified SHA-256, handshakes, server bytes per connection)."""

import asyncio
import json
import subprocess
import threading
import unittest

import websockets

from sockeye_harness import MiB, ServerTestCase, main, server_binary


class BenchCommandTest(ServerTestCase):
    def bench(self, mode, *args, timeout=120):
        proc = subprocess.run(
            [server_binary(), "bench", mode, self.server.url(), "--server-pid",
             str(self.server.pid), "--json", *map(str, args)],
            capture_output=True, text=True, timeout=timeout)
        self.assertEqual(proc.returncode, 0,
                         f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 2, proc.stdout)  # the human line, then the JSON line
        result = json.loads(lines[1])
        self.assertEqual(result["mode"], mode)
        self.assertGreaterEqual(result["server_cpu_pct"], 0)
        return result

    def test_pingpong(self):
        r = self.bench("pingpong", "--connections", 4, "--size", 100, "--duration", 1,
                       "--warmup", 0.2)
        self.assertGreater(r["messages"], 0)
        self.assertGreater(r["msgs_per_s"], 0)
        self.assertGreater(r["p50_us"], 0)
        self.assertLessEqual(r["p50_us"], r["p99_us"])
        self.assertLessEqual(r["p99_us"], r["p999_us"])
        self.assertLess(r["p50_us"], 1e6)
        self.assertGreaterEqual(r["server_user_us_per_op"], 0)
        self.assertGreaterEqual(r["server_sys_us_per_op"], 0)

    def test_pingpong_paced(self):
        # --rate spaces the pings: 500 per second, not the thousands the saturated
        # pingpong reaches even here; a sanitizer build or a busy machine may fall short
        # of the rate (sends are then skipped, not bunched), never above it.
        r = self.bench("pingpong", "--connections", 10, "--rate", 500, "--duration", 1,
                       "--warmup", 0.2)
        self.assertEqual(r["rate"], 500)
        self.assertGreater(r["messages"], 50)
        self.assertLess(r["msgs_per_s"], 600)
        self.assertGreaterEqual(r["late"], 0)

    def test_stream(self):
        size = 8 * MiB + 3
        r = self.bench("stream", "--size", size)
        self.assertTrue(r["sha256_ok"])
        self.assertEqual(r["size"], size)
        self.assertGreater(r["mb_per_s"], 0)
        # Given the digest, the generator must agree with itself; a wrong one must fail.
        again = self.bench("stream", "--size", size, "--expect-sha256", r["sha256"])
        self.assertTrue(again["sha256_ok"])
        proc = subprocess.run(
            [server_binary(), "bench", "stream", self.server.url(), "--size", str(size),
             "--expect-sha256", "0" * 64], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("MISMATCH", proc.stdout)

    def test_stream_compared_byte_for_byte(self):
        size = 8 * MiB + 3
        r = self.bench("stream", "--size", size, "--verify", "bytes")
        self.assertTrue(r["echo_ok"])
        self.assertEqual(r["verify"], "bytes")
        self.assertNotIn("first_mismatch", r)

    def test_a_corrupted_echo_is_caught_by_either_check(self):
        size = 2 * MiB + 5
        with CorruptingEchoServer(flip_at=size // 2 + 1) as url:
            for verify in ("bytes", "sha256"):
                proc = subprocess.run(
                    [server_binary(), "bench", "stream", url, "--size", str(size),
                     "--verify", verify, "--json"], capture_output=True, text=True, timeout=60)
                self.assertEqual(proc.returncode, 7, proc.stdout + proc.stderr)
                self.assertIn("MISMATCH", proc.stdout)
                result = json.loads(proc.stdout.splitlines()[1])
                self.assertFalse(result["echo_ok"])
                if verify == "bytes":
                    self.assertEqual(result["first_mismatch"], size // 2 + 1)

    def test_connect(self):
        r = self.bench("connect", "--count", 200, "--connections", 10)
        self.assertEqual(r["handshakes"], 200)
        self.assertGreater(r["handshakes_per_s"], 0)

    def test_idle(self):
        r = self.bench("idle", "--connections", 300)
        self.assertEqual(r["connections"], 300)
        # The first 10 % are a warm-up; memory is the slope over the rest.
        self.assertEqual(r["warmup_connections"], 30)
        self.assertEqual(r["measured_connections"], 270)
        self.assertGreater(r["bytes_per_conn"], 0)
        self.assertLess(r["bytes_per_conn"], 1 << 20)

    def test_refused(self):
        proc = subprocess.run([server_binary(), "bench", "pingpong", "ws://127.0.0.1:1/",
                               "--duration", "1"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)

    def test_refused_connect(self):
        # connect mode opens the next handshake from each failure: the failed clients must
        # live until libuv has closed their handles, not be freed in the same loop pass.
        proc = subprocess.run([server_binary(), "bench", "connect", "ws://127.0.0.1:1/",
                               "--count", "20", "--connections", "2"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("cannot connect", proc.stderr)
        self.assertNotIn("Assertion", proc.stderr)


class CorruptingEchoServer:
    """A Python websockets echo server that flips one bit of every message it returns."""

    def __init__(self, flip_at: int):
        self.flip_at = flip_at
        self.ready = threading.Event()

    async def handler(self, ws, _path=None):
        async for message in ws:
            data = bytearray(message)
            data[self.flip_at] ^= 1
            await ws.send(bytes(data))

    async def serve(self):
        self.stop = asyncio.get_running_loop().create_future()
        async with websockets.serve(self.handler, "127.0.0.1", 0, max_size=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stop

    def __enter__(self) -> str:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.serve(),))
        self.thread.start()
        self.ready.wait(10)
        return f"ws://127.0.0.1:{self.port}/"

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        self.thread.join(10)
        self.loop.close()


if __name__ == "__main__":
    main()
