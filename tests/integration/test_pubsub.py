"""`sockeye serve --pubsub` on one node: WebSockets on /topics/NAME, POST /publish/NAME,
GET /topics, tokens, limits, read-only, and slow subscribers, driven by Python websockets,
Node ws and raw sockets."""

import asyncio
import json
import os
import socket
import subprocess
import time

import websockets
import websockets.exceptions

from sockeye_harness import (OP_BINARY, OP_TEXT, ServerTestCase, main, raise_nofile_limit)
from test_tls import TlsServerTestCase, client_context

HERE = os.path.dirname(os.path.abspath(__file__))


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class PubsubTestCase(ServerTestCase):
    server_flags = ("--pubsub",)

    def ws_url(self, path):
        return f"ws://127.0.0.1:{self.server.port}{path}"

    def publish(self, topic, body, content_type="text/plain", headers=()):
        conn = self.http()
        hs = [("Content-Type", content_type), *headers]
        return conn.request("POST", f"/publish/{topic}", headers=hs, body=body)

    def topics(self, headers=()):
        r = self.http().request("GET", "/topics", headers=list(headers))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        return {t["name"]: t["subscribers"] for t in json.loads(r.body)["topics"]}

    def wait_topics(self, expected, timeout=5.0):
        until = time.monotonic() + timeout
        while True:
            got = self.topics()
            if got == expected or time.monotonic() > until:
                self.assertEqual(got, expected)
                return
            time.sleep(0.02)

    def refused_status(self, path, **kw):
        """The HTTP status an upgrade to `path` is refused with."""
        async def attempt():
            ws = await websockets.connect(self.ws_url(path), **kw)
            await ws.close()
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as ctx:
            run(attempt())
        return ctx.exception.status_code

    def metric(self, name):
        body = self.http().request("GET", "/metrics").body.decode()
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail(f"no metric {name}")


