"""Subprotocol selection and the Origin allow-list, seen through the `websockets` client."""

import asyncio

import websockets
from websockets.exceptions import InvalidStatusCode

from sockeye_harness import ServerTestCase, main


async def connect_info(url, **kw):
    async with websockets.connect(url, ping_interval=None, open_timeout=10, **kw) as ws:
        await ws.send("ping?")
        echo = await asyncio.wait_for(ws.recv(), 10)
        return ws.subprotocol, echo


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


class SubprotocolTest(ServerTestCase):
    server_flags = ("--subprotocol", "chat.v2", "--subprotocol", "chat.v1")

    def test_server_preference_wins(self):
        sp, echo = run(connect_info(self.server.url(), subprotocols=["chat.v1", "chat.v2"]))
        self.assertEqual((sp, echo), ("chat.v2", "ping?"))

    def test_only_common_protocol_chosen(self):
        sp, _ = run(connect_info(self.server.url(), subprotocols=["other", "chat.v1"]))
        self.assertEqual(sp, "chat.v1")

    def test_no_common_protocol(self):
        # The server may refuse or accept without a subprotocol; it must never pick one
        # the client did not offer (websockets would raise InvalidHandshake).
        try:
            sp, echo = run(connect_info(self.server.url(), subprotocols=["mqtt"]))
        except InvalidStatusCode as e:
            self.assertTrue(400 <= e.status_code < 500, e)
        else:
            self.assertIsNone(sp)
            self.assertEqual(echo, "ping?")

    def test_client_without_subprotocols(self):
        sp, echo = run(connect_info(self.server.url()))
        self.assertIsNone(sp)
        self.assertEqual(echo, "ping?")


class NoSubprotocolConfiguredTest(ServerTestCase):
    def test_offered_protocols_not_selected(self):
        sp, echo = run(connect_info(self.server.url(), subprotocols=["chat.v1", "x"]))
        self.assertIsNone(sp)
        self.assertEqual(echo, "ping?")


class OriginTest(ServerTestCase):
    server_flags = ("--origin", "https://app.example", "--origin", "http://localhost:3000")

    def test_allowed_origins(self):
        for origin in ("https://app.example", "http://localhost:3000"):
            with self.subTest(origin=origin):
                _, echo = run(connect_info(self.server.url(), origin=origin))
                self.assertEqual(echo, "ping?")

    def test_forbidden_origins_403(self):
        for origin in ("https://evil.example", "http://localhost:3001", "http://app.example",
                       "https://app.example.evil.example"):
            with self.subTest(origin=origin):
                with self.assertRaises(InvalidStatusCode) as cm:
                    run(connect_info(self.server.url(), origin=origin))
                self.assertEqual(cm.exception.status_code, 403)


class AnyOriginTest(ServerTestCase):
    def test_any_origin_without_allow_list(self):
        _, echo = run(connect_info(self.server.url(), origin="https://whatever.example"))
        self.assertEqual(echo, "ping?")


if __name__ == "__main__":
    main()
