"""HTTP/2: the whole server on h2 and WebSockets over h2 streams (RFC 8441).

The peer is independent of the server: Python h2 (HTTP/2 framing, HPACK, flow control) with
wsproto (the WebSocket protocol), from Debian. h2c with prior knowledge on plain ports, h2
by ALPN on TLS ports; curl --http2-prior-knowledge for plain requests."""

import hashlib
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import h2.errors
import h2.events
import h2.exceptions
import wsproto.events

from h2_websocket import H2Client
from sockeye_harness import (MiB, RssSampler, ServerTestCase, fetch_metrics, main,
                             server_binary, wait_until)

ENABLE_CONNECT_PROTOCOL = 8


class H2TestCase(ServerTestCase):
    tls = False
    cafile = None

    def h2(self, **kw) -> H2Client:
        c = H2Client(self.server.port, tls=self.tls, cafile=self.cafile, **kw)
        self.track(c.sock)
        return c


class Http2EchoTest(H2TestCase):
    def test_settings_advertise_extended_connect(self):
        c = self.h2()
        self.assertEqual(c.server_settings.get(ENABLE_CONNECT_PROTOCOL), 1)
        self.assertEqual(c.server_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS),
                         100)

    def test_text_and_binary_echo(self):
        c = self.h2()
        s = c.open_websocket("/chat?room=1")
        self.assertEqual(s.status, 200)
        self.assertNotIn("sec-websocket-accept", s.headers)
        s.send_text("hello over h2 ✓")
        self.assertEqual(s.receive_message(), "hello over h2 ✓")
        payload = os.urandom(70000)
        s.send_bytes(payload)
        self.assertEqual(s.receive_message(), payload)
        s.send_text("")
        self.assertEqual(s.receive_message(), "")

    def test_fragmented_message_is_one_message(self):
        c = self.h2()
        s = c.open_websocket()
        parts = [os.urandom(n) for n in (1, 1000, 65536, 7)]
        for i, p in enumerate(parts):
            s.send_bytes(p, message_finished=i == len(parts) - 1)
        self.assertEqual(s.receive_message(), b"".join(parts))

    def test_close_code_echoed_and_stream_ends(self):
        c = self.h2()
        s = c.open_websocket()
        s.close(4000, "done here")
        ev = s.wait_close()
        self.assertEqual(ev.code, 4000)
        # The server ends the stream: END_STREAM, then RST_STREAM(NO_ERROR) since nothing
        # more is owed (RFC 9113 §8.1); our END_STREAM may cross it.
        self.assertTrue(wait_until(lambda: (c.pump(0.1), s.ended)[1], 5))
        try:
            s.end_stream()
        except h2.exceptions.StreamClosedError:
            pass
        self.assertIn(s.reset, (None, h2.errors.ErrorCodes.NO_ERROR))
        # No close timeout was needed: the WebSocket ended at once, cleanly.
        self.assertTrue(wait_until(lambda: fetch_metrics(self.server.port).get(
            'sockeye_close_codes_total{code="4000"}') == 1, 2))

    def test_protocol_error_gets_1002(self):
        c = self.h2()
        s = c.open_websocket()
        # An unmasked client frame (RFC 6455 §5.1) inside DATA: the server fails the
        # WebSocket, not the h2 connection.
        c.send_data(s.id, b"\x81\x02hi")
        ev = s.wait_close()
        self.assertEqual(ev.code, 1002)
        other = c.open_websocket()
        other.send_text("still fine")
        self.assertEqual(other.receive_message(), "still fine")

    def test_many_streams_on_one_connection(self):
        c = self.h2()
        streams = [c.open_websocket(f"/s{i}") for i in range(50)]
        for i, s in enumerate(streams):
            s.send_text(f"message {i}")
        for i, s in enumerate(streams):
            self.assertEqual(s.receive_message(), f"message {i}")
        m = fetch_metrics(self.server.port)
        self.assertEqual(m['sockeye_websockets_by_http_version_total{version="2"}'], 50)
        self.assertEqual(m['sockeye_connections_open'], 50)

    def test_peer_reset_is_1006(self):
        c = self.h2()
        s = c.open_websocket()
        s.send_text("x")
        self.assertEqual(s.receive_message(), "x")
        c.conn.reset_stream(s.id, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        self.assertTrue(wait_until(
            lambda: fetch_metrics(self.server.port).get('sockeye_close_codes_total{code="1006"}'),
            5))
        self.assertEqual(fetch_metrics(self.server.port)["sockeye_connections_open"], 0)

    def test_plain_requests_over_h2(self):
        c = self.h2()
        r = c.request("/healthz")
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["body"], b"ok\n")
        r = c.request("/metrics")
        self.assertEqual(r["status"], 200)
        self.assertIn(b"sockeye_http2_connections_total", r["body"])
        r = c.request("/no/such/file")
        self.assertEqual(r["status"], 404)
        r = c.request("/healthz", method="HEAD")
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["body"], b"")
        self.assertEqual(r["headers"]["content-length"], "3")
        r = c.request("/healthz", method="POST", body=b"x" * 100)
        self.assertEqual(r["status"], 405)
        # Connection-specific fields never appear on h2 (RFC 9113 §8.2.2).
        self.assertNotIn("connection", r["headers"])

    def test_idle_h2_connection_costs_no_cpu(self):
        # An open h2 connection with a WebSocket and nothing to do must leave the loop
        # asleep (a flush that asks for another flush spins it at 100% CPU).
        c = self.h2()
        s = c.open_websocket()
        s.send_text("x")
        self.assertEqual(s.receive_message(), "x")
        self.assertEqual(c.request("/healthz")["status"], 200)

        def cpu_seconds():
            with open(f"/proc/{self.server.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        before = cpu_seconds()
        time.sleep(1.5)
        used = cpu_seconds() - before
        self.assertLess(used, 0.3, f"an idle server used {used:.2f} s of CPU in 1.5 s")

    def test_curl_prior_knowledge(self):
        out = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
             "%{http_version} %{http_code}", f"http://127.0.0.1:{self.server.port}/healthz"],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout, "2 200")

    def test_http1_still_served_beside_h2(self):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
             f"http://127.0.0.1:{self.server.port}/healthz"],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout, "1.1 200")


