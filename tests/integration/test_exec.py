"""`sockeye serve --exec`: a real program behind every WebSocket (cat, sh, Python).

Lines and binary mode, exit statuses as close codes, the grace period and SIGKILL for a
program that ignores SIGTERM, 200 programs at once with no zombie and no leaked fd left,
the CGI-like environment, --exec-max, and backpressure both ways (a client that does not
read, a program that does not read). The 1 GiB `cat` echo is labelled heavy; a 64 MiB one
is not.
"""

import hashlib
import json
import os
import shlex
import signal
import socket
import tempfile
import threading
import time
import unittest

from sockeye_harness import (GiB, MiB, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT,
                             HandshakeFailed, PatternSource, RawWebSocket, RssSampler,
                             ServerTestCase, StreamSender, main, parse_close, receive_binary,
                             raise_nofile_limit, wait_until)

PY = "/usr/bin/python3"
# Sanitizer builds carry shadow memory: the RSS bounds are loosened for them.
RSS_SLACK = 4 if os.environ.get("SOCKEYE_SANITIZED") == "1" else 1


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is `pid`, zombies included."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(name), fields[0]))
    return out


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class ExecTestCase(ServerTestCase):
    """Writes the helper programs to a temporary folder once per class."""

    scripts = {
        # Upper-cases every line (the line filter of lines mode).
        "upper.py": "import sys\nfor line in sys.stdin:\n"
                    "    sys.stdout.write(line.upper())\n    sys.stdout.flush()\n",
        # Prints its environment, working directory, argv and open fds as one JSON line.
        "env.py": "import json, os, sys\n"
                  "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(),\n"
                  "                  'argv': sys.argv[1:], 'fds': sorted(int(f) for f in\n"
                  "                  os.listdir('/proc/self/fd'))}), flush=True)\n",
        # Ignores SIGTERM, says its pid, then sleeps (and never reads stdin).
        "stubborn.py": "import os, signal, time\n"
                       "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                       "print(os.getpid(), flush=True)\n"
                       "for _ in range(600):\n    time.sleep(0.1)\n",
        # Says its pid, then sleeps without reading stdin (SIGTERM ends it).
        "sleeper.py": "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n",
        # Writes lines of text without end.
        "flood.py": "import sys\nline = ('x' * 1000 + '\\n') * 64\n"
                    "while True:\n    sys.stdout.write(line)\n",
    }

    @classmethod
    def setUpClass(cls):
        cls._script_dir = tempfile.TemporaryDirectory(prefix="sockeye-exec-")
        cls.dir = cls._script_dir.name
        for name, text in cls.scripts.items():
            with open(os.path.join(cls.dir, name), "w") as f:
                f.write(text)

    @classmethod
    def tearDownClass(cls):
        cls._script_dir.cleanup()

    def setUp(self):
        # Each test starts the servers it needs (start_server stops them afterwards).
        self._sockets = []

    @classmethod
    def script(cls, name: str, *args: str) -> str:
        return shlex.join([PY, os.path.join(cls.dir, name), *args])

    def exec_server(self, command: str, *flags: str):
        return self.start_server("--exec", command, *flags)

    def ws(self, server, path: str = "/", timeout: float = 10.0, **kw) -> RawWebSocket:
        ws = RawWebSocket.connect(server.port, path=path, timeout=timeout, **kw)
        self.track(ws.sock)
        return ws

    def recv(self, ws: RawWebSocket) -> tuple[int, bytes]:
        return ws.recv_message()


