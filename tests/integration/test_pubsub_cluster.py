"""Three `sockeye serve --pubsub --broker redis://...` nodes and a real redis-server
(Debian's, started here on a free loopback port): a publish on one node reaches the
subscribers of every node exactly once and in order; killing Redis (-9) mid-stream and
restarting it: local delivery never stops, the nodes reconnect within 2 s and deliver
across nodes again."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import websockets
import websockets.exceptions

from sockeye_harness import HttpConnection, SockeyeServer, main

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on 127.0.0.1:port, no persistence; restartable on the same port."""

    def __init__(self, port=None, password=None):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.binary, os.X_OK):
            raise AssertionError("redis-server is not installed (scripts/install-deps --test)")
        self.port = port or free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="sockeye-redis-")
        self.proc = None

    def start(self):
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until = time.monotonic() + 10
        while time.monotonic() < until:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def command(self, *args):
        """One command over RESP2, for checks (inline command; simple replies only)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            parts = [f"${len(a.encode())}\r\n{a}\r\n" for a in args]
            s.sendall(f"*{len(args)}\r\n{''.join(parts)}".encode())
            return s.recv(65536).decode(errors="replace")


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class ClusterTestCase(unittest.TestCase):
    extra_flags = ()

    def setUp(self):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.stop)
        self.nodes = []
        for _ in range(3):
            node = SockeyeServer("--pubsub", "--broker", self.redis.url(), *self.extra_flags)
            node.start()
            self.nodes.append(node)
            self.addCleanup(self._stop_node, node)
        self.wait_connected()

    def _stop_node(self, node):
        try:
            rc, problem = node.stop(15)
            if problem or rc != 0:
                self.fail(f"node exited badly ({rc}, {problem})\n{node.describe()}")
        finally:
            node.cleanup()

    def http(self, node, method, path, body=b"", headers=()):
        conn = HttpConnection(node.port)
        try:
            return conn.request(method, path, headers=list(headers), body=body)
        finally:
            conn.sock.close()

    def publish(self, node, topic, body):
        r = self.http(node, "POST", f"/publish/{topic}", body, [("Content-Type", "text/plain")])
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body)["delivered"]

    def metric(self, node, name):
        for line in self.http(node, "GET", "/metrics").body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail(f"no metric {name}")

    def wait_connected(self, timeout=5.0):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if all(self.metric(n, "sockeye_broker_connected") == 1 for n in self.nodes):
                return time.monotonic()
            time.sleep(0.02)
        self.fail("the nodes did not connect to Redis")

    def wait_redis_subscribers(self, topic, count, timeout=5.0):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            reply = self.redis.command("PUBSUB", "NUMSUB", "sockeye:" + topic)
            if reply.rstrip().endswith(f":{count}"):
                return
            time.sleep(0.02)
        self.fail(f"Redis does not have {count} subscribers of {topic}: {reply!r}")

    def url(self, node, path):
        return f"ws://127.0.0.1:{node.port}{path}"


class PubsubClusterTest(ClusterTestCase):
    def test_a_publish_reaches_every_node_exactly_once_in_order(self):
        async def go():
            subs = {i: [await websockets.connect(self.url(n, "/topics/news"), max_queue=None)
                        for _ in range(2)] for i, n in enumerate(self.nodes)}
            await asyncio.to_thread(self.wait_redis_subscribers, "news", 3)
            publisher = subs[0][0]
            for i in range(200):
                await publisher.send(f"w{i}")
            for i in range(100):
                delivered = await asyncio.to_thread(self.publish, self.nodes[0], "news",
                                                    f"h{i}".encode())
                self.assertEqual(delivered, 2)  # local deliveries on node A only
            for i, group in subs.items():
                for ws in group:
                    got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(300)]
                    self.assertEqual([m for m in got if m[0] == "w"], [f"w{k}" for k in range(200)])
                    self.assertEqual([m for m in got if m[0] == "h"], [f"h{k}" for k in range(100)])
                    # Exactly once: nothing more arrives.
                    with self.assertRaises(asyncio.TimeoutError):
                        await asyncio.wait_for(ws.recv(), 0.3)
            for group in subs.values():
                for ws in group:
                    await ws.close()
        run(go())
        # Each node published its own through Redis once; B and C received them.
        self.assertEqual(self.metric(self.nodes[0], "sockeye_broker_published_total"), 300)
        for node in self.nodes[1:]:
            self.assertEqual(self.metric(node, "sockeye_broker_received_total"), 300)
        # The last local subscriber gone: the node unsubscribes in Redis.
        self.wait_redis_subscribers("news", 0)

    def test_node_ws_subscriber_on_another_node(self):
        node = os.environ.get("SOCKEYE_NODE")
        modules = os.environ.get("SOCKEYE_NODE_MODULES")
        if not node or not modules:
            self.skipTest("needs the Node ws fixture")
        proc = subprocess.Popen(
            [node, os.path.join(HERE, "node", "ws_subscriber.js"),
             self.url(self.nodes[2], "/topics/n"), "300"],
            env=dict(os.environ, NODE_PATH=modules), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            self.wait_redis_subscribers("n", 1, timeout=20)
            for i in range(300):
                self.publish(self.nodes[0], "n", f"m{i}".encode())
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 0, f"{out}\n{err}")
        self.assertIn("received 300 in order", out)

    def test_redis_killed_and_restarted_mid_stream(self):
        async def go():
            subs = [await websockets.connect(self.url(n, "/topics/live"), max_queue=None)
                    for n in self.nodes]
            await asyncio.to_thread(self.wait_redis_subscribers, "live", 3)
            received = [[] for _ in subs]

            async def reader(i):
                while True:
                    try:
                        received[i].append(await subs[i].recv())
                    except websockets.exceptions.ConnectionClosed:
                        return
            readers = [asyncio.create_task(reader(i)) for i in range(3)]
            seq = 0

            async def publish_some(n):
                nonlocal seq
                for _ in range(n):
                    await asyncio.to_thread(self.publish, self.nodes[0], "live", str(seq).encode())
                    seq += 1
                    await asyncio.sleep(0.005)

            await publish_some(50)
            await asyncio.sleep(0.3)
            self.redis.kill9()
            outage_start = seq
            await publish_some(50)  # Redis is gone: node A's own subscriber still gets these
            health = await asyncio.to_thread(self.http, self.nodes[0], "GET", "/healthz")
            self.assertEqual(health.status, 200)
            self.assertIn(b"broker: down", health.body)
            self.assertEqual(await asyncio.to_thread(
                self.metric, self.nodes[1], "sockeye_broker_connected"), 0)
            restarted = time.monotonic()
            self.redis.start()
            connected = await asyncio.to_thread(self.wait_connected, 5.0)
            self.assertLess(connected - restarted, 2.0, "reconnect took too long")
            await asyncio.to_thread(self.wait_redis_subscribers, "live", 3)
            after = seq
            await publish_some(50)
            await asyncio.sleep(0.5)
            for ws in subs:
                await ws.close()
            await asyncio.gather(*readers)
            return outage_start, after, received
        outage_start, after, received = run(go())
        numbers = [[int(m) for m in r] for r in received]
        for got in numbers:
            self.assertEqual(len(got), len(set(got)), "a message arrived twice")
            self.assertEqual(got, sorted(got), "out of order")
        # Node A: every message, outage included (local delivery never stopped).
        self.assertEqual(numbers[0], list(range(after + 50)))
        # B and C: everything before the outage and everything after the reconnect.
        for got in numbers[1:]:
            self.assertEqual([n for n in got if n < outage_start], list(range(outage_start)))
            self.assertEqual([n for n in got if n >= after], list(range(after, after + 50)))
        self.assertGreaterEqual(self.metric(self.nodes[1], "sockeye_broker_reconnects_total"), 1)


class PubsubClusterShardedTest(ClusterTestCase):
    extra_flags = ("--broker-sharded",)

    def test_sharded_pubsub_reaches_every_node(self):
        async def go():
            subs = [await websockets.connect(self.url(n, "/topics/s"), max_queue=None)
                    for n in self.nodes]
            until = time.monotonic() + 5
            while time.monotonic() < until:
                reply = await asyncio.to_thread(self.redis.command, "PUBSUB", "SHARDNUMSUB",
                                                "sockeye:s")
                if reply.rstrip().endswith(":3"):
                    break
                await asyncio.sleep(0.02)
            for i in range(100):
                await asyncio.to_thread(self.publish, self.nodes[1], "s", f"x{i}".encode())
            for ws in subs:
                got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(100)]
                self.assertEqual(got, [f"x{i}" for i in range(100)])
                await ws.close()
        run(go())


if __name__ == "__main__":
    main()
