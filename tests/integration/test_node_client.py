"""Runs node/ws_echo_client.js (the npm `ws` client) against a fresh server.
Needs $SOCKEYE_NODE (node binary) and $SOCKEYE_NODE_MODULES (where `npm ci` put ws)."""

import os
import subprocess

from sockeye_harness import ServerTestCase, main
from test_tls import TlsServerTestCase

HERE = os.path.dirname(os.path.abspath(__file__))


class NodeWsClientTest(ServerTestCase):
    def test_node_ws_client(self):
        node = os.environ.get("SOCKEYE_NODE", "node")
        modules = os.environ.get("SOCKEYE_NODE_MODULES")
        self.assertTrue(modules and os.path.isdir(os.path.join(modules, "ws")),
                        f"ws is not installed in SOCKEYE_NODE_MODULES={modules!r} "
                        "(the npm ci fixture should have done it)")
        env = dict(os.environ, NODE_PATH=modules)
        proc = subprocess.run([node, os.path.join(HERE, "node", "ws_echo_client.js"),
                               str(self.server.port), *self.node_args()], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=90)
        print(proc.stdout, end="")
        self.assertEqual(proc.returncode, 0,
                         f"node client failed:\n{proc.stdout}\n{proc.stderr}\n{self.server.describe()}")
        self.assertIn("checks passed", proc.stdout)

    def node_args(self):
        return []


class NodeWsClientTlsTest(TlsServerTestCase, NodeWsClientTest):
    """The same checks over wss://, trusting the `sockeye cert` certificate."""

    def node_args(self):
        return [self.cert]


if __name__ == "__main__":
    main()