class PubsubBasicsTest(PubsubTestCase):
    def test_websocket_and_http_publish_reach_every_subscriber(self):
        async def go():
            subs = [await websockets.connect(self.ws_url("/topics/news")) for _ in range(5)]
            both = await websockets.connect(self.ws_url("/topics?topic=news&topic=sport"))
            await asyncio.to_thread(self.wait_topics, {"news": 6, "sport": 1})
            r = await asyncio.to_thread(self.publish, "news", b"hello")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(json.loads(r.body), {"delivered": 6})
            for s in subs + [both]:
                self.assertEqual(await asyncio.wait_for(s.recv(), 5), "hello")  # text: str
            # Binary over HTTP for other content types.
            r = await asyncio.to_thread(self.publish, "sport", b"\x00\xff",
                                        "application/octet-stream")
            self.assertEqual(json.loads(r.body), {"delivered": 1})
            self.assertEqual(await asyncio.wait_for(both.recv(), 5), b"\x00\xff")
            # A client's message goes to all of its topics, itself included (like Redis).
            await both.send("from a client")
            for s in subs:
                self.assertEqual(await asyncio.wait_for(s.recv(), 5), "from a client")
            self.assertEqual(await asyncio.wait_for(both.recv(), 5), "from a client")
            self.assertEqual(await asyncio.wait_for(both.recv(), 5), "from a client")
            # One publisher's messages arrive in order everywhere.
            for i in range(500):
                await subs[0].send(f"n{i}")
            for s in subs:
                got = [await asyncio.wait_for(s.recv(), 5) for _ in range(500)]
                self.assertEqual(got, [f"n{i}" for i in range(500)])
            for s in subs + [both]:
                await s.close()
        run(go())
        self.wait_topics({})
        self.assertGreaterEqual(self.metric("sockeye_pubsub_delivered_total"), 6 + 1 + 7 + 2500)

    def test_json_is_text_and_invalid_utf8_text_is_refused(self):
        async def go():
            s = await websockets.connect(self.ws_url("/topics/j"))
            await asyncio.to_thread(self.wait_topics, {"j": 1})
            r = await asyncio.to_thread(self.publish, "j", b'{"a":1}',
                                        "application/json; charset=utf-8")
            self.assertEqual(r.status, 200)
            self.assertEqual(await asyncio.wait_for(s.recv(), 5), '{"a":1}')
            r = await asyncio.to_thread(self.publish, "j", b"\xff", "text/plain")
            self.assertEqual(r.status, 400)
            await s.close()
        run(go())

    def test_publish_to_a_topic_nobody_follows_delivers_zero(self):
        r = self.publish("empty", b"x")
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body), {"delivered": 0})

    def test_bad_topics_are_refused(self):
        r = self.publish("%01bad", b"x")
        self.assertEqual(r.status, 400)
        r = self.publish("x" * 257, b"x")
        self.assertEqual(r.status, 400)
        for path in ("/topics", "/topics/%0a", "/topics?topic=" + "y" * 300):
            self.assertEqual(self.refused_status(path), 400, path)
        many = "&".join(f"topic=t{i}" for i in range(65))
        self.assertEqual(self.refused_status("/topics?" + many), 400)

    def test_other_paths_keep_the_echo(self):
        async def go():
            async with websockets.connect(self.ws_url("/")) as ws:
                await ws.send("echo me")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "echo me")
        run(go())

    def test_node_ws_subscriber(self):
        node = os.environ.get("SOCKEYE_NODE")
        modules = os.environ.get("SOCKEYE_NODE_MODULES")
        if not node or not modules:
            self.skipTest("needs the Node ws fixture")
        env = dict(os.environ, NODE_PATH=modules)
        proc = subprocess.Popen(
            [node, os.path.join(HERE, "node", "ws_subscriber.js"),
             self.ws_url("/topics/node"), "300"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_topics({"node": 1}, timeout=20)
            for i in range(300):
                r = self.publish("node", f"m{i}".encode())
                self.assertEqual(r.status, 200)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 0, f"{out}\n{err}")
        self.assertIn("received 300 in order", out)


class PubsubDeflateTest(PubsubTestCase):
    """Published messages are framed once, uncompressed, for every subscriber: one that
    negotiated permessage-deflate gets them with RSV1 clear (RFC 7692 §6 lets an endpoint
    send any message uncompressed), while its own sends are still compressed."""
    server_flags = ("--pubsub", "--permessage-deflate")

    def test_deflate_and_plain_subscribers_get_the_same_messages(self):
        async def go():
            z = await websockets.connect(self.ws_url("/topics/z"))  # offers deflate
            self.assertIn("permessage-deflate", z.response_headers.get(
                "Sec-WebSocket-Extensions", ""))
            plain = await websockets.connect(self.ws_url("/topics/z"), compression=None)
            await asyncio.to_thread(self.wait_topics, {"z": 2})
            text = "compressible " * 500
            await z.send(text)
            for ws in (z, plain):
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), text)
            r = await asyncio.to_thread(self.publish, "z", b"\x01" * 3000,
                                        "application/octet-stream")
            self.assertEqual(json.loads(r.body), {"delivered": 2})
            for ws in (z, plain):
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), b"\x01" * 3000)
            await z.close()
            await plain.close()
        run(go())

        # On the wire: a raw client that negotiated deflate sees RSV1 clear on published frames.
        ws = self.raw_ws("/topics/raw", extra_headers=[
            ("Sec-WebSocket-Extensions", "permessage-deflate")])
        self.wait_topics({"raw": 1})
        self.assertEqual(self.publish("raw", b"y" * 1000).status, 200)
        frame = ws.recv_frame()
        self.assertEqual((frame.opcode, frame.rsv), (OP_TEXT, 0))
        self.assertEqual(frame.payload, b"y" * 1000)


class PubsubTlsTest(TlsServerTestCase):
    """Shared frames through TLS: each subscriber's copy is encrypted on its own."""
    extra_flags = ("--pubsub",)

    def test_wss_subscribers_get_published_messages(self):
        async def go():
            ctx = client_context(self.cert)
            subs = [await websockets.connect(self.wss("/topics/secure"), ssl=ctx,
                                             max_size=None) for _ in range(3)]
            pub = await websockets.connect(self.wss("/topics/secure"), ssl=ctx, max_size=None)
            big = os.urandom(300_000)
            for i in range(50):
                await pub.send(f"s{i}")
            await pub.send(big)
            for ws in subs + [pub]:
                got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(51)]
                self.assertEqual(got[:50], [f"s{i}" for i in range(50)])
                self.assertEqual(got[50], big)
            for ws in subs + [pub]:
                await ws.close()
        run(go())


