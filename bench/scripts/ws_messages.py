#!/usr/bin/python3
"""A WebSocket client any bridge can take: TOTAL bytes as binary messages of MSG bytes, sent
while the echo is read (in however many messages it comes back) and compared. The same
client for every server, so the numbers compare the servers; Python's websockets is the
bottleneck well before Sockeye. Prints "BYTES B in S s" or exits 1 ("stalled" when nothing
arrives for 10 s).

Usage: bench/scripts/ws_messages.py URL TOTAL MSG"""

import asyncio
import sys
import time

import websockets


async def main(url, total, msg):
    async with websockets.connect(url, max_size=None, write_limit=1 << 20,
                                  ping_interval=None) as ws:
        data = bytes((i * 7 + 3) & 0xFF for i in range(msg))
        count = total // msg

        async def send():
            for _ in range(count):
                await ws.send(data)

        t0 = time.monotonic()
        sender = asyncio.create_task(send())
        got = bytearray()
        want = count * msg
        checked = 0
        while checked < want:
            try:
                got += await asyncio.wait_for(ws.recv(), 10)
            except asyncio.TimeoutError:
                print(f"stalled after {checked + len(got)} of {want} B", flush=True)
                sys.exit(1)
            whole = len(got) // msg * msg
            if got[:whole] != data * (whole // msg):
                print("the echo differs from what was sent", flush=True)
                sys.exit(1)
            del got[:whole]
            checked += whole
        await sender
        print(f"{want} B in {time.monotonic() - t0:.3f} s", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
