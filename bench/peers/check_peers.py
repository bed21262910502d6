#!/usr/bin/python3
"""Self-check of the benchmark peers: each must behave before its numbers mean anything.

Starts every peer on port 0 exactly as the comparison script will (`PROGRAM --port 0`,
wait for "listening on http://127.0.0.1:PORT"), then checks with Python `websockets`
(Debian python3-websockets): text and binary echo of 0, 125, 65536 and 1 MiB bytes
(bare_echo and uring_echo: only up to 64 KiB, and a larger frame must close the
connection), a fragmented message, a burst of pipelined messages on several concurrent
connections, ping -> pong, the close handshake, and exit status 0 on SIGTERM. Exits
non-zero on any failure. uring_echo (optional, needs liburing) is checked when named in
--peers.

Usage: bench/peers/check_peers.py [--bin-dir build/bench] [--peers bare_echo,beast_echo,ws_echo]
                                  [--node-modules DIR] [--big BYTES] [--idle N]
  --big N   also echo one N-byte binary message through the peers that take large ones
  --idle N  also hold N idle connections open at once, then check they all still echo
The Node peer needs `ws`: from --node-modules, else bench/peers/node_modules, else this
script runs `npm ci` from the committed lock file into a temporary directory.
"""

import argparse
import asyncio
import os
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
READY = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")
SIZES = [0, 125, 65536, 1 << 20]
BARE_MAX = 65536

results = {"passed": 0, "failed": 0}


def report(ok, peer, what, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {peer}: {what}{(' -- ' + detail) if detail else ''}",
          flush=True)


def payload(kind, size, seed):
    rnd = random.Random(seed)
    if kind == "text":
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))
    return rnd.randbytes(size)


def connect(port):
    return websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None, compression=None,
                              ping_interval=None, close_timeout=10, open_timeout=20,
                              max_queue=None)


async def check_echo(peer, port, max_size):
    async with connect(port) as ws:
        for size in SIZES:
            if size > max_size:
                continue
            for kind in ("text", "binary"):
                what = f"{kind} echo {size} bytes"
                msg = payload(kind, size, size)
                try:
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 30)
                    if type(got) is not type(msg):
                        report(False, peer, what, f"came back as {type(got).__name__}")
                    elif got != msg:
                        report(False, peer, what, "payload differs")
                    else:
                        report(True, peer, what)
                except Exception as e:  # any failure is a finding, keep going
                    report(False, peer, what, repr(e))
                    return

        what = "fragmented text message"
        try:
            await ws.send(["frag", "mented ", "message"])
            got = await asyncio.wait_for(ws.recv(), 10)
            report(got == "fragmented message", peer, what, "" if got == "fragmented message"
                   else f"got {got!r}")
        except Exception as e:
            report(False, peer, what, repr(e))

        what = "ping -> pong"
        try:
            waiter = await ws.ping(b"are you there")
            await asyncio.wait_for(waiter, 10)
            report(True, peer, what)
        except Exception as e:
            report(False, peer, what, repr(e))

        what = "close handshake"
        try:
            t0 = time.monotonic()
            await ws.close(code=1000)
            took = time.monotonic() - t0
            ok = ws.close_code == 1000 and took < 5
            report(ok, peer, what, "" if ok else f"code {ws.close_code}, took {took:.1f}s")
        except Exception as e:
            report(False, peer, what, repr(e))


async def burst(port, conn_id, count):
    async with connect(port) as ws:
        msgs = [payload("binary", 16 + (i % 200), conn_id * 1000 + i) for i in range(count)]
        for m in msgs:  # all sent before any is read: several frames arrive per read
            await ws.send(m)
        for m in msgs:
            if await asyncio.wait_for(ws.recv(), 30) != m:
                raise AssertionError("echo differs or out of order")


async def check_concurrency(peer, port):
    what = "50 concurrent connections x 200 pipelined messages"
    try:
        await asyncio.gather(*(burst(port, c, 200) for c in range(50)))
        report(True, peer, what)
    except Exception as e:
        report(False, peer, what, repr(e))


