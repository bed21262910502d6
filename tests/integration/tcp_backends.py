"""TCP services for the `sockeye serve --proxy` tests, on loopback ports.

- ``echo``: an asyncio echo server in its own process (``python3 tcp_backends.py echo``
  prints ``port N`` and serves until killed), so that the test process's GIL is not in the
  way of gigabytes both ways; ``echo CERT KEY`` speaks TLS.
- ``LineService``: a line protocol in a thread of the test process, which records what
  each connection saw (its bytes, its EOF) for the tests to look at. It greets with
  ``HELLO <name>``; ``QUIT`` answers ``BYE`` and closes; ``RESET`` resets the connection;
  any other line comes back upper-cased.
- ``FloodService``: writes to every connection as fast as the connection takes it,
  counting the bytes the kernel took.
- ``SinkService``: accepts and never reads.
- ``TlsService``: TLS (Python's ``ssl``) on a port of the address ``localhost`` resolves
  to first, with the given certificate. ``echo`` sends back what it gets; ``bye`` sends
  ``BYE`` and close_notify at once (``bye-eof``: then a bare EOF); ``flood`` writes as fast as the connection takes it
  (counting in ``sent``); ``sink`` never reads; ``silent`` accepts TCP and never answers
  the ClientHello. Each connection's record holds the SNI name, the ALPN protocol, the
  handshake's error, and whether its end was a close_notify or a bare EOF.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class _Service:
    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.target = f"{LOOPBACK}:{self.port}"
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.connections: list = []
        self.lock = threading.Condition()
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                record = self.new_record(conn)
                self.connections.append(record)
                self.lock.notify_all()
            t = threading.Thread(target=self.serve, args=(conn, record), daemon=True)
            t.start()
            self._threads.append(t)

    def new_record(self, conn):
        return {"sock": conn, "data": bytearray(), "eof": False, "closed": False}

    def wait_for(self, pred, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                value = pred()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self.lock.wait(left)

    def close(self) -> None:
        self._stop = True
        try:
            self.listener.close()
        except OSError:
            pass
        for r in list(self.connections):
            try:
                r["sock"].close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LineService(_Service):
    def __init__(self, name: str = "line"):
        self.name = name
        super().__init__()

    def serve(self, conn: socket.socket, record) -> None:
        conn.settimeout(60)
        try:
            conn.sendall(f"HELLO {self.name}\n".encode())
            pending = b""
            while True:
                data = conn.recv(65536)
                with self.lock:
                    if not data:
                        record["eof"] = True
                    else:
                        record["data"] += data
                    self.lock.notify_all()
                if not data:
                    break
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line == b"QUIT":
                        conn.sendall(b"BYE\n")
                        conn.close()
                        return
                    if line == b"RESET":
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                        conn.close()
                        return
                    conn.sendall(line.upper() + b"\n")
            conn.close()
        except OSError:
            pass
        finally:
            with self.lock:
                record["closed"] = True
                self.lock.notify_all()


class FloodService(_Service):
    chunk = b"\xa5" * 65536

    def new_record(self, conn):
        r = super().new_record(conn)
        r["sent"] = 0
        return r

    def serve(self, conn: socket.socket, record) -> None:
        try:
            while not self._stop:
                n = conn.send(self.chunk)
                record["sent"] += n
        except OSError:
            pass


class SinkService(_Service):
    def serve(self, conn: socket.socket, record) -> None:
        while not self._stop:
            time.sleep(0.1)


class TlsService(_Service):
    def __init__(self, cert: str, key: str, mode: str = "echo"):
        self.mode = mode
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        # Python's default reads a bare EOF as a close_notify: tell them apart.
        self.ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        # Offered by the server so that a client offering http/1.1 would get it back.
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.ctx.sni_callback = self._sni
        self._names: dict[int, str | None] = {}
        # The proxy resolves `localhost` and takes the first address: listen there.
        family, _, _, _, addr = socket.getaddrinfo("localhost", 0, socket.AF_UNSPEC,
                                                   socket.SOCK_STREAM)[0]
        self.listener = socket.socket(family)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(addr[:2])
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.address = addr[0]
        self.target = f"localhost:{self.port}"
        self._stop = False
        self._threads = []
        self.connections = []
        self.lock = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _sni(self, sslobj, name, ctx) -> None:
        self._names[id(sslobj)] = name

    def new_record(self, conn):
        r = super().new_record(conn)
        r.update(sni=None, alpn=None, error=None, handshake=False, close_notify=False, sent=0)
        return r

    def _note(self, record, **kv) -> None:
        with self.lock:
            record.update(kv)
            self.lock.notify_all()

    def serve(self, conn: socket.socket, record) -> None:
        conn.settimeout(60)
        if self.mode == "silent":
            while not self._stop:
                time.sleep(0.1)
            return
        try:
            # A bare EOF raises instead of reading as b"", which is a close_notify.
            tls = self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False,
                                       suppress_ragged_eofs=False)
            record["sock"] = tls
            tls.do_handshake()
            self._note(record, handshake=True, sni=self._names.get(id(tls)),
                       alpn=tls.selected_alpn_protocol())
            if self.mode == "bye-eof":
                tls.sendall(b"BYE\n")
                tls.close()  # no close_notify
                return
            if self.mode == "bye":
                tls.sendall(b"BYE\n")
                tls.unwrap()  # close_notify, then waits for the peer's in answer
                self._note(record, close_notify=True)
                tls.close()
                return
            if self.mode == "flood":
                while not self._stop:
                    record["sent"] += tls.send(FloodService.chunk)
                return
            if self.mode == "sink":
                while not self._stop:
                    time.sleep(0.1)
                return
            while True:
                try:
                    data = tls.recv(1 << 20)
                except ssl.SSLError as e:
                    if "EOF" not in (e.reason or "") and not isinstance(e, ssl.SSLEOFError):
                        raise
                    self._note(record, eof=True)  # a bare EOF
                    break
                if not data:
                    self._note(record, eof=True, close_notify=True)
                    break
                with self.lock:
                    record["data"] += data
                    self.lock.notify_all()
                tls.sendall(data)
            tls.close()
        except (OSError, ValueError) as e:
            self._note(record, error=str(e))
        finally:
            self._note(record, closed=True)


class EchoProcess:
    """The asyncio echo server in a child process."""

    def __init__(self, cert: str | None = None, key: str | None = None):
        tls = [cert, key] if cert else []
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "echo", *tls],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError(f"echo backend did not start: {line!r}")
        self.port = int(line.split()[1])
        self.target = f"{LOOPBACK}:{self.port}"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


async def _echo_main(cert: str | None = None, key: str | None = None) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()
        except (ConnectionError, OSError):
            pass

    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, LOOPBACK, 0, limit=1 << 20, ssl=ctx)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"] and len(sys.argv) in (2, 4):
        asyncio.run(_echo_main(*sys.argv[2:]))
    else:
        sys.exit("usage: tcp_backends.py echo [CERT KEY]")
