"""CPU per published event: one ZeroMQ message per event (``batch_max=1``, the old behaviour) against
batches (the defaults). A drain process plays the recorder (receives, never acknowledges); the figure is
this process's CPU time (``time.process_time``: ZeroMQ's I/O thread included) per ``publish()``, the
sends included. Then the batched publisher with the drain SIGSTOPped (connected, reading nothing) and
with no drain at all (issue 13: the request path must cost the same in the three cases). Not part of
``make bench``: a developer's measuring tool.

    python bench/profile_publisher.py [--events 20000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.gateway.publisher import BATCH_DELAY_S, BATCH_MAX, EventPublisher  # noqa: E402
from shared import events  # noqa: E402
from tests.procs import free_port  # noqa: E402

DRAIN = """
import sys, zmq
sock = zmq.Context().socket(zmq.ROUTER)
sock.setsockopt(zmq.RCVHWM, 0)
sock.bind(sys.argv[1])
while True:
    sock.recv_multipart()
"""


def event(i: int, tag: str) -> events.UsageEvent:
    return events.UsageEvent(
        request_id=f"r{i}",
        endpoint="/v1/chat/completions",
        client_format="openai_chat",
        model="gpt-4o-mini",
        event_id=f"ev{tag}-{i}",
    )


async def run(
    endpoint: str,
    n: int,
    rate: float,
    batch_max: int,
    tag: str,
    stop: int | None = None,
    absent: bool = False,
) -> float:
    """CPU microseconds per event, publishing ``n`` events at about ``rate`` a second (``stop``: the
    drain's pid, SIGSTOPped meanwhile; ``absent``: nothing listens on ``endpoint``)."""
    pub = EventPublisher(endpoint, max_queued=n + 1, ack_timeout_s=600, batch_max=batch_max)
    pub.start()
    while pub.connections == 0 and not absent:
        await asyncio.sleep(0.01)
    if stop is not None:
        os.kill(stop, signal.SIGSTOP)
    batch = max(1, int(rate / 100))  # 100 bursts a second, like requests finishing between loop turns
    cpu0 = time.process_time()
    for i in range(0, n, batch):
        for j in range(i, min(n, i + batch)):
            pub.publish(event(j, tag))
        await asyncio.sleep(0.01)
    await asyncio.sleep(BATCH_DELAY_S * 2)
    used = time.process_time() - cpu0
    if stop is not None:
        os.kill(stop, signal.SIGCONT)
    assert pub.sent == (0 if absent else n), (pub.sent, n)
    await pub.close(ack_wait_s=0)
    return used / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2_000)
    args = parser.parse_args()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    drain = subprocess.Popen([sys.executable, "-c", DRAIN, endpoint])
    try:
        one = asyncio.run(run(endpoint, args.events, args.rate, 1, "one"))
        batched = asyncio.run(run(endpoint, args.events, args.rate, BATCH_MAX, "batched"))
        stopped = asyncio.run(run(endpoint, args.events, args.rate, BATCH_MAX, "stopped", stop=drain.pid))
        nowhere = f"tcp://127.0.0.1:{free_port()}"
        absent = asyncio.run(run(nowhere, args.events, args.rate, BATCH_MAX, "absent", absent=True))
    finally:
        drain.kill()
        drain.wait()
    print(f"{args.events} events at ~{args.rate:.0f}/s; CPU per event (this process, sends included):")
    print(f"  one message per event   {one:7.1f} us")
    print(
        f"  batched ({BATCH_DELAY_S * 1000:g} ms / {BATCH_MAX})  {batched:7.1f} us   ratio {batched / one:.2f}"
    )
    print(f"  batched, drain SIGSTOPped {stopped:7.1f} us   ratio to batched {stopped / batched:.2f}")
    print(f"  batched, no drain         {absent:7.1f} us   ratio to batched {absent / batched:.2f}")


if __name__ == "__main__":
    main()
