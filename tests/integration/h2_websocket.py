"""An independent RFC 8441 client for the tests: HTTP/2 framing by Python h2, the WebSocket
protocol by wsproto, both Debian packages (python3-h2, python3-wsproto). Neither shares any
code with the server, so what passes here is what another implementation understands.

One H2Client is one TCP (or TLS) connection; open_websocket() starts an extended CONNECT on
a new stream and returns a Stream that sends and receives WebSocket events over it.
"""

import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import wsproto.connection
import wsproto.events
import wsproto.extensions
import wsproto.frame_protocol


class Stream:
    """One WebSocket on one h2 stream."""

    def __init__(self, client, stream_id):
        self.client = client
        self.id = stream_id
        self.ws = wsproto.connection.Connection(wsproto.connection.ConnectionType.CLIENT)
        self.status = None  # :status of the response
        self.headers = {}
        self.body = b""  # a refusal's body
        self.events = []  # wsproto events not yet taken
        self.ended = False  # the server's END_STREAM
        self.reset = None  # RST_STREAM error code from the server
        self.unacked = 0  # DATA bytes received and not yet given back (auto_window off)

    def send(self, event):
        data = self.ws.send(event)
        self.client.send_data(self.id, data)

    def send_text(self, text):
        self.send(wsproto.events.TextMessage(data=text))

    def send_bytes(self, data, message_finished=True):
        self.send(wsproto.events.BytesMessage(data=data, message_finished=message_finished))

    def close(self, code=1000, reason=""):
        self.send(wsproto.events.CloseConnection(code=code, reason=reason))

    def end_stream(self):
        self.client.conn.end_stream(self.id)
        self.client.flush()

    def give_back(self):
        """Reopens our receive window by what arrived (a reader that has caught up)."""
        if self.unacked:
            self.client.conn.increment_flow_control_window(self.unacked, self.id)
            self.unacked = 0
            self.client.flush()

    def take_data(self):
        """Drains the message data events received so far; returns their bytes."""
        out = bytearray()
        rest = []
        for e in self.events:
            if isinstance(e, (wsproto.events.BytesMessage, wsproto.events.TextMessage)):
                out.extend(e.data.encode() if isinstance(e.data, str) else e.data)
            elif isinstance(e, wsproto.events.Ping):
                self.send(e.response())
            else:
                rest.append(e)
        self.events = rest
        return bytes(out)

    def next_event(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.events:
            if self.ended or self.reset is not None:
                raise EOFError(f"stream ended (reset={self.reset})")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no WebSocket event")
            self.client.pump(left)
        return self.events.pop(0)

    def receive_message(self, timeout=10.0):
        """The next whole message (str or bytes); pings are answered by wsproto's Pong."""
        parts = []
        while True:
            ev = self.next_event(timeout)
            if isinstance(ev, wsproto.events.Ping):
                self.send(ev.response())
                continue
            if isinstance(ev, wsproto.events.CloseConnection):
                raise ConnectionError(f"closed {ev.code} {ev.reason}")
            if isinstance(ev, (wsproto.events.TextMessage, wsproto.events.BytesMessage)):
                parts.append(ev.data)
                if ev.message_finished:
                    if isinstance(ev, wsproto.events.TextMessage):
                        return "".join(parts)
                    return b"".join(parts)

    def wait_close(self, timeout=10.0):
        while True:
            ev = self.next_event(timeout)
            if isinstance(ev, wsproto.events.CloseConnection):
                return ev


class H2Client:
    def __init__(self, port, host="127.0.0.1", tls=False, cafile=None, window=None,
                 validate=True):
        raw = socket.create_connection((host, port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            if cafile is None:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
            assert raw.selected_alpn_protocol() == "h2", raw.selected_alpn_protocol()
        self.sock = raw
        self.authority = f"localhost:{port}"
        self.scheme = "https" if tls else "http"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                      validate_outbound_headers=validate)
        )
        self.conn.initiate_connection()
        if window:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
            self.conn.increment_flow_control_window(window)
        self.flush()
        self.streams = {}
        self.server_settings = {}
        self.goaway = None
        self.responses = {}  # plain requests: stream id -> dict(status, headers, body, done)
        self.auto_window = True
        # Wait for the server's SETTINGS.
        deadline = time.monotonic() + 10
        while not self.server_settings and self.goaway is None:
            self.pump(max(0.01, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise TimeoutError("no SETTINGS from the server")

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_data(self, stream_id, data):
        """Sends as the peer's windows allow, reading meanwhile."""
        view = memoryview(data)
        while view:
            window = min(
                self.conn.local_flow_control_window(stream_id),
                self.conn.max_outbound_frame_size,
            )
            if window <= 0:
                self.pump(5.0)
                continue
            n = min(window, len(view))
            self.conn.send_data(stream_id, bytes(view[:n]))
            self.flush()
            view = view[n:]

    def pump(self, timeout):
        """Reads once (up to `timeout` seconds) and dispatches the events."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, ssl.SSLWantReadError):
            return
        if not data:
            self.goaway = self.goaway or "eof"
            for s in self.streams.values():
                s.ended = True
            raise EOFError("connection closed by the server")
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            raise
        for ev in events:
            self.dispatch(ev)
        self.flush()

    def dispatch(self, ev):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.server_settings[int(k)] = v.new_value
        elif isinstance(ev, h2.events.ResponseReceived):
            headers = dict(ev.headers)
            if ev.stream_id in self.streams:
                s = self.streams[ev.stream_id]
                s.status = int(headers[":status"])
                s.headers = headers
            else:
                self.responses.setdefault(ev.stream_id, {"body": b"", "done": False})
                self.responses[ev.stream_id]["status"] = int(headers[":status"])
                self.responses[ev.stream_id]["headers"] = headers
        elif isinstance(ev, h2.events.DataReceived):
            if self.auto_window and ev.flow_controlled_length:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif ev.flow_controlled_length and ev.stream_id in self.streams:
                # The connection's window is given back at once, the stream's when the
                # test says: one slow stream must not stall the others.
                self.conn.increment_flow_control_window(ev.flow_controlled_length)
                self.streams[ev.stream_id].unacked += ev.flow_controlled_length
            if ev.stream_id in self.streams:
                s = self.streams[ev.stream_id]
                if s.status == 200 and ev.data:
                    s.ws.receive_data(ev.data)
                    s.events.extend(s.ws.events())
                else:
                    s.body += ev.data
            elif ev.stream_id in self.responses:
                self.responses[ev.stream_id]["body"] += ev.data
        elif isinstance(ev, h2.events.StreamEnded):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id].ended = True
            elif ev.stream_id in self.responses:
                self.responses[ev.stream_id]["done"] = True
        elif isinstance(ev, h2.events.StreamReset):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id].reset = ev.error_code
            elif ev.stream_id in self.responses:
                self.responses[ev.stream_id]["reset"] = ev.error_code
                self.responses[ev.stream_id]["done"] = True
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev

    def open_websocket(self, path="/", headers=(), protocol="websocket", wait=True, deflate=False):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [
            (":method", "CONNECT"),
            (":protocol", protocol),
            (":scheme", self.scheme),
            (":path", path),
            (":authority", self.authority),
            ("sec-websocket-version", "13"),
        ]
        if deflate:
            hdrs.append(("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"))
        hdrs.extend(headers)
        s = Stream(self, sid)
        self.streams[sid] = s
        self.conn.send_headers(sid, hdrs)
        self.flush()
        if wait:
            self.wait_response(s)
            if s.status == 200:
                # wsproto learns of the handshake as if over HTTP/1.1: its state machine
                # needs an accepted upgrade before it frames messages.
                ext = []
                if deflate and "sec-websocket-extensions" in s.headers:
                    pmd = wsproto.extensions.PerMessageDeflate()
                    pmd.finalize(s.headers["sec-websocket-extensions"])
                    ext = [pmd]
                s.ws = wsproto.connection.Connection(
                    wsproto.connection.ConnectionType.CLIENT, extensions=ext
                )
        return s

    def wait_response(self, s, timeout=10.0):
        deadline = time.monotonic() + timeout
        while s.status is None and s.reset is None:
            if time.monotonic() > deadline:
                raise TimeoutError("no response to CONNECT")
            self.pump(deadline - time.monotonic())
        if s.status is not None and s.status != 200:
            while not s.ended and s.reset is None and time.monotonic() < deadline:
                self.pump(deadline - time.monotonic())

    def request(self, path, method="GET", headers=(), timeout=10.0, body=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [
            (":method", method),
            (":scheme", self.scheme),
            (":path", path),
            (":authority", self.authority),
        ]
        hdrs.extend(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        self.responses[sid] = {"body": b"", "done": False}
        self.flush()
        if body is not None:
            self.send_data(sid, body)
            self.conn.end_stream(sid)
            self.flush()
        deadline = time.monotonic() + timeout
        while not self.responses[sid]["done"]:
            if time.monotonic() > deadline:
                raise TimeoutError("no response")
            self.pump(deadline - time.monotonic())
        return self.responses[sid]

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()