class ExecLinesTest(ExecTestCase):
    def test_python_line_filter(self):
        server = self.exec_server(self.script("upper.py"))
        ws = self.ws(server)
        for text in ["hello", "wörld", "", "a b c"]:
            ws.send_text(text)
            self.assertEqual(self.recv(ws), (OP_TEXT, text.upper().encode()))
        # A message with a newline inside is two lines for the program.
        ws.send_text("one\ntwo")
        self.assertEqual(self.recv(ws), (OP_TEXT, b"ONE"))
        self.assertEqual(self.recv(ws), (OP_TEXT, b"TWO"))
        # A message in pieces is one line.
        ws.send_frame(OP_TEXT, b"fra", fin=False)
        ws.send_frame(0, b"gments", fin=True)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"FRAGMENTS"))
        ws.send_close(1000)
        code, _, _ = ws.expect_close()
        self.assertEqual(code, 1000)

    def test_many_lines_in_order(self):
        server = self.exec_server(self.script("upper.py"))
        ws = self.ws(server)
        lines = [f"line {i}" for i in range(2000)]
        for text in lines:
            ws.send_text(text)
        for text in lines:
            self.assertEqual(self.recv(ws), (OP_TEXT, text.upper().encode()))

    def test_invalid_utf8_line_is_binary_and_last_line_needs_no_newline(self):
        program = shlex.join([PY, "-c", "import sys; sys.stdout.buffer.write("
                              "b'ok\\n\\xff\\xfe bad\\n\\xc3\\xa9t\\xc3\\xa9\\nend')"])
        server = self.exec_server(program)
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"ok"))
        self.assertEqual(self.recv(ws), (OP_BINARY, b"\xff\xfe bad"))
        self.assertEqual(self.recv(ws), (OP_TEXT, "été".encode()))
        self.assertEqual(self.recv(ws), (OP_TEXT, b"end"))
        code, reason, _ = ws.expect_close()
        self.assertEqual((code, reason), (1000, b""))

    def test_line_over_max_message_closes_1009(self):
        program = shlex.join([PY, "-c", "import sys, time; print('short', flush=True); "
                              "sys.stdout.write('y' * 5000 + '\\n'); sys.stdout.flush(); "
                              "time.sleep(30)"])
        server = self.exec_server(program, "--max-message", "4096", "--exec-grace", "0.2")
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"short"))
        code, reason, skipped = ws.expect_close()
        self.assertEqual(code, 1009, reason)
        self.assertIn(b"4096", reason)
        self.assertEqual(skipped, [])

    def test_shell_only_with_exec_shell(self):
        line = "echo $((1+2)) | tr 3 x"
        server = self.exec_server(line, "--exec-shell")
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"x"))
        self.assertEqual(ws.expect_close()[0], 1000)
        # Without it, echo gets the words as they are: no shell sees them.
        server = self.exec_server(line)
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"$((1+2)) | tr 3 x"))
        self.assertEqual(ws.expect_close()[0], 1000)

    def test_stderr_goes_to_the_log_with_the_peer(self):
        server = self.exec_server("sh -c 'echo to-stderr-1 >&2; printf \"a\\033b\" >&2'")
        ws = self.ws(server)
        self.assertEqual(ws.expect_close()[0], 1000)
        port = ws.sock.getsockname()[1]
        wait_until(lambda: "a\\x1bb" in server.stderr_text(), 5)
        log = server.stderr_text()
        self.assertRegex(log, rf"exec 127\.0\.0\.1:{port} pid \d+: to-stderr-1\n")
        # Control characters from the program are escaped in the log.
        self.assertIn("a\\x1bb", log)
        self.assertNotIn("a\x1bb", log)


class ExecBinaryModeTest(ExecTestCase):
    def test_every_payload_byte_in_order_whatever_the_message_type(self):
        server = self.exec_server("cat", "--exec-mode", "binary")
        ws = self.ws(server)
        ws.send_text("text ")
        ws.send_binary(b"\x00\xff binary ")
        ws.send_frame(OP_TEXT, b"frag", fin=False)
        ws.send_frame(0, b"ments", fin=True)
        ws.send_binary(b"")
        want = b"text \x00\xff binary fragments"
        got = b""
        while len(got) < len(want):
            op, data = self.recv(ws)
            self.assertEqual(op, OP_BINARY)
            got += data
        self.assertEqual(got, want)
        ws.send_close(1000)
        self.assertEqual(ws.expect_close()[0], 1000)

    def test_output_without_newlines_streams(self):
        program = shlex.join([PY, "-c", "import sys, time\n"
                              "for i in range(3):\n"
                              "    sys.stdout.write(f'part{i} '); sys.stdout.flush(); "
                              "time.sleep(0.2)"])
        server = self.exec_server(program, "--exec-mode", "binary")
        ws = self.ws(server)
        # Each piece arrives while the program is still running, not at its exit.
        self.assertEqual(self.recv(ws), (OP_BINARY, b"part0 "))
        self.assertEqual(self.recv(ws), (OP_BINARY, b"part1 "))
        self.assertEqual(self.recv(ws), (OP_BINARY, b"part2 "))
        self.assertEqual(ws.expect_close()[0], 1000)


