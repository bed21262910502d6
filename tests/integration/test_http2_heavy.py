"""Gigabyte messages over one HTTP/2 stream (RFC 8441): echoed whole, SHA-256 identical,
with the server's peak RSS within 32 MiB. The client is `sockeye send --http2` (the
stream is generated and hashed as it goes, so the client's memory is constant too).
Labelled `heavy` in CTest and not run under sanitizers."""

import subprocess
import time

from sockeye_harness import GiB, ServerTestCase, main, server_binary

SERVER_RSS_LIMIT_KIB = 32 * 1024


class Http2GiBEchoTest(ServerTestCase):
    server_flags = ("--log-level", "warn")

    def _echo(self, size: int, timeout: float):
        argv = [server_binary(), "send", "--http2", self.server.url(), "--size", str(size),
                "--binary", "--expect-echo"]
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        elapsed = time.monotonic() - t0
        self.assertEqual(proc.returncode, 0, f"{proc.stdout}\n{proc.stderr}")
        self.assertIn(f"sent {size} bytes in", proc.stdout)
        self.assertIn("echo SHA-256 matches", proc.stdout)
        peak = self.server.peak_rss_kib()
        print(f"\n{size // GiB} GiB over h2: {elapsed:.1f}s, {size / elapsed / 1e6:.0f} MB/s, "
              f"server VmHWM {peak // 1024} MiB")
        self.assertLess(peak, SERVER_RSS_LIMIT_KIB, f"server peak RSS {peak} KiB")

    def test_1gib(self):
        self._echo(GiB, 300)

    def test_8gib(self):
        self._echo(8 * GiB, 1200)


if __name__ == "__main__":
    main()
