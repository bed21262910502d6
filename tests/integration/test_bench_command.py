"""Smoke test of `sockeye bench`, the load generator of the comparison benchmarks: each
mode runs briefly against `sockeye serve` and must report sane numbers in its JSON line
(messages and latencies, a verified SHA-256, handshakes, server bytes per connection)."""

import json
import subprocess
import unittest

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


if __name__ == "__main__":
    main()
