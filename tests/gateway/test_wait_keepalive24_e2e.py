"""The keep-alive period through the gateway's own Retry-After wait counts from the client's last keep-alive,
not from the wait's start (s24 variant 19-ping-vG; session 23's lead: a 1.5 s gap at a 1 s period).

The only route holds its response headers past ``STREAM_KEEPALIVE_S``: the client's answer opens with a ping
(``Proxy._send_opening``). Most of a period later the held headers say 429 with a ``Retry-After`` of one period:
the gateway waits it out itself (``Proxy._wait``). The next keep-alive is due a period after the opening's,
inside that wait, so the client hears a ping while it lasts. Before, the wait counted its own periods from its
start, and a wait no longer than one period sent none: the client heard nothing from the opening until the
second request's answer, almost two periods. The test counts pings between the refusal and the second request
(no clock is read: the gate is let go well inside the period, and the wait ends well after the due ping).

Real gateway and recorder processes, the scripted upstream; the client reads the raw stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.sse import SSEDecoder
from tests.gateway.test_fallback_after_keepalive_e2e import B_TEXT, CHAT, chat_answer, kinds
from tests.gateway.test_wait_keepalive_e2e import messages_stream
from tests.procs import Stack, stack
from tests.scripted_upstream import Answer, ScriptedUpstream, sse

KEEPALIVE_S = 2.0
HOLD_S = 1.5  # the refusal comes this long after the opening's ping: three quarters of a period

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("wait_keepalive24")
    env = {
        "STREAM_KEEPALIVE_S": str(KEEPALIVE_S),
        "RETRY_AFTER_MAX_WAIT": "10",
        "BREAKER_FAILURES": "1000",
        "UPSTREAM_FIRST_BYTE_TIMEOUT": "30",
    }
    with stack(tmp, {"openai": f"{up.url}/openai/v1"}, **env) as st:
        yield st


def test_the_wait_keeps_the_period_of_the_last_keepalive(gw: Stack, up: ScriptedUpstream) -> None:
    gate = threading.Event()
    refusal = {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "code": None}}
    up.script(
        CHAT,
        Answer(
            body=[json.dumps(refusal).encode()],
            status=429,
            headers={"retry-after": str(int(KEEPALIVE_S))},
            gate=gate,
        ),
    )
    up.script(CHAT, sse(chat_answer(B_TEXT)))
    decoder = SSEDecoder()
    events = []
    pings_waiting = 0
    release: threading.Timer | None = None
    try:
        with messages_stream(gw, "wait24") as r:
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                for ev in decoder.feed(piece):
                    events.append(ev)
                    if ev.event != "ping":
                        continue
                    if release is None:  # the opening's ping: the refusal goes most of a period later
                        release = threading.Timer(HOLD_S, gate.set)
                        release.start()
                    elif (
                        gate.is_set() and len(up.seen(CHAT)) == 1
                    ):  # the refusal is out, the second request not yet sent
                        pings_waiting += 1
    finally:
        gate.set()
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert len(up.seen(CHAT)) == 2
    assert pings_waiting >= 1, seen
    row = gw.row_for("wait24")
    assert (row["status"], row["attempts"]) == (200, 2), row
