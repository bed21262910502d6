#!/usr/bin/python3
"""Writes the seed corpus of fuzz_http2 (fuzz/corpus/http2/) with Python h2 (python3-h2).

Each seed is one mode byte (see fuzz_http2.cpp: chunk size and graceful shutdown) and then
what a client sends after the 24-byte connection preface, which the target adds itself."""

import os
import struct
import sys

import h2.config
import h2.connection
import h2.errors

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def client():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             validate_outbound_headers=False))
    c.initiate_connection()
    return c


def after_preface(c):
    data = c.data_to_send()
    return data[len(PREFACE):] if data.startswith(PREFACE) else data


def settings_ack():
    return b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"  # the server's SETTINGS, acknowledged


def masked_frame(opcode, payload, key=b"\x11\x22\x33\x44"):
    assert len(payload) < 126
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + masked


def connect_headers(path="/", extra=()):
    return [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
            (":path", path), (":authority", "localhost"), ("sec-websocket-version", "13"),
            *extra]


def seeds():
    out = {}
    c = client()
    c.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/healthz"),
                       (":authority", "localhost")], end_stream=True)
    out["get_healthz"] = b"\x00" + after_preface(c) + settings_ack()

    c = client()
    c.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/metrics"),
                       (":authority", "localhost"), ("cookie", "a=1"), ("cookie", "b=2")],
                   end_stream=True)
    c.send_headers(3, [(":method", "HEAD"), (":scheme", "http"), (":path", "/healthz"),
                       (":authority", "localhost")], end_stream=True)
    c.send_headers(5, [(":method", "POST"), (":scheme", "http"), (":path", "/healthz"),
                       (":authority", "localhost")])
    c.send_data(5, b"x" * 100, end_stream=True)
    out["plain_requests"] = b"\x03" + after_preface(c)

    c = client()
    c.send_headers(1, connect_headers("/chat", [("sec-websocket-protocol", "chat")]))
    c.send_data(1, masked_frame(0x1, b"hello over h2"))
    c.send_data(1, masked_frame(0x9, b"ping"))
    c.send_data(1, masked_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    c.end_stream(1)
    out["connect_websocket_text"] = b"\x00" + after_preface(c) + settings_ack()

    c = client()
    c.send_headers(1, connect_headers("/", [("sec-websocket-extensions",
                                             "permessage-deflate; client_max_window_bits")]))
    c.send_data(1, masked_frame(0x2, bytes(range(16))))
    c.send_data(1, masked_frame(0x1, b"split ") [:4])
    out["connect_websocket_fragment"] = b"\x09" + after_preface(c)

    c = client()
    c.send_headers(1, connect_headers())
    c.send_data(1, masked_frame(0x1, b"x"))
    c.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
    c.send_headers(3, [(":method", "GET"), (":scheme", "http"), (":path", "/healthz"),
                       (":authority", "localhost")], end_stream=True)
    c.reset_stream(3, h2.errors.ErrorCodes.CANCEL)
    c.ping(b"12345678")
    c.increment_flow_control_window(1 << 20)
    out["rst_stream"] = b"\x02" + after_preface(c)

    c = client()
    c.send_headers(1, [(":method", "CONNECT"), (":authority", "example.com:443")])
    c.send_headers(3, connect_headers("/", [("sec-websocket-version", "8")]))
    c.send_headers(5, connect_headers("/"), priority_weight=200, priority_depends_on=3)
    c.close_connection()
    out["connect_refusals_goaway"] = b"\x04" + after_preface(c)
    return out


def main():
    where = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                               "corpus", "http2")
    os.makedirs(where, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(where, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
