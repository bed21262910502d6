"""The frame inspector (sockeye serve --inspect, docs/inspector.md): who may open
/_sockeye/inspect, which connections it sees, what it reports of frames made by hand, and
that an inspector which does not keep up loses events instead of slowing the connections
it watches."""

import json
import os
import socket
import struct
import time
import unittest

from sockeye_harness import (OP_TEXT, HandshakeFailed, RawWebSocket, ServerTestCase,
                             build_frame, fetch_metrics, main, wait_until)

MiB = 1024 * 1024


def events_until(ins: RawWebSocket, pred, timeout: float = 10.0) -> list[dict]:
    """Events from the inspector until one satisfies pred (included)."""
    got = []
    deadline = time.monotonic() + timeout
    ins.sock.settimeout(timeout)
    while time.monotonic() < deadline:
        _, data = ins.recv_message()
        e = json.loads(data)
        got.append(e)
        if pred(e):
            return got
    raise AssertionError(f"no matching event in {len(got)}: {got[-5:]}")


class InspectorTest(ServerTestCase):
    server_flags = ("--inspect",)

    def inspector(self, query: str = "") -> RawWebSocket:
        return self.raw_ws("/_sockeye/inspect" + query)

    def test_the_letter_a_and_its_echo(self):
        ins = self.inspector("?id=t1")
        ws = self.raw_ws("/?inspect=t1")
        key = b"\x01\x02\x03\x04"
        ws.send_text("a", mask_key=key)
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"a"))
        # The read is reported once its frames are: after the echo it caused.
        got = events_until(ins, lambda e: e["e"] == "write")
        opened = [e for e in got if e["e"] == "open"]
        self.assertEqual(len(opened), 1)
        self.assertEqual(opened[0]["tag"], "t1")
        self.assertEqual(opened[0]["http"], "1.1")
        frame_in = next(e for e in got if e["e"] == "frame" and e["dir"] == "in")
        self.assertEqual(frame_in["hdr"], "8181" + key.hex())
        self.assertEqual((frame_in["fin"], frame_in["op"], frame_in["opn"], frame_in["mask"]),
                         (1, 1, "text", 1))
        self.assertEqual((frame_in["len"], frame_in["enc"], frame_in["key"]), (1, 7, "01020304"))
        self.assertEqual(frame_in["wire"], bytes([ord("a") ^ 1]).hex())
        self.assertEqual(frame_in["data"], "61")
        frame_out = next(e for e in got if e["e"] == "frame" and e["dir"] == "out")
        self.assertEqual((frame_out["hdr"], frame_out["mask"], frame_out["key"]), ("8101", 0, ""))
        read = next(e for e in got if e["e"] == "read")
        self.assertEqual((read["size"], read["began"], read["ended"]), (7, [1, 1], [1, 1]))

    def test_header_split_across_reads_and_length_encodings(self):
        ins = self.inspector("?id=t2")
        ws = self.raw_ws("/?inspect=t2")
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        big = build_frame(0x2, os.urandom(70000), mask_key=b"\x0a\x0b\x0c\x0d")
        mid = build_frame(0x2, b"m" * 300)
        # The 64-bit header arrives in two pieces, 200 ms apart: two reads.
        ws.send_raw(mid + big[:5])
        time.sleep(0.2)
        ws.send_raw(big[5:])
        ws.recv_message()
        ws.recv_message()
        got = events_until(ins, lambda e: e["e"] == "message" and e["dir"] == "in" and e["msg"] == 2)
        frames = [e for e in got if e["e"] == "frame" and e["dir"] == "in"]
        self.assertEqual([(f["len"], f["enc"]) for f in frames], [(300, 16), (70000, 64)])
        self.assertFalse(frames[0]["split"])
        self.assertTrue(frames[1]["split"])
        self.assertEqual(frames[1]["hdr"], big[:14].hex())
        reads = [e for e in got if e["e"] == "read"]
        self.assertTrue(reads[0]["split"], reads[0])
        self.assertEqual(reads[0]["size"], len(mid) + 5)
        self.assertEqual(reads[0]["began"], [1, 1])
        self.assertEqual(reads[0]["ended"], [1, 1])
        self.assertEqual(reads[1]["cont"], 2)

    def test_tags_choose_the_connections(self):
        mine = self.inspector("?id=mine")
        every = self.inspector()
        a = self.raw_ws("/?inspect=mine")
        b = self.raw_ws("/?inspect=other")
        b.send_text("from b")
        b.recv_message()
        a.send_text("from a")
        a.recv_message()
        got_all = events_until(every, lambda e: e["e"] == "message" and e["dir"] == "out"
                               and e["conn"] == 2)
        self.assertEqual({e["conn"] for e in got_all if "conn" in e}, {1, 2})
        got_mine = events_until(mine, lambda e: e["e"] == "message" and e["dir"] == "out")
        self.assertEqual({e["conn"] for e in got_mine}, {1})
        tags = {e["tag"] for e in got_mine if e["e"] == "open"}
        self.assertEqual(tags, {"mine"})

    def test_protocol_error_has_name_code_and_section(self):
        ins = self.inspector("?id=bad")
        ws = self.raw_ws("/?inspect=bad")
        ws.send_raw(build_frame(0x1, b"x", mask=False))
        got = events_until(ins, lambda e: e["e"] == "end")
        err = next(e for e in got if e["e"] == "error")
        self.assertEqual((err["name"], err["code"], err["rfc"]), ("unmasked_frame", 1002, "5.1"))
        close = next(e for e in got if e["e"] == "close" and e["dir"] == "out")
        self.assertEqual(close["code"], 1002)
        self.assertEqual(got[-1]["code"], 1002)

    def test_a_long_message_is_cut_short(self):
        ins = self.inspector("?id=long")
        ws = self.raw_ws("/?inspect=long")
        n = 2000
        parts = [build_frame(0x2 if i == 0 else 0x0, b"z" * 50, fin=(i == n - 1)) for i in range(n)]
        ws.send_raw(b"".join(parts))
        _, echoed = ws.recv_message()
        self.assertEqual(len(echoed), 50 * n)
        got = events_until(ins, lambda e: e["e"] == "message" and e["dir"] == "in")
        frames = [e for e in got if e["e"] == "frame" and e["dir"] == "in"]
        self.assertEqual(len(frames), 9, [f["id"] for f in frames])
        self.assertEqual(frames[-1]["id"], n)
        self.assertEqual(frames[-1]["fin"], 1)
        elided = [e for e in got if e["e"] == "elided" and e["dir"] == "in"]
        self.assertEqual(len(elided), 1)
        self.assertEqual(elided[0]["frames"], n - 9)
        self.assertEqual(elided[0]["bytes"], 50 * (n - 9))
        msg = got[-1]
        self.assertEqual((msg["frames"], msg["size"]), (n, 50 * n))

    def test_an_inspector_that_does_not_read_loses_events_not_speed(self):
        # An inspector that never reads: its socket buffers fill, then its 4 MiB backlog.
        slow = self.inspector()
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        ws = self.raw_ws("/?inspect=x")
        batch = b"".join(build_frame(0x1, b"ping %05d" % i) for i in range(500))
        start = time.monotonic()
        for _ in range(60):  # 30,000 echoes, ~10 events each
            ws.send_raw(batch)
            for _ in range(500):
                ws.recv_message()
        elapsed = time.monotonic() - start
        m = fetch_metrics(self.server.port)
        self.assertGreater(m.get("sockeye_inspector_dropped_total", 0), 0)
        rss = self.server.rss_kib()
        # Under ASan, freed memory waits in its quarantine (256 MiB by default) and every
        # event allocates: the bound is for the plain build only.
        if not os.environ.get("SOCKEYE_SANITIZED"):
            self.assertLess(rss, 48 * 1024, rss)
        # A connection without the inspector is as quick as ever meanwhile.
        other = self.raw_ws("/")
        t0 = time.monotonic()
        other.send_text("quick")
        other.recv_message()
        self.assertLess(time.monotonic() - t0, 2.0)
        # Once it reads again, it is told how many it missed (with the next event that
        # finds room: keep the echo going while it catches up).
        dropped_seen = []
        slow.sock.settimeout(0.5)
        deadline = time.monotonic() + 30
        while not dropped_seen and time.monotonic() < deadline:
            try:
                _, data = slow.recv_message()
            except (socket.timeout, TimeoutError):
                ws.send_text("again")
                ws.recv_message()
                continue
            e = json.loads(data)
            if e["e"] == "dropped":
                dropped_seen.append(e)
        self.assertTrue(dropped_seen)
        self.assertGreater(dropped_seen[0]["count"], 0)
        print(f"30,000 echoes in {elapsed:.2f} s beside a stalled inspector; "
              f"dropped {dropped_seen[0]['count']}; rss {rss} KiB")

    def test_no_pong_handler_or_application_sees_the_inspector(self):
        before = fetch_metrics(self.server.port).get("sockeye_messages_in_total", 0)
        ins = self.inspector()
        ins.send_text("ignored")
        ws = self.raw_ws("/")
        ws.send_text("x")
        ws.recv_message()
        got = events_until(ins, lambda e: e["e"] == "message" and e["dir"] == "out")
        self.assertNotIn("ignored", json.dumps(got))
        # The inspector's own message was not echoed.
        ins.sock.settimeout(0.3)
        with self.assertRaises((socket.timeout, TimeoutError)):
            while True:
                _, data = ins.recv_message()
                self.assertNotEqual(data, b"ignored")


