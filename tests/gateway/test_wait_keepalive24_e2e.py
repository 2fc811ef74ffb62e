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

import httpx2
import pytest

from shared.sse import SSEDecoder
from tests.gateway.test_fallback_after_keepalive_e2e import B_TEXT, CHAT, chat_answer, kinds
from tests.gateway.test_wait_keepalive_e2e import messages_stream
from tests.procs import Stack, stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse

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


ANTHROPIC = "/anthropic/v1/messages"
FALLBACK_CATALOG = """
[models."anthropic-first"]
anthropic = { model = "claude-sonnet-4-5", price = { input = 1, output = 1 } }
openai = { model = "gpt-4o-mini", price = { input = 5, output = 5 } }
"""
A_FAILS_S = (
    3.5  # the first route's error comes this long after its ping: the opening (at 2 s) was 1.5 s before
)


@pytest.fixture(scope="module")
def gw2(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("wait_keepalive24_fallback")
    catalog = tmp / "catalog.toml"
    catalog.write_text(FALLBACK_CATALOG)
    providers = {"openai": f"{up.url}/openai/v1", "anthropic": f"{up.url}/anthropic"}
    env = {
        "CATALOG_PATH": str(catalog),
        "STREAM_KEEPALIVE_S": str(KEEPALIVE_S),
        "RETRY_AFTER_MAX_WAIT": "10",
        "BREAKER_FAILURES": "1000",
        "UPSTREAM_FIRST_BYTE_TIMEOUT": "30",
    }
    with stack(tmp, providers, **env) as st:
        yield st


def test_after_a_fallback_the_wait_keeps_the_period_of_the_last_keepalive(
    gw2: Stack, up: ScriptedUpstream
) -> None:
    """s24 variant 19-ping-vG's path: the first route's silence opens the client's answer (at one period), the
    route then fails before its first token (an overload, three quarters of a period later) and the next route
    answers 429 with a Retry-After of one period. The ping due a period after the opening's comes inside that
    wait; before, the wait counted from its own start and sent none."""
    ping = b'event: ping\ndata: {"type":"ping"}\n\n'
    overloaded = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    up.script(ANTHROPIC, sse([ping, Pause(A_FAILS_S), overloaded]))
    refusal = {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "code": None}}
    up.script(CHAT, json_answer(refusal, status=429, headers={"retry-after": str(int(KEEPALIVE_S))}))
    up.script(CHAT, sse(chat_answer(B_TEXT)))
    decoder = SSEDecoder()
    events = []
    pings_waiting = 0
    headers = {"anthropic-version": "2023-06-01", "x-request-id": "wait24-fallback"}
    body = {
        "model": "anthropic-first",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx2.stream("POST", gw2.gateway_url + "/v1/messages", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            for ev in decoder.feed(piece):
                events.append(ev)
                if (
                    ev.event == "ping" and len(up.seen(CHAT)) == 1
                ):  # the refusal is out, the retry not yet sent
                    pings_waiting += 1
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert len(up.seen(ANTHROPIC)) == 1 and len(up.seen(CHAT)) == 2
    assert pings_waiting >= 1, seen
    row = gw2.row_for("wait24-fallback")
    assert (row["status"], row["provider"]) == (200, "openai"), row