class PubsubLimitsTest(PubsubTestCase):
    server_flags = ("--pubsub", "--max-publish", "1000")

    def test_too_large_publishes(self):
        r = self.publish("big", b"x" * 1001)
        self.assertEqual(r.status, 413)
        self.assertEqual(self.publish("big", b"x" * 1000).status, 200)

        async def go():
            ws = await websockets.connect(self.ws_url("/topics/big"), max_size=None)
            await ws.send(b"y" * 1001)
            with self.assertRaises(websockets.exceptions.ConnectionClosed) as ctx:
                await asyncio.wait_for(ws.recv(), 5)
            self.assertEqual(ctx.exception.rcvd.code, 1009)
        run(go())


class PubsubReadOnlyTest(PubsubTestCase):
    server_flags = ("--pubsub", "--pubsub-read-only")

    def test_client_messages_close_1008(self):
        async def go():
            ws = await websockets.connect(self.ws_url("/topics/ro"))
            await asyncio.to_thread(self.wait_topics, {"ro": 1})
            r = await asyncio.to_thread(self.publish, "ro", b"still works")
            self.assertEqual(r.status, 200)
            self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "still works")
            await ws.send("not allowed")
            with self.assertRaises(websockets.exceptions.ConnectionClosed) as ctx:
                await asyncio.wait_for(ws.recv(), 5)
            self.assertEqual(ctx.exception.rcvd.code, 1008)
        run(go())


class PubsubTokenTest(PubsubTestCase):
    server_flags = ("--pubsub", "--publish-token", "pub-secret", "--subscribe-token", "sub-secret")

    def test_publishing_needs_the_publish_token(self):
        r = self.publish("t", b"x")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        r = self.publish("t", b"x", headers=[("Authorization", "Bearer wrong")])
        self.assertEqual(r.status, 403)
        r = self.publish("t", b"x", headers=[("Authorization", "Bearer sub-secret")])
        self.assertEqual(r.status, 403)
        r = self.publish("t", b"x", headers=[("Authorization", "Bearer pub-secret")])
        self.assertEqual(r.status, 200)

    def test_subscribing_needs_the_subscribe_token(self):
        for path, status in (("/topics/t", 401), ("/topics/t?token=nope", 403),
                             ("/topics/t?token=pub-secret", 403)):
            self.assertEqual(self.refused_status(path), status, path)
        r = self.http().request("GET", "/topics")
        self.assertEqual(r.status, 401)

        async def go():
            a = await websockets.connect(self.ws_url("/topics/t?token=sub-secret"))
            b = await websockets.connect(self.ws_url("/topics/t"),
                                         extra_headers={"Authorization": "Bearer sub-secret"})
            self.assertEqual(await asyncio.to_thread(
                self.topics, [("Authorization", "Bearer sub-secret")]), {"t": 2})
            await a.close()
            await b.close()
        run(go())