class InspectorHttp2Test(ServerTestCase):
    server_flags = ("--inspect",)

    def test_a_websocket_on_an_h2_stream(self):
        from h2_websocket import H2Client
        ins = self.raw_ws("/_sockeye/inspect?id=h2")
        c = H2Client(self.server.port)
        self.track(c.sock)
        s = c.open_websocket("/?inspect=h2")
        s.send_text("over h2")
        self.assertEqual(s.receive_message(), "over h2")
        got = events_until(ins, lambda e: e["e"] == "write")
        self.assertEqual(next(e for e in got if e["e"] == "open")["http"], "2")
        f = next(e for e in got if e["e"] == "frame" and e["dir"] == "in")
        self.assertEqual((f["opn"], f["len"], f["mask"]), ("text", 7, 1))
        self.assertEqual(f["data"], b"over h2".hex())
        w = next(e for e in got if e["e"] == "write")
        self.assertEqual((w["size"], w["began"], w["ended"]), (9, [1, 1], [1, 1]))


class InspectorPubsubTest(ServerTestCase):
    server_flags = ("--inspect", "--pubsub")

    def test_published_frames_show_as_sent(self):
        # Published messages are framed once and queued as they are, past the session:
        # the inspector still shows them as frames out, and the write that carried them.
        ins = self.raw_ws("/_sockeye/inspect?id=sub")
        sub = self.raw_ws("/topics/news?inspect=sub")
        wait_until(lambda: b"news" in self.http().request("GET", "/topics").body, 5)
        r = self.http().request("POST", "/publish/news", headers=[("Content-Type", "text/plain")],
                         body=b"extra extra")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(sub.recv_message(), (OP_TEXT, b"extra extra"))
        got = events_until(ins, lambda e: e["e"] == "write")
        f = next(e for e in got if e["e"] == "frame" and e["dir"] == "out")
        self.assertEqual((f["hdr"], f["len"], f["opn"], f["mask"]), ("810b", 11, "text", 0))
        self.assertEqual(f["data"], b"extra extra".hex())
        m = next(e for e in got if e["e"] == "message" and e["dir"] == "out")
        self.assertEqual((m["size"], m["frames"]), (11, 1))
        w = next(e for e in got if e["e"] == "write")
        self.assertEqual((w["size"], w["began"], w["ended"]), (13, [1, 1], [1, 1]))