def recv_fragments(ws: RawWebSocket) -> list[tuple[int, bytes]]:
    """The frames of the next data message as (opcode, payload), pongs answered; a close
    instead of a message fails."""
    frames = []
    while True:
        fin, rsv, op, length, key = ws.recv_frame_header()
        payload = ws.read_exact(length)
        if op == OP_PING:
            ws.send_frame(OP_PONG, payload)
            continue
        if op == OP_CLOSE:
            raise AssertionError(f"close {parse_close(payload)} after frames {frames}")
        frames.append((op, payload))
        if fin:
            return frames


class ExecFlushTest(ExecTestCase):
    """--exec-flush / --exec-flush-size: stdout as fragmented messages of a bounded size or
    time, instead of one message per read."""

    def assert_message(self, frames, want: bytes):
        self.assertEqual(frames[0][0], OP_BINARY)
        self.assertTrue(all(op == 0 for op, _ in frames[1:]), frames)
        self.assertEqual(b"".join(p for _, p in frames), want)

    def test_size_cuts_messages_exactly_and_eof_ends_the_last(self):
        program = shlex.join([PY, "-c", "import sys; sys.stdout.write('z' * 2500)"])
        server = self.exec_server(program, "--exec-mode", "binary", "--exec-flush-size", "1000")
        ws = self.ws(server)
        self.assert_message(recv_fragments(ws), b"z" * 1000)
        self.assert_message(recv_fragments(ws), b"z" * 1000)
        last = recv_fragments(ws)
        self.assert_message(last, b"z" * 500)
        self.assertEqual(last[-1], (0, b""), "the end of output ends the message")
        self.assertEqual(ws.expect_close()[0], 1000)

    def test_interval_gathers_reads_into_one_message(self):
        program = shlex.join([PY, "-c", "import sys, time\n"
                              "for piece, pause in (('a', 0.1), ('b', 0.8), ('c', 0)):\n"
                              "    sys.stdout.write(piece); sys.stdout.flush(); "
                              "time.sleep(pause)"])
        server = self.exec_server(program, "--exec-mode", "binary", "--exec-flush", "0.4")
        ws = self.ws(server)
        t0 = time.monotonic()
        first = recv_fragments(ws)
        waited = time.monotonic() - t0
        self.assert_message(first, b"ab")
        self.assertGreaterEqual(len(first), 2, "each read is a fragment as it comes")
        self.assertEqual(first[-1], (0, b""), "the timer ends the message")
        self.assertGreater(waited, 0.3, "the message stays open for the interval")
        self.assert_message(recv_fragments(ws), b"c")
        self.assertEqual(ws.expect_close()[0], 1000)


class ExecExitTest(ExecTestCase):
    def test_output_then_exit_status(self):
        server = self.exec_server("sh -c 'echo hi; exit 3'")
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"hi"))
        code, reason, skipped = ws.expect_close()
        self.assertEqual((code, reason, skipped), (1011, b"exit status 3", []))
        ws.send_close(1000)
        ws.wait_tcp_closed()

    def test_status_zero_is_1000(self):
        server = self.exec_server("sh -c 'echo done'")
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"done"))
        self.assertEqual(ws.expect_close()[:2], (1000, b""))

    def test_killed_by_signal(self):
        server = self.exec_server("sh -c 'echo bye; kill -9 $$'")
        ws = self.ws(server)
        self.assertEqual(self.recv(ws), (OP_TEXT, b"bye"))
        self.assertEqual(ws.expect_close()[:2], (1011, b"killed by signal 9"))

    def test_program_that_cannot_start(self):
        server = self.exec_server("/nonexistent/program --flag")
        ws = self.ws(server)
        self.assertEqual(ws.expect_close()[:2], (1011, b"cannot start the program"))
        wait_until(lambda: "cannot run" in server.stderr_text(), 5)
        self.assertIn("cannot run /nonexistent/program", server.stderr_text())

    def test_bad_command_line_is_refused_at_start(self):
        server = self.exec_server("cat")  # a server to keep the harness happy
        import subprocess
        r = subprocess.run([server.argv()[0], "serve", "--port", "0", "--exec", "echo 'open"],
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b"unterminated single quote", r.stderr)


