"""`sockeye cert`: the command line around the development certificate generator.

Runs the real binary into temporary folders, reads the result back with the `openssl`
command and with Python's ssl module (a TLS handshake over loopback that verifies the
certificate against itself for the requested names), and checks the refusals: existing
files without --force, out-of-range --days, bad names.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import unittest

from sockeye_harness import main, server_binary

FINGERPRINT_RE = r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}"


def run_cert(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([server_binary(), "cert", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


class CertCommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("the openssl command is not installed")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sockeye-cert-it-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        # A folder that does not exist yet: the command creates it.
        self.out = os.path.join(self.tmp, "certs")
        self.cert = os.path.join(self.out, "cert.pem")
        self.key = os.path.join(self.out, "key.pem")

    def make(self, *extra: str) -> subprocess.CompletedProcess:
        return run_cert("--out", self.out, "--host", "example.test", "--host", "10.1.2.3",
                        *extra)

    def assert_ok(self, r: subprocess.CompletedProcess):
        self.assertEqual(r.returncode, 0, f"stdout: {r.stdout}\nstderr: {r.stderr}")

    def test_creates_key_and_certificate_for_the_names(self):
        r = self.make()
        self.assert_ok(r)
        self.assertTrue(os.path.isfile(self.cert))
        self.assertTrue(os.path.isfile(self.key))
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)

        text = openssl("x509", "-in", self.cert, "-noout", "-text")
        self.assertIn("DNS:example.test, IP Address:10.1.2.3", text)
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:FALSE")
        self.assertIn("TLS Web Server Authentication", text)
        self.assertIn("ASN1 OID: prime256v1", text)
        self.assertIn("CN = example.test", text)

        # The key belongs to the certificate.
        self.assertEqual(openssl("pkey", "-in", self.key, "-pubout"),
                         openssl("x509", "-in", self.cert, "-noout", "-pubkey"))

        # What it prints: the files, the same fingerprint openssl computes, how to use them.
        fp = openssl("x509", "-in", self.cert, "-noout", "-fingerprint", "-sha256")
        fp = fp.strip().split("=", 1)[1]
        self.assertRegex(fp, "^" + FINGERPRINT_RE + "$")
        self.assertRegex(r.stdout, rf"created {re.escape(self.cert)} \(valid until "
                                   rf"\d{{4}}-\d\d-\d\d, SHA-256 {fp}\) and {re.escape(self.key)}")
        self.assertIn("names: example.test, 10.1.2.3", r.stdout)
        self.assertIn(f"sockeye serve --tls-cert {self.cert} --tls-key {self.key}", r.stdout)
        self.assertIn(f"curl --cacert {self.cert} https://example.test:8080/", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_default_names_and_days(self):
        r = run_cert(cwd=self.tmp)
        self.assert_ok(r)
        self.assertIn("created cert.pem", r.stdout)
        self.assertIn("names: localhost, 127.0.0.1, ::1", r.stdout)
        text = openssl("x509", "-in", os.path.join(self.tmp, "cert.pem"), "-noout", "-text")
        self.assertIn("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1", text)
        dates = openssl("x509", "-in", os.path.join(self.tmp, "cert.pem"), "-noout",
                        "-checkend", str(824 * 86400))
        self.assertIn("will not expire", dates)

    def test_days_sets_the_expiry(self):
        self.assert_ok(self.make("--days", "2"))
        # Valid for one more day, but not for three.
        subprocess.run(["openssl", "x509", "-in", self.cert, "-noout", "-checkend", "86400"],
                       check=True, capture_output=True, timeout=60)
        r = subprocess.run(["openssl", "x509", "-in", self.cert, "-noout", "-checkend",
                            str(3 * 86400)], capture_output=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)

    def test_refuses_to_overwrite_without_force(self):
        self.assert_ok(self.make())
        with open(self.cert, "rb") as f:
            before = f.read()

        r = self.make()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stderr, r"^sockeye cert: .*already exists.*--force")
        self.assertEqual(r.stdout, "")
        with open(self.cert, "rb") as f:
            self.assertEqual(f.read(), before)

        self.assert_ok(self.make("--force"))
        with open(self.cert, "rb") as f:
            self.assertNotEqual(f.read(), before)
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)

    def test_days_out_of_range(self):
        for days in ("0", "3651", "-5"):
            with self.subTest(days=days):
                r = self.make("--days", days)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("--days", r.stderr)
                self.assertFalse(os.path.exists(self.cert))

    def test_bad_names_and_folders(self):
        for host in ("bad name", "300.1.2.3", "*.test"):
            with self.subTest(host=host):
                r = run_cert("--out", self.out, "--host", host)
                self.assertEqual(r.returncode, 1)
                self.assertTrue(r.stderr.startswith("sockeye cert: "), r.stderr)
                self.assertIn(host, r.stderr)
                self.assertFalse(os.path.exists(self.cert))

        not_a_dir = os.path.join(self.tmp, "file")
        with open(not_a_dir, "w") as f:
            f.write("x")
        r = run_cert("--out", not_a_dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a directory", r.stderr)

    def test_tls_handshake_verifies_for_requested_names_only(self):
        r = run_cert("--out", self.out, "--host", "localhost", "--host", "127.0.0.1")
        self.assert_ok(r)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(self.cert, self.key)
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and name
        client_ctx.load_verify_locations(self.cert)

        for name, ok in (("localhost", True), ("127.0.0.1", True), ("other.test", False)):
            with self.subTest(name=name):
                self.assertEqual(self.handshake(server_ctx, client_ctx, name), ok)

    @staticmethod
    def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str) -> bool:
        """One TLS handshake over loopback; True if the client accepted the certificate."""
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve():
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass  # the client gave up on the certificate

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                try:
                    with client_ctx.wrap_socket(raw, server_hostname=name) as tls:
                        tls.sendall(b"x")
                        return True
                except ssl.SSLCertVerificationError:
                    return False
        finally:
            t.join(15)
            listener.close()


if __name__ == "__main__":
    main()
