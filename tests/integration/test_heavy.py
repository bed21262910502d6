"""Heavy streaming tests: 1 GiB messages echoed with constant server memory, and a
client that sends 512 MiB without reading (back-pressure). Labelled `heavy` in CTest
and not run under sanitizers.

Payloads are sent with an all-zero masking key (any key is legal), so the wire bytes
equal the payload and Python never XORs; the echo is hashed as it streams in."""

import time

from sockeye_harness import (GiB, MiB, PatternSource, RssSampler, ServerTestCase,
                             StreamSender, main, receive_stream)

RSS_LIMIT_KIB = 128 * 1024


class GiBEchoTest(ServerTestCase):
    def _echo(self, total, fragment):
        ws = self.raw_ws(timeout=60)
        source = PatternSource(seed=fragment or 1)
        sender = StreamSender(ws, source, total, fragment)
        with RssSampler(self.server) as sampler:
            t0 = time.monotonic()
            sender.start()
            stats = receive_stream(ws, total)
            sender.join(60)
            elapsed = time.monotonic() - t0
        self.assertTrue(sender.done.is_set(), "sender still running after the echo arrived")
        self.assertIsNone(sender.error, f"sender failed: {sender.error!r}")
        self.assertEqual(sender.sent, total)
        self.assertEqual(stats["bytes"], total)
        self.assertEqual(stats["sha256"], sender.hash.hexdigest(), "echo differs (SHA-256)")
        peak = self.server.peak_rss_kib()
        print(f"\n{total // MiB} MiB ({'single frame' if fragment is None else f'{fragment // 1024} KiB fragments'}): "
              f"{elapsed:.1f}s, {total / MiB / elapsed:.0f} MiB/s, echo in {stats['frames']} frames, "
              f"server VmHWM {peak // 1024} MiB (sampled VmRSS max {sampler.max_rss_kib // 1024} MiB)")
        self.assertLess(peak, RSS_LIMIT_KIB, f"server peak RSS {peak} KiB > 128 MiB")
        ws.send_close(1000)
        code, _, _ = ws.expect_close(timeout=10)
        self.assertEqual(code, 1000)
        ws.wait_tcp_closed(timeout=5)

    def test_1gib_single_frame(self):
        self._echo(GiB, None)

    def test_1gib_in_1mib_fragments(self):
        self._echo(GiB, MiB)


class SlowReaderTest(ServerTestCase):
    server_flags = ("--ping-interval", "0")

    def test_512mib_sent_without_reading_then_read(self):
        total = 512 * MiB
        ws = self.raw_ws(timeout=120)
        sender = StreamSender(ws, PatternSource(seed=5), total)
        sender.start()
        # Do not read. The server must stop reading from us once our echo backs up, so
        # the sender stalls instead of the server buffering the message.
        last, last_change = -1, time.monotonic()
        deadline = time.monotonic() + 60
        while not sender.done.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
            if sender.sent != last:
                last, last_change = sender.sent, time.monotonic()
            elif time.monotonic() - last_change > 2.0:
                break
        stalled_at = sender.sent
        self.assertIsNone(sender.error, f"sender failed: {sender.error!r}")
        self.assertFalse(sender.done.is_set(),
                         "all 512 MiB were accepted while the client read nothing "
                         "(no back-pressure)")
        peak_stalled = self.server.peak_rss_kib()
        rss_stalled = self.server.rss_kib()
        print(f"\nsender stalled after {stalled_at / MiB:.0f} MiB; server VmRSS "
              f"{rss_stalled // 1024} MiB, VmHWM {peak_stalled // 1024} MiB")
        self.assertLess(peak_stalled, RSS_LIMIT_KIB)
        self.assertLess(stalled_at, 256 * MiB)
        # Still bounded a little later: the server is not reading from us at all.
        time.sleep(1.0)
        self.assertLess(sender.sent - stalled_at, 8 * MiB, "server kept reading while blocked")
        # Now read everything: it must all arrive intact.
        stats = receive_stream(ws, total)
        sender.join(60)
        self.assertIsNone(sender.error, f"sender failed: {sender.error!r}")
        self.assertEqual(stats["bytes"], total)
        self.assertEqual(stats["sha256"], sender.hash.hexdigest(), "echo differs (SHA-256)")
        peak = self.server.peak_rss_kib()
        print(f"after reading: server VmHWM {peak // 1024} MiB")
        self.assertLess(peak, RSS_LIMIT_KIB)
        ws.send_close(1000)
        self.assertEqual(ws.expect_close(timeout=10)[0], 1000)


if __name__ == "__main__":
    main()
