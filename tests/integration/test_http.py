"""HTTP side of the server over raw sockets: handshake errors, static files,
/healthz, /metrics, HEAD, keep-alive and header-size limits."""

import base64
import email.utils
import hashlib
import os
import shutil
import tempfile
import time

from sockeye_harness import (OP_TEXT, ConnectionClosedByPeer, HttpConnection, RawWebSocket,
                             ServerTestCase, http_get, main, parse_metrics)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 example
KEY_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

SECRET = b"TOP-SECRET-c0ffee-outside-the-root"
FIXED_MTIME = 1_600_000_000  # 2020-09-13T12:26:40Z


def upgrade_headers(**override):
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY,
         "Sec-WebSocket-Version": "13"}
    for k, v in override.items():
        k = k.replace("_", "-")
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return list(h.items())


class HandshakeErrorTest(ServerTestCase):
    server_flags = ("--origin", "http://good.example", "--origin", "https://also.example")

    def upgrade(self, method="GET", path="/", version="HTTP/1.1", **override):
        conn = self.http()
        return conn.request(method, path, upgrade_headers(**override), version=version)

    def test_valid_handshake_101_and_accept(self):
        r = self.upgrade(Origin="http://good.example")
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.header("sec-websocket-accept"), KEY_ACCEPT)
        self.assertEqual(r.header("upgrade", "").lower(), "websocket")
        self.assertIn("upgrade", r.header("connection", "").lower())
        self.assertIsNone(r.header("sec-websocket-extensions"))

    def test_token_lists_and_case_are_accepted(self):
        r = self.upgrade(Connection="keep-alive, Upgrade", Upgrade="WebSocket",
                         Origin="https://also.example")
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.header("sec-websocket-accept"), KEY_ACCEPT)

    def test_missing_key_400(self):
        self.assertEqual(self.upgrade(Sec_WebSocket_Key=None, Origin="http://good.example").status, 400)

    def test_bad_keys_400(self):
        for key in ("abc", "not base64 at all!!!!!!", base64.b64encode(b"x" * 15).decode(),
                    base64.b64encode(b"x" * 17).decode(), ""):
            with self.subTest(key=key):
                r = self.upgrade(Sec_WebSocket_Key=key, Origin="http://good.example")
                self.assertEqual(r.status, 400, r)

    def test_missing_upgrade_token_in_connection_400(self):
        r = self.upgrade(Connection="keep-alive", Origin="http://good.example")
        self.assertEqual(r.status, 400, r)

    def test_wrong_upgrade_header_400(self):
        r = self.upgrade(Upgrade="h2c", Origin="http://good.example")
        self.assertEqual(r.status, 400, r)

    def test_http_1_0_400(self):
        r = self.upgrade(version="HTTP/1.0", Origin="http://good.example")
        self.assertEqual(r.status, 400, r)

    def test_other_version_426_with_header(self):
        for v in ("8", "12", "14"):
            with self.subTest(version=v):
                r = self.upgrade(Sec_WebSocket_Version=v, Origin="http://good.example")
                self.assertEqual(r.status, 426, r)
                self.assertEqual(r.header("sec-websocket-version"), "13")

    def test_missing_version_rejected(self):
        r = self.upgrade(Sec_WebSocket_Version=None, Origin="http://good.example")
        self.assertIn(r.status, (400, 426), r)

    def test_origin_outside_allow_list_403(self):
        for origin in ("http://evil.example", "http://good.example.evil", "null",
                       "https://good.example"):
            with self.subTest(origin=origin):
                self.assertEqual(self.upgrade(Origin=origin).status, 403)

    def test_non_get_upgrade_405(self):
        for method in ("POST", "PUT", "DELETE"):
            with self.subTest(method=method):
                self.assertEqual(self.upgrade(method=method, Origin="http://good.example").status,
                                 405)

    def test_error_then_connection_usable_or_closed(self):
        # After a 400 the server may close or keep the connection; it must not hang
        # in a half state: a follow-up request is either answered or refused by EOF.
        conn = self.http(timeout=5)
        r = conn.request("GET", "/", upgrade_headers(Sec_WebSocket_Key="abc"))
        self.assertEqual(r.status, 400)
        try:
            r2 = conn.request("GET", "/healthz")
        except (ConnectionClosedByPeer, ConnectionError):
            return  # closed after the error: fine
        self.assertEqual(r2.status, 200)


