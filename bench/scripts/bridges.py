#!/usr/bin/python3
"""The bridges against the same bytes without them, alternating rounds, native peers only.

  relay:  byte_pump through tcp_relay (a bare user-space relay) to tcp_echo: the floor of
          any proxy here;
  proxy:  `sockeye bench stream` (one 1 GiB binary message in 1 MiB frames, every echoed
          byte compared) through `sockeye serve --proxy` to tcp_echo, against byte_pump
          sending the same 1 GiB straight to tcp_echo over TCP;
  exec:   the same client through `sockeye serve --exec cat --exec-mode binary`, against
          byte_pump through `cat` on plain pipes;
  idle:   memory per idle bridged connection (`sockeye bench idle`, the server's RSS slope)
          for --proxy (each holds a backend TCP connection) and --exec cat (each holds a
          process, whose own memory is not counted), with the plain echo beside them.

Both directions run at once, so "MiB/s" is each way. For the server it reports CPU seconds
per GiB (each way) and peak RSS (VmHWM). On 2 cores the proxied path runs three busy
processes (client, server, echo) where the direct one runs two.

  peers:  one Python client (bench/scripts/ws_messages.py, 64 KiB binary messages) through
          --proxy and websockify, through --exec cat and websocketd (Debian's packages),
          CPU including each server's children.

Usage: bench/scripts/bridges.py BUILD [rounds] [--size BYTES] [--peer-size BYTES] [--idle N]"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
GiB = 1 << 30
MiB = 1 << 20


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_seconds(pid):
    """The process's CPU and that of its children it has waited for (websockify's
    per-connection worker, the programs of --exec and websocketd)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server stopped with SIGTERM: one that prints its address on its first line, or,
    given `port`, one that is ready when that port accepts."""

    def __init__(self, *argv, port=None):
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL if port else subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        self.pid = self.p.pid
        if port:
            self.port = port
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.p.kill()
            raise RuntimeError(f"{argv[0]} did not start")
        line = self.p.stdout.readline()
        m = re.search(r"(?:127\.0\.0\.1|localhost):(\d+)", line)
        if not m:
            self.p.kill()
            raise RuntimeError(f"{argv[0]} did not start: {line!r}")
        self.port = int(m.group(1))

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def sockeye_server(build, *flags):
    return Process(f"{build}/sockeye", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--ping-interval", "0", "--log-level", "warn", *flags)


def ws_stream(build, server, size):
    """MiB/s each way of one `sockeye bench stream` through `server`, its CPU, its VmHWM."""
    cpu0 = cpu_seconds(server.pid)
    out = subprocess.run([f"{build}/sockeye", "bench", "stream", f"ws://127.0.0.1:{server.port}/",
                          "--size", str(size), "--fragment", str(MiB), "--verify", "bytes",
                          "--json"], capture_output=True, text=True, timeout=600)
    cpu = cpu_seconds(server.pid) - cpu0
    result = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    if not result.get("echo_ok"):
        raise RuntimeError(f"echo mismatch: {out.stdout}{out.stderr}")
    return size / MiB / result["seconds"], cpu * GiB / size, peak_rss_mib(server.pid)


def pump(build, *args):
    out = subprocess.run([f"{build}/bench/byte_pump", *args], capture_output=True, text=True,
                         timeout=600)
    m = re.search(r"in ([\d.]+) s", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"byte_pump failed: {out.stdout}{out.stderr}")
    size = int(args[2] if args[0] == "tcp" else args[1])
    return size / MiB / float(m.group(1))


def idle_bytes(build, server, n):
    out = subprocess.run([f"{build}/sockeye", "bench", "idle", f"ws://127.0.0.1:{server.port}/",
                          "--connections", str(n), "--server-pid", str(server.pid), "--json"],
                         capture_output=True, text=True, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"bench idle failed: {out.stdout}{out.stderr}")
    return json.loads(lines[-1])["bytes_per_conn"]


def peer_round(server, size, msg):
    """MiB/s each way and server CPU s per GiB of scripts/ws_messages.py through `server`,
    or None when the transfer stalled."""
    cpu0 = tree_cpu_seconds(server.pid)
    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "ws_messages.py"),
                          f"ws://127.0.0.1:{server.port}/", str(size), str(msg)],
                         capture_output=True, text=True, timeout=900)
    m = re.search(r"(\d+) B in ([\d.]+) s", out.stdout)
    if out.returncode != 0 or not m:
        return None, out.stdout.strip() or out.stderr.strip()[-200:]
    time.sleep(0.5)  # the per-connection worker or program is reaped: its CPU counted
    cpu = tree_cpu_seconds(server.pid) - cpu0
    return (int(m.group(1)) / MiB / float(m.group(2)), cpu * GiB / int(m.group(1))), ""


def peers(build, size, msg, rounds):
    """The same Python client through Sockeye and through the Debian bridges it replaces."""
    echo = Process(f"{build}/bench/tcp_echo", "--port", "0")
    target = f"127.0.0.1:{echo.port}"
    setups = [("sockeye --proxy", lambda: sockeye_server(build, "--proxy", target))]
    if shutil.which("websockify"):
        setups.append(("websockify", lambda: Process(
            "websockify", f"127.0.0.1:{(p := free_port())}", target, port=p)))
    setups.append(("sockeye --exec cat", lambda: sockeye_server(
        build, "--exec", "cat", "--exec-mode", "binary")))
    if shutil.which("websocketd"):
        setups.append(("websocketd cat", lambda: Process(
            "websocketd", f"--port={(p := free_port())}", "--address=127.0.0.1",
            "--binary=true", "cat", port=p)))
    results = {name: [] for name, _ in setups}
    try:
        for _ in range(rounds):
            for name, start in setups:
                server = start()
                try:
                    r, why = peer_round(server, size, msg)
                finally:
                    server.stop()
                results[name].append(r)
                if r is None:
                    print(f"  {name}: {why}", flush=True)
    finally:
        echo.stop()
    print(f"same client ({size // MiB} MiB as {msg // 1024} KiB binary messages, Python "
          f"websockets):")
    for name, rs in results.items():
        ok = [r for r in rs if r]
        if not ok:
            print(f"  {name}: did not complete ({len(rs)} of {len(rs)} stalled)")
            continue
        print(f"  {name}: {median_range([r[0] for r in ok])} MiB/s each way, server CPU "
              f"{median_range([r[1] for r in ok], '{:.2f}')} s per GiB each way"
              + (f"; {len(rs) - len(ok)} of {len(rs)} stalled" if len(ok) < len(rs) else ""))


def median_range(xs, fmt="{:.0f}"):
    return (fmt.format(statistics.median(xs)) +
            f" ({fmt.format(min(xs))}-{fmt.format(max(xs))})")


def main():
    args = sys.argv[1:]
    size, idle_n, peer_size = GiB, 2000, 256 * MiB
    if "--peer-size" in args:
        i = args.index("--peer-size")
        peer_size = int(args[i + 1])
        del args[i:i + 2]
    if "--size" in args:
        i = args.index("--size")
        size = int(args[i + 1])
        del args[i:i + 2]
    if "--idle" in args:
        i = args.index("--idle")
        idle_n = int(args[i + 1])
        del args[i:i + 2]
    build = os.path.abspath(args[0])
    rounds = int(args[1]) if len(args) > 1 else 3
    rows = {k: [] for k in ("proxy", "direct", "relay", "exec", "pipe")}
    cpu = {"proxy": [], "exec": []}
    rss = {"proxy": [], "exec": []}
    for r in range(rounds):
        echo = Process(f"{build}/bench/tcp_echo", "--port", "0")
        try:
            server = sockeye_server(build, "--proxy", f"127.0.0.1:{echo.port}")
            try:
                rate, c, m = ws_stream(build, server, size)
            finally:
                server.stop()
            rows["proxy"].append(rate)
            cpu["proxy"].append(c)
            rss["proxy"].append(m)
            rows["direct"].append(pump(build, "tcp", str(echo.port), str(size)))
            relay = Process(f"{build}/bench/tcp_relay", "--port", "0", "--target", str(echo.port))
            try:
                rows["relay"].append(pump(build, "tcp", str(relay.port), str(size)))
            finally:
                relay.stop()
        finally:
            echo.stop()
        server = sockeye_server(build, "--exec", "cat", "--exec-mode", "binary")
        try:
            rate, c, m = ws_stream(build, server, size)
        finally:
            server.stop()
        rows["exec"].append(rate)
        cpu["exec"].append(c)
        rss["exec"].append(m)
        rows["pipe"].append(pump(build, "pipe", str(size), "cat"))
        print(f"round {r + 1}: --proxy {rows['proxy'][-1]:.0f} MiB/s vs direct TCP "
              f"{rows['direct'][-1]:.0f}, bare relay {rows['relay'][-1]:.0f}; --exec cat {rows['exec'][-1]:.0f} vs pipe "
              f"{rows['pipe'][-1]:.0f}", flush=True)
    ratio = [p / d for p, d in zip(rows["proxy"], rows["direct"])]
    rratio = [r / d for r, d in zip(rows["relay"], rows["direct"])]
    eratio = [e / p for e, p in zip(rows["exec"], rows["pipe"])]
    print(f"--proxy: {median_range(rows['proxy'])} MiB/s each way; direct TCP "
          f"{median_range(rows['direct'])}; ratio {median_range(ratio, '{:.2f}')} (bare relay "
          f"{median_range(rows['relay'])}, ratio {median_range(rratio, '{:.2f}')}); server CPU "
          f"{median_range(cpu['proxy'], '{:.2f}')} s per GiB each way; VmHWM max "
          f"{max(rss['proxy']):.0f} MiB")
    print(f"--exec cat: {median_range(rows['exec'])} MiB/s each way; plain pipe "
          f"{median_range(rows['pipe'])}; ratio {median_range(eratio, '{:.2f}')}; server CPU "
          f"{median_range(cpu['exec'], '{:.2f}')} s per GiB each way; VmHWM max "
          f"{max(rss['exec']):.0f} MiB")
    if peer_size > 0:
        peers(build, peer_size, 64 * 1024, rounds)
    if idle_n <= 0:
        return
    echo = Process(f"{build}/bench/tcp_echo", "--port", "0")
    try:
        for name, flags, n in (("echo", (), idle_n),
                               ("--proxy", ("--proxy", f"127.0.0.1:{echo.port}"), idle_n),
                               ("--exec cat", ("--exec", "cat", "--exec-max", str(idle_n)),
                                max(idle_n // 4, 50))):
            server = sockeye_server(build, *flags)
            try:
                b = idle_bytes(build, server, n)
            finally:
                server.stop()
            print(f"idle {name}: {b:.0f} B per connection in the server ({n} open)", flush=True)
            time.sleep(1)
    finally:
        echo.stop()


if __name__ == "__main__":
    main()
