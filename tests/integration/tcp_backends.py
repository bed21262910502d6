"""TCP services for the `sockeye serve --proxy` tests, on loopback ports.

- ``echo``: an asyncio echo server in its own process (``python3 tcp_backends.py echo``
  prints ``port N`` and serves until killed), so that the test process's GIL is not in the
  way of gigabytes both ways.
- ``LineService``: a line protocol in a thread of the test process, which records what
  each connection saw (its bytes, its EOF) for the tests to look at. It greets with
  ``HELLO <name>``; ``QUIT`` answers ``BYE`` and closes; ``RESET`` resets the connection;
  any other line comes back upper-cased.
- ``FloodService``: writes to every connection as fast as the connection takes it,
  counting the bytes the kernel took.
- ``SinkService``: accepts and never reads.
"""

from __future__ import annotations

import asyncio
import os
import socket
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


class EchoProcess:
    """The asyncio echo server in a child process."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "echo"],
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


async def _echo_main() -> None:
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

    server = await asyncio.start_server(handle, LOOPBACK, 0, limit=1 << 20)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] == ["echo"]:
        asyncio.run(_echo_main())
    else:
        sys.exit("usage: tcp_backends.py echo")