class ExecGraceTest(ExecTestCase):
    def test_program_ignoring_sigterm_is_killed_after_the_grace(self):
        server = self.exec_server(self.script("stubborn.py"), "--exec-grace", "1")
        ws = self.ws(server)
        op, pid = self.recv(ws)
        pid = int(pid)
        self.assertTrue(pid_alive(pid))
        ws.send_close(1000)
        ws.expect_close()
        closed = time.monotonic()
        ws.close()
        # SIGTERM at 1 s (ignored), SIGKILL at 2 s.
        time.sleep(0.6)
        self.assertTrue(pid_alive(pid), "killed before the grace was over")
        time.sleep(1.0)  # 1.6 s: after the SIGTERM, before the SIGKILL
        self.assertTrue(pid_alive(pid), "a SIGTERM it ignores ended it")
        self.assertTrue(wait_until(lambda: not pid_alive(pid), 5), "never killed")
        gone = time.monotonic() - closed
        self.assertGreater(gone, 1.8)
        self.assertTrue(wait_until(lambda: "killed by signal 9" in server.stderr_text(), 5))
        log = server.stderr_text()
        self.assertIn("sending SIGTERM", log)
        self.assertIn("ignored SIGTERM, sending SIGKILL", log)
        self.assertEqual(wait_until(lambda: children_of(server.pid) == [], 5), True,
                         children_of(server.pid))

    def test_program_ending_on_sigterm(self):
        server = self.exec_server(self.script("sleeper.py"), "--exec-grace", "0.3")
        ws = self.ws(server)
        pid = int(self.recv(ws)[1])
        ws.close()  # gone without a close frame
        self.assertTrue(wait_until(lambda: not pid_alive(pid), 5))
        self.assertTrue(wait_until(lambda: "killed by signal 15" in server.stderr_text(), 5))
        self.assertNotIn("SIGKILL", server.stderr_text())

    def test_shutdown_ends_programs(self):
        server = self.exec_server(self.script("stubborn.py"), "--exec-grace", "0.5")
        ws = self.ws(server)
        pid = int(self.recv(ws)[1])
        server.expected_exit = True
        server.send_signal(signal.SIGTERM)
        self.assertEqual(ws.expect_close()[:2], (1001, b"server shutting down"))
        ws.send_close(1000)
        ws.wait_tcp_closed()
        # Stdin closed, then SIGTERM (ignored) and SIGKILL half a second apart.
        self.assertEqual(server.wait(15), 0, server.describe())
        self.assertFalse(pid_alive(pid), "the program outlived the server")
        self.assertIn("sending SIGKILL", server.stderr_text())


class ExecManyTest(ExecTestCase):
    def setUp(self):
        super().setUp()
        raise_nofile_limit(8192)

    def test_200_programs_then_no_zombie_and_fds_back(self):
        server = self.exec_server("cat", "--exec-mode", "binary")
        time.sleep(0.2)
        baseline = fd_count(server.pid)
        sockets = []
        for i in range(200):
            ws = self.ws(server)
            sockets.append(ws)
        for i, ws in enumerate(sockets):
            ws.send_binary(f"ping {i}".encode())
        for i, ws in enumerate(sockets):
            self.assertEqual(self.recv(ws), (OP_BINARY, f"ping {i}".encode()))
        running = [c for c in children_of(server.pid)]
        self.assertEqual(len(running), 200, "not one program per connection")
        self.assertGreaterEqual(fd_count(server.pid), baseline + 200 * 4)
        # Half say goodbye, half just vanish.
        for i, ws in enumerate(sockets):
            if i % 2 == 0:
                ws.send_close(1000)
            else:
                ws.close()
        for ws in sockets[::2]:
            ws.expect_close()
            ws.close()
        self.assertTrue(wait_until(lambda: children_of(server.pid) == [], 15),
                        f"children left: {children_of(server.pid)[:10]}")
        self.assertTrue(wait_until(lambda: fd_count(server.pid) == baseline, 10),
                        f"fds: {fd_count(server.pid)} vs {baseline} before")
        # And the server still serves.
        ws = self.ws(server)
        ws.send_binary(b"again")
        self.assertEqual(self.recv(ws), (OP_BINARY, b"again"))


