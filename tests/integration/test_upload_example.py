"""examples/upload_server: a 1 GiB upload through curl (HTTP, streamed body) and through
`sockeye send` (one WebSocket message, streamed), each written to a file whose SHA-256
matches, with the server's peak RSS bounded; plus the small cases (bad names, limits)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from sockeye_harness import GiB, LOOPBACK, MiB, PatternSource, server_binary

READY = re.compile(r"^listening on https?://127\.0\.0\.1:(\d+)/")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class UploadServerTest(unittest.TestCase):
    size = 4 * MiB

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockeye-upload-")
        cls.source = os.path.join(cls.tmp, "source.bin")
        with open(cls.source, "wb") as f:
            for c in PatternSource(seed=21).chunks(cls.size):
                f.write(c)
        cls.source_sha = sha256_file(cls.source)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        binary = os.environ.get("SOCKEYE_UPLOAD_SERVER")
        if not binary:
            raise unittest.SkipTest("SOCKEYE_UPLOAD_SERVER is not set (run through CTest)")
        self.curl = shutil.which("curl")
        if not self.curl:
            raise unittest.SkipTest("curl not installed")
        self.dir = tempfile.mkdtemp(dir=self.tmp)
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([binary, self.dir, "0", *self.server_args()],
                                     stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.DEVNULL, text=True)
        m = READY.match(self.proc.stdout.readline())
        if not m:
            self.proc.kill()
            raise AssertionError("upload_server did not start")
        self.port = int(m.group(1))

    def server_args(self) -> list[str]:
        return []

    def first_websocket_file_sha256(self) -> str:
        """The server writes the message's last piece after the client's send returns."""
        path = os.path.join(self.dir, "ws-1")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                not os.path.exists(path) or os.path.getsize(path) < self.size):
            time.sleep(0.05)
        return sha256_file(path)

    def tearDown(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=15)
        self.err.seek(0)
        self.assertEqual(rc, 0, self.err.read().decode(errors="replace"))
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_curl_upload_is_written_whole(self):
        r = subprocess.run([self.curl, "-sS", "--fail", "--max-time", "300", "-T", self.source,
                            "-X", "POST", f"http://{LOOPBACK}:{self.port}/upload/one.bin"],
                           capture_output=True, timeout=320)
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        self.assertEqual(answer, {"bytes": self.size, "sha256": self.source_sha})
        self.assertEqual(sha256_file(os.path.join(self.dir, "one.bin")), self.source_sha)
        self.assertLess(peak_rss_kib(self.proc.pid), 64 * 1024)

    def test_websocket_upload_is_written_whole(self):
        r = subprocess.run([server_binary(), "send", "--binary", "--file", self.source,
                            f"ws://{LOOPBACK}:{self.port}/upload"],
                           capture_output=True, timeout=320)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.first_websocket_file_sha256(), self.source_sha)
        self.assertLess(peak_rss_kib(self.proc.pid), 64 * 1024)

    def test_a_name_that_leaves_the_directory_is_refused(self):
        r = subprocess.run([self.curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "--data-binary", "x",
                            f"http://{LOOPBACK}:{self.port}/upload/..%2Fescape"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.stdout, b"400")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "escape")))


class UploadServerTlsTest(UploadServerTest):
    """The route and the WebSocket endpoint over TLS (a `sockeye cert` certificate)."""

    def setUp(self):
        from test_tls import make_cert
        self.certdir = tempfile.mkdtemp(dir=self.tmp)
        self.cert, self.key = make_cert(self.certdir)
        super().setUp()

    def server_args(self):
        return [self.cert, self.key]

    def test_curl_upload_is_written_whole(self):
        r = subprocess.run([self.curl, "-sS", "--fail", "--max-time", "60", "--cacert", self.cert,
                            "--resolve", f"localhost:{self.port}:{LOOPBACK}", "-T", self.source,
                            "-X", "POST", f"https://localhost:{self.port}/upload/tls.bin"],
                           capture_output=True, timeout=80)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"bytes": self.size, "sha256": self.source_sha})
        self.assertEqual(sha256_file(os.path.join(self.dir, "tls.bin")), self.source_sha)

    def test_websocket_upload_is_written_whole(self):
        r = subprocess.run([server_binary(), "send", "--binary", "--file", self.source,
                            "--cacert", self.cert, f"wss://localhost:{self.port}/upload"],
                           capture_output=True, timeout=80)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.first_websocket_file_sha256(), self.source_sha)

    def test_a_name_that_leaves_the_directory_is_refused(self):
        r = subprocess.run([self.curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "--cacert", self.cert, "--resolve", f"localhost:{self.port}:{LOOPBACK}",
                            "--data-binary", "x", f"https://localhost:{self.port}/upload/..%2Fx"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.stdout, b"400")


class UploadServerGiBTest(UploadServerTest):
    size = GiB


if __name__ == "__main__":
    unittest.main()
