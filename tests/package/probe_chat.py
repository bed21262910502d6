#!/usr/bin/env python3
"""Starts a chat_server binary on a free port and checks that it works as the example
says: GET /healthz answers 200 "ok", a WebSocket client is welcomed, and its text comes
back relayed; SIGTERM then ends it with exit status 0. Standard library only, so it runs
wherever the build does. Usage: probe_chat.py PATH-TO-chat_server"""
import base64
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys

TIMEOUT = 10


def fail(message):
    raise SystemExit(f"probe_chat: {message}")


def read_until(sock, marker):
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            fail(f"connection closed before {marker!r}; got {data!r}")
        data += chunk
    return data


def read_exact(sock, n, buffered):
    while len(buffered) < n:
        chunk = sock.recv(4096)
        if not chunk:
            fail("connection closed inside a frame")
        buffered += chunk
    return buffered[:n], buffered[n:]


def read_text_frame(sock, buffered):
    head, buffered = read_exact(sock, 2, buffered)
    if head[0] != 0x81:  # FIN + text: the example sends short whole text messages
        fail(f"expected an unfragmented text frame, got first byte {head[0]:#x}")
    if head[1] & 0x80:
        fail("server frames must not be masked")
    length = head[1] & 0x7F
    if length == 126:
        ext, buffered = read_exact(sock, 2, buffered)
        length = int.from_bytes(ext, "big")
    elif length == 127:
        fail("unexpectedly long frame")
    payload, buffered = read_exact(sock, length, buffered)
    return payload.decode(), buffered


def masked_text_frame(text):
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def check_healthz(port):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := s.recv(4096):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 ") or body.strip() != b"ok":
        fail(f"/healthz answered {response!r}")


def check_chat(port):
    key = base64.b64encode(os.urandom(16)).decode()
    expected_accept = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(
            (
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = read_until(s, b"\r\n\r\n")
        head, buffered = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            fail(f"upgrade answered {lines[0]!r}")
        if f"sec-websocket-accept: {expected_accept}".lower() not in (l.lower() for l in lines):
            fail(f"wrong or missing Sec-WebSocket-Accept in {lines!r}")
        welcome, buffered = read_text_frame(s, buffered)
        if not welcome.startswith("welcome, 127.0.0.1:"):
            fail(f"expected the welcome message, got {welcome!r}")
        s.sendall(masked_text_frame("hello from the package test"))
        relayed, buffered = read_text_frame(s, buffered)
        if not relayed.endswith(": hello from the package test"):
            fail(f"expected the message relayed back, got {relayed!r}")


def main():
    if len(sys.argv) != 2:
        fail(__doc__.splitlines()[-1])
    server = subprocess.Popen([sys.argv[1], "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "chat on ws://127.0.0.1:PORT/"
        match = re.search(r":(\d+)/", line)
        if not match:
            fail(f"no port in the server's first line {line!r}")
        port = int(match.group(1))
        check_healthz(port)
        check_chat(port)
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=TIMEOUT)
        if status != 0:
            fail(f"exit status {status} after SIGTERM")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    print(f"probe_chat: {os.path.basename(sys.argv[1])} ok on port {port}")


if __name__ == "__main__":
    main()
