"""An independent RFC 8441 server for testing the client's WebSockets over HTTP/2: h2
(python3-h2) for HTTP/2, wsproto for the WebSocket frames, one thread per connection.

It accepts h2c with prior knowledge, or TLS with ALPN (--cert/--key), advertises
SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (unless --no-connect-protocol), answers an extended
CONNECT for :protocol websocket with :status 200 (or --status N, ending the stream) and
echoes every message, streaming it fragment by fragment so big messages cost no memory
here. Text messages that are commands do something else instead:
    "close CODE REASON"  the server starts the closing handshake with that code
    "reset"              RST_STREAM (CANCEL) on the stream, without a close
    "drop"               the TCP connection is closed at once
    "headers"            answers with the request's headers, one "name: value" per line
    "flood"              sends pings as fast as the client's windows allow and stops
                         acknowledging what the client sends (so its pongs pile up);
                         prints "flood BYTES" on stderr, the total so far, as it goes
    "info"               answers "connections C streams S": TCP connections accepted so
                         far, WebSocket streams opened on this one

Prints "listening PORT" on stdout once it accepts connections; runs until killed.
"""

import argparse
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage


accepted_connections = 0


class Stream:
    def __init__(self, stream_id, request_headers):
        self.id = stream_id
        self.ws = Connection(ConnectionType.SERVER)
        self.request_headers = request_headers
        self.outbound = bytearray()  # WebSocket bytes waiting for flow-control window
        self.end_after_outbound = False
        self.ended = False
        self.text_command = None  # a text message being gathered to check for a command
        self.flood = False
        self.flood_bytes = 0


