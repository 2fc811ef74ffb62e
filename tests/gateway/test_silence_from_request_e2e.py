"""The client's silence is counted from its request, not from each upstream send or answer (s23 variants 19-x7,
19-x8).

Claude Code streams a model served by two routes. The first route's status line comes within
``STREAM_KEEPALIVE_S`` and says 500 (retryable); the second route's headers are held. Before, the second send
started its own keep-alive timer, so the client heard nothing for the first route's time plus a whole
keep-alive period (19-x7: first byte at 1.9 s with a 1 s period); Claude Code's gateway protocol asks for pings
in silent gaps, and docs/catalog.md has a silence before the first token start the client's answer after
``STREAM_KEEPALIVE_S``. Now the answer opens ``STREAM_KEEPALIVE_S`` after the request (``Proxy._send_opening``).

Real gateway and recorder processes, the scripted upstream; the client reads the raw stream (where each ping
falls). The margins are 1.8 s either way (review23: sub-second margins on a loaded 2-CPU machine): the first route
fails at 3.6 s, the second's headers come at 5.8 s; the answer opens at 4.0 s counted from the request, at 7.6 s
counted from the second send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx2
import pytest

from shared.sse import SSEDecoder, SSEEvent
from tests.gateway.test_fallback_after_keepalive_e2e import (
    ANTHROPIC,
    B_TEXT,
    BOTH,
    CATALOG,
    CHAT,
    chat_answer,
    fallback_env,
    kinds,
    messages_body,
)
from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, sse

KEEPALIVE_S = 4.0
A_FAILS_AT_S = 3.6  # within one keep-alive period of the request
B_HEADERS_AT_S = 5.8  # after one keep-alive period of the request, before one of the second send

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(routes_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with routes_stack("silence_from_request", CATALOG, BOTH, **fallback_env(KEEPALIVE_S)) as st:
        yield st


def _read_on_timers(
    gw: Stack, model: str, rid: str, timers: list[tuple[float, threading.Event]], held: threading.Event
) -> tuple[list[SSEEvent], bool]:
    """Stream a Claude Code turn for ``model``, each ``(seconds, event)`` of ``timers`` set that long after the
    request is sent (its headers come only once the answer opens): every event the client got, and whether
    the answer opened (the response's headers came) before ``held`` was set. Every event is set at the end."""
    started = [threading.Timer(at, event.set) for at, event in timers]
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    headers = {"anthropic-version": "2023-06-01", "x-request-id": rid}
    try:
        for t in started:
            t.start()
        with httpx2.stream(
            "POST", gw.gateway_url + "/v1/messages", json=messages_body(model), headers=headers, timeout=30
        ) as r:
            opened_before = not held.is_set()
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                events.extend(decoder.feed(piece))
    finally:
        for t in started:
            t.cancel()
        for _, event in timers:
            event.set()
    return events, opened_before


def _assert_b_text_whole(events: list[SSEEvent]) -> None:
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert B_TEXT in "".join(e.data for e in events)


def test_a_fallback_s_held_headers_do_not_restart_the_client_s_silence(
    gw: Stack, up: ScriptedUpstream
) -> None:
    a_gate, b_gate = threading.Event(), threading.Event()
    overloaded = {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
    up.script(ANTHROPIC, Answer(body=[json.dumps(overloaded).encode()], status=500, gate=a_gate))
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=b_gate))
    timers = [(A_FAILS_AT_S, a_gate), (B_HEADERS_AT_S, b_gate)]
    events, opened_while_held = _read_on_timers(gw, "anthropic-first", "silence23", timers, b_gate)
    _assert_b_text_whole(events)
    # the answer opened while the second route's headers were still held (before, only once they came)
    assert opened_while_held, kinds(events)
    row = gw.row_for("silence23")
    assert (row["status"], row["provider"], row["attempts"]) == (200, "openai", 2), row


def test_late_headers_do_not_restart_the_client_s_silence(gw: Stack, up: ScriptedUpstream) -> None:
    """s23 variant 19-x8: the only route's headers come after 3.6 s (within a period of the request), then 6 s of
    silence before its first chunk. The answer opens a period after the request (4.0 s: ``until_committed``'s
    ``quiet_since``); before, the silence after the headers started a period of its own (7.6 s here)."""
    gate, mark = threading.Event(), threading.Event()
    up.script(CHAT, sse([Pause(6.0), *chat_answer(B_TEXT)], gate=gate))
    timers = [(A_FAILS_AT_S, gate), (B_HEADERS_AT_S, mark)]
    # opened before ``mark``: a period after the request, not after the headers
    events, opened_early = _read_on_timers(gw, "openai-first", "silence23-late", timers, mark)
    _assert_b_text_whole(events)
    assert opened_early, kinds(events)
    row = gw.row_for("silence23-late")
    assert (row["status"], row["provider"], row["attempts"]) == (200, "openai", 1), row
