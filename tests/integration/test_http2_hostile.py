"""HTTP/2 against hostile peers: HPACK bombs, header lists beyond the limit, CONTINUATION,
SETTINGS, PING and PRIORITY floods, too many streams, malformed CONNECTs, frames on closed
streams, flow-control overflow and connections that say nothing.

Each attack gets a clear answer (a status, RST_STREAM or GOAWAY with the RFC 9113 code, or
the end of the connection), the server's memory stays bounded and a second client keeps
echoing through an RFC 8441 WebSocket throughout; the harness checks that the server exits
0 on SIGTERM at the end. The attacks that Python h2 refuses to build are raw frames made
with hyperframe (framing) and hpack (header blocks), the packages python3-h2 is built on."""

import os
import socket
import struct
import threading
import time
import unittest

import hpack
import hyperframe.frame as hf

from h2_websocket import H2Client
from sockeye_harness import RssSampler, ServerTestCase, fetch_metrics, main, wait_until

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §7 error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB


def frame_bytes(frame) -> bytes:
    return frame.serialize()


def raw_frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    """A frame as bytes, for what hyperframe will not build (a WINDOW_UPDATE beyond 2^31-1)."""
    return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack("!I", stream_id & 0x7FFFFFFF) + payload


def request_headers(path="/healthz", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", "localhost"), *extra]


def connect_headers(path="/", protocol="websocket", extra=()):
    h = [(":method", "CONNECT")]
    if protocol is not None:
        h.append((":protocol", protocol))
    h += [(":scheme", "http"), (":path", path), (":authority", "localhost"),
          ("sec-websocket-version", "13"), *extra]
    return h


# AddressSanitizer's quarantine keeps freed memory resident for a while: the bounds that
# prove "no growth" in a normal build get room for it in a SOCKEYE_SANITIZE one.
SANITIZER_SLACK = 8 if os.environ.get("SOCKEYE_SANITIZED") else 1


def rss_growth_mib(server, sampler, base_kib) -> float:
    """The server's peak RSS during the attack above `base_kib`, in MiB: the sampler's
    highest reading or the kernel's high-water mark, whichever is higher (an upper bound)."""
    return (max(sampler.max_rss_kib, server.peak_rss_kib()) - base_kib) / 1024


class RawH2:
    """A client speaking HTTP/2 frame by frame: whatever it sends goes out as built."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # A small receive buffer: the server's output backs up on its side sooner.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = hpack.Encoder()
        self.buf = b""
        self.frames = []  # every frame received, in order
        self.eof = False

    def handshake(self):
        """Preface and an empty SETTINGS; waits for the server's SETTINGS and ACKs it."""
        self.send(PREFACE + frame_bytes(hf.SettingsFrame(0)))
        f = self.wait_for(lambda f: isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags)
        assert f is not None, "no SETTINGS from the server"
        self.send(frame_bytes(hf.SettingsFrame(0, flags=["ACK"])))
        return f.settings

    def send(self, data: bytes):
        self.sock.sendall(data)

    def send_flood(self, data: bytes, seconds=30.0) -> int:
        """Sends as much of `data` as the server takes within `seconds`; returns how much."""
        sent = 0
        deadline = time.monotonic() + seconds
        view = memoryview(data)
        self.sock.settimeout(1)
        try:
            while sent < len(data) and time.monotonic() < deadline:
                try:
                    sent += self.sock.send(view[sent:sent + 65536])
                except socket.timeout:
                    continue
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.sock.settimeout(10)
        return sent

    def headers(self, stream_id, headers, end_stream=True, end_headers=True):
        flags = []
        if end_stream:
            flags.append("END_STREAM")
        if end_headers:
            flags.append("END_HEADERS")
        f = hf.HeadersFrame(stream_id, data=self.encoder.encode(headers), flags=flags)
        self.send(frame_bytes(f))

    def data(self, stream_id, payload, end_stream=False):
        f = hf.DataFrame(stream_id, data=payload, flags=["END_STREAM"] if end_stream else [])
        self.send(frame_bytes(f))

    def read(self, timeout) -> bool:
        """Reads once; False at EOF or on a reset."""
        if self.eof:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return True
        except ConnectionResetError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        while len(self.buf) >= 9:
            f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                break
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.frames.append(f)
        return True

    def wait_for(self, pred, timeout=10.0, since=0):
        """The first frame received so far (from index `since`, or until `timeout`) that
        `pred` accepts."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            left = deadline - time.monotonic()
            if left <= 0 or not self.read(left):
                for f in self.frames[seen:]:
                    if pred(f):
                        return f
                return None

    def goaway(self, timeout=10.0):
        return self.wait_for(lambda f: isinstance(f, hf.GoAwayFrame), timeout)

    def wait_end(self, timeout=15.0) -> bool:
        """Reads (and drops) until EOF; True if the server ended the connection in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.read(deadline - time.monotonic()):
                return True
            # Keep only what a test may still look at; a flood's answers are many.
            if len(self.frames) > 10000:
                self.frames = [f for f in self.frames if not isinstance(f, hf.PingFrame) and
                               not isinstance(f, hf.SettingsFrame)]
        return False

    def response_status(self, stream_id, timeout=10.0):
        """:status of the response on `stream_id`, or ("reset", code)."""
        decoder = hpack.Decoder()
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for f in self.frames[seen:]:
                # The decoder must see every header block in order (its dynamic table).
                if isinstance(f, hf.HeadersFrame):
                    hdrs = dict(decoder.decode(f.data))
                    if f.stream_id == stream_id:
                        return int(hdrs[b":status"] if b":status" in hdrs else hdrs[":status"])
                elif isinstance(f, hf.RstStreamFrame) and f.stream_id == stream_id:
                    return ("reset", f.error_code)
                elif isinstance(f, hf.GoAwayFrame):
                    return ("goaway", f.error_code)
            seen = len(self.frames)
            if not self.read(deadline - time.monotonic()):
                break
        for f in self.frames[seen:]:
            if isinstance(f, hf.RstStreamFrame) and f.stream_id == stream_id:
                return ("reset", f.error_code)
            if isinstance(f, hf.GoAwayFrame):
                return ("goaway", f.error_code)
        return None

    def alive(self, timeout=10.0) -> bool:
        """Whether the connection still answers a PING."""
        try:
            self.send(frame_bytes(hf.PingFrame(0, opaque_data=b"alive?!!")))
        except (BrokenPipeError, ConnectionResetError):
            return False
        f = self.wait_for(lambda f: isinstance(f, hf.PingFrame) and "ACK" in f.flags and
                          f.opaque_data == b"alive?!!", timeout)
        return f is not None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Echoer:
    """The bystander: one h2 connection echoing through an RFC 8441 WebSocket in the
    background for the whole attack. Counts round trips; keeps the first failure."""

    def __init__(self, client: H2Client, path: str):
        self.client = client
        self.stream = client.open_websocket(path)
        assert self.stream.status == 200
        self.rounds = 0
        self.error = None
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                self.stream.send_text(f"echo {i}")
                got = self.stream.receive_message(timeout=10)
                if got != f"echo {i}":
                    raise AssertionError(f"echo {i} came back as {got!r}")
            except Exception as e:  # noqa: BLE001 - reported by check()
                self.error = e
                return
            self.worst = max(self.worst, time.monotonic() - t)
            self.rounds += 1
            i += 1
            self._stop.wait(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(15)

    def check(self, test: unittest.TestCase, before: int = 0):
        self.__exit__()  # the stream is ours alone from here
        test.assertIsNone(self.error, f"the bystander's echo failed: {self.error!r}")
        test.assertGreater(self.rounds, before, "the bystander made no round trip")
        # And it still works now.
        self.stream.send_text("after the attack")
        test.assertEqual(self.stream.receive_message(), "after the attack")


class HostileTestCase(ServerTestCase):
    """Every test: a bystander echoing beside the attack, checked at the end."""

    bystander_path = "/bystander"

    def setUp(self):
        super().setUp()
        c = H2Client(self.server.port)
        self.track(c.sock)
        self.bystander = Echoer(c, self.bystander_path)
        self.bystander.__enter__()
        self.addCleanup(self.bystander.__exit__)

    def raw(self, handshake=True, **kw) -> RawH2:
        r = RawH2(self.server.port, **kw)
        self.track(r.sock)
        if handshake:
            r.handshake()
        return r

    def finish(self):
        wait_until(lambda: self.bystander.rounds > 3, 5)
        self.bystander.check(self)
        print(f"  bystander: {self.bystander.rounds} round trips, slowest "
              f"{self.bystander.worst * 1000:.0f} ms")
        m = fetch_metrics(self.server.port)
        return m


class Http2HpackBombTest(HostileTestCase):
    server_flags = ("--max-header-bytes", "8192")

    def bomb_block(self, refs, request=True):
        # One literal with incremental indexing puts a ~4 KB field in the dynamic table
        # (index 62); each following byte 0xBE is a whole copy of it again.
        enc = hpack.Encoder()
        first = enc.encode(request_headers("/healthz")) if request else b""
        big = enc.encode([("x-bomb", "b" * 4000)])
        return first + big + b"\xbe" * refs

    def test_one_frame_bomb_is_431_and_memory_bounded(self):
        r = self.raw()
        base = self.server.rss_kib()
        with RssSampler(self.server) as rss:
            block = self.bomb_block(12000)  # one frame under 16 KiB: 48 MB of header list
            r.send(frame_bytes(hf.HeadersFrame(1, data=block,
                                               flags=["END_STREAM", "END_HEADERS"])))
            status = r.response_status(1)
            time.sleep(0.2)
        growth_mib = rss_growth_mib(self.server, rss, base)
        print(f"hpack bomb (12000 refs, 48 MB decoded): {status}, RSS +{growth_mib:.1f} MiB")
        self.assertIn(status, (431, ("goaway", COMPRESSION_ERROR),
                               ("goaway", ENHANCE_YOUR_CALM)))
        self.assertLess(growth_mib, 32 * SANITIZER_SLACK)
        if status == 431:
            self.assertTrue(r.alive(), "a 431 leaves the connection usable")
        self.finish()

    def test_bomb_across_continuations(self):
        r = self.raw()
        base = self.server.rss_kib()
        with RssSampler(self.server) as rss:
            out = self.continuation_bomb(1)  # HEADERS + 7 CONTINUATIONs, all references
            t = time.monotonic()
            r.send(out)
            status = r.response_status(1, timeout=20)
            took = time.monotonic() - t
        growth_mib = rss_growth_mib(self.server, rss, base)
        print(f"hpack bomb (8 frames, ~530 MB decoded): {status} in {took:.2f}s, "
              f"RSS +{growth_mib:.1f} MiB")
        self.assertIn(status, (431, ("goaway", COMPRESSION_ERROR),
                               ("goaway", ENHANCE_YOUR_CALM)))
        self.assertLess(growth_mib, 32 * SANITIZER_SLACK)
        self.finish()


    def continuation_bomb(self, stream_id, end_stream=True, request=True):
        block = self.bomb_block(16384 * 8, request)
        pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        out = frame_bytes(hf.HeadersFrame(stream_id, data=pieces[0],
                                          flags=["END_STREAM"] if end_stream else []))
        for i, p in enumerate(pieces[1:]):
            last = i == len(pieces) - 2
            out += frame_bytes(hf.ContinuationFrame(stream_id, data=p,
                                                    flags=["END_HEADERS"] if last else []))
        return out

    def test_bombs_do_not_stall_the_loop(self):
        # Each bomb is 128 KiB of references to a 4 KB field: checking every field cost the
        # loop ~0.5 s per bomb, which the bystander felt as a stalled echo.
        conns = [self.raw() for _ in range(4)]
        wait_until(lambda: self.bystander.rounds > 3, 5)
        worst_before = self.bystander.worst
        t = time.monotonic()
        for r in conns:
            r.send(self.continuation_bomb(1))
        answers = [r.response_status(1, timeout=20) for r in conns]
        took = time.monotonic() - t
        time.sleep(0.3)  # a few more round trips after the bombs
        print(f"4 bombs of 128 KiB: {answers} in {took:.2f}s, bystander slowest "
              f"{self.bystander.worst * 1000:.0f} ms (before: {worst_before * 1000:.0f} ms)")
        for a in answers:
            self.assertEqual(a, ("goaway", ENHANCE_YOUR_CALM))
        self.assertLess(self.bystander.worst, 0.5, "the bombs stalled the event loop")
        self.finish()

    def test_bomb_in_trailers_of_a_websocket_stream(self):
        r = self.raw()
        r.headers(1, connect_headers("/ws-trailers"), end_stream=False)
        self.assertEqual(r.response_status(1), 200)
        # Trailers: no pseudo-header (nghttp2 drops a block with one cheaply by itself).
        r.send(self.continuation_bomb(1, end_stream=True, request=False))
        g = r.goaway(5)
        self.assertIsNotNone(g, "a bomb in trailers went unnoticed")
        self.assertEqual(g.error_code, ENHANCE_YOUR_CALM)
        self.finish()

    def test_bomb_on_a_refused_stream(self):
        r = self.raw()
        for i in range(100):
            r.headers(1 + 2 * i, connect_headers(f"/s{i}"), end_stream=False)
        for i in range(100):
            self.assertEqual(r.response_status(1 + 2 * i), 200)
        r.send(self.continuation_bomb(201))
        status = r.response_status(201)
        g = r.goaway()
        print(f"bomb on the 101st stream: {status}, goaway={g.error_code if g else None}")
        self.assertIsNotNone(g)
        self.assertEqual(g.error_code, ENHANCE_YOUR_CALM)
        self.finish()


class Http2HeaderListTest(HostileTestCase):
    server_flags = ("--max-header-bytes", "4096")

    def test_header_list_beyond_max_header_bytes_is_431(self):
        r = self.raw()
        # Many small fields, each fine, together beyond the limit (RFC 9113 §6.5.2 counts
        # name + value + 32 per field).
        fields = [(f"x-h{i}", "v" * 40) for i in range(80)]
        r.headers(1, request_headers("/healthz", extra=fields))
        self.assertEqual(r.response_status(1), 431)
        # One field alone beyond it.
        r.headers(3, request_headers("/healthz", extra=[("x-big", "a" * 5000)]))
        self.assertEqual(r.response_status(3), 431)
        # A WebSocket request beyond it.
        r.headers(5, connect_headers(extra=[("x-big", "a" * 5000)]), end_stream=False)
        self.assertEqual(r.response_status(5), 431)
        # The connection goes on.
        r.headers(7, request_headers("/healthz"))
        self.assertEqual(r.response_status(7), 200)
        m = self.finish()
        self.assertGreaterEqual(m["sockeye_http2_refused_streams_total"], 3)


class Http2ContinuationFloodTest(HostileTestCase):
    def test_continuation_flood_ends_the_connection(self):
        r = self.raw()
        block = hpack.Encoder().encode(request_headers("/healthz"))
        out = frame_bytes(hf.HeadersFrame(1, data=block, flags=["END_STREAM"]))
        cont = frame_bytes(hf.ContinuationFrame(1, data=b""))
        # Empty CONTINUATIONs never grow the block: only a count stops them.
        t = time.monotonic()
        sent = r.send_flood(out + cont * 100000, seconds=10)
        ended = r.wait_end(10)
        took = time.monotonic() - t
        goaway = next((f for f in r.frames if isinstance(f, hf.GoAwayFrame)), None)
        print(f"continuation flood: {sent} bytes taken, ended={ended} in {took:.2f}s, "
              f"goaway={goaway.error_code if goaway else None}")
        self.assertTrue(ended, "the connection outlived 100,000 CONTINUATION frames")
        if goaway is not None:
            self.assertNotEqual(goaway.error_code, NO_ERROR)
        self.finish()


class Http2AckFloodTest(HostileTestCase):
    """SETTINGS and PING each demand an answer; a peer that sends them and reads nothing
    would have us queue answers without end (CVE-2019-9512, -9515)."""

    def flood(self, frame: bytes, count: int, name: str):
        r = self.raw(rcvbuf=4096)
        base = self.server.rss_kib()
        with RssSampler(self.server) as rss:
            t = time.monotonic()
            sent = r.send_flood(frame * count, seconds=30)
            # Only now read: the connection must be over already (or end soon).
            ended = r.wait_end(20)
            took = time.monotonic() - t
        growth_mib = rss_growth_mib(self.server, rss, base)
        goaway = next((f for f in r.frames if isinstance(f, hf.GoAwayFrame)), None)
        print(f"{name} flood: {sent // len(frame)} of {count} frames sent, ended={ended} "
              f"after {took:.2f}s, goaway={goaway.error_code if goaway else None}, "
              f"RSS +{growth_mib:.1f} MiB")
        self.assertTrue(ended, f"the connection outlived a {name} flood")
        self.assertLess(growth_mib, 48 * SANITIZER_SLACK)
        self.finish()

    def test_ping_flood_not_reading(self):
        self.flood(frame_bytes(hf.PingFrame(0, opaque_data=b"12345678")), 1_000_000, "PING")

    def test_settings_flood_not_reading(self):
        self.flood(frame_bytes(hf.SettingsFrame(0)), 2_000_000, "SETTINGS")


class Http2PriorityFloodTest(HostileTestCase):
    def test_priority_flood(self):
        r = self.raw()
        base = self.server.rss_kib()
        count = 300_000
        # Each on a new idle stream, depending on the previous one: the most work for a
        # priority tree.
        out = b"".join(
            raw_frame(0x2, 0, 2 * i + 1, struct.pack("!IB", (2 * i - 1) if i else 0, 200))
            for i in range(count))
        with RssSampler(self.server) as rss:
            t = time.monotonic()
            sent = r.send_flood(out, seconds=60)
            alive = r.alive(15)
            took = time.monotonic() - t
        growth_mib = rss_growth_mib(self.server, rss, base)
        goaway = next((f for f in r.frames if isinstance(f, hf.GoAwayFrame)), None)
        print(f"PRIORITY flood: {sent // 14} of {count} frames taken in {took:.2f}s, "
              f"alive={alive}, goaway={goaway.error_code if goaway else None}, "
              f"RSS +{growth_mib:.1f} MiB")
        self.assertTrue(alive or goaway is not None or r.eof)
        self.assertLess(growth_mib, 48 * SANITIZER_SLACK)
        if alive:
            # Still a working connection: a request on a stream above the idle ones.
            sid = 2 * count + 1
            r.headers(sid, request_headers("/healthz"))
            self.assertEqual(r.response_status(sid), 200)
        self.finish()


class Http2StreamLimitTest(HostileTestCase):
    def test_stream_beyond_max_concurrent_is_refused(self):
        r = self.raw()
        # 100 WebSockets open at once (each stays open), then one more.
        for i in range(100):
            r.headers(1 + 2 * i, connect_headers(f"/s{i}"), end_stream=False)
        opened = 0
        for i in range(100):
            if r.response_status(1 + 2 * i) == 200:
                opened += 1
        self.assertEqual(opened, 100)
        extra = 1 + 2 * 100
        r.headers(extra, connect_headers("/one-too-many"), end_stream=False)
        status = r.response_status(extra)
        print(f"stream 101 of 100: {status}")
        self.assertIn(status, (("reset", REFUSED_STREAM), ("reset", PROTOCOL_ERROR)))
        self.assertTrue(r.alive(), "the connection ends with one refused stream")
        # Once a stream is done, a new one is accepted again.
        r.send(frame_bytes(hf.RstStreamFrame(1, error_code=0x8)))
        sid = extra + 2
        r.headers(sid, request_headers("/healthz"))
        self.assertEqual(r.response_status(sid), 200)
        self.finish()


class Http2MalformedTest(HostileTestCase):
    server_flags = ("--ws-path", "/ws")
    bystander_path = "/ws"

    def test_connect_without_protocol_is_501(self):
        r = self.raw()
        r.headers(1, [(":method", "CONNECT"), (":authority", "example.com:443")],
                  end_stream=False)
        self.assertEqual(r.response_status(1), 501)
        self.assertTrue(r.alive())
        self.finish()

    def test_protocol_other_than_websocket_is_501(self):
        r = self.raw()
        r.headers(1, connect_headers("/ws", protocol="h2-tunnel"), end_stream=False)
        self.assertEqual(r.response_status(1), 501)
        self.assertTrue(r.alive())
        self.finish()

    def test_extended_connect_missing_path_is_a_stream_error(self):
        r = self.raw()
        # RFC 8441 §4: :scheme and :path are required with :protocol.
        r.headers(1, [(":method", "CONNECT"), (":protocol", "websocket"),
                      (":authority", "localhost")], end_stream=False)
        status = r.response_status(1)
        print(f"extended CONNECT without :path: {status}")
        self.assertIn(status, (("reset", PROTOCOL_ERROR), 400))
        self.assertTrue(r.alive())
        self.finish()

    def test_data_on_refused_stream(self):
        r = self.raw()
        r.headers(1, connect_headers("/not-here"), end_stream=False)
        self.assertEqual(r.response_status(1), 404)
        # The server ended its side; ours is still open: DATA is allowed and dropped.
        r.data(1, b"\x81\x85" + b"\0" * 9)
        self.assertTrue(r.alive())
        # And now ours ends too, after which DATA is on a closed stream.
        r.data(1, b"", end_stream=True)
        self.assertTrue(r.alive())
        mark = len(r.frames)
        # More than the whole connection window (16 MiB), on the closed stream: whether it
        # is answered with STREAM_CLOSED or dropped, it must not be left to count against
        # the connection's window.
        chunk = frame_bytes(hf.DataFrame(1, data=b"\0" * 16384))
        sent = r.send_flood(chunk * 1100, seconds=20)
        f = r.wait_for(lambda f: isinstance(f, (hf.RstStreamFrame, hf.GoAwayFrame)), 1, mark)
        print(f"17 MiB of DATA on a closed stream ({sent} bytes taken): "
              f"{type(f).__name__ if f else 'ignored'} {f.error_code if f else ''}")
        if f is not None:
            # RFC 9113 §5.1: STREAM_CLOSED, as a stream or a connection error.
            self.assertEqual(f.error_code, STREAM_CLOSED)
        if not isinstance(f, hf.GoAwayFrame):
            self.assertTrue(r.alive())
            r.headers(3, request_headers("/healthz"), end_stream=False)
            r.data(3, b"x" * 1000, end_stream=True)  # flow-controlled: needs the window
            self.assertEqual(r.response_status(3), 200)
        self.finish()

    def test_data_on_idle_stream_is_a_connection_error(self):
        r = self.raw()
        r.data(9, b"hello")
        g = r.goaway()
        self.assertIsNotNone(g)
        self.assertEqual(g.error_code, PROTOCOL_ERROR)
        self.assertTrue(r.wait_end(15))
        self.finish()

    def test_window_update_overflow_on_the_connection(self):
        r = self.raw()
        # Our window is 65535; 2^31-1 more is beyond the maximum (RFC 9113 §6.9.1).
        r.send(raw_frame(0x8, 0, 0, struct.pack("!I", 0x7FFFFFFF)))
        g = r.goaway()
        self.assertIsNotNone(g, "no GOAWAY for a connection window beyond 2^31-1")
        self.assertEqual(g.error_code, FLOW_CONTROL_ERROR)
        self.assertTrue(r.wait_end(15))
        self.finish()

    def test_window_update_overflow_on_a_stream(self):
        r = self.raw()
        r.headers(1, connect_headers("/ws"), end_stream=False)
        self.assertEqual(r.response_status(1), 200)
        r.send(raw_frame(0x8, 0, 1, struct.pack("!I", 0x7FFFFFFF)))
        status = r.wait_for(lambda f: isinstance(f, (hf.RstStreamFrame, hf.GoAwayFrame)))
        self.assertIsNotNone(status, "no error for a stream window beyond 2^31-1")
        print(f"stream WINDOW_UPDATE overflow: {type(status).__name__} {status.error_code}")
        self.assertEqual(status.error_code, FLOW_CONTROL_ERROR)
        if isinstance(status, hf.RstStreamFrame):
            self.assertEqual(status.stream_id, 1)
            self.assertTrue(r.alive())
        self.finish()

    def test_zero_window_update_is_a_protocol_error(self):
        r = self.raw()
        r.send(raw_frame(0x8, 0, 0, struct.pack("!I", 0)))
        g = r.goaway()
        self.assertIsNotNone(g)
        self.assertEqual(g.error_code, PROTOCOL_ERROR)
        self.finish()


class Http2StalledBodyTest(HostileTestCase):
    server_flags = ("--send-timeout", "1")

    def setUp(self):
        import os
        import tempfile
        self.root = tempfile.TemporaryDirectory()
        self.addCleanup(self.root.cleanup)
        with open(os.path.join(self.root.name, "big.bin"), "wb") as f:
            f.write(b"\0" * (4 << 20))
        self.server_root = self.root.name
        super().setUp()

    def test_a_body_the_peer_never_takes_is_reset(self):
        # A file response to a peer that never opens its window: the stream (and its file
        # descriptor) is let go after --send-timeout without progress.
        r = self.raw()
        r.headers(1, request_headers("/big.bin"))
        self.assertEqual(r.response_status(1), 200)
        t = time.monotonic()
        rst = r.wait_for(lambda f: isinstance(f, hf.RstStreamFrame) and f.stream_id == 1, 8)
        self.assertIsNotNone(rst, "a stalled file response was never given up")
        print(f"stalled body reset after {time.monotonic() - t:.2f}s")
        self.assertTrue(r.alive(), "the connection should go on")
        self.finish()


class Http2IdleConnectionTest(HostileTestCase):
    server_flags = ("--handshake-timeout", "1")

    def test_preface_only_connections_are_closed(self):
        conns = [self.raw() for _ in range(20)]
        t = time.monotonic()
        deadline = t + 8
        ended = [False] * len(conns)
        while not all(ended) and time.monotonic() < deadline:
            for i, c in enumerate(conns):
                if not ended[i]:
                    ended[i] = not c.read(0.05)
        took = time.monotonic() - t
        goaways = [next((f for f in c.frames if isinstance(f, hf.GoAwayFrame)), None)
                   for c in conns]
        print(f"20 idle h2 connections: {sum(ended)} closed within {took:.2f}s")
        self.assertTrue(all(ended), "an h2 connection with no stream was never closed")
        for g in goaways:
            self.assertIsNotNone(g)
            self.assertEqual(g.error_code, NO_ERROR)
        self.finish()

    def test_connection_with_an_open_websocket_stays(self):
        r = self.raw()
        r.headers(1, connect_headers("/"), end_stream=False)
        self.assertEqual(r.response_status(1), 200)
        time.sleep(2.5)
        self.assertTrue(r.alive(), "an h2 connection with an open stream was closed")
        # Once its last stream is gone, the idle clock starts again.
        r.send(frame_bytes(hf.RstStreamFrame(1, error_code=0x8)))
        self.assertTrue(r.wait_end(8))
        self.finish()

    def test_header_block_never_ended(self):
        # HEADERS without END_HEADERS and no CONTINUATION: a request head that never
        # completes. The stream is reset after --handshake-timeout, then the connection,
        # with no stream left, ends like an idle one.
        r = self.raw()
        block = hpack.Encoder().encode(request_headers("/healthz"))
        r.send(frame_bytes(hf.HeadersFrame(1, data=block, flags=["END_STREAM"])))
        t = time.monotonic()
        self.assertTrue(r.wait_end(8), "a never-ending header block held the connection")
        took = time.monotonic() - t
        print(f"incomplete header block: connection ended after {took:.2f}s")
        self.assertLess(took, 6)
        self.finish()

    def test_preface_never_completed(self):
        # Half a preface: still the HTTP/1.1 request-head deadline.
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.track(s)
        s.sendall(PREFACE[:10])
        s.settimeout(8)
        t = time.monotonic()
        self.assertEqual(s.recv(100), b"")
        self.assertLess(time.monotonic() - t, 5)
        self.finish()


if __name__ == "__main__":
    main()