class ExecEnvironmentTest(ExecTestCase):
    def run_env(self, *flags, path="/some/p%41th?a=1&b=%20", headers=None):
        os.environ["SOCKEYE_TEST_SECRET"] = "do-not-leak"
        os.environ["SOCKEYE_TEST_PASSED"] = "passed-through"
        try:
            server = self.exec_server(self.script("env.py", "two words", "it's"), *flags)
        finally:
            del os.environ["SOCKEYE_TEST_SECRET"]
            del os.environ["SOCKEYE_TEST_PASSED"]
        ws = self.ws(server, path=path, extra_headers=headers or [])
        op, data = self.recv(ws)
        self.assertEqual(op, OP_TEXT)
        self.assertEqual(ws.expect_close()[0], 1000)
        return server, ws, json.loads(data)

    def test_cgi_variables(self):
        headers = [("X-Custom", "one"), ("x-custom", "two"), ("User-Agent", "exec-test"),
                   ("Proxy", "http://evil.example/"), ("X_Under", "dropped")]
        server, ws, seen = self.run_env("--exec-dir", self.dir, headers=headers)
        env = seen["env"]
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertEqual(env["REMOTE_PORT"], str(ws.sock.getsockname()[1]))
        self.assertEqual(env["REQUEST_URI"], "/some/p%41th?a=1&b=%20")
        self.assertEqual(env["PATH_INFO"], "/some/pAth")
        self.assertEqual(env["QUERY_STRING"], "a=1&b=%20")
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["SERVER_NAME"], "127.0.0.1")
        self.assertEqual(env["SERVER_PORT"], str(server.port))
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["GATEWAY_INTERFACE"], "CGI/1.1")
        self.assertTrue(env["SERVER_SOFTWARE"].startswith("sockeye/"))
        self.assertNotIn("HTTPS", env)
        self.assertEqual(env["HTTP_HOST"], f"127.0.0.1:{server.port}")
        self.assertEqual(env["HTTP_X_CUSTOM"], "one, two")
        self.assertEqual(env["HTTP_USER_AGENT"], "exec-test")
        self.assertEqual(env["HTTP_UPGRADE"], "websocket")
        self.assertIn("HTTP_SEC_WEBSOCKET_KEY", env)
        self.assertNotIn("HTTP_PROXY", env)
        self.assertFalse([k for k in env if "UNDER" in k])
        # Hygiene: only the few kept variables of the server's own environment.
        self.assertIn("PATH", env)
        self.assertNotIn("SOCKEYE_TEST_SECRET", env)
        self.assertNotIn("SOCKEYE_TEST_PASSED", env)
        allowed = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"}
        cgi = {"REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI", "PATH_INFO", "QUERY_STRING",
               "REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
               "SERVER_SOFTWARE", "GATEWAY_INTERFACE"}
        unexpected = [k for k in env if k not in allowed | cgi and not k.startswith("LC_")
                      and not k.startswith("HTTP_")]
        self.assertEqual(unexpected, [], "variables from elsewhere")
        # Working directory, argv as split, and no descriptor but stdin/stdout/stderr
        # (the listing itself opens one more).
        self.assertEqual(os.path.realpath(seen["cwd"]), os.path.realpath(self.dir))
        self.assertEqual(seen["argv"], ["two words", "it's"])
        self.assertEqual(seen["fds"][:3], [0, 1, 2])
        self.assertLessEqual(len(seen["fds"]), 4, seen["fds"])

    def test_default_signal_dispositions(self):
        # The server ignores SIGPIPE; a program starts with nothing ignored or blocked
        # (grep, not Python, which ignores SIGPIPE itself).
        server = self.exec_server("grep -E ^Sig(Ign|Blk) /proc/self/status")
        ws = self.ws(server)
        lines = dict(self.recv(ws)[1].decode().split(":\t") for _ in range(2))
        self.assertEqual(lines["SigBlk"], "0000000000000000")
        # Signals 32 and 33 are glibc's own (thread cancellation, setxid): no program can
        # change them, so whatever the server's parent left there passes through; every
        # other signal must be at its default.
        glibc_internal = (1 << 31) | (1 << 32)
        self.assertEqual(int(lines["SigIgn"], 16) & ~glibc_internal, 0, lines)

    def test_exec_env_passes_and_sets(self):
        server, _, seen = self.run_env("--exec-env", "SOCKEYE_TEST_PASSED", "--exec-env",
                                  "GREETING=hello there", "--exec-env", "UNSET_VARIABLE_X")
        env = seen["env"]
        self.assertEqual(env["SOCKEYE_TEST_PASSED"], "passed-through")
        self.assertEqual(env["GREETING"], "hello there")
        self.assertNotIn("UNSET_VARIABLE_X", env)
        self.assertNotIn("SOCKEYE_TEST_SECRET", env)
        # The working directory defaults to the server's.
        self.assertEqual(os.path.realpath(seen["cwd"]), os.path.realpath(server.cwd))

    def test_relative_program_runs_from_exec_dir(self):
        path = os.path.join(self.dir, "hello.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"hello from $(pwd)\"\n")
        os.chmod(path, 0o755)
        server = self.exec_server("./hello.sh", "--exec-dir", self.dir)
        ws = self.ws(server)
        op, data = self.recv(ws)
        self.assertEqual(data.decode(), f"hello from {os.path.realpath(self.dir)}")
        self.assertEqual(ws.expect_close()[0], 1000)

    def test_nul_in_path_is_refused(self):
        server = self.exec_server("cat")
        with self.assertRaises(HandshakeFailed) as cm:
            self.ws(server, path="/a%00b")
        self.assertEqual(cm.exception.status, 400)


