"""`sockeye bench fanout` against bare_fanout (the fan-out ceiling peer, build/bench/): a
short run must count every delivery (subscribers x messages, nothing lost, duplicated or
reordered), and the order check must fail - exit 8, the fault counted - when the peer
drops or duplicates one message to one subscriber."""

import json
import os
import re
import subprocess
import time
import unittest

from sockeye_harness import main, server_binary

READY = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")


def bare_fanout() -> str:
    path = os.path.join(os.path.dirname(server_binary()), "bench", "bare_fanout")
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"{path} is not built (SOCKEYE_BENCH off)")
    return path


class BareFanout:
    """One bare_fanout process on port 0, with optional fault flags."""

    def __init__(self, *flags):
        self.argv = [bare_fanout(), "--port", "0", *map(str, flags)]

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        m = READY.match(line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"bare_fanout printed {line!r}")
        self.port = int(m.group(1))
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()

    def url(self, topic="t"):
        return f"ws://127.0.0.1:{self.port}/topics/{topic}"


def fanout(url, *args, timeout=60):
    proc = subprocess.run([server_binary(), "bench", "fanout", url, "--json", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.splitlines()
    result = json.loads(lines[1]) if len(lines) == 2 else None
    return proc, result


class BenchFanoutTest(unittest.TestCase):
    def run_clean(self, *args):
        with BareFanout() as peer:
            started = time.monotonic()
            proc, r = fanout(peer.url(), "--server-pid", peer.proc.pid, *args)
            took = time.monotonic() - started
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIsNotNone(r, proc.stdout)
        self.assertLess(took, 30)
        self.assertTrue(r["complete"])
        self.assertEqual((r["lost"], r["duplicated"], r["reordered"]), (0, 0, 0))
        # Everything published reached every subscriber: the run drains before it ends.
        self.assertGreater(r["published_total"], 0)
        self.assertEqual(r["deliveries_total"], r["published_total"] * r["subscribers"])
        # The publisher is subscribed too and gets its own messages, as from Redis.
        self.assertEqual(r["self_deliveries"], r["published_total"])
        # Deliveries in the window are counted as they arrive, messages as they are sent:
        # they differ by what was in flight at either end of the window.
        in_flight = (r["window"] or r["rate"]) * r["subscribers"]
        self.assertLessEqual(abs(r["deliveries"] - r["messages"] * r["subscribers"]),
                             2 * in_flight)
        self.assertGreater(r["deliveries_per_s"], 0)
        self.assertLessEqual(r["p50_us"], r["p99_us"])
        self.assertGreater(r["p50_us"], 0)
        self.assertGreaterEqual(r["server_sys_us_per_op"], 0)
        self.assertEqual(r["op"], "delivery")
        return r

    def test_windowed(self):
        r = self.run_clean("--subscribers", 20, "--size", 16, "--duration", 1, "--warmup", 0.2,
                           "--window", 3)
        self.assertEqual(r["window"], 3)
        self.assertEqual(r["subscribers"], 20)

    def test_fixed_rate_4k(self):
        r = self.run_clean("--subscribers", 10, "--size", 4096, "--duration", 1, "--warmup",
                           0.2, "--rate", 500)
        self.assertEqual(r["size"], 4096)
        # 500 a second for about a second: the schedule, not the window, set the pace.
        self.assertGreater(r["msgs_per_s"], 350)
        self.assertLess(r["msgs_per_s"], 650)

    def test_a_dropped_message_fails_the_run(self):
        with BareFanout("--drop", 30) as peer:
            proc, r = fanout(peer.url(), "--subscribers", 5, "--duration", 1, "--warmup", 0.2)
        self.assertEqual(proc.returncode, 8, proc.stdout + proc.stderr)
        self.assertIn("1 lost", proc.stderr)
        self.assertIn("INCOMPLETE", proc.stdout)
        self.assertEqual((r["lost"], r["duplicated"], r["reordered"]), (1, 0, 0))
        self.assertFalse(r["complete"])

    def test_a_duplicated_message_fails_the_run(self):
        with BareFanout("--duplicate", 30) as peer:
            proc, r = fanout(peer.url(), "--subscribers", 5, "--duration", 1, "--warmup", 0.2)
        self.assertEqual(proc.returncode, 8, proc.stdout + proc.stderr)
        self.assertEqual((r["lost"], r["duplicated"], r["reordered"]), (0, 1, 0))

    def test_subscribers_on_another_topic_get_nothing(self):
        # The publisher's topic has no subscribers: every message stalls, and the run says so.
        with BareFanout() as peer:
            proc, r = fanout(peer.url("elsewhere"), "--publish-url", peer.url("alone"),
                             "--subscribers", 2, "--duration", 0.5, "--warmup", 0)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("stalled", proc.stderr)

    def test_bad_options(self):
        proc, _ = fanout("ws://127.0.0.1:1/topics/t", "--size", 8)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("at least 16", proc.stderr)


if __name__ == "__main__":
    main()
