#!/usr/bin/python3
"""1 GiB through `cat`: behind `sockeye serve --exec cat --exec-mode binary`, and on plain
pipes, alternating rounds.

The same Python client does both: it streams pseudo-random bytes in 1 MiB pieces into one
end while it reads and hashes (SHA-256) what comes out of the other, concurrently — over
a WebSocket (one binary message in 1 MiB fragments, all-zero masking key; the echo comes
back as the server's binary messages) or into cat's stdin and out of its stdout. It
reports MiB/s, and for the server its CPU seconds and peak RSS: the client is the
bottleneck in both, so the server's CPU time is the number that says what the bridge
costs.

Usage: bench/scripts/exec_cat.py BUILD/sockeye [rounds]"""

import hashlib
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
os.environ.setdefault("SOCKEYE_BIN", os.path.abspath(sys.argv[1]))
from sockeye_harness import (GiB, MiB, PatternSource, RawWebSocket, SockeyeServer,  # noqa
                             StreamSender)
from test_exec import receive_binary  # noqa

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def through_sockeye():
    server = SockeyeServer("--exec", "cat", "--exec-mode", "binary", "--ping-interval", "0",
                           "--log-level", "warn").start()
    try:
        ws = RawWebSocket.connect(server.port, timeout=120)
        cpu0 = cpu_seconds(server.pid)
        sender = StreamSender(ws, PatternSource(seed=9), GiB, MiB)
        t0 = time.monotonic()
        sender.start()
        got = receive_binary(ws, GiB)
        sender.join()
        dt = time.monotonic() - t0
        assert got["sha256"] == sender.hash.hexdigest(), "output differs"
        cpu = cpu_seconds(server.pid) - cpu0
        peak = server.peak_rss_kib() // 1024
        ws.close()
        return GiB / MiB / dt, cpu, peak
    finally:
        server.cleanup()


def through_pipe():
    source = PatternSource(seed=9)
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    sent, received = hashlib.sha256(), hashlib.sha256()

    def send():
        for piece in source.chunks(GiB, MiB):
            cat.stdin.write(piece)
            sent.update(piece)
        cat.stdin.close()

    t0 = time.monotonic()
    writer = threading.Thread(target=send)
    writer.start()
    buf = memoryview(bytearray(4 * MiB))
    total = 0
    while True:
        n = cat.stdout.readinto(buf)
        if not n:
            break
        received.update(buf[:n])
        total += n
    writer.join()
    cat.wait()
    dt = time.monotonic() - t0
    assert total == GiB and sent.digest() == received.digest(), "output differs"
    return GiB / MiB / dt


def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ws, pipe, cpus, peaks = [], [], [], []
    for i in range(rounds):
        rate, cpu, peak = through_sockeye()
        ws.append(rate)
        cpus.append(cpu)
        peaks.append(peak)
        pipe.append(through_pipe())
        print(f"round {i + 1}: --exec cat {ws[-1]:.0f} MiB/s (server CPU {cpu:.2f} s, "
              f"VmHWM {peak} MiB), plain pipe {pipe[-1]:.0f} MiB/s", flush=True)
    print(f"median: --exec cat {statistics.median(ws):.0f} MiB/s "
          f"({min(ws):.0f}-{max(ws):.0f}), server CPU {statistics.median(cpus):.2f} s per GiB "
          f"each way, VmHWM max {max(peaks)} MiB; plain pipe {statistics.median(pipe):.0f} "
          f"MiB/s ({min(pipe):.0f}-{max(pipe):.0f})")


if __name__ == "__main__":
    main()