class ExecHttp2TlsTest(ExecTestCase):
    """WebSockets on HTTP/2 streams (RFC 8441) over TLS: each runs its own program."""

    def test_two_streams_two_programs_https_on(self):
        import subprocess
        from h2_websocket import H2Client
        from sockeye_harness import server_binary
        certdir = tempfile.TemporaryDirectory()
        self.addCleanup(certdir.cleanup)
        subprocess.run([server_binary(), "cert", "--out", certdir.name, "--host", "localhost"],
                       check=True, capture_output=True, timeout=30)
        cafile = os.path.join(certdir.name, "cert.pem")
        server = self.exec_server(self.script("env.py"), "--tls-cert", cafile, "--tls-key",
                                  os.path.join(certdir.name, "key.pem"))
        client = H2Client(server.port, tls=True, cafile=cafile)
        self.addCleanup(client.close)
        a = client.open_websocket("/a?x=1")
        b = client.open_websocket("/b")
        self.assertEqual((a.status, b.status), (200, 200))
        env_a = json.loads(a.receive_message())["env"]
        env_b = json.loads(b.receive_message())["env"]
        self.assertEqual(a.wait_close().code, 1000)
        self.assertEqual(b.wait_close().code, 1000)
        self.assertEqual((env_a["PATH_INFO"], env_a["QUERY_STRING"]), ("/a", "x=1"))
        self.assertEqual((env_b["PATH_INFO"], env_b["QUERY_STRING"]), ("/b", ""))
        for env in (env_a, env_b):
            self.assertEqual(env["HTTPS"], "on")
            self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/2")
            self.assertEqual(env["SERVER_NAME"], "localhost")
            self.assertEqual(env["HTTP_SEC_WEBSOCKET_VERSION"], "13")
        # Both streams came over one TCP connection: same remote port.
        self.assertEqual(env_a["REMOTE_PORT"], env_b["REMOTE_PORT"])


class ExecMaxTest(ExecTestCase):
    def test_over_the_limit_is_503_before_the_upgrade(self):
        server = self.exec_server("cat", "--exec-max", "2", "--exec-grace", "0.2")
        a = self.ws(server)
        b = self.ws(server)
        with self.assertRaises(HandshakeFailed) as cm:
            self.ws(server)
        self.assertEqual(cm.exception.status, 503)
        self.assertEqual(len(children_of(server.pid)), 2)
        # The two still work; once one is gone (and its program reaped) there is room.
        a.send_text("still here")
        self.assertEqual(self.recv(a), (OP_TEXT, b"still here"))
        b.send_close(1000)
        b.expect_close()
        b.close()  # the connection ends at the client's EOF (or --close-timeout)

        def room():
            try:
                return self.ws(server)
            except HandshakeFailed:
                return None
        c = wait_until(room, 5, interval=0.1)
        self.assertIsNotNone(c, "no room after a program ended")
        c.send_text("new")
        self.assertEqual(self.recv(c), (OP_TEXT, b"new"))


