#!/usr/bin/python3
"""Soak and scale test for `sockeye serve`: many concurrent WebSocket connections with
churn, for a bounded time, on loopback only.

Starts its own server (--bin), opens --connections connections, and keeps them open;
each echoes a message every --echo-interval seconds (random sizes, checked byte for
byte), while --churn-per-second connections per second are closed and reopened. Every
--report-every seconds it samples the server's RSS and open fds. At the end:

  * failed echoes (wrong, missing or timed out) and failed connects must be 0;
  * RSS after warm-up (the first --warmup fraction of the run, at least --min-warmup
    seconds) must stay within --rss-tolerance (5 %) of its first post-warm-up sample
    (max / first and min / first), or within --rss-slack-mib (2 MiB) if that is larger;
  * after every client has gone, the server's open fds must come back to the baseline
    taken before the first client connected;
  * the server must exit 0 on SIGTERM.

Also measures the server's memory per idle WebSocket connection (RSS growth over the
connect phase / connections). Prints a summary (and --json-out) and exits 1 on failure.

Profiles (tests/soak/README.md):
  short (CI):  --connections 2000  --duration 30  --churn-per-second 20
  medium:      --connections 10000 --duration 120 --churn-per-second 50
  long:        --connections 10000 --duration 600 --churn-per-second 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

try:
    import websockets
except ImportError:  # pragma: no cover
    sys.exit("soak.py needs python3-websockets (run it with /usr/bin/python3)")

LOOPBACK = "127.0.0.1"
MAX_MESSAGE = 2048  # bytes of payload (plus a short prefix for text)
LISTEN_RE = re.compile(r"^listening on (https?)://([^\s]+):(\d+)$")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.environ.get("SOCKEYE_BIN", "build/sockeye"),
                   help="sockeye binary (default $SOCKEYE_BIN or build/sockeye)")
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--duration", type=float, default=30, help="seconds of steady load")
    p.add_argument("--churn-per-second", type=float, default=20)
    p.add_argument("--report-every", type=float, default=5)
    p.add_argument("--echo-interval", type=float, default=5,
                   help="seconds between one connection's echoes")
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of --duration")
    p.add_argument("--rss-tolerance", type=float, default=0.05)
    p.add_argument("--rss-slack-mib", type=float, default=2.0,
                   help="absolute RSS drift always allowed (allocator noise on small runs)")
    p.add_argument("--min-warmup", type=float, default=10.0,
                   help="warm-up lasts at least this many seconds")
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--echo-timeout", type=float, default=15)
    p.add_argument("--json-out", help="write the summary as JSON here")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra argument for `sockeye serve` (repeatable)")
    a = p.parse_args(argv)
    if a.connections < 1 or a.duration <= 0 or a.report_every <= 0:
        p.error("--connections, --duration and --report-every must be positive")
    if a.connections > 20000 or a.duration > 3600:
        p.error("bounded by design: at most 20000 connections and 3600 s")
    return a


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server:
    def __init__(self, binary: str, extra: list[str], max_connections: int):
        self.tmp = tempfile.TemporaryDirectory(prefix="sockeye-soak-")
        self.err_path = os.path.join(self.tmp.name, "stderr.txt")
        help_text = subprocess.run([binary, "serve", "--help"], capture_output=True,
                                   text=True, timeout=30).stdout
        argv = [binary, "serve", "--host", LOOPBACK, "--port", "0", "--log-level", "warn"]
        if "--max-connections" in help_text and "--max-connections" not in extra:
            argv += ["--max-connections", str(max_connections)]
        argv += extra
        self.argv = argv
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        line = self.proc.stdout.readline().strip()
        m = LISTEN_RE.match(line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"server did not start: {line!r}\n{self.stderr_tail()}")
        self.port = int(m.group(3))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stderr_tail(self, n: int = 3000) -> str:
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return None
        return self.proc.returncode

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.err.close()
        self.tmp.cleanup()


class Stats:
    def __init__(self):
        self.echoes = 0
        self.failed_echoes = 0
        self.connects = 0
        self.failed_connects = 0
        self.churned = 0
        self.open = 0
        self.failures: list[str] = []

    def fail(self, what: str):
        if len(self.failures) < 20:
            self.failures.append(what)


async def run(a) -> dict:
    need = 2 * a.connections + 1000
    limit = raise_nofile(need)
    if limit < a.connections + 200:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}; {a.connections} connections need more")
    server = Server(a.bin, a.server_arg, a.connections + 1000)
    stats = Stats()
    url = f"ws://{LOOPBACK}:{server.port}/"
    rnd = random.Random(1)
    gate = asyncio.Semaphore(a.connect_concurrency)
    stop = asyncio.Event()
    slots: list[dict] = [{"churn": asyncio.Event(), "ws": None} for _ in range(a.connections)]
    samples: list[dict] = []
    t_start = time.monotonic()
    summary: dict = {"connections": a.connections, "duration_s": a.duration,
                     "churn_per_second": a.churn_per_second, "server": server.argv}

    async def connect():
        async with gate:
            try:
                ws = await websockets.connect(url, open_timeout=30, close_timeout=10,
                                              ping_interval=None, max_size=None,
                                              compression=None)
            except Exception as e:  # counted and reported
                stats.failed_connects += 1
                stats.fail(f"connect: {e!r}")
                return None
        stats.connects += 1
        stats.open += 1
        return ws

    async def close(ws):
        try:
            await asyncio.wait_for(ws.close(), 15)
        except Exception as e:
            stats.fail(f"close: {e!r}")
        stats.open -= 1

    async def slot_loop(i: int, ws):
        slot = slots[i]
        slot["ws"] = ws
        my = random.Random(i)
        k = 0
        # Spread the echoes over the interval.
        await asyncio.sleep(my.uniform(0, a.echo_interval))
        while not stop.is_set():
            if slot["ws"] is None or slot["churn"].is_set():
                if slot["ws"] is not None:
                    await close(slot["ws"])
                    stats.churned += 1
                slot["churn"].clear()
                slot["ws"] = await connect()
                if slot["ws"] is None:
                    await asyncio.sleep(1)
                    continue
            ws = slot["ws"]
            # The first echo of a connection is the largest, so its buffers reach their
            # steady size at once and later RSS growth means a leak, not warm-up.
            n = MAX_MESSAGE if k == 0 else my.randint(1, MAX_MESSAGE)
            msg = (f"{i}:{k}:" + "x" * n) if k % 2 == 0 else my.randbytes(n)
            try:
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), a.echo_timeout)
                if got != msg:
                    stats.failed_echoes += 1
                    stats.fail(f"slot {i}: wrong echo")
                else:
                    stats.echoes += 1
            except Exception as e:
                stats.failed_echoes += 1
                stats.fail(f"slot {i}: {e!r}")
                await close(ws)
                slot["ws"] = None
                continue
            k += 1
            try:
                await asyncio.wait_for(slot["churn"].wait(),
                                       a.echo_interval * my.uniform(0.8, 1.2))
            except asyncio.TimeoutError:
                pass

    # --- connect phase (idle memory per connection) ---
    await asyncio.sleep(0.5)
    fd_base, rss_base = server.fds(), server.rss_kib()
    t0 = time.monotonic()
    conns = await asyncio.gather(*(connect() for _ in range(a.connections)))
    connect_s = time.monotonic() - t0
    await asyncio.sleep(2)
    rss_idle = server.rss_kib()
    summary.update(connect_s=round(connect_s, 2), fd_baseline=fd_base,
                   rss_baseline_kib=rss_base, rss_idle_kib=rss_idle,
                   idle_bytes_per_connection=round((rss_idle - rss_base) * 1024 /
                                                   max(1, a.connections)))
    print(f"connected {stats.connects}/{a.connections} in {connect_s:.1f}s; server RSS "
          f"{rss_base / 1024:.1f} -> {rss_idle / 1024:.1f} MiB "
          f"({summary['idle_bytes_per_connection']} B per idle connection); "
          f"fds {fd_base} -> {server.fds()}", flush=True)

    # --- steady load with churn ---
    tasks = [asyncio.create_task(slot_loop(i, ws)) for i, ws in enumerate(conns)]

    async def churner():
        if a.churn_per_second <= 0:
            return
        period = 1.0 / a.churn_per_second
        nxt = time.monotonic()
        while not stop.is_set():
            slots[rnd.randrange(a.connections)]["churn"].set()
            nxt += period
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    async def reporter():
        t_load = time.monotonic()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), a.report_every)
            except asyncio.TimeoutError:
                pass
            if server.proc.poll() is not None:
                stats.fail(f"server exited with {server.proc.returncode}")
                stop.set()
                return
            s = {"t": round(time.monotonic() - t_load, 1), "rss_kib": server.rss_kib(),
                 "fds": server.fds(), "open": stats.open, "echoes": stats.echoes,
                 "failed_echoes": stats.failed_echoes, "churned": stats.churned,
                 "failed_connects": stats.failed_connects}
            samples.append(s)
            print(f"t={s['t']:7.1f}s rss={s['rss_kib'] / 1024:8.1f} MiB fds={s['fds']:6d} "
                  f"open={s['open']:6d} echoes={s['echoes']:8d} failed={s['failed_echoes']} "
                  f"churned={s['churned']} failed_connects={s['failed_connects']}", flush=True)

    churn_task = asyncio.create_task(churner())
    rep_task = asyncio.create_task(reporter())
    try:
        await asyncio.wait_for(stop.wait(), a.duration)
    except asyncio.TimeoutError:
        pass
    stop.set()
    for s in slots:
        s["churn"].set()  # wake sleepers
    await asyncio.gather(churn_task, rep_task, return_exceptions=True)
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)

    # --- teardown: close everyone, fds back to baseline ---
    live = [s["ws"] for s in slots if s["ws"] is not None]
    close_gate = asyncio.Semaphore(500)

    async def close_one(ws):
        async with close_gate:
            await close(ws)

    await asyncio.gather(*(close_one(ws) for ws in live))
    deadline = time.monotonic() + 30
    fds_end = server.fds()
    while fds_end > fd_base and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        fds_end = server.fds()
    rss_end = server.rss_kib()
    rc = server.stop()
    tail = server.stderr_tail()
    server.cleanup()

    # --- verdict ---
    warmup_s = min(max(a.warmup * a.duration, a.min_warmup), 0.5 * a.duration)
    summary["warmup_s"] = warmup_s
    warm = [s for s in samples if s["t"] >= warmup_s]
    problems = []
    if stats.failed_echoes:
        problems.append(f"{stats.failed_echoes} failed echoes")
    if stats.failed_connects:
        problems.append(f"{stats.failed_connects} failed connects")
    if len(warm) >= 2:
        first = warm[0]["rss_kib"]
        hi, lo = max(s["rss_kib"] for s in warm), min(s["rss_kib"] for s in warm)
        drift = max(hi / first - 1, 1 - lo / first)
        allowed = max(a.rss_tolerance, a.rss_slack_mib * 1024 / first)
        summary.update(rss_after_warmup_first_kib=first, rss_after_warmup_max_kib=hi,
                       rss_after_warmup_min_kib=lo, rss_drift=round(drift, 4),
                       rss_drift_allowed=round(allowed, 4))
        if drift > allowed:
            problems.append(f"RSS not flat after warm-up: first {first} KiB, max {hi}, "
                            f"min {lo} ({drift * 100:.1f} % > {allowed * 100:.1f} %)")
    else:
        problems.append("fewer than 2 RSS samples after warm-up (raise --duration or "
                        "lower --report-every)")
    if fds_end > fd_base:
        problems.append(f"server fds {fds_end} did not return to the baseline {fd_base}")
    if rc != 0:
        problems.append(f"server exit code {rc} after SIGTERM (expected 0)")
    summary.update(echoes=stats.echoes, failed_echoes=stats.failed_echoes,
                   connects=stats.connects, failed_connects=stats.failed_connects,
                   churned=stats.churned, fds_end=fds_end, rss_end_kib=rss_end,
                   exit_code=rc, samples=samples, problems=problems,
                   failures=stats.failures, elapsed_s=round(time.monotonic() - t_start, 1))
    if problems and tail:
        summary["server_stderr_tail"] = tail
    return summary


def main(argv=None) -> int:
    a = parse_args(argv)
    try:
        summary = asyncio.run(run(a))
    except KeyboardInterrupt:
        return 130
    print("\n=== soak summary ===")
    for key in ("connections", "duration_s", "churn_per_second", "connect_s", "echoes",
                "failed_echoes", "connects", "failed_connects", "churned",
                "idle_bytes_per_connection", "rss_baseline_kib", "rss_idle_kib",
                "rss_after_warmup_first_kib", "rss_after_warmup_max_kib",
                "rss_after_warmup_min_kib", "rss_drift", "rss_drift_allowed", "warmup_s",
                "fd_baseline", "fds_end",
                "exit_code", "elapsed_s"):
        if key in summary:
            print(f"{key:28s} {summary[key]}")
    for f in summary["failures"][:10]:
        print(f"  failure: {f}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(summary, f, indent=2)
    if summary["problems"]:
        print("FAIL: " + "; ".join(summary["problems"]))
        if summary.get("server_stderr_tail"):
            print("--- server stderr (tail) ---\n" + summary["server_stderr_tail"])
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