class PeerConnection:
    def __init__(self, sock, args):
        self.sock = sock
        self.args = args
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                           validate_inbound_headers=True)
        self.conn = h2.connection.H2Connection(config=config)
        self.streams = {}
        self.dropped = False
        self.opened_streams = 0

    def run(self):
        settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20}
        if not self.args.no_connect_protocol:
            settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
        # Initial values, not update(): those would only apply once the client ACKs a
        # second SETTINGS frame, and the first must already offer the CONNECT protocol.
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(1 << 24)
        self.flush()
        try:
            while not self.dropped:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                for event in self.conn.receive_data(data):
                    self.handle(event)
                    if self.dropped:
                        break
                self.send_pending()
                self.flush()
        except (OSError, ssl.SSLError):
            pass
        except Exception as e:  # a protocol error on our side: show it in the test log
            print(f"h2_ws_peer: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def flush(self):
        out = self.conn.data_to_send()
        if out and not self.dropped:
            self.sock.sendall(out)

    def handle(self, event):
        if isinstance(event, h2.events.RequestReceived):
            self.on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if event.flow_controlled_length and not (stream and stream.flood):
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
            if stream is not None:
                stream.ws.receive_data(event.data)
                self.on_ws_events(stream)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None and not stream.ended:
                stream.end_after_outbound = True
        elif isinstance(event, h2.events.StreamReset):
            self.streams.pop(event.stream_id, None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.dropped = True
            self.flush()

    def on_request(self, event):
        headers = dict(event.headers)
        sid = event.stream_id
        if headers.get(":method") != "CONNECT" or headers.get(":protocol") != "websocket":
            self.conn.send_headers(sid, [(":status", "400")], end_stream=True)
            return
        if self.args.status != 200:
            self.conn.send_headers(sid, [(":status", str(self.args.status))], end_stream=True)
            return
        response = [(":status", "200")]
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")
                   if p.strip()]
        if self.args.subprotocol:
            response.append(("sec-websocket-protocol", self.args.subprotocol))
        elif offered:
            response.append(("sec-websocket-protocol", offered[0]))
        self.conn.send_headers(sid, response)
        # wsproto's Connection is the WebSocket after its handshake (the CONNECT did that
        # here): it starts open.
        self.streams[sid] = Stream(sid, event.headers)
        self.opened_streams += 1

    def on_ws_events(self, stream):
        for ev in stream.ws.events():
            if isinstance(ev, TextMessage):
                if self.command(stream, ev):
                    if self.dropped or stream.id not in self.streams:
                        return
                    continue
                self.ws_send(stream, TextMessage(data=ev.data,
                                                 message_finished=ev.message_finished))
            elif isinstance(ev, BytesMessage):
                self.ws_send(stream, BytesMessage(data=ev.data,
                                                  message_finished=ev.message_finished))
            elif isinstance(ev, Ping):
                self.ws_send(stream, ev.response())
            elif isinstance(ev, CloseConnection):
                if stream.ws.state == ConnectionState.REMOTE_CLOSING:
                    self.ws_send(stream, ev.response())
                # Both closes exchanged: our side of the stream ends after them.
                stream.end_after_outbound = True

    # Commands are whole short text messages; anything else (or a long text) is echoed.
    def command(self, stream, ev):
        if stream.text_command is None and not ev.message_finished:
            return False
        if stream.text_command is not None:
            return False
        text = ev.data
        if text.startswith("close "):
            parts = text.split(" ", 2)
            code = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            self.ws_send(stream, CloseConnection(code=code, reason=reason))
            return True
        if text == "reset":
            self.conn.reset_stream(stream.id, error_code=8)
            self.streams.pop(stream.id, None)
            return True
        if text == "drop":
            self.dropped = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if text == "flood":
            stream.flood = True
            return True
        if text == "info":
            self.ws_send(stream, TextMessage(
                data=f"connections {accepted_connections} streams {self.opened_streams}"))
            return True
        if text == "headers":
            lines = "\n".join(f"{k}: {v}" for k, v in stream.request_headers)
            self.ws_send(stream, TextMessage(data=lines))
            return True
        return False

    def ws_send(self, stream, event):
        stream.outbound += stream.ws.send(event)
        self.send_pending()

    # WebSocket bytes go out as DATA as far as the client's windows allow; the rest waits
    # for its WINDOW_UPDATEs (h2 fires WindowUpdated, after which send_pending runs).
    def send_pending(self):
        for sid, stream in list(self.streams.items()):
            if stream.flood:
                window = self.conn.local_flow_control_window(sid)
                ping = stream.ws.send(Ping(payload=b"p" * 125))
                if window > len(stream.outbound):
                    stream.outbound += ping * ((window - len(stream.outbound)) // len(ping) + 1)
            sent_before = len(stream.outbound)
            while stream.outbound:
                window = self.conn.local_flow_control_window(sid)
                n = min(window, self.conn.max_outbound_frame_size, len(stream.outbound))
                if n <= 0:
                    break
                self.conn.send_data(sid, bytes(stream.outbound[:n]))
                del stream.outbound[:n]
            if stream.flood:
                stream.flood_bytes += sent_before - len(stream.outbound)
                print(f"flood {stream.flood_bytes}", file=sys.stderr, flush=True)
            if not stream.outbound and stream.end_after_outbound and not stream.ended:
                stream.ended = True
                self.conn.end_stream(sid)
                self.streams.pop(sid, None)
        self.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--alpn", default="h2", help="comma-separated ALPN protocols offered")
    ap.add_argument("--no-connect-protocol", action="store_true")
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--subprotocol", help="always select this subprotocol")
    args = ap.parse_args()

    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(args.alpn.split(","))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    print(f"listening {listener.getsockname()[1]}", flush=True)

    def serve(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            try:
                sock = ctx.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()
                return
            if sock.selected_alpn_protocol() != "h2":
                # An HTTP/1.1 server here: it reads a request and answers 400.
                try:
                    sock.recv(4096)
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                finally:
                    sock.close()
                return
        PeerConnection(sock, args).run()

    global accepted_connections
    while True:
        sock, _ = listener.accept()
        accepted_connections += 1
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