class ExecBackpressureTest(ExecTestCase):
    def _client_not_reading(self, command, *flags):
        server = self.exec_server(command, "--ping-interval", "0", *flags)
        ws = self.ws(server)
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        time.sleep(0.3)
        base = server.rss_kib()
        with RssSampler(server) as sampler:
            time.sleep(3)
        grew = sampler.max_rss_kib - base
        print(f"\n{command}: server VmRSS {base // 1024} MiB before, +{grew // 1024} MiB "
              f"while the client does not read for 3 s")
        self.assertLess(grew, 32 * 1024 * RSS_SLACK, "the server kept reading the program's output")
        # The program is blocked on its full pipe, not spinning: once we read, data flows.
        got = 0
        ws.sock.settimeout(10)
        while got < 8 * MiB:
            fin, rsv, op, length, key = ws.recv_frame_header()
            ws.read_exact(length)
            got += length
        return server

    def test_binary_client_not_reading(self):
        self._client_not_reading("cat /dev/zero", "--exec-mode", "binary")

    def test_lines_client_not_reading(self):
        self._client_not_reading(self.script("flood.py"))

    def test_program_not_reading(self):
        server = self.exec_server(self.script("sleeper.py"), "--exec-mode", "binary",
                                  "--ping-interval", "0", "--exec-grace", "0.2")
        ws = self.ws(server, timeout=60)
        self.recv(ws)  # its pid
        sender = StreamSender(ws, PatternSource(seed=3), 256 * MiB)
        base = server.rss_kib()
        with RssSampler(server) as sampler:
            sender.start()
            last, last_change = -1, time.monotonic()
            deadline = time.monotonic() + 30
            while not sender.done.is_set() and time.monotonic() < deadline:
                time.sleep(0.1)
                if sender.sent != last:
                    last, last_change = sender.sent, time.monotonic()
                elif time.monotonic() - last_change > 2.0:
                    break
        grew = sampler.max_rss_kib - base
        print(f"\nsender stalled after {sender.sent / MiB:.1f} MiB; server VmRSS "
              f"+{grew // 1024} MiB")
        self.assertIsNone(sender.error)
        self.assertFalse(sender.done.is_set(), "256 MiB accepted by a program that reads nothing")
        self.assertLess(sender.sent, 64 * MiB)
        self.assertLess(grew, 32 * 1024 * RSS_SLACK)


class ExecBinaryEchoTest(ExecTestCase):
    """`cat` in binary mode echoes a large message: identical bytes, bounded memory."""
    total = 64 * MiB
    rss_limit_kib = 64 * 1024

    def test_cat_echo(self):
        server = self.exec_server("cat", "--exec-mode", "binary", "--ping-interval", "0")
        ws = self.ws(server, timeout=120)
        sender = StreamSender(ws, PatternSource(seed=9), self.total, MiB)
        with RssSampler(server) as sampler:
            t0 = time.monotonic()
            sender.start()
            stats = receive_binary(ws, self.total)
            sender.join(60)
            elapsed = time.monotonic() - t0
        self.assertIsNone(sender.error)
        self.assertEqual(stats["bytes"], self.total)
        self.assertEqual(stats["sha256"], sender.hash.hexdigest(), "echo differs (SHA-256)")
        peak = server.peak_rss_kib()
        print(f"\n{self.total // MiB} MiB through `cat`: {elapsed:.1f}s, "
              f"{self.total / MiB / elapsed:.0f} MiB/s, {stats['messages']} messages, "
              f"server VmHWM {peak // 1024} MiB (sampled max {sampler.max_rss_kib // 1024} MiB)")
        self.assertLessEqual(peak, self.rss_limit_kib * RSS_SLACK)
        ws.send_close(1000)
        self.assertEqual(ws.expect_close(timeout=10)[0], 1000)


class ExecGiBEchoTest(ExecBinaryEchoTest):
    total = GiB


if __name__ == "__main__":
    main()
