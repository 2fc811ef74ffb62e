"""Keep-alives while the gateway waits out a Retry-After for a stream whose answer has begun (s20 item 4).

The only route holds its response headers past ``STREAM_KEEPALIVE_S`` (the client's answer opens, pings
follow), then they say 429 with a ``Retry-After`` that fits in ``RETRY_AFTER_MAX_WAIT``: the gateway waits
it out itself and sends the request again (``serve.serve``), and that answer continues the stream. The
client hears its format's keep-alive all through the wait (``Proxy._wait``); before, the wait was a silence
(none came between the refusal and the second request).

Real gateway and recorder processes, the scripted upstream; the official SDK is not needed: the client reads
the raw stream to see where each ping falls.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2
import pytest

from shared.sse import SSEDecoder
from tests.gateway.test_fallback_after_keepalive_e2e import (
    B_TEXT,
    CHAT,
    RESPONSES,
    chat_answer,
    kinds,
    messages_body,
    responses_answer,
)
from tests.procs import Stack, stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, sse

KEEPALIVE_S = 0.3
RETRY_AFTER_S = 2  # the refusal's wait: several keep-alive periods, within RETRY_AFTER_MAX_WAIT

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("wait_keepalive")
    env = {
        "STREAM_KEEPALIVE_S": str(KEEPALIVE_S),
        "RETRY_AFTER_MAX_WAIT": "10",
        "BREAKER_FAILURES": "1000",
        "UPSTREAM_FIRST_BYTE_TIMEOUT": "30",
    }
    with stack(tmp, {"openai": f"{up.url}/openai/v1"}, **env) as st:
        yield st


def refused_then_answered(up: ScriptedUpstream) -> threading.Event:
    """The only route's first answer: a 429 with ``RETRY_AFTER_S``, its headers held until the returned gate
    is set (the test sets it once the client's answer has opened); its second: a whole chat answer."""
    gate = threading.Event()
    refusal = {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "code": None}}
    up.script(
        CHAT,
        Answer(
            body=[json.dumps(refusal).encode()],
            status=429,
            headers={"retry-after": str(RETRY_AFTER_S)},
            gate=gate,
        ),
    )
    up.script(CHAT, sse(chat_answer(B_TEXT)))
    return gate


def messages_stream(gw: Stack, request_id: str) -> AbstractContextManager[httpx2.Response]:
    """A streamed Messages request for gpt-4o-mini, read raw (where each ping falls)."""
    headers = {"anthropic-version": "2023-06-01", "x-request-id": request_id}
    body = messages_body("gpt-4o-mini")
    return httpx2.stream("POST", gw.gateway_url + "/v1/messages", json=body, headers=headers, timeout=30)


def test_the_client_hears_keepalives_while_the_gateway_waits_out_a_retry_after(
    gw: Stack, up: ScriptedUpstream
) -> None:
    gate = refused_then_answered(up)
    decoder = SSEDecoder()
    events = []
    pings_before, pings_waiting = 0, 0
    try:
        with messages_stream(gw, "wait20") as r:
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                for ev in decoder.feed(piece):
                    events.append(ev)
                    if ev.event != "ping":
                        continue
                    if not gate.is_set():
                        pings_before += 1
                        if pings_before == 2:  # a handshake: the answer has opened, let the refusal go
                            gate.set()
                    elif len(up.seen(CHAT)) == 1:  # the refusal is out, the second request not yet sent
                        pings_waiting += 1
    finally:
        gate.set()
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert len(up.seen(CHAT)) == 2
    # a 2 s wait holds six 0.3 s periods; at most one ping of the held headers can be read after the gate
    assert pings_waiting >= 3, (pings_before, pings_waiting, seen)
    row = gw.row_for("wait20")
    assert (row["status"], row["provider"], row["attempts"], row["output_tokens"]) == (200, "openai", 2, 5), (
        row
    )


def test_a_client_gone_during_the_wait_gets_no_request_sent_for_it(gw: Stack, up: ScriptedUpstream) -> None:
    """The client hangs up while the gateway waits out the Retry-After: the request ends there (499, the
    client's hang-up) and the provider is not asked again (before, the wait's end sent the request all the
    same: a model generating for nobody, its answer written to a closed connection)."""
    gate = refused_then_answered(up)
    decoder = SSEDecoder()
    pings = 0
    try:
        with messages_stream(gw, "wait20-gone") as r:
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                if any(ev.event == "ping" for ev in decoder.feed(piece)):
                    pings += 1
                    if pings == 2:  # the answer has opened: let the refusal go
                        gate.set()
                    elif gate.is_set() and len(up.seen(CHAT)) == 1:  # the refusal is out: the wait is on
                        break  # hang up (the connection is closed on leaving the block)
    finally:
        gate.set()
    row = gw.row_for("wait20-gone", timeout=30)
    assert (row["status"], row["error_type"]) == (499, "client_disconnected"), row
    assert len(up.seen(CHAT)) == 1, "the request was sent again for a client that had hung up"