async def check_oversized(peer, port):
    what = f"frame over {BARE_MAX} bytes closes the connection (documented limit)"
    try:
        async with connect(port) as ws:
            await ws.send(bytes(BARE_MAX + 1))
            await asyncio.wait_for(ws.recv(), 10)
        report(False, peer, what, "it echoed")
    except websockets.ConnectionClosed:
        report(True, peer, what)
    except Exception as e:
        report(False, peer, what, repr(e))


async def check_big(peer, port, size):
    what = f"binary echo {size} bytes"
    try:
        msg = os.urandom(1 << 20) * (size >> 20) + os.urandom(size & ((1 << 20) - 1))
        async with connect(port) as ws:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 600)
        report(got == msg, peer, what, "" if got == msg else "payload differs")
    except Exception as e:
        report(False, peer, what, repr(e))


async def check_idle(peer, port, count):
    what = f"{count} idle connections, then each echoes"
    conns = []
    try:
        for start in range(0, count, 500):  # in batches: the accept queue is finite
            batch = range(start, min(count, start + 500))
            conns += await asyncio.gather(*(connect(port) for _ in batch))
        await asyncio.sleep(1)
        for i in range(0, len(conns), 500):
            chunk = conns[i:i + 500]
            await asyncio.gather(*(ws.send(b"still here") for ws in chunk))
            got = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 30) for ws in chunk))
            if any(g != b"still here" for g in got):
                raise AssertionError("wrong echo")
        report(True, peer, what)
    except Exception as e:
        report(False, peer, what, f"{len(conns)} open: {e!r}")
    finally:
        for i in range(0, len(conns), 500):
            await asyncio.gather(*(ws.close() for ws in conns[i:i + 500]),
                                 return_exceptions=True)


def start_peer(peer, cmd, env):
    proc = subprocess.Popen(cmd + ["--port", "0"], stdout=subprocess.PIPE, env=env, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline().rstrip("\n") if ready else ""
    m = READY.match(line)
    report(m is not None, peer, "ready line", "" if m else f"got {line!r}")
    if not m:
        proc.kill()
        proc.wait()
        return proc, None
    return proc, int(m.group(1))


def stop_peer(peer, proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
        report(rc == 0, peer, "exit 0 on SIGTERM", "" if rc == 0 else f"exit status {rc}")
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        report(False, peer, "exit 0 on SIGTERM", "still running after 10 s")


def node_modules_dir(arg, tmp):
    if arg:
        return Path(arg)
    if (HERE / "node_modules" / "ws").is_dir():
        return HERE / "node_modules"
    npm = shutil.which("npm")
    if not npm:
        return None
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, Path(tmp) / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp,
                   check=True, stdout=subprocess.DEVNULL)
    return Path(tmp) / "node_modules"


async def check_peer(peer, port, args):
    bare = peer in ("bare_echo", "uring_echo")  # same documented limits
    await check_echo(peer, port, BARE_MAX if bare else 1 << 40)
    await check_concurrency(peer, port)
    if bare:
        await check_oversized(peer, port)
    elif args.big:
        await check_big(peer, port, args.big)
    if args.idle:
        await check_idle(peer, port, args.idle)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--peers", default="bare_echo,beast_echo,ws_echo")
    ap.add_argument("--node-modules")
    ap.add_argument("--big", type=int, default=0)
    ap.add_argument("--idle", type=int, default=0)
    args = ap.parse_args()

    # The client side of --idle needs as many descriptors as the peers do.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    with tempfile.TemporaryDirectory(prefix="sockeye-peers-") as tmp:
        for peer in args.peers.split(","):
            env = dict(os.environ)
            if peer == "ws_echo":
                node = shutil.which("node")
                try:
                    modules = node_modules_dir(args.node_modules, tmp)
                except subprocess.CalledProcessError as e:
                    modules = None
                    print(f"npm ci failed: {e}", file=sys.stderr)
                if not node or not modules:
                    report(False, peer, "setup", "node, npm or the ws package is missing")
                    continue
                env["NODE_PATH"] = str(modules)
                cmd = [node, str(HERE / "ws_echo.js")]
            else:
                exe = Path(args.bin_dir) / peer
                if not exe.exists():
                    report(False, peer, "setup", f"{exe} not built")
                    continue
                cmd = [str(exe)]
            proc, port = start_peer(peer, cmd, env)
            if port is None:
                continue
            try:
                asyncio.run(check_peer(peer, port, args))
            finally:
                stop_peer(peer, proc)

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
