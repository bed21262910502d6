"""Echo through the real server: the `websockets` client for whole messages of edge
sizes, and the raw client for fragmented messages with control frames in between."""

import asyncio
import os

import websockets

from sockeye_harness import (MiB, OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                             ServerTestCase, main, random_bytes, random_text)

SIZES = [0, 125, 126, 65535, 65536, 150_000]


class WebsocketsEchoTest(ServerTestCase):
    """Messages of every length class (7-bit, 16-bit, 64-bit) come back unchanged."""

    def run_async(self, coro, timeout=60):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    async def _echo_all(self, messages):
        async with websockets.connect(self.server.url("/echo"), max_size=None,
                                      ping_interval=None, open_timeout=10,
                                      close_timeout=10) as ws:
            self.assertEqual(ws.extensions, [],
                             "server accepted an extension it does not implement")
            for msg in messages:
                await ws.send(msg)
                echo = await asyncio.wait_for(ws.recv(), 30)
                self.assertIs(type(echo), type(msg),
                              f"echo of a {len(msg)}-byte {type(msg).__name__} changed type")
                self.assertEqual(len(echo), len(msg))
                self.assertTrue(echo == msg, f"echo of {len(msg)} bytes differs")
            await ws.close(1000, "done")
            self.assertEqual(ws.close_code, 1000)

    def test_text_sizes(self):
        self.run_async(self._echo_all([random_text(n, seed=n) for n in SIZES]))

    def test_binary_sizes(self):
        self.run_async(self._echo_all([random_bytes(n, seed=n) for n in SIZES]))

    def test_text_multibyte_utf8(self):
        # 2-, 3- and 4-byte sequences, so that frame/read boundaries split some of them.
        msgs = [("héllo wörld €uro 𝄞 " * 9000)[: 150_000], "\U0010FFFF\uFFFD\u0800\u07FF",
                "€" * 43691]  # 131073 bytes
        self.run_async(self._echo_all(msgs))

    def test_mixed_sequence_on_one_connection(self):
        msgs = []
        for n in SIZES:
            msgs += [random_bytes(n, seed=n + 1), random_text(n, seed=n + 2)]
        self.run_async(self._echo_all(msgs))

    def test_64_mib_text(self):
        self.run_async(self._echo_all([random_text(64 * MiB, seed=64)]), timeout=120)

    def test_64_mib_binary(self):
        self.run_async(self._echo_all([random_bytes(64 * MiB, seed=65)]), timeout=120)


class RawFragmentedEchoTest(ServerTestCase):
    """Fragmented messages (raw frames) with pings between fragments come back equal, and
    each ping is answered with a pong carrying the same payload."""

    def _check_fragmented(self, opcode, fragments, pings_between=True):
        ws = self.raw_ws()
        pings = []
        for i, frag in enumerate(fragments):
            first, last = i == 0, i == len(fragments) - 1
            ws.send_frame(opcode if first else OP_CONT, frag, fin=last)
            if pings_between and not last:
                payload = f"ping-{i}".encode()
                pings.append(payload)
                ws.send_frame(OP_PING, payload)
        controls = []
        got_op, data = ws.recv_message(controls=controls)
        self.assertEqual(got_op, opcode)
        self.assertEqual(len(data), sum(map(len, fragments)))
        self.assertTrue(data == b"".join(fragments), "reassembled echo differs")
        pongs = [f.payload for f in controls if f.opcode == OP_PONG]
        # Pongs answering pings sent before the last fragment may come after the echo.
        ws.sock.settimeout(5)
        while len(pongs) < len(pings):
            f = ws.recv_frame()
            self.assertEqual(f.opcode, OP_PONG, f"unexpected frame {f.opcode} waiting for pongs")
            pongs.append(f.payload)
        self.assertEqual(pongs, pings)
        ws.send_close(1000)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1000)
        self.assertEqual(ws.wait_tcp_closed(), "eof")

    def test_text_in_three_fragments_with_pings(self):
        self._check_fragmented(OP_TEXT, [b"Hel", b"lo, ", b"world"])

    def test_binary_many_fragments_with_pings(self):
        data = random_bytes(300_000, seed=3)
        frags = [data[i:i + 9973] for i in range(0, len(data), 9973)]
        self._check_fragmented(OP_BINARY, frags)

    def test_empty_fragments(self):
        self._check_fragmented(OP_BINARY, [b"", b"abc", b"", b"def", b""])
    def test_utf8_sequence_split_across_fragments(self):
        text = "a€b𝄞c".encode()  # € = e2 82 ac, 𝄞 = f0 9d 84 9e
        self._check_fragmented(OP_TEXT, [text[:2], text[2:3], text[3:6], text[6:8], text[8:]])

    def test_large_fragments_over_64k(self):
        data = random_text(200_000, seed=4).encode()
        self._check_fragmented(OP_TEXT, [data[:70_000], data[70_000:70_001], data[70_001:]])

    def test_many_messages_back_to_back_in_one_write(self):
        ws = self.raw_ws()
        from sockeye_harness import build_frame
        msgs = [os.urandom(n) for n in (1, 10, 126, 1000, 70_000)]
        ws.send_raw(b"".join(build_frame(OP_BINARY, m) for m in msgs))
        for m in msgs:
            op, data = ws.recv_message()
            self.assertEqual(op, OP_BINARY)
            self.assertEqual(data, m)
        ws.send_close(1000)
        self.assertEqual(ws.expect_close()[0], 1000)

    def test_ping_gets_pong_with_same_payload(self):
        ws = self.raw_ws()
        for payload in (b"", b"x", os.urandom(125)):
            ws.send_frame(OP_PING, payload)
            f = ws.recv_frame()
            self.assertEqual((f.opcode, f.fin, f.payload), (OP_PONG, True, payload))

    def test_unsolicited_pong_is_ignored(self):
        ws = self.raw_ws()
        ws.send_frame(OP_PONG, b"unsolicited")
        ws.send_text("still here")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"still here"))


if __name__ == "__main__":
    main()