def test_the_client_hears_keepalives_while_a_whole_json_answers_first_byte_is_awaited(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s22 variant 13-sniffwait-vD: a non-streaming relay holds its headers past ``STREAM_KEEPALIVE_S`` (the
    client's answer opens, pings follow), then says application/json, chunked, and sends one newline and 3 s of
    nothing before its whole answer. The client keeps hearing pings until its answer comes (``Proxy._sniffed``);
    before, none came between the headers and the answer."""
    gate = threading.Event()
    whole = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": B_TEXT}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26},
    }
    up.script(CHAT, Answer(body=[b"\n", Pause(3.0), json.dumps(whole).encode()], gate=gate))
    decoder = SSEDecoder()
    events = []
    pings_before, pings_after = 0, 0
    try:
        with messages_stream(gw, "sniff22") as r:
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                for ev in decoder.feed(piece):
                    events.append(ev)
                    if ev.event != "ping":
                        continue
                    if not gate.is_set():
                        pings_before += 1
                        if pings_before == 2:  # a handshake: the answer has opened, let the headers go
                            gate.set()
                    else:
                        pings_after += 1
    finally:
        gate.set()
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert B_TEXT in "".join(e.data for e in events)
    # 3 s of silence hold ten 0.3 s periods; at most one ping of the held headers can be read after the gate
    assert pings_after >= 3, (pings_before, pings_after, seen)
    row = gw.row_for("sniff22")
    assert (row["status"], row["output_tokens"]) == (200, 5), row


# (client path, request body, upstream path the only route is asked on, its answer, the client's last event)
AT_ONCE_CLIENTS = {
    "messages": ("/v1/messages", messages_body("gpt-4o-mini"), CHAT, chat_answer, "message_stop"),
    "chat": (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        CHAT,
        chat_answer,
        "done",
    ),
    "responses": (
        "/v1/responses",
        {"model": "gpt-4o-mini", "stream": True, "input": "hi"},
        RESPONSES,
        responses_answer,
        "response.completed",
    ),
}


@pytest.mark.parametrize("client", sorted(AT_ONCE_CLIENTS))
def test_a_stream_refused_at_once_hears_keepalives_while_the_gateway_waits(
    gw: Stack, up: ScriptedUpstream, client: str
) -> None:
    """s23 variants 19-x1/x2/x6: the only route refuses at once (429, ``Retry-After`` 2 s, within
    ``RETRY_AFTER_MAX_WAIT``), before the client's answer opened. The client's silence began at its request:
    its answer opens once that silence reaches ``STREAM_KEEPALIVE_S``, inside the gateway's own wait, and
    keep-alives follow until the second answer continues it. Before, the client heard nothing for the whole
    wait (and the next send's keep-alive period besides): no keep-alive came before the second request."""
    path, body, upstream_path, answer, last = AT_ONCE_CLIENTS[client]
    refusal = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    up.script(
        upstream_path,
        Answer(body=[json.dumps(refusal).encode()], status=429, headers={"retry-after": str(RETRY_AFTER_S)}),
    )
    up.script(upstream_path, sse(answer(B_TEXT)))
    decoder = SSEDecoder()
    events = []
    waiting = 0  # keep-alives read while only the refused request had been sent
    rid = f"wait23-{client}"
    headers = {"anthropic-version": "2023-06-01", "x-request-id": rid}
    with httpx2.stream("POST", gw.gateway_url + path, json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            for ev in decoder.feed(piece):
                events.append(ev)
                if (ev.event == "ping" or ev.comment) and len(up.seen(upstream_path)) == 1:
                    waiting += 1
    seen = kinds(events)
    assert seen[-1] == last and "error" not in seen and "response.failed" not in seen, seen
    assert B_TEXT in "".join(e.data for e in events)
    # a 2 s wait holds six 0.3 s periods; the answer opens after the first
    assert waiting >= 3, (waiting, seen)
    row = gw.row_for(rid)
    assert (row["status"], row["attempts"], row["output_tokens"]) == (200, 2, 5), row


def test_a_whole_json_answer_slow_to_its_first_byte_opens_the_clients_stream(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s23 variant 13-sniffopen: a non-streaming relay sends its headers at once (application/json, chunked),
    then one newline and 3 s of nothing before its whole answer. The client's answer had not begun (the headers
    came in time), so nothing went out at all: the client's idle watchdog saw 3 s of silence (up to the whole
    first-byte bound). Now the stream opens on that silence, as on slow headers, and pings follow until the
    answer (``Proxy._sniffed``, ``Proxy._open``)."""
    whole = {
        "id": "c2",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": B_TEXT}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26},
    }
    up.script(CHAT, Answer(body=[b"\n", Pause(3.0), json.dumps(whole).encode()]))
    decoder = SSEDecoder()
    events = []
    with messages_stream(gw, "sniff23") as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            events.extend(decoder.feed(piece))
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert B_TEXT in "".join(e.data for e in events)
    # 3 s of silence hold ten 0.3 s periods: the opening's ping and at least three more before the text
    first_text = next(i for i, e in enumerate(events) if e.event == "content_block_delta")
    assert [e.event for e in events[:first_text]].count("ping") >= 4, seen
    row = gw.row_for("sniff23")
    assert (row["status"], row["output_tokens"]) == (200, 5), row
