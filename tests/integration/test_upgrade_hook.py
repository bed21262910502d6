"""The upgrade hook, driven through examples/auth_server with Python websockets and raw
sockets: a token from a cookie or the query decides; 401 without one, 403 for a wrong one;
the user (typed per-connection state) is named in every reply; the async variant answers
from a worker thread after 50 ms while other connections go on; a client that leaves
before the answer costs nothing; an upgrade nobody answers in time gets 503."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

import websockets

from sockeye_harness import LOOPBACK, HttpConnection

READY = re.compile(r"^listening on ws://127\.0\.0\.1:(\d+)/")


class AuthServer:
    def __init__(self, *args: str):
        binary = os.environ.get("SOCKEYE_AUTH_SERVER")
        if not binary:
            raise unittest.SkipTest("SOCKEYE_AUTH_SERVER is not set (run through CTest)")
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([binary, *args, "0"], stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = READY.match(line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"auth_server printed {line!r}")
        self.port = int(m.group(1))

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")


def upgrade_request(path: str, extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n").encode()


class AuthServerTest(unittest.TestCase):
    args: tuple[str, ...] = ()

    def setUp(self):
        self.server = AuthServer(*self.args)

    def tearDown(self):
        rc = self.server.stop()
        self.assertEqual(rc, 0, self.server.stderr())

    def url(self, path: str) -> str:
        return f"ws://{LOOPBACK}:{self.server.port}{path}"

    def exchange(self, path: str, headers=None, messages=("hi",)) -> list[str]:
        async def run():
            async with websockets.connect(self.url(path), extra_headers=headers or {},
                                          open_timeout=10) as ws:
                got = [await asyncio.wait_for(ws.recv(), 10)]
                for m in messages:
                    await ws.send(m)
                    got.append(await asyncio.wait_for(ws.recv(), 10))
                return got
        return asyncio.run(run())

    def refused(self, path: str, extra: str = "") -> tuple[int, str, bytes]:
        conn = HttpConnection(self.server.port, timeout=10)
        try:
            conn.send(upgrade_request(path, extra))
            r = conn.read_response()
            return r.status, (r.header("WWW-Authenticate") or ""), r.body
        finally:
            conn.close()

    def test_a_token_in_the_query_names_the_user_in_every_reply(self):
        got = self.exchange("/?token=alice-secret", messages=("one", "two"))
        self.assertEqual(got, ["hello, alice", "alice: one", "alice: two"])

    def test_a_token_in_a_cookie_works_too(self):
        got = self.exchange("/chat", headers={"Cookie": "theme=dark; token=bob-secret"})
        self.assertEqual(got, ["hello, bob", "bob: hi"])

    def test_no_token_is_401_with_a_challenge(self):
        status, challenge, body = self.refused("/")
        self.assertEqual(status, 401)
        self.assertEqual(challenge, "Bearer")
        self.assertIn(b"token is required", body)

    def test_a_wrong_token_is_403(self):
        self.assertEqual(self.refused("/?token=mallory")[0], 403)
        self.assertEqual(self.refused("/", "Cookie: token=nope\r\n")[0], 403)

    def test_frames_sent_with_the_request_wait_for_the_answer(self):
        # A masked text frame "x" right behind the request: delivered after the accept.
        s = socket.create_connection((LOOPBACK, self.server.port), timeout=10)
        try:
            frame = bytes([0x81, 0x81]) + b"abcd" + bytes([ord("x") ^ ord("a")])
            s.sendall(upgrade_request("/?token=alice-secret") + frame)
            data = b""
            deadline = time.monotonic() + 5
            while b"alice: x" not in data and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 101 "), data[:60])
            self.assertIn(b"hello, alice", data)
            self.assertIn(b"alice: x", data)
        finally:
            s.close()


class Http2AuthServerTest(unittest.TestCase):
    """The same hook on HTTP/2 streams (RFC 8441), with Python h2 + wsproto."""
    args: tuple[str, ...] = ()

    def setUp(self):
        self.server = AuthServer(*self.args)
        self.clients = []

    def tearDown(self):
        for c in self.clients:  # first: the server's shutdown need not wait for them
            c.close()
        rc = self.server.stop()
        self.assertEqual(rc, 0, self.server.stderr())

    def client(self):
        from h2_websocket import H2Client
        c = H2Client(self.server.port)
        self.clients.append(c)
        return c

    def test_query_token_and_cookie_crumbs(self):
        c = self.client()
        s = c.open_websocket("/?token=alice-secret")
        self.assertEqual(s.status, 200)
        self.assertEqual(s.receive_message(), "hello, alice")
        s.send_text("one")
        self.assertEqual(s.receive_message(), "alice: one")
        # h2 may split Cookie into crumbs (RFC 9113 §8.2.3): the hook sees them joined.
        b = c.open_websocket("/chat", headers=[("cookie", "theme=dark"), ("cookie", "token=bob-secret")])
        self.assertEqual(b.status, 200)
        self.assertEqual(b.receive_message(), "hello, bob")

    def test_refusals_are_statuses_on_the_stream(self):
        c = self.client()
        s = c.open_websocket("/")
        self.assertEqual(s.status, 401)
        self.assertEqual(s.headers.get("www-authenticate"), "Bearer")
        self.assertIn(b"token is required", s.body)
        self.assertTrue(s.ended)
        self.assertEqual(c.open_websocket("/?token=mallory").status, 403)
        # The connection is fine for the next stream.
        ok = c.open_websocket("/?token=alice-secret")
        self.assertEqual(ok.receive_message(), "hello, alice")

    def test_data_sent_with_the_request_waits_for_the_answer(self):
        c = self.client()
        s = c.open_websocket("/?token=alice-secret", wait=False)
        s.send_text("early")  # on the stream before the server answered
        c.wait_response(s)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.receive_message(), "hello, alice")
        self.assertEqual(s.receive_message(), "alice: early")


class AsyncHttp2AuthServerTest(Http2AuthServerTest):
    args = ("--async",)


class AsyncAuthServerTest(AuthServerTest):
    args = ("--async",)

    def test_the_answer_takes_the_worker_delay_and_other_clients_go_on(self):
        async def run():
            t0 = time.monotonic()
            async with websockets.connect(self.url("/?token=alice-secret")) as a:
                opened = time.monotonic() - t0
                self.assertEqual(await asyncio.wait_for(a.recv(), 10), "hello, alice")
                # While bob's upgrade waits on the worker, alice's messages are answered.
                bob = asyncio.ensure_future(websockets.connect(self.url("/?token=bob-secret")))
                await a.send("ping")
                self.assertEqual(await asyncio.wait_for(a.recv(), 10), "alice: ping")
                b = await asyncio.wait_for(bob, 10)
                self.assertEqual(await asyncio.wait_for(b.recv(), 10), "hello, bob")
                await b.close()
                return opened
        opened = asyncio.run(run())
        self.assertGreaterEqual(opened, 0.045)

    def test_a_client_gone_before_the_answer_is_harmless(self):
        for _ in range(20):
            s = socket.create_connection((LOOPBACK, self.server.port), timeout=10)
            s.sendall(upgrade_request("/?token=alice-secret"))
            s.close()
        time.sleep(0.3)  # the answers arrive for connections that are gone
        got = self.exchange("/?token=bob-secret")
        self.assertEqual(got, ["hello, bob", "bob: hi"])


if __name__ == "__main__":
    unittest.main()
