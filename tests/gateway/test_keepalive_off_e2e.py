"""``STREAM_KEEPALIVE_S=0`` turns keep-alives off (README): a stream whose first route holds its response
headers, or is silent before its first token, is a silence to the client too. Nothing is opened early (no
headers, no opening, no keep-alive before the provider's own answer), no timer fires at 0 s over and over
(``Proxy._send`` never takes ``_send_opening``'s path with 0: its keep-alive loop would write a keep-alive per
loop turn), and the answer is the provider's as it came, or as translated, whole (s20 item 7).

Real gateway and recorder processes, the scripted upstream; the route's headers are held by the test until
the upstream has the request, and for a pause after (the silence the client must not hear about).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from shared.sse import SSEDecoder
from tests.gateway.test_fallback_after_keepalive_e2e import B_TEXT, CHAT, chat_answer, chat_opening, kinds
from tests.procs import Stack, stack, wait_until
from tests.scripted_upstream import Pause, ScriptedUpstream, sse

HOLD_S = 0.5  # how long the headers are held once the request is in: many periods of a 0 s timer

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("keepalive_off")
    providers = {"openai": f"{up.url}/openai/v1"}
    with stack(tmp, providers, STREAM_KEEPALIVE_S="0", UPSTREAM_FIRST_BYTE_TIMEOUT="30") as st:
        yield st


def _read_held(gw: Stack, up: ScriptedUpstream, path: str, body: dict[str, Any], rid: str) -> list[str]:
    """Stream ``body``; the upstream holds the answer's headers until it has the request and ``HOLD_S``
    after. Returns the kinds of the events the client got."""
    gate = threading.Event()
    before = len(up.seen(CHAT))

    def release() -> None:
        wait_until(lambda: len(up.seen(CHAT)) > before, 15)
        gate.wait(HOLD_S)  # a pause, not a measurement: the silence the client must not hear about
        gate.set()

    up.script(CHAT, sse([*chat_opening(), Pause(HOLD_S), *chat_answer(B_TEXT)[1:]], gate=gate))
    releasing = threading.Thread(target=release, daemon=True)
    releasing.start()
    headers = {"anthropic-version": "2023-06-01", "x-request-id": rid}
    decoder = SSEDecoder()
    try:
        with httpx2.stream("POST", gw.gateway_url + path, json=body, headers=headers, timeout=30) as r:
            assert r.status_code == 200, r.read()
            events = [ev for piece in r.iter_bytes() for ev in decoder.feed(piece)]
    finally:
        gate.set()
        releasing.join(15)
    return kinds(events)


def test_a_passthrough_client_hears_only_the_providers_stream(gw: Stack, up: ScriptedUpstream) -> None:
    """An OpenAI chat client on gpt-4o (passthrough): held headers, then a silence after the role chunk, and
    no comment line at all: the provider's own chunks as they came."""
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    seen = _read_held(gw, up, "/v1/chat/completions", body, "ka0-chat")
    assert seen == ["role", "content", "finish", "done"], seen
    row = gw.row_for("ka0-chat")
    assert (row["status"], row["provider"], row["attempts"], row["output_tokens"]) == (200, "openai", 1, 5), (
        row
    )


def test_a_translated_client_gets_no_keepalive_of_the_gateways(gw: Stack, up: ScriptedUpstream) -> None:
    """Claude Code on gpt-4o-mini (translated): held headers, a silence before the first token, and no
    ``ping`` of the gateway's in the answer: one ``message_start`` and the one ``ping`` after it that every
    Anthropic stream has (the opening's), the text, ``message_stop``."""
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    seen = _read_held(gw, up, "/v1/messages", body, "ka0-anth")
    assert seen[:2] == ["message_start", "ping"] and seen.count("ping") == 1, seen
    assert seen.count("message_start") == 1, seen
    assert seen[-1] == "message_stop" and "error" not in seen, seen
    row = gw.row_for("ka0-anth")
    assert (row["status"], row["provider"], row["output_tokens"]) == (200, "openai", 5), row
