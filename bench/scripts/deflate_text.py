#!/usr/bin/python3
"""Compressed vs uncompressed echo of a text workload: throughput and bytes on the wire.

One `sockeye serve --permessage-deflate` server; a Python websockets client echoes the same
JSON-like text messages once with permessage-deflate and once without. Bytes on the wire
come from the server's own /metrics counters (socket bytes in and out).

Usage: bench/scripts/deflate_text.py BUILD/sockeye [messages] [message_bytes]"""

import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
os.environ.setdefault("SOCKEYE_BIN", os.path.abspath(sys.argv[1]))
import websockets  # noqa: E402
from sockeye_harness import SockeyeServer, fetch_metrics, metric_sum  # noqa: E402


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workload(count: int, size: int) -> list[str]:
    rng = random.Random(5)
    names = ["salmon", "trout", "char", "grayling", "pike", "perch"]
    out = []
    for i in range(count):
        items, text = [], ""
        while len(text) < size:
            items.append({"id": rng.randrange(10**6), "species": rng.choice(names),
                          "weight_g": rng.randrange(100, 9000), "river": f"river-{rng.randrange(40)}",
                          "tagged": rng.random() < 0.3})
            text = json.dumps({"batch": i, "items": items})
        out.append(text[:size])
    return out


async def run(url: str, messages: list[str], compression) -> float:
    async with websockets.connect(url, max_size=None, compression=compression) as ws:
        t0 = time.perf_counter()
        for m in messages:
            await ws.send(m)
            assert await ws.recv() == m
        return time.perf_counter() - t0


def main():
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 16384
    messages = workload(count, size)
    total = count * size
    server = SockeyeServer("--permessage-deflate", "--log-level", "warn").start()
    try:
        for name, compression in (("uncompressed", None), ("permessage-deflate", "deflate")):
            m0 = fetch_metrics(server.port)
            c0 = cpu_seconds(server.pid)
            secs = asyncio.run(run(server.url("/"), messages, compression))
            cpu = cpu_seconds(server.pid) - c0
            m1 = fetch_metrics(server.port)
            wire_in = metric_sum(m1, "sockeye_bytes_received_total") - metric_sum(m0, "sockeye_bytes_received_total")
            wire_out = metric_sum(m1, "sockeye_bytes_sent_total") - metric_sum(m0, "sockeye_bytes_sent_total")
            print(f"{name:19} {count} x {size} B text echoed in {secs:.2f} s: "
                  f"{count / secs:.0f} msgs/s, {2 * total / secs / 1e6:.1f} MB/s of payload; "
                  f"on the wire {int(wire_in)} B in, {int(wire_out)} B out "
                  f"({(wire_in + wire_out) / (2 * total):.3f} of the payload); "
                  f"server CPU {cpu * 1e6 / count:.0f} µs/message")
    finally:
        server.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