class Http2StaticFileTest(H2TestCase):
    def setUp(self):
        self.root = tempfile.TemporaryDirectory()
        self.addCleanup(self.root.cleanup)
        self.data = os.urandom(5 * MiB + 123)
        with open(os.path.join(self.root.name, "big.bin"), "wb") as f:
            f.write(self.data)
        with open(os.path.join(self.root.name, "index.html"), "w") as f:
            f.write("<h1>index</h1>")
        self.server_root = self.root.name
        super().setUp()

    def test_large_file_beyond_every_window(self):
        c = self.h2()
        r = c.request("/big.bin", timeout=30)
        self.assertEqual(r["status"], 200)
        self.assertEqual(int(r["headers"]["content-length"]), len(self.data))
        self.assertEqual(hashlib.sha256(r["body"]).digest(), hashlib.sha256(self.data).digest())
        r = c.request("/")
        self.assertEqual(r["body"], b"<h1>index</h1>")

    def test_traversal_refused(self):
        c = self.h2()
        self.assertEqual(c.request("/../etc/passwd")["status"] // 100, 4)
        self.assertEqual(c.request("/%2e%2e/etc/passwd")["status"], 403)


class Http2RefusalTest(H2TestCase):
    server_flags = ("--origin", "https://good.example", "--ws-path", "/ws",
                    "--max-header-bytes", "4096")

    def test_refusals_answer_with_status_and_end_stream(self):
        c = self.h2()
        cases = [
            ([("origin", "https://good.example")], "/ws", 200),
            ([("origin", "https://evil.example")], "/ws", 403),
            ([], "/ws", 403),  # an allow-list needs an Origin
            ([("origin", "https://good.example")], "/other", 404),
        ]
        for headers, path, status in cases:
            s = c.open_websocket(path, headers=headers)
            self.assertEqual(s.status, status, (headers, path))
            if status != 200:
                self.assertTrue(s.ended, "a refusal ends the stream")
        m = fetch_metrics(self.server.port)
        self.assertEqual(m['sockeye_handshake_rejections_total{status="403"}'], 2)

    def test_wrong_version_is_426(self):
        c = self.h2()
        sid = c.conn.get_next_available_stream_id()
        from h2_websocket import Stream
        s = Stream(c, sid)
        c.streams[sid] = s
        c.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                  (":scheme", "http"), (":path", "/ws"),
                                  (":authority", c.authority), ("sec-websocket-version", "8"),
                                  ("origin", "https://good.example")])
        c.flush()
        c.wait_response(s)
        self.assertEqual(s.status, 426)
        self.assertEqual(s.headers.get("sec-websocket-version"), "13")

    def test_connect_without_protocol_and_unknown_protocol(self):
        c = self.h2(validate=False)
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "example.com:443")])
        c.responses[sid] = {"body": b"", "done": False}
        c.flush()
        self.assertTrue(wait_until(lambda: (c.pump(0.1), c.responses[sid]["done"])[1], 5))
        self.assertEqual(c.responses[sid]["status"], 501)
        s = c.open_websocket("/ws", protocol="not-websocket",
                             headers=[("origin", "https://good.example")])
        self.assertEqual(s.status, 501)

    def test_oversized_headers_431(self):
        c = self.h2()
        s = c.open_websocket("/ws", headers=[("origin", "https://good.example"),
                                              ("x-big", "a" * 6000)])
        self.assertEqual(s.status, 431)
        # The connection is fine afterwards.
        s = c.open_websocket("/ws", headers=[("origin", "https://good.example")])
        self.assertEqual(s.status, 200)

    def test_data_on_refused_stream_is_dropped(self):
        c = self.h2()
        s = c.open_websocket("/ws", headers=[("origin", "https://evil.example")])
        self.assertEqual(s.status, 403)
        try:
            c.conn.send_data(s.id, b"\x81\x85" + b"\0" * 9)
            c.flush()
        except h2.exceptions.StreamClosedError:
            pass  # h2 itself refuses: the stream is closed on both sides already
        ok = c.open_websocket("/ws", headers=[("origin", "https://good.example")])
        ok.send_text("after")
        self.assertEqual(ok.receive_message(), "after")