class PubsubSlowSubscriberTest(PubsubTestCase):
    server_flags = ("--pubsub", "--pubsub-backlog", "65536", "--close-timeout", "1")
    count = 200
    size = 1024

    def stalled(self, path):
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.track(s)
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        return s

    def run_thousand(self, expect_closed):
        raise_nofile_limit(8192)
        # Also on a topic of its own, which fills what the kernel buffers for it (its send
        # buffer grows to megabytes) before the feed starts.
        slow = self.stalled("/topics?topic=feed&topic=bulk")
        counts = []

        async def subscriber(index):
            async with websockets.connect(self.ws_url("/topics/feed"), max_queue=None) as ws:
                counts[index] = 0
                got = []
                while len(got) < self.count:
                    got.append(await asyncio.wait_for(ws.recv(), 30))
                    counts[index] = len(got)
                return got

        async def go():
            counts.extend([-1] * 1000)
            tasks = [asyncio.create_task(subscriber(i)) for i in range(1000)]
            while min(counts) < 0:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(self.wait_topics, {"feed": 1001, "bulk": 1}, 20)
            for _ in range(8):
                r = await asyncio.to_thread(self.publish, "bulk", b"b" * 1000000,
                                            "application/octet-stream")
                self.assertEqual(r.status, 200)
            for i in range(self.count):
                # A window of a few messages: the thousand readers (one Python process)
                # stay within the backlog; the stalled one does not.
                while min(counts) < i - 4:
                    await asyncio.sleep(0.002)
                body = (f"{i:06d}".encode() + b"." * self.size)[: self.size]
                r = await asyncio.to_thread(self.publish, "feed", body,
                                            "application/octet-stream")
                self.assertEqual(r.status, 200)
            results = await asyncio.gather(*tasks)
            for got in results:
                self.assertEqual([int(m[:6]) for m in got], list(range(self.count)))
        run(go(), timeout=240)
        if expect_closed:
            self.wait_topics({}, timeout=10)
            self.assertEqual(self.metric("sockeye_pubsub_slow_closed_total"), 1)
        else:
            self.wait_topics({"feed": 1, "bulk": 1}, timeout=10)
            self.assertGreater(self.metric("sockeye_pubsub_dropped_total"), 0)
            self.assertEqual(self.metric("sockeye_pubsub_slow_closed_total"), 0)
        slow.close()

    def test_a_stalled_subscriber_is_closed_while_a_thousand_get_everything(self):
        self.run_thousand(expect_closed=True)


class PubsubDropPolicyTest(PubsubSlowSubscriberTest):
    server_flags = ("--pubsub", "--pubsub-backlog", "65536", "--slow-subscriber", "drop")

    def test_a_stalled_subscriber_is_closed_while_a_thousand_get_everything(self):
        self.run_thousand(expect_closed=False)


class PubsubChurnTest(PubsubTestCase):
    """100 topics × 100 subscribers (Node ws) churning for 60 s while messages are
    published: no message lost, duplicated or reordered for connected subscribers, and the
    server's descriptors and memory come back to where they were."""
    seconds = 60
    server_flags = ("--pubsub", "--max-connections", "12000")

    @classmethod
    def setUpClass(cls):
        raise_nofile_limit(16384)  # for the server started next, and for node

    def fds(self):
        return len(os.listdir(f"/proc/{self.server.pid}/fd"))

    def test_churn(self):
        node = os.environ.get("SOCKEYE_NODE")
        modules = os.environ.get("SOCKEYE_NODE_MODULES")
        if not node or not modules:
            self.skipTest("needs the Node ws fixture")
        fds_before, rss_before = self.fds(), self.server.rss_kib()
        env = dict(os.environ, NODE_PATH=modules)
        proc = subprocess.run(
            [node, os.path.join(HERE, "node", "pubsub_churn.js"), str(self.server.port),
             "100", "100", str(self.seconds)],
            env=env, capture_output=True, text=True, timeout=self.seconds + 120)
        self.assertEqual(proc.returncode, 0, f"{proc.stdout}\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(result)
        self.assertEqual(result["failures"], [])
        self.assertGreater(result["published"], 1000)
        self.assertGreater(result["received"], 10 * result["published"])
        self.assertGreater(result["opened"], 10000 + 1000)  # the churn replaced > 1,000
        self.wait_topics({}, timeout=20)
        until = time.monotonic() + 20
        while self.fds() > fds_before + 2 and time.monotonic() < until:
            time.sleep(0.2)
        self.assertLessEqual(self.fds(), fds_before + 2)
        # Memory: the allocator keeps some of what 10,000 connections used; it must not
        # grow with the churn (a leak of 1 KiB per replaced connection alone would be more).
        self.assertLess(self.server.rss_kib() - rss_before, 64 * 1024)
        self.assertEqual(self.metric("sockeye_pubsub_subscriptions"), 0)


if __name__ == "__main__":
    main()