class InspectorDeflateTest(ServerTestCase):
    server_flags = ("--inspect", "--permessage-deflate")

    def test_compressed_messages_show_rsv1_and_their_wire_size(self):
        import asyncio
        import websockets
        ins = self.raw_ws("/_sockeye/inspect?id=z")
        text = "compress me " * 200

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.server.port}/?inspect=z") as ws:
                await ws.send(text)
                self.assertEqual(await ws.recv(), text)
        asyncio.run(asyncio.wait_for(go(), 20))
        got = events_until(ins, lambda e: e["e"] == "message" and e["dir"] == "out")
        self.assertTrue(next(e for e in got if e["e"] == "open")["deflate"])
        f = next(e for e in got if e["e"] == "frame" and e["dir"] == "in")
        self.assertEqual((f["rsv1"], f["opn"]), (1, "text"))
        for d in ("in", "out"):
            m = next(e for e in got if e["e"] == "message" and e["dir"] == d)
            self.assertTrue(m["compressed"], m)
            self.assertLess(m["size"], len(text) // 4, m)  # the bytes on the wire


class InspectorTokenTest(ServerTestCase):
    server_flags = ("--inspect", "--inspect-token", "s3cret")

    def test_token_is_required_from_everyone(self):
        for q in ("", "?token=wrong", "?token=s3cre", "?token=s3cret1"):
            with self.assertRaises(HandshakeFailed) as cm:
                RawWebSocket.connect(self.server.port, path="/_sockeye/inspect" + q)
            self.assertEqual(cm.exception.status, 403, q)
        ins = self.raw_ws("/_sockeye/inspect?token=s3cret&id=k")
        ws = self.raw_ws("/?inspect=k")
        ws.send_text("hi")
        ws.recv_message()
        got = events_until(ins, lambda e: e["e"] == "message")
        self.assertEqual(got[0]["e"], "open")


class InspectorOffTest(ServerTestCase):
    def test_off_the_path_says_so(self):
        with self.assertRaises(HandshakeFailed) as cm:
            RawWebSocket.connect(self.server.port, path="/_sockeye/inspect?id=x")
        self.assertEqual(cm.exception.status, 404)
        self.assertNotIn("frame inspector on", self.server.stderr_text())
        # Connections asking to be inspected are just connections.
        ws = self.raw_ws("/?inspect=x")
        ws.send_text("plain")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"plain"))


if __name__ == "__main__":
    main()
