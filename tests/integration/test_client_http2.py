"""The client's WebSockets over HTTP/2 (RFC 8441): `sockeye connect --http2`, `sockeye
send --http2` and `sockeye bench --http2` against h2_ws_peer.py, an independent RFC 8441
server built on python3-h2 and wsproto. Over h2c (prior knowledge) and TLS with ALPN h2:
text and binary echo, a multi-MiB streamed message echoed intact, subprotocols and extra
headers as sent, close codes both ways, a refusal status, a server without
SETTINGS_ENABLE_CONNECT_PROTOCOL, a TLS server that does not select h2, RST_STREAM and a
dropped connection before the close (1006), and bench multiplexing several WebSocket
streams on one HTTP/2 connection."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from sockeye_harness import LOOPBACK, MiB, SockeyeServer, main
from test_client import (EXIT_ABNORMAL, EXIT_HANDSHAKE, EXIT_TLS, ClientAssertions,
                         run_client)
from test_tls import make_cert

HERE = os.path.dirname(os.path.abspath(__file__))


class H2Peer:
    """h2_ws_peer.py in a subprocess on a free port."""

    def __init__(self, *flags):
        # stderr to a file: a pipe nobody reads would block the peer once full.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "h2_ws_peer.py"),
                                      *map(str, flags)],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.proc.kill()
            raise AssertionError(f"h2_ws_peer did not start: {line}{self.stderr()}")
        self.port = int(line.split()[1])

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()


class H2TestCase(ClientAssertions):
    def peer(self, *flags):
        p = H2Peer(*flags)
        self.addCleanup(p.close)
        return p

    def connect(self, url, lines, *extra, linger=1, timeout=60):
        return run_client("connect", "--http2", url, "--linger", linger, *extra,
                          stdin_text="".join(l + "\n" for l in lines), timeout=timeout)


class H2cEchoTest(H2TestCase):
    def setUp(self):
        self.url = f"ws://{LOOPBACK}:{self.peer().port}/chat?room=1"

    def test_piped_lines(self):
        self.check_piped_lines(self.url, "--http2")

    def test_send_text_and_binary(self):
        self.check_send_echo(self.url, "--http2")
        self.check_send_echo(self.url, "--http2", "--binary")
        self.check_send_echo(self.url, "--http2", "--binary", size=0)
        self.check_send_echo(self.url, "--http2", "--binary", "--fragment", 1000, size=250_001)

    def test_multi_mib_message_intact(self):
        # Larger than every window on both sides (1 MiB stream windows): flow control has
        # to open them again and again in both directions.
        self.check_send_echo(self.url, "--http2", "--binary", size=24 * MiB + 5)

    def test_file_echo(self):
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            f.write(os.urandom(5 * MiB + 3))
            f.flush()
            proc = run_client("send", "--http2", self.url, "--file", f.name, "--binary",
                              "--expect-echo", timeout=120)
        self.assert_rc(proc, 0)
        self.assertIn("echo SHA-256 matches", proc.stdout)

    def test_request_headers(self):
        proc = self.connect(self.url, ["headers"], "--subprotocol", "chat.v2",
                            "--subprotocol", "chat", "--origin", "https://example.test",
                            "--header", "X-Trace-Id: abc 123")
        self.assert_rc(proc, 0)
        got = proc.stdout.strip().split("\n")
        self.assertEqual(got[:5], [":method: CONNECT", ":protocol: websocket", ":scheme: http",
                                   ":path: /chat?room=1", f":authority: {LOOPBACK}:" +
                                   self.url.split(":")[2].split("/")[0]])
        self.assertIn("sec-websocket-version: 13", got)
        self.assertIn("sec-websocket-protocol: chat.v2, chat", got)
        self.assertIn("origin: https://example.test", got)
        self.assertIn("x-trace-id: abc 123", got)
        # Nothing of the HTTP/1.1 upgrade travels over HTTP/2.
        for name in ("sec-websocket-key", "connection", "upgrade", "host"):
            self.assertFalse(any(l.startswith(name + ":") for l in got), (name, got))

    def test_connection_specific_header_refused(self):
        proc = self.connect(self.url, ["x"], "--header", "Connection: keep-alive")
        self.assert_rc(proc, 2)
        self.assertIn("not allowed in HTTP/2", proc.stderr)

    def test_server_close_code_passes_through(self):
        proc = self.connect(self.url, ["before", "close 4001 going away now"], linger=5)
        self.assert_rc(proc, EXIT_ABNORMAL)
        self.assertEqual(proc.stdout, "before\n")
        self.assertIn("closed: 4001 going away now", proc.stderr)
        proc = self.connect(self.url, ["close 1000 done"], linger=5)
        self.assert_rc(proc, 0)
        self.assertIn("closed: 1000 done", proc.stderr)

    def test_client_close_is_clean(self):
        # stdin ends: the client closes 1000, the peer answers and ends the stream.
        proc = self.connect(self.url, ["one"], linger=0)
        self.assert_rc(proc, 0)
        self.assertIn("closed: 1000", proc.stderr)

    def test_reset_stream_is_1006(self):
        proc = self.connect(self.url, ["hi", "reset"], linger=5)
        self.assert_rc(proc, EXIT_ABNORMAL)
        self.assertIn("closed: 1006", proc.stderr)
        self.assertIn("reset", proc.stderr)

    def test_dropped_connection_is_1006(self):
        proc = self.connect(self.url, ["hi", "drop"], linger=5)
        self.assert_rc(proc, EXIT_ABNORMAL)
        self.assertIn("closed: 1006", proc.stderr)


class H2cBackpressureTest(H2TestCase):
    def test_ping_flood_from_a_server_that_does_not_read(self):
        # The peer floods pings and stops taking our pongs. Their queue passes the
        # high-water mark, so the client stops consuming the stream: its window closes and
        # the peer stalls after about a window's worth. A client that kept consuming would
        # let the peer send hundreds of MiB in these seconds.
        peer = self.peer()
        proc = run_client("connect", "--http2", f"ws://{LOOPBACK}:{peer.port}/",
                          "--linger", 2, "--connect-timeout", 5, stdin_text="flood\n",
                          timeout=60)
        # Our close waits behind the pongs the peer never takes: the close timeout ends it.
        self.assertIn("closed:", proc.stderr)
        counts = [int(l.split()[1]) for l in peer.stderr().splitlines()
                  if l.startswith("flood ")]
        self.assertTrue(counts, peer.stderr()[-2000:])
        # The client's stream window (1 MiB) plus what it consumed before pausing: its
        # pong queue's high-water mark (1 MiB) of pongs for as many pings.
        self.assertGreater(counts[-1], 1 * MiB)
        self.assertLess(counts[-1], 6 * MiB, counts[-5:])


class H2cRefusalTest(H2TestCase):
    def test_refusal_status(self):
        url = f"ws://{LOOPBACK}:{self.peer('--status', 403).port}/"
        for cmd in (["send", "--size", 10], ["connect"]):
            proc = run_client(cmd[0], "--http2", url, *cmd[1:], stdin_text="")
            self.assert_rc(proc, EXIT_HANDSHAKE)
            self.assertIn("status 403", proc.stderr)

    def test_no_connect_protocol_setting(self):
        url = f"ws://{LOOPBACK}:{self.peer('--no-connect-protocol').port}/"
        proc = run_client("send", "--http2", url, "--size", 10)
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("does not offer WebSockets over HTTP/2 (RFC 8441", proc.stderr)

    def test_subprotocol_not_offered(self):
        url = f"ws://{LOOPBACK}:{self.peer('--subprotocol', 'other').port}/"
        proc = run_client("send", "--http2", url, "--size", 10, "--subprotocol", "chat")
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("subprotocol that was not offered", proc.stderr)

    def test_http1_server(self):
        # h2c prior knowledge against an HTTP/1.1-only WebSocket server: a clear failure,
        # not a hang. Then the same server with HTTP/2 on (the default): it works.
        with SockeyeServer("--http2", "off") as server:
            res = run_client("send", "--http2", server.url(), "--size", 10,
                             "--connect-timeout", 10, timeout=30)
        self.assert_rc(res, EXIT_HANDSHAKE)
        self.assertIn("HTTP/2", res.stderr)
        with SockeyeServer() as server:
            res = run_client("send", "--http2", server.url(), "--size", 1 << 20,
                             "--expect-echo", "--connect-timeout", 10, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("echo SHA-256 matches", res.stdout)


class H2TlsTest(H2TestCase):
    def setUp(self):
        self.certdir = tempfile.mkdtemp(prefix="sockeye-h2-")
        self.addCleanup(shutil.rmtree, self.certdir, True)
        self.cert, self.key = make_cert(self.certdir)

    def tls_peer(self, *flags):
        return self.peer("--cert", self.cert, "--key", self.key, *flags)

    def test_echo_over_alpn_h2(self):
        url = f"wss://localhost:{self.tls_peer().port}/secure"
        self.check_send_echo(url, "--http2", "--cacert", self.cert, "--binary", size=6 * MiB + 1)
        self.check_piped_lines(url, "--http2", "--cacert", self.cert)
        proc = self.connect(url, ["headers"], "--cacert", self.cert)
        self.assert_rc(proc, 0)
        self.assertIn(":scheme: https", proc.stdout)

    def test_untrusted_certificate(self):
        proc = run_client("send", "--http2", f"wss://localhost:{self.tls_peer().port}/",
                          "--size", 10)
        self.assert_rc(proc, EXIT_TLS)
        self.assertIn("certificate", proc.stderr)

    def test_alpn_without_h2(self):
        port = self.tls_peer("--alpn", "http/1.1").port
        proc = run_client("send", "--http2", f"wss://localhost:{port}/", "--size", 10,
                          "--cacert", self.cert)
        self.assert_rc(proc, EXIT_HANDSHAKE)
        self.assertIn("did not select h2 by ALPN", proc.stderr)


class H2BenchTest(H2TestCase):
    def test_streams_share_connections(self):
        peer = self.peer()
        url = f"ws://{LOOPBACK}:{peer.port}/"
        proc = run_client("bench", "pingpong", url, "--http2", "--connections", 2,
                          "--streams", 4, "--duration", 1, "--warmup", 0.2, "--json",
                          timeout=60)
        self.assert_rc(proc, 0)
        self.assertIn("over HTTP/2, 4 WebSocket streams per connection", proc.stdout)
        self.assertIn('"streams_per_connection": 4', proc.stdout)
        # 8 WebSockets went over 2 TCP connections: this one is the peer's third.
        info = self.connect(url, ["info"])
        self.assert_rc(info, 0)
        self.assertEqual(info.stdout.strip(), "connections 3 streams 1")

    def test_stream_and_connect_modes(self):
        url = f"ws://{LOOPBACK}:{self.peer().port}/"
        proc = run_client("bench", "stream", url, "--http2", "--size", 8 * MiB, timeout=120)
        self.assert_rc(proc, 0)
        self.assertIn("SHA-256 matches", proc.stdout)
        proc = run_client("bench", "connect", url, "--http2", "--count", 20,
                          "--connections", 4, timeout=60)
        self.assert_rc(proc, 0)
        self.assertIn("20 handshakes", proc.stdout)

    def test_streams_need_http2(self):
        proc = run_client("bench", "pingpong", "ws://127.0.0.1:1/", "--streams", 2)
        self.assert_rc(proc, 2)


if __name__ == "__main__":
    main()