class WsPathTest(ServerTestCase):
    server_flags = ("--ws-path", "/ws")

    def test_upgrade_only_on_ws_path(self):
        ws = self.raw_ws("/ws")
        ws.send_text("on the path")
        self.assertEqual(ws.recv_message(), (OP_TEXT, b"on the path"))
        conn = self.http()
        r = conn.request("GET", "/elsewhere", upgrade_headers())
        self.assertNotEqual(r.status, 101)
        self.assertTrue(400 <= r.status < 500, r)


class HeaderLimitTest(ServerTestCase):
    def big_request(self, total):
        head = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n"
        pad = total - len(head) - len("X-Pad: \r\n\r\n")
        return (head + "X-Pad: " + "a" * pad + "\r\n\r\n").encode()

    def test_default_limit_431(self):
        conn = self.http()
        conn.send(self.big_request(9000))
        self.assertEqual(conn.read_response().status, 431)

    def test_huge_head_many_headers_431(self):
        conn = self.http()
        lines = [f"GET / HTTP/1.1", f"Host: 127.0.0.1:{self.server.port}"]
        lines += [f"X-H{i}: {'v' * 50}" for i in range(200)]
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.assertEqual(conn.read_response().status, 431)

    def test_huge_upgrade_head_431(self):
        conn = self.http()
        r = conn.request("GET", "/", upgrade_headers(X_Pad="p" * 10000))
        self.assertEqual(r.status, 431)

    def test_under_default_limit_ok(self):
        conn = self.http()
        conn.send(self.big_request(7000))
        self.assertEqual(conn.read_response().status, 200)

    def test_custom_limit(self):
        server = self.start_server("--max-header-bytes", "1024")
        for size, expected in ((900, 200), (2000, 431)):
            with self.subTest(size=size):
                conn = HttpConnection(server.port)
                self.track(conn.sock)
                head = f"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                conn.send((head + "X-Pad: " + "a" * (size - len(head) - 11) + "\r\n\r\n").encode())
                self.assertEqual(conn.read_response().status, expected)


