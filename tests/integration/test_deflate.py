"""permessage-deflate (RFC 7692) end to end: Python websockets (which offers it by
default) with every parameter, Node ws with perMessageDeflate, a raw client sending a
decompression bomb and corrupt data, the server without the flag declining the offer,
and bytes on the wire actually shrinking."""

import asyncio
import os
import subprocess
import time
import zlib

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from sockeye_harness import (MiB, OP_BINARY, OP_CONT, OP_TEXT, RssSampler, ServerTestCase,
                             build_frame, fetch_metrics, main, metric_sum)

HERE = os.path.dirname(os.path.abspath(__file__))


def deflate_payload(data: bytes, wbits: int = 15) -> bytes:
    """A permessage-deflate message payload: raw DEFLATE, sync flush, tail removed."""
    c = zlib.compressobj(wbits=-wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def text_payload(n: int) -> str:
    words = ["socket ", "frame ", "deflate ", "salmon ", "stream ", "echo ", "message "]
    out, size, i = [], 0, 0
    while size < n:
        w = words[(i * 7 + i // 3) % len(words)]
        out.append(w)
        size += len(w)
        i += 1
    return "".join(out)[:n]


class DeflateEchoTest(ServerTestCase):
    server_flags = ("--permessage-deflate",)

    def test_websockets_default_offer_is_accepted_and_echoes(self):
        async def run():
            async with websockets.connect(self.server.url(), max_size=None) as ws:
                self.assertEqual(ws.response_headers.get("Sec-WebSocket-Extensions"),
                                 "permessage-deflate")
                self.assertEqual([type(e).__name__ for e in ws.extensions], ["PerMessageDeflate"])
                for n in (0, 1, 63, 64, 1000, 65536, 1 * MiB, 16 * MiB):
                    text = text_payload(n)
                    await ws.send(text)
                    self.assertEqual(await ws.recv(), text, n)
                    data = os.urandom(n)
                    await ws.send(data)
                    self.assertEqual(await ws.recv(), data, n)
        asyncio.run(asyncio.wait_for(run(), 120))

    def test_every_parameter_combination(self):
        combos = []
        for snct in (False, True):
            for cnct in (False, True):
                for smwb in (None, 9, 12, 15):
                    for cmwb in (None, True, 9, 15):
                        combos.append(dict(server_no_context_takeover=snct,
                                           client_no_context_takeover=cnct,
                                           server_max_window_bits=smwb,
                                           client_max_window_bits=cmwb))

        async def run():
            for kw in combos:
                factory = ClientPerMessageDeflateFactory(**kw)
                async with websockets.connect(self.server.url(), max_size=None,
                                              extensions=[factory], compression=None) as ws:
                    answer = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                    self.assertTrue(answer.startswith("permessage-deflate"), (kw, answer))
                    if kw["server_no_context_takeover"]:
                        self.assertIn("server_no_context_takeover", answer)
                    if kw["server_max_window_bits"] is not None:
                        self.assertIn(f"server_max_window_bits={kw['server_max_window_bits']}",
                                      answer)
                    for i in range(3):  # several messages: context takeover matters
                        text = text_payload(20000) + str(i)
                        await ws.send(text)
                        self.assertEqual(await ws.recv(), text, kw)
        asyncio.run(asyncio.wait_for(run(), 120))

    def test_compression_shrinks_text_on_the_wire(self):
        text = text_payload(1 * MiB)

        async def run(compression):
            async with websockets.connect(self.server.url(), max_size=None,
                                          compression=compression) as ws:
                for _ in range(4):
                    await ws.send(text)
                    self.assertEqual(await ws.recv(), text)

        before = metric_sum(fetch_metrics(self.server.port), "sockeye_bytes_received_total")
        asyncio.run(run("deflate"))
        mid = metric_sum(fetch_metrics(self.server.port), "sockeye_bytes_received_total")
        asyncio.run(run(None))
        after = metric_sum(fetch_metrics(self.server.port), "sockeye_bytes_received_total")
        compressed, plain = mid - before, after - mid
        print(f"\n4 x 1 MiB text received: {plain} bytes plain, {compressed} compressed")
        self.assertLess(compressed, plain / 5)

    def test_node_ws_with_per_message_deflate(self):
        node = os.environ.get("SOCKEYE_NODE")
        modules = os.environ.get("SOCKEYE_NODE_MODULES")
        if not node or not modules:
            self.skipTest("Node ws is not set up (run through CTest with the npm fixture)")
        proc = subprocess.run([node, os.path.join(HERE, "node", "ws_deflate_client.js"),
                               str(self.server.port)], env=dict(os.environ, NODE_PATH=modules),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("permessage-deflate", proc.stdout)


class DeflateHostileTest(ServerTestCase):
    server_flags = ("--permessage-deflate", "--max-message", str(10 * MiB))

    def offer(self):
        return [("Sec-WebSocket-Extensions", "permessage-deflate")]

    def test_decompression_bomb_is_closed_1009_with_bounded_memory(self):
        ws = self.raw_ws(extra_headers=self.offer())
        self.assertIn("permessage-deflate", ws.response_headers.get("sec-websocket-extensions", ""))
        bomb = deflate_payload(bytes(1 << 30))  # 1 GiB of zeros: ~1 MiB compressed
        self.assertLess(len(bomb), 2 * MiB)
        with RssSampler(self.server):
            ws.send_frame(OP_BINARY, bomb, rsv=4)
            code, reason, _ = ws.expect_close(timeout=20)
        self.assertEqual(code, 1009, reason)
        peak = self.server.peak_rss_kib()
        print(f"\n1 GiB bomb in {len(bomb)} bytes: closed 1009, server peak RSS {peak} KiB")
        self.assertLess(peak, 64 * 1024)

    def test_corrupt_data_is_closed_1007(self):
        ws = self.raw_ws(extra_headers=self.offer())
        ws.send_frame(OP_TEXT, b"\xff\xff\xff\xff\x00\x01garbage", rsv=4)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1007)

    def test_rsv1_on_a_continuation_is_1002(self):
        ws = self.raw_ws(extra_headers=self.offer())
        payload = deflate_payload(b"hello hello hello")
        ws.send_frame(OP_TEXT, payload[:3], fin=False, rsv=4)
        ws.send_frame(OP_CONT, payload[3:], rsv=4)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1002)

    def test_fragmented_compressed_message_from_a_raw_client(self):
        ws = self.raw_ws(extra_headers=self.offer())
        text = text_payload(300000).encode()
        payload = deflate_payload(text)
        third = len(payload) // 3
        ws.send_frame(OP_TEXT, payload[:third], fin=False, rsv=4)
        ws.send_frame(OP_CONT, payload[third:2 * third], fin=False)
        ws.send_frame(OP_CONT, payload[2 * third:])
        # The echo comes back compressed: inflate what the raw client receives.
        frames, first = [], None
        while True:
            f = ws.recv_frame()
            if first is None:
                first = f
            frames.append(f.payload)
            if f.fin:
                break
        self.assertEqual(first.rsv, 4)
        d = zlib.decompressobj(wbits=-15)
        echoed = d.decompress(b"".join(frames) + b"\x00\x00\xff\xff")
        self.assertEqual(echoed, text)

    def test_malformed_extension_header_is_400(self):
        from sockeye_harness import HandshakeFailed
        with self.assertRaises(HandshakeFailed) as cm:
            self.raw_ws(extra_headers=[("Sec-WebSocket-Extensions", 'permessage-deflate; x="')])
        self.assertEqual(cm.exception.status, 400)


class DeflateOffTest(ServerTestCase):
    def test_without_the_flag_the_offer_is_declined(self):
        async def run():
            async with websockets.connect(self.server.url()) as ws:
                self.assertIsNone(ws.response_headers.get("Sec-WebSocket-Extensions"))
                self.assertEqual(ws.extensions, [])
                await ws.send("plain")
                self.assertEqual(await ws.recv(), "plain")
        asyncio.run(asyncio.wait_for(run(), 30))

    def test_rsv1_without_negotiation_is_1002(self):
        ws = self.raw_ws()
        ws.send_frame(OP_TEXT, deflate_payload(b"hi"), rsv=4)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1002)


if __name__ == "__main__":
    main()