class Http2DeflateTest(H2TestCase):
    server_flags = ("--permessage-deflate",)

    def test_deflate_negotiated_in_headers(self):
        c = self.h2()
        s = c.open_websocket(deflate=True)
        self.assertEqual(s.status, 200)
        self.assertIn("permessage-deflate", s.headers.get("sec-websocket-extensions", ""))
        text = "compressible " * 5000
        s.send_text(text)
        self.assertEqual(s.receive_message(), text)
        m = fetch_metrics(self.server.port)
        # The message crossed compressed both ways: far fewer bytes than its length.
        self.assertLess(m["sockeye_bytes_received_total"], len(text) // 4)


class Http2TlsTest(H2TestCase):
    tls = True

    def setUp(self):
        self.certdir = tempfile.TemporaryDirectory()
        self.addCleanup(self.certdir.cleanup)
        proc = subprocess.run([server_binary(), "cert", "--out", self.certdir.name, "--host",
                               "localhost", "--host", "127.0.0.1"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.cafile = os.path.join(self.certdir.name, "cert.pem")
        self.server_flags = ("--tls-cert", self.cafile, "--tls-key",
                             os.path.join(self.certdir.name, "key.pem"))
        super().setUp()

    def test_alpn_h2_websocket(self):
        c = self.h2()
        self.assertEqual(c.sock.selected_alpn_protocol(), "h2")
        s = c.open_websocket()
        s.send_text("over TLS and h2")
        self.assertEqual(s.receive_message(), "over TLS and h2")
        big = os.urandom(3 * MiB)
        s.send_bytes(big)
        self.assertEqual(s.receive_message(), big)

    def test_alpn_http11_still_chosen_when_offered_alone(self):
        out = subprocess.run(
            ["curl", "-s", "--http1.1", "--cacert", self.cafile, "-o", "/dev/null", "-w",
             "%{http_version} %{http_code}", f"https://localhost:{self.server.port}/healthz"],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout, "1.1 200")
        out = subprocess.run(
            ["curl", "-s", "--http2", "--cacert", self.cafile, "-o", "/dev/null", "-w",
             "%{http_version} %{http_code}", f"https://localhost:{self.server.port}/healthz"],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout, "2 200")


class Http2OffTest(H2TestCase):
    server_flags = ("--http2", "off")

    def test_preface_is_not_http2(self):
        s = self.track(socket.create_connection(("127.0.0.1", self.server.port), timeout=5))
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        self.assertIn(b"505", s.recv(4096))


class Http2FlowControlTest(H2TestCase):
    def test_server_never_exceeds_our_window(self):
        # A small stream window that we reopen only when we choose: h2 raises
        # FlowControlError if the server sends a byte beyond it.
        c = self.h2(window=16384)
        s = c.open_websocket()
        c.auto_window = False
        payload = os.urandom(1 * MiB)
        s.send_bytes(payload)
        got = bytearray()
        most_unacked = 0
        deadline = time.monotonic() + 30
        while len(got) < len(payload) and time.monotonic() < deadline:
            c.pump(0.2)
            got.extend(s.take_data())
            most_unacked = max(most_unacked, s.unacked)
            s.give_back()  # a slow reader catching up, 16 KiB at a time
        self.assertEqual(bytes(got), payload)
        self.assertLessEqual(most_unacked, 16384)

    def test_slow_consumer_stops_the_sender(self):
        # We send and never read the echo: the server's stream output fills, it stops
        # consuming our DATA, our send window runs out, and its memory stays bounded.
        c = self.h2()
        s = c.open_websocket()
        c.auto_window = False
        wire = s.ws.send(wsproto.events.BytesMessage(data=os.urandom(64 * MiB)))
        sent = 0
        stalled_since = None
        with RssSampler(self.server) as rss:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and sent < len(wire):
                window = min(c.conn.local_flow_control_window(s.id), c.conn.max_outbound_frame_size)
                if window <= 0:
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > 1.0:
                        break
                    c.pump(0.1)
                    continue
                stalled_since = None
                c.conn.send_data(s.id, wire[sent:sent + window])
                c.flush()
                sent += window
            time.sleep(0.3)
        print("sent before the stall:", sent, "server rss KiB:", rss.max_rss_kib)
        self.assertLess(sent, 16 * MiB, "the sender was never stopped")
        # The sanitizers' shadow memory and quarantine add their own.
        limit = 160 if os.environ.get("SOCKEYE_SANITIZED") else 48
        self.assertLess(rss.max_rss_kib, limit * 1024)
        # Other streams of the same connection still work.
        other = c.open_websocket()
        other.send_text("unblocked")
        self.assertEqual(other.receive_message(), "unblocked")
        # Reading resumes the first stream: everything sent comes back.
        got = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and got < sent - 16:
            c.pump(0.2)
            got += len(s.take_data())
            s.give_back()
        self.assertGreaterEqual(got, sent - 16)


class Http2FairnessTest(H2TestCase):
    def test_small_pingpong_beside_a_large_message(self):
        c = self.h2()
        big = c.open_websocket()
        small = c.open_websocket()
        payload = os.urandom(48 * MiB)
        rounds = 0
        # The large message is sent in pieces between pingpongs on the other stream; the
        # server echoes it while the small messages keep coming back.
        view = memoryview(payload)
        piece = 1 * MiB
        echoed = 0
        for i in range(0, len(payload), piece):
            big.send_bytes(bytes(view[i:i + piece]), message_finished=i + piece >= len(payload))
            small.send_text(f"ping {rounds}")
            deadline = time.monotonic() + 10
            while True:
                for e in list(small.events):
                    pass
                if small.events:
                    break
                c.pump(0.1)
                self.assertLess(time.monotonic(), deadline, "pingpong starved")
            self.assertEqual(small.receive_message(), f"ping {rounds}")
            rounds += 1
            echoed += sum(len(e.data) for e in big.events if hasattr(e, "data"))
            big.events.clear()
        while echoed < len(payload):
            c.pump(0.5)
            echoed += sum(len(e.data) for e in big.events if hasattr(e, "data"))
            big.events.clear()
        self.assertEqual(rounds, 48)
        self.assertEqual(echoed, len(payload))


class Http2RapidResetTest(H2TestCase):
    def test_rapid_reset_ends_the_connection_others_unaffected(self):
        good = self.h2()
        gs = good.open_websocket()
        gs.send_text("before")
        self.assertEqual(gs.receive_message(), "before")

        bad = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.track(bad)
        import h2.config
        import h2.connection
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        bad.sendall(conn.data_to_send())
        goaway = None
        stop = threading.Event()
        latencies = []

        def pingpong():
            while not stop.is_set():
                t = time.monotonic()
                gs.send_text("ping")
                gs.receive_message()
                latencies.append(time.monotonic() - t)
                time.sleep(0.005)

        t = threading.Thread(target=pingpong)
        t.start()
        try:
            for i in range(10000):
                sid = 1 + 2 * i
                conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                        (":path", "/healthz"), (":authority", "x")],
                                  end_stream=True)
                conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                if i % 100 == 99:
                    try:
                        bad.sendall(conn.data_to_send())
                    except (BrokenPipeError, ConnectionResetError):
                        break
            # Read until GOAWAY / EOF.
            bad.settimeout(10)
            deadline = time.monotonic() + 10
            while goaway is None and time.monotonic() < deadline:
                try:
                    data = bad.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not data:
                    break
                try:
                    for ev in conn.receive_data(data):
                        if isinstance(ev, h2.events.ConnectionTerminated):
                            goaway = ev
                except h2.exceptions.ProtocolError:
                    pass
            # The round trips beside the flood: the flood's encoding loop holds Python's
            # GIL, so how many the thread made so far says more about the interpreter than
            # the server. What matters is that they go on: wait for a few more.
            wait_until = time.monotonic() + 10
            while len(latencies) <= 5 and time.monotonic() < wait_until and t.is_alive():
                time.sleep(0.01)
        finally:
            stop.set()
            t.join(10)
        self.assertIsNotNone(goaway, "no GOAWAY for 10,000 resets")
        self.assertEqual(goaway.error_code, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
        self.assertGreater(len(latencies), 5)
        gs.send_text("after")
        self.assertEqual(gs.receive_message(), "after")
        m = fetch_metrics(self.server.port)
        self.assertEqual(m["sockeye_http2_rapid_reset_total"], 1)


class Http2ShutdownTest(H2TestCase):
    def test_shutdown_closes_streams_1001_then_goaway(self):
        c = self.h2()
        streams = [c.open_websocket() for _ in range(3)]
        for s in streams:
            s.send_text("hi")
            self.assertEqual(s.receive_message(), "hi")
        self.server.proc.send_signal(15)
        for s in streams:
            ev = s.wait_close()
            self.assertEqual(ev.code, 1001)
            self.assertIsNone(c.goaway, "GOAWAY before the WebSockets closed")
            s.send(ev.response())
            s.end_stream()
        deadline = time.monotonic() + 10
        while c.goaway is None and time.monotonic() < deadline:
            try:
                c.pump(0.2)
            except EOFError:
                break
        self.assertIsNotNone(c.goaway)
        self.server.proc.wait(10)
        self.server.expected_exit = True
        self.assertEqual(self.server.proc.returncode, 0)


if __name__ == "__main__":
    main()