class StaticFilesTest(ServerTestCase):
    FILES = {
        "index.html": (b"<!doctype html><title>sockeye test</title>", "text/html"),
        "style.css": (b"body { color: red }", "text/css"),
        "app.js": (b"console.log('hi')", ("text/javascript", "application/javascript")),
        "data.json": (b'{"a": 1}', "application/json"),
        "pic.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "image/png"),
        "sub/page.html": (b"<p>nested</p>", "text/html"),
    }

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockeye-root-")
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(os.path.join(cls.root, "sub"))
        for name, (content, _) in cls.FILES.items():
            path = os.path.join(cls.root, name)
            with open(path, "wb") as f:
                f.write(content)
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        with open(os.path.join(cls.tmp, "secret.txt"), "wb") as f:
            f.write(SECRET)
        os.symlink(os.path.join(cls.tmp, "secret.txt"), os.path.join(cls.root, "link.txt"))
        os.symlink(cls.tmp, os.path.join(cls.root, "outside"))
        os.symlink("../secret.txt", os.path.join(cls.root, "sub", "rel.txt"))
        cls.server_root = cls.root

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path, method="GET", headers=None):
        return http_get(self.server.port, path, method=method, headers=headers)

    def test_files_with_type_length_last_modified(self):
        for name, (content, ctype) in self.FILES.items():
            with self.subTest(file=name):
                r = self.get("/" + name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, content)
                self.assertEqual(r.header("content-length"), str(len(content)))
                got_type = r.header("content-type", "").split(";")[0].strip().lower()
                self.assertIn(got_type, ctype if isinstance(ctype, tuple) else (ctype,))
                lm = r.header("last-modified")
                self.assertIsNotNone(lm, "missing Last-Modified")
                self.assertTrue(lm.endswith("GMT"), lm)
                self.assertEqual(email.utils.parsedate_to_datetime(lm).timestamp(), FIXED_MTIME)

    def test_root_serves_index(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.FILES["index.html"][0])
        self.assertTrue(r.header("content-type", "").startswith("text/html"))

    def test_query_string_ignored(self):
        r = self.get("/style.css?v=3")
        self.assertEqual((r.status, r.body), (200, self.FILES["style.css"][0]))

    def test_missing_404(self):
        for path in ("/nope.html", "/sub/nope", "/index.html/extra"):
            with self.subTest(path=path):
                self.assertEqual(self.get(path).status, 404)

    def test_traversal_never_leaks(self):
        paths = ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                 "/..%2fsecret.txt", "/..%2Fsecret.txt", "/sub/../../secret.txt",
                 "/sub/%2e%2e/%2e%2e/secret.txt", "/./../secret.txt", "/..\\secret.txt",
                 "/%2e%2e%5csecret.txt", "/sub/..%2f..%2fsecret.txt",
                 "/link.txt", "/outside/secret.txt", "/sub/rel.txt",
                 "/../../../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                 "/secret.txt%00.html", "//etc/passwd"]
        for path in paths:
            with self.subTest(path=path):
                r = self.get(path)
                self.assertNotIn(SECRET, r.body, f"{path} leaked the secret")
                self.assertNotIn(b"root:x:0:0", r.body, f"{path} leaked /etc/passwd")
                self.assertTrue(400 <= r.status < 500, f"{path} answered {r.status}")

    def test_head_has_headers_but_no_body(self):
        content = self.FILES["pic.png"][0]
        conn = self.http()
        r = conn.request("HEAD", "/pic.png")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), str(len(content)))
        self.assertEqual(r.header("content-type"), "image/png")
        self.assertIsNotNone(r.header("last-modified"))
        # Nothing may follow the head: the next response must start right away.
        r2 = conn.request("GET", "/style.css")
        self.assertEqual(r2.status, 200, "bytes after a HEAD response (a body was sent?)")
        self.assertEqual(r2.body, self.FILES["style.css"][0])

    def test_keep_alive_two_requests_one_connection(self):
        conn = self.http()
        r1 = conn.request("GET", "/index.html")
        self.assertEqual((r1.status, r1.body), (200, self.FILES["index.html"][0]))
        self.assertNotEqual(r1.header("connection", "").lower(), "close")
        r2 = conn.request("GET", "/sub/page.html")
        self.assertEqual((r2.status, r2.body), (200, self.FILES["sub/page.html"][0]))
        r3 = conn.request("GET", "/nope")
        self.assertEqual(r3.status, 404)
        r4 = conn.request("GET", "/healthz")
        self.assertEqual(r4.status, 200)

    def test_pipelined_requests(self):
        conn = self.http()
        conn.send(f"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET /app.js HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(conn.read_response().body, self.FILES["style.css"][0])
        self.assertEqual(conn.read_response().body, self.FILES["app.js"][0])

    def test_connection_close_honoured(self):
        conn = self.http()
        r = conn.request("GET", "/index.html", [("Connection", "close")])
        self.assertEqual(r.status, 200)
        self.assertTrue(conn.is_closed_by_peer(timeout=3), "connection left open after Connection: close")

    def test_other_methods_405(self):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                r = http_get(self.server.port, "/index.html", method=method)
                self.assertEqual(r.status, 405)
                self.assertNotIn(self.FILES["index.html"][0], r.body)

    def test_healthz(self):
        r = self.get("/healthz")
        self.assertEqual(r.status, 200)

    def test_metrics(self):
        r = self.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("content-type", "").startswith("text/plain"), r.header("content-type"))
        text = r.body.decode("utf-8")
        before = parse_metrics(text)
        self.assertTrue(any(k.startswith("sockeye_connections_open") for k in before), text)
        self.assertIn("# TYPE", text)
        # Counters move with traffic.
        ws = RawWebSocket.connect(self.server.port)
        self.track(ws.sock)
        for i in range(3):
            ws.send_text(f"m{i}")
            self.assertEqual(ws.recv_message(), (OP_TEXT, f"m{i}".encode()))
        during = parse_metrics(self.get("/metrics").body.decode())
        open_now = sum(v for k, v in during.items() if k.split("{")[0] == "sockeye_connections_open")
        self.assertGreaterEqual(open_now, 1)
        grew = [k for k in during if k in before and during[k] > before[k]]
        self.assertTrue(grew, "no metric grew after a WebSocket connection and 3 messages")


if __name__ == "__main__":
    main()


class BuiltinEndpointsOffTest(ServerTestCase):
    server_flags = ("--no-builtin-endpoints",)

    def test_healthz_and_metrics_are_not_answered(self):
        # Without the built-ins the paths are the static root's: the demo page has neither.
        for path in ("/healthz", "/metrics"):
            self.assertEqual(http_get(self.server.port, path).status, 404, path)
