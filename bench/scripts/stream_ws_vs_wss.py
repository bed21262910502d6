#!/usr/bin/python3
"""Large-message echo throughput over ws:// and wss:// against one `sockeye serve` each.

A 256 MiB binary message in 1 MiB fragments is streamed to the server and its echo read
back concurrently (SHA-256 checked); the client is Python (tests/integration harness,
all-zero masking key), so these numbers are a floor set by the client, good for comparing
ws and wss with each other, not for ranking servers (see `sockeye bench`, issue 8).

Usage: bench/scripts/stream_ws_vs_wss.py BUILD/sockeye [rounds]"""

import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
os.environ.setdefault("SOCKEYE_BIN", os.path.abspath(sys.argv[1]))
from sockeye_harness import (MiB, PatternSource, RawWebSocket, SockeyeServer, StreamSender,  # noqa
                             receive_stream)

TOTAL = 256 * MiB


def one_round(server, ctx):
    ws = RawWebSocket.connect(server.port, ssl_context=ctx, timeout=60)
    ws.sock.settimeout(None)
    sender = StreamSender(ws, PatternSource(seed=1), TOTAL, fragment=MiB)
    t0 = time.monotonic()
    sender.start()
    got = receive_stream(ws, TOTAL)
    sender.join()
    dt = time.monotonic() - t0
    assert got["sha256"] == sender.hash.hexdigest()
    ws.close()
    return TOTAL / dt / 1e6


def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([os.environ["SOCKEYE_BIN"], "cert", "--out", d], check=True,
                       capture_output=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        ctx = ssl.create_default_context(cafile=cert)
        for name, flags, c in (("ws", (), None),
                               ("wss", ("--tls-cert", cert, "--tls-key", key), ctx)):
            server = SockeyeServer(*flags, "--log-level", "warn").start()
            try:
                rates = [one_round(server, c) for _ in range(rounds)]
                print(f"{name:4} 256 MiB echo: median {statistics.median(rates):.0f} MB/s "
                      f"(min {min(rates):.0f}, max {max(rates):.0f}, {rounds} rounds), "
                      f"server peak RSS {server.peak_rss_kib() // 1024} MiB")
            finally:
                server.stop()
                server.cleanup()


if __name__ == "__main__":
    main()
