"""Fallback after a keep-alive began the client's stream (bugcase 19, variant 19-a).

Route A is silent before its first token for longer than ``STREAM_KEEPALIVE_S``, so the gateway starts the
client's answer (headers, the format's opening: Anthropic's ``message_start``, a chat role chunk, Responses'
``response.created``/``response.in_progress``; keep-alives), then A fails before any token (a first-byte
timeout, an in-stream 5xx error, a broken connection, an empty stream). Nothing but the opening and
keep-alives reached the client, so the request falls back: route B's answer continues the same stream, and the
official SDK assembles B's answer from a stream with one opening. The ledger records B, two attempts and A's
failure. Before (round 14): the client got an in-stream error and B was never asked.

Real gateway and recorder processes, a scripted upstream for both providers, the official ``anthropic`` and
``openai`` SDKs (their streams read as they arrive, through a transport that also keeps the bytes).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from shared.sse import SSEDecoder, SSEEvent
from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse

KEEPALIVE_S = 0.3
FIRST_BYTE_S = 2.0
SILENCE_S = 1.0  # A's silence before it fails: past a few keep-alive periods
ANTHROPIC = "/anthropic/v1/messages"
CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
# Two names, each served by both providers, each provider first for one of them (by price, ``cheapest``; a
# price belongs to the provider's model name, so each name has its own)
CATALOG = """
[models."anthropic-first"]
anthropic = { model = "claude-sonnet-4-5", price = { input = 1, output = 1 } }
openai = { model = "gpt-4o-mini", price = { input = 5, output = 5 } }

[models."openai-first"]
anthropic = { model = "claude-haiku-4-5", price = { input = 5, output = 5 } }
openai = { model = "gpt-4o", price = { input = 1, output = 1 } }

# an xAI model behind a relay that passes xAI's usage on (``Provider.usage_rule``; s19 variants 29-a/b/d)
[models."grok-relayed"]
openai = { model = "grok-3-mini", price = { input = 1, output = 1 } }
"""
B_TEXT = "Hello from B."

pytestmark = pytest.mark.usefixtures("fresh_up")


BOTH = {"openai": "/openai/v1", "anthropic": "/anthropic"}  # each provider's path on the scripted upstream


def fallback_env(keepalive_s: float) -> dict[str, str]:
    """This module's gateway settings (and ``test_silence_from_request_e2e``'s): keep-alives every
    ``keepalive_s`` seconds, no breaker trips, no wait on a Retry-After."""
    return {"STREAM_KEEPALIVE_S": str(keepalive_s), "BREAKER_FAILURES": "1000", "RETRY_AFTER_MAX_WAIT": "0"}


@pytest.fixture(scope="module")
def gw(routes_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    env = fallback_env(KEEPALIVE_S)
    with routes_stack(
        "fallback_keepalive", CATALOG, BOTH, UPSTREAM_FIRST_BYTE_TIMEOUT=str(FIRST_BYTE_S), **env
    ) as st:
        yield st


# ---- the upstreams' frames ------------------------------------------------------------------------------


def named(*objs: dict[str, Any]) -> list[bytes]:
    return [f"event: {o['type']}\ndata: {json.dumps(o)}\n\n".encode() for o in objs]


def unnamed(*objs: Any) -> list[bytes]:
    return [b"data: " + (o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n\n" for o in objs]


def anthropic_opening() -> list[bytes]:
    message = {
        "id": "msg_A",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 1},
    }
    return named({"type": "message_start", "message": message}, {"type": "ping"})


def anthropic_answer(text: str) -> list[bytes]:
    return anthropic_opening() + named(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"input_tokens": 21, "output_tokens": 5},
        },
        {"type": "message_stop"},
    )


def chat(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> Any:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-B",
        "object": "chat.completion.chunk",
        "created": 1775000000,
        "model": "gpt-4o-mini",
        "choices": choices,
        "usage": usage,
    }


def chat_opening() -> list[bytes]:
    return unnamed(chat({"role": "assistant", "content": ""}))


def chat_answer(text: str) -> list[bytes]:
    return chat_opening() + unnamed(
        chat({"content": text}),
        chat({}, "stop"),
        chat(None, usage={"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}),
        b"[DONE]",
    )


def responses_object(status: str, output: list[Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": "resp_B",
        "object": "response",
        "created_at": 1775000000,
        "status": status,
        "model": "gpt-4o-mini",
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def responses_opening() -> list[bytes]:
    started = responses_object("in_progress", [], None)
    return named(
        {"type": "response.created", "sequence_number": 0, "response": started},
        {"type": "response.in_progress", "sequence_number": 1, "response": started},
    )


def responses_answer(text: str) -> list[bytes]:
    item = {"id": "msg_B", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    done_item = {**item, "status": "completed", "content": [{**part, "text": text}]}
    usage = {
        "input_tokens": 21,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 26,
    }
    ids = {"item_id": "msg_B", "output_index": 0, "content_index": 0}
    return responses_opening() + named(
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": item},
        {"type": "response.content_part.added", "sequence_number": 3, **ids, "part": part},
        {"type": "response.output_text.delta", "sequence_number": 4, **ids, "delta": text},
        {"type": "response.output_text.done", "sequence_number": 5, **ids, "text": text},
        {"type": "response.content_part.done", "sequence_number": 6, **ids, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "sequence_number": 7, "output_index": 0, "item": done_item},
        {
            "type": "response.completed",
            "sequence_number": 8,
            "response": responses_object("completed", [done_item], usage),
        },
    )


def failing(opening: list[bytes], how: str, error: list[bytes] | None = None) -> Answer:
    """A's answer: its opening, a silence past a few keep-alives, then the failure ``how``."""
    if how == "timeout":  # silent until the first-byte timeout (nothing more is ever sent)
        return sse([*opening, Pause(FIRST_BYTE_S * 3)])
    if how == "abort":  # the connection breaks
        return sse([*opening, Pause(SILENCE_S)], abort=True)
    if how == "empty":  # the body ends with no token
        return sse([*opening, Pause(SILENCE_S)])
    assert how == "error" and error is not None  # an in-stream 5xx error
    return sse([*opening, Pause(SILENCE_S), *error])


ANTHROPIC_OVERLOADED = named(
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
)
CHAT_SERVER_ERROR = unnamed({"error": {"message": "The server had an error", "type": "server_error"}})


# ---- the client's side ----------------------------------------------------------------------------------


class Keeping(httpx2.HTTPTransport):
    """A transport that keeps the bytes of every response body its client reads, as they are read."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytearray] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        kept = bytearray()
        self.bodies.append(kept)
        stream = response.stream

        class Tee(httpx2.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                assert isinstance(stream, httpx2.SyncByteStream)
                for piece in stream:
                    kept.extend(piece)
                    yield piece

            def close(self) -> None:
                assert isinstance(stream, httpx2.SyncByteStream)
                stream.close()

        response.stream = Tee()
        return response

    def events(self) -> list[SSEEvent]:
        assert len(self.bodies) == 1
        return SSEDecoder().feed(bytes(self.bodies[0]))


def anthropic_client(gw: Stack) -> tuple[anthropic.Anthropic, Keeping]:
    """The anthropic SDK on the gateway, no retries of its own, its bytes kept (``Keeping``)."""
    transport = Keeping()
    client = anthropic.Anthropic(
        base_url=gw.gateway_url,
        api_key="sk-client",
        max_retries=0,
        http_client=httpx2.Client(transport=transport, timeout=30),
    )
    return client, transport


def openai_client(gw: Stack) -> tuple[openai.OpenAI, Keeping]:
    """The openai SDK on the gateway, no retries of its own, its bytes kept (``Keeping``)."""
    transport = Keeping()
    client = openai.OpenAI(
        base_url=gw.gateway_url + "/v1",
        api_key="sk-client",
        max_retries=0,
        http_client=httpx2.Client(transport=transport, timeout=30),
    )
    return client, transport


def ask_anthropic(gw: Stack, model: str, rid: str) -> tuple[str, list[SSEEvent]]:
    client, transport = anthropic_client(gw)
    with client.messages.stream(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": rid},
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "end_turn"
    text = "".join(b.text for b in message.content if b.type == "text")
    return text, transport.events()


def ask_anthropic_raising(gw: Stack, model: str, rid: str, match: str) -> Keeping:
    """Stream a turn through the anthropic SDK that must end in an in-stream error matching ``match``
    (``anthropic.APIStatusError``); returns the transport that kept the client's bytes."""
    client, transport = anthropic_client(gw)
    with pytest.raises(anthropic.APIStatusError, match=match):
        with client.messages.stream(
            model=model,
            max_tokens=256,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": rid},
        ) as stream:
            stream.get_final_message()
    return transport


def ask_chat(gw: Stack, model: str, rid: str) -> tuple[str, list[SSEEvent]]:
    client, transport = openai_client(gw)
    with client.chat.completions.stream(
        model=model, messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid}
    ) as stream:
        completion = stream.get_final_completion()
    message = completion.choices[0].message
    assert message.role == "assistant" and completion.choices[0].finish_reason == "stop"
    return message.content or "", transport.events()


def ask_responses(gw: Stack, model: str, rid: str) -> tuple[str, list[SSEEvent]]:
    client, transport = openai_client(gw)
    with client.responses.stream(model=model, input="hi", extra_headers={"x-request-id": rid}) as stream:
        response = stream.get_final_response()
    assert response.status == "completed"
    return response.output_text, transport.events()


def messages_body(model: str) -> dict[str, Any]:
    """A streamed Anthropic Messages request for ``model``, as Claude Code's smallest turn."""
    return {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }


def kinds(events: list[SSEEvent]) -> list[str]:
    """Each event's kind: ``:`` for a comment, else its data's ``type`` (Anthropic, Responses) or, for a chat
    chunk, ``role``/``content``/``finish``/``usage``/``done``."""
    out = []
    for ev in events:
        if ev.comment:
            out.append(":")
        elif ev.data == "[DONE]":
            out.append("done")
        else:
            obj = json.loads(ev.data)
            if "type" in obj:
                out.append(obj["type"])
            elif obj.get("choices"):
                delta = obj["choices"][0]["delta"]
                out.append(
                    "role"
                    if "role" in delta
                    else "finish"
                    if obj["choices"][0]["finish_reason"]
                    else "content"
                )
            else:
                out.append("usage")
    return out


def assert_fell_back(gw: Stack, rid: str, a: str, b: str, a_error: str) -> None:
    row = gw.row_for(rid)
    assert (row["status"], row["error_type"], row["provider"]) == (200, None, b), row
    assert row["attempts"] == 2, row
    failed = row["failed_attempts"]
    failed = json.loads(failed) if isinstance(failed, str) else failed
    assert [f["provider"] for f in failed] == [a], failed
    assert failed[0]["error_type"] == a_error, failed
    assert (row["input_tokens"], row["output_tokens"]) == (21, 5), row


def _hang_up_on_a_ping(
    gw: Stack, model: str, rid: str, gate: threading.Event, ready: Callable[[], bool]
) -> dict[str, Any]:
    """Stream a Claude Code turn for ``model`` and hang up at the first ping read once ``ready()`` holds
    (the response is closed on leaving its block). The request's ledger row, read before ``gate`` (the held
    upstream answer) is let go, must say the client hung up (499 ``client_disconnected``); it is returned."""
    headers = {"anthropic-version": "2023-06-01", "x-request-id": rid}
    decoder = SSEDecoder()
    try:
        with httpx2.stream(
            "POST", gw.gateway_url + "/v1/messages", json=messages_body(model), headers=headers, timeout=30
        ) as r:
            for piece in r.iter_bytes():
                if any(ev.event == "ping" for ev in decoder.feed(piece)) and ready():
                    break
        row: dict[str, Any] = gw.row_for(rid)
    finally:
        gate.set()
    assert (row["status"], row["error_type"], row["client_disconnected"]) == (499, "client_disconnected", 1)
    return row


# ---- the cases ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("how", "a_error"), [("error", "overloaded_error"), ("timeout", "broken_stream")])
def test_anthropic_client_passthrough_a_then_translated_b(
    gw: Stack, up: ScriptedUpstream, how: str, a_error: str
) -> None:
    """A: Anthropic, passed through (its own ``message_start`` and ``ping`` reach the client, then silence);
    B: OpenAI chat, translated: the client's stream goes on without B's ``message_start``."""
    up.script(ANTHROPIC, failing(anthropic_opening(), how, ANTHROPIC_OVERLOADED))
    up.script(CHAT, sse(chat_answer(B_TEXT)))
    rid = f"fb19a-anth-pass-{how}"
    text, events = ask_anthropic(gw, "anthropic-first", rid)
    assert text == B_TEXT
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[0] == "message_start", seen
    first_block = seen.index("content_block_start")
    assert seen[:first_block].count("ping") >= 2, seen  # the answer began on the silence
    assert seen.count("message_stop") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    starts = [json.loads(ev.data)["index"] for ev in events if ev.event == "content_block_start"]
    assert starts == [0], starts
    assert_fell_back(gw, rid, "anthropic", "openai", a_error)


@pytest.mark.parametrize(("how", "a_error"), [("abort", "broken_stream"), ("empty", "empty_stream")])
def test_anthropic_client_translated_a_then_passthrough_b(
    gw: Stack, up: ScriptedUpstream, how: str, a_error: str
) -> None:
    """A: OpenAI chat, translated (the gateway's own ``message_start`` and pings, then A breaks before a
    token); B: Anthropic, passed through: its own ``message_start`` is dropped."""
    up.script(CHAT, failing(chat_opening(), how))
    up.script(ANTHROPIC, sse(anthropic_answer(B_TEXT)))
    rid = f"fb19a-anth-xlat-{how}"
    text, events = ask_anthropic(gw, "openai-first", rid)
    assert text == B_TEXT
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[0] == "message_start", seen
    assert seen[: seen.index("content_block_start")].count("ping") >= 2, seen
    assert seen.count("message_stop") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert_fell_back(gw, rid, "openai", "anthropic", a_error)


@pytest.mark.parametrize(
    ("model", "a", "b", "how", "a_error"),
    [
        ("openai-first", "openai", "anthropic", "error", "api_error"),
        ("anthropic-first", "anthropic", "openai", "abort", "broken_stream"),
    ],
)
def test_chat_client(
    gw: Stack, up: ScriptedUpstream, model: str, a: str, b: str, how: str, a_error: str
) -> None:
    """An OpenAI chat client. A passed through (its role chunk reaches the client, then silence) with B
    translated, and A translated (only keep-alive comments reach the client) with B passed through: either
    way the client gets one role chunk, B's text and one ``[DONE]``."""
    if a == "openai":
        up.script(CHAT, failing(chat_opening(), how, CHAT_SERVER_ERROR))
        up.script(ANTHROPIC, sse(anthropic_answer(B_TEXT)))
    else:
        up.script(ANTHROPIC, failing(anthropic_opening(), how, ANTHROPIC_OVERLOADED))
        up.script(CHAT, sse(chat_answer(B_TEXT)))
    rid = f"fb19a-chat-{a}-{how}"
    text, events = ask_chat(gw, model, rid)
    assert text == B_TEXT
    seen = kinds(events)
    assert seen.count("role") == 1, seen
    assert seen[: seen.index("content")].count(":") >= 2, seen  # keep-alives before the first token
    assert seen.count("done") == 1 and seen[-1] == "done", seen
    assert_fell_back(gw, rid, a, b, a_error)


@pytest.mark.parametrize(
    ("model", "a", "b", "how", "a_error"),
    [
        ("openai-first", "openai", "anthropic", "timeout", "broken_stream"),
        ("anthropic-first", "anthropic", "openai", "empty", "empty_stream"),
    ],
)
def test_responses_client(
    gw: Stack, up: ScriptedUpstream, model: str, a: str, b: str, how: str, a_error: str
) -> None:
    """A Responses client. A passed through (``response.created`` and ``response.in_progress`` reach the
    client, then silence) with B translated: B's events go on from sequence number 2; and A translated
    (keep-alive comments only) with B passed through."""
    if a == "openai":
        up.script(RESPONSES, failing(responses_opening(), how))
        up.script(ANTHROPIC, sse(anthropic_answer(B_TEXT)))
    else:
        up.script(ANTHROPIC, failing(anthropic_opening(), how, ANTHROPIC_OVERLOADED))
        up.script(RESPONSES, sse(responses_answer(B_TEXT)))
    rid = f"fb19a-resp-{a}-{how}"
    text, events = ask_responses(gw, model, rid)
    assert text == B_TEXT
    seen = kinds(events)
    assert seen.count("response.created") == 1 and seen.count("response.in_progress") == 1, seen
    # keep-alives before the first token: comments, or (after ``response.created``, from the gateway's encoder)
    # numbered ``keepalive`` events, which Codex's idle timer counts (session 26)
    before = seen[: seen.index("response.output_item.added")]
    assert before.count(":") + before.count("keepalive") >= 2, seen
    numbers = [json.loads(ev.data)["sequence_number"] for ev in events if not ev.comment]
    assert numbers == list(range(len(numbers))), numbers  # one after another, whichever route numbered them
    assert seen.count("response.completed") == 1 and seen[-1] == "response.completed", seen
    numbers = [json.loads(ev.data)["sequence_number"] for ev in events if not ev.comment]
    assert numbers == list(range(len(numbers))), numbers
    assert_fell_back(gw, rid, a, b, a_error)


def test_a_refusal_of_the_request_after_the_answer_began_does_not_fall_back(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """A 400 told in the stream (the request's own fault) after the answer began on a silence: the client
    gets it in the stream, as before; B is not asked."""
    refusal = named(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}
    )
    up.script(ANTHROPIC, failing(anthropic_opening(), "error", refusal))
    before = len(up.seen(CHAT))
    rid = "fb19a-anth-400"
    ask_anthropic_raising(gw, "anthropic-first", rid, "prompt is too long")
    assert len(up.seen(CHAT)) == before
    row = gw.row_for(rid)
    assert (row["status"], row["provider"], row["attempts"]) == (400, "anthropic", 1), row


def test_when_every_route_fails_after_the_answer_began_the_last_failure_ends_the_stream(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """A and B both fail before a token, after the answer began on A's silence (B at once, with an error in
    its stream: none of B's bytes were written): the stream ends with one error event (B's failure), after
    one ``message_start``; the ledger records both failures."""
    up.script(ANTHROPIC, failing(anthropic_opening(), "error", ANTHROPIC_OVERLOADED))
    up.script(CHAT, sse([*chat_opening(), *CHAT_SERVER_ERROR]))
    rid = "fb19a-anth-both"
    client, transport = anthropic_client(gw)
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(
            model="anthropic-first",
            max_tokens=256,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": rid},
        ) as stream:
            stream.get_final_message()
    events = transport.events()
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen.count("error") == 1 and seen[-1] == "error", seen
    assert "The server had an error" in events[-1].data
    row = gw.row_for(rid)
    assert (row["status"], row["provider"], row["attempts"]) == (500, "openai", 2), row
    failed = row["failed_attempts"]
    failed = json.loads(failed) if isinstance(failed, str) else failed
    assert [f["provider"] for f in failed] == ["anthropic", "openai"], failed


def test_a_block_already_begun_keeps_the_in_stream_error(gw: Stack, up: ScriptedUpstream) -> None:
    """A passed through sent more than its opening before the silence (a text block's start): the client has
    a block of A's answer, so A's failure is told in the stream, as before; B is not asked."""
    block = named({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    up.script(ANTHROPIC, failing([*anthropic_opening(), *block], "error", ANTHROPIC_OVERLOADED))
    before = len(up.seen(CHAT))
    rid = "fb19a-anth-block"
    transport = ask_anthropic_raising(gw, "anthropic-first", rid, "Overloaded")
    assert len(up.seen(CHAT)) == before
    seen = kinds(transport.events())
    assert seen.count("content_block_start") == 1 and seen[-1] == "error", seen
    row = gw.row_for(rid)
    assert (row["status"], row["provider"], row["attempts"]) == (529, "anthropic", 1), row


def test_keepalives_go_on_while_the_next_route_has_not_answered(gw: Stack, up: ScriptedUpstream) -> None:
    """B is slow to send its headers (held by the test): the client, whose answer A's silence began, still
    gets keep-alives meanwhile. A handshake, not a clock: B's headers are let go only once the client has
    read three pings after B's request reached the upstream (A's pings all went out before A failed, and the
    client reads as they come: at most one of them can still be on its way). Without them, B's headers wait
    until the upstream gives up (60 s) and the gateway's first-byte timeout ends B's attempt first."""
    gate = threading.Event()
    up.script(ANTHROPIC, failing(anthropic_opening(), "error", ANTHROPIC_OVERLOADED))
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=gate))
    before = len(up.seen(CHAT))
    body = messages_body("anthropic-first")
    headers = {"anthropic-version": "2023-06-01", "x-request-id": "fb19a-slow-b"}
    pings_after = 0
    events: list[SSEEvent] = []
    decoder = SSEDecoder()
    try:
        with httpx2.stream(
            "POST", gw.gateway_url + "/v1/messages", json=body, headers=headers, timeout=30
        ) as r:
            for piece in r.iter_bytes():
                for ev in decoder.feed(piece):
                    events.append(ev)
                    if ev.event == "ping" and len(up.seen(CHAT)) > before:
                        pings_after += 1
                        if pings_after == 3:
                            gate.set()
    finally:
        gate.set()
    seen = kinds(events)
    assert pings_after >= 3, seen
    assert seen.count("message_start") == 1 and seen[-1] == "message_stop" and "error" not in seen, seen
    assert B_TEXT in "".join(ev.data for ev in events)
    assert_fell_back(gw, "fb19a-slow-b", "anthropic", "openai", "overloaded_error")


def test_a_next_route_refusing_with_an_http_error_is_the_failure_told(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """A fails before a token after the answer began on its silence; B refuses the request with an HTTP 400
    (its context window: the request's own fault, which Claude Code compacts on): the stream ends with B's
    refusal, the last failure (as the same request gets without the silence), not A's overload; the ledger
    records B's 400. Before: A's ``overloaded_error`` ended the stream and the ledger said 529."""
    up.script(ANTHROPIC, failing(anthropic_opening(), "error", ANTHROPIC_OVERLOADED))
    refusal = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 200000 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    up.script(CHAT, json_answer(refusal, status=400))
    rid = "fb19a-anth-b-400"
    transport = ask_anthropic_raising(gw, "anthropic-first", rid, "prompt is too long")
    events = transport.events()
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen.count("error") == 1 and seen[-1] == "error", seen
    assert json.loads(events[-1].data)["error"]["type"] == "invalid_request_error", events[-1].data
    row = gw.row_for(rid)
    assert (row["status"], row["provider"], row["attempts"]) == (400, "openai", 2), row


@pytest.mark.parametrize(
    ("model", "a", "b_answer"),
    [
        # B translated, an error event in its stream at once (``_ending``, not kept)
        ("openai-first", "openai", "instream"),
        # B refuses with an HTTP error (``_end_opened``, the last failure)
        ("openai-first", "openai", "http"),
        # B passed through, broken before a token (the passthrough relay's ``fail``)
        ("anthropic-first", "anthropic", "abort"),
    ],
)
def test_a_responses_stream_every_route_failed_ends_as_the_opening_began_it(
    gw: Stack, up: ScriptedUpstream, model: str, a: str, b_answer: str
) -> None:
    """A Responses client whose answer A's silence began (``response.created``, ``response.in_progress``),
    then A and B both fail before a token: the ``response.failed`` that ends the stream goes on from the
    opening, its next sequence number and its response id (the SDK holds lifecycle events to it; Codex reads
    the failure from it). Before: sequence number 0 again and a fresh response id."""
    if a == "openai":
        up.script(RESPONSES, failing(responses_opening(), "timeout"))
        if b_answer == "instream":
            up.script(ANTHROPIC, sse([*anthropic_opening()[:1], *ANTHROPIC_OVERLOADED]))
        else:
            overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            up.script(ANTHROPIC, json_answer(overloaded, status=529))
    else:
        up.script(ANTHROPIC, failing(anthropic_opening(), "error", ANTHROPIC_OVERLOADED))
        up.script(RESPONSES, sse(responses_opening()[:1], abort=True))
    rid = f"fb19a-resp-all-{a}-{b_answer}"
    client, transport = openai_client(gw)
    with pytest.raises(openai.APIError):
        with client.responses.stream(model=model, input="hi", extra_headers={"x-request-id": rid}) as stream:
            stream.get_final_response()
    events = [json.loads(ev.data) for ev in transport.events() if not ev.comment]
    lifecycle = [ev for ev in events if ev["type"] != "keepalive"]  # (the encoder's numbered keep-alives)
    assert [ev["type"] for ev in lifecycle] == ["response.created", "response.in_progress", "response.failed"]
    assert [ev["sequence_number"] for ev in events] == list(range(len(events))), events
    assert lifecycle[2]["response"]["id"] == lifecycle[0]["response"]["id"], events
    row = gw.row_for(rid)
    assert (row["provider"], row["attempts"]) == ("openai" if a == "anthropic" else "anthropic", 2), row


def test_a_passed_through_next_route_gives_the_client_its_own_input_counts(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """A (chat, translated) began the Anthropic client's answer with the gateway's ``message_start`` (no
    input counted yet) and broke; B (Anthropic, passed through) says its input counts in its own
    ``message_start``, which is dropped, and its ``message_delta`` says only the output (as Anthropic's
    did, and relays do): the ``message_delta`` the client gets carries B's input counts, so the SDK's final
    usage is B's (Claude Code's context accounting reads it), as the ledger's is. Before: 0 input tokens."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_B",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 33, "cache_read_input_tokens": 7, "output_tokens": 1},
        },
    }
    answer = named(
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": B_TEXT}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    )
    up.script(CHAT, failing(chat_opening(), "abort"))
    up.script(ANTHROPIC, sse(answer))
    rid = "fb19a-anth-b-usage"
    client, transport = anthropic_client(gw)
    with client.messages.stream(
        model="openai-first",
        max_tokens=256,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": rid},
    ) as stream:
        message = stream.get_final_message()
    assert "".join(b.text for b in message.content if b.type == "text") == B_TEXT
    assert kinds(transport.events()).count("message_start") == 1
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (33, 7, 5), usage
    row = gw.row_for(rid)
    assert (row["provider"], row["input_tokens"], row["cache_read_tokens"]) == ("anthropic", 33, 7), row


def test_a_client_hanging_up_while_the_next_route_is_awaited_ends_the_request(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """A failed after the client's answer began; B's headers are held (never let go while the client is
    there). The client reads one ping after B's request reached the upstream, then hangs up: the next
    keep-alive finds it gone, B's request is cancelled and the request ends as the client's hang-up (499
    ``client_disconnected``, B the attempt under way), at once. Before: the gateway went on waiting for B
    until its first-byte timeout and recorded B's timeout (a 5xx) against B, for a client long gone."""
    gate = threading.Event()
    up.script(ANTHROPIC, failing(anthropic_opening(), "error", ANTHROPIC_OVERLOADED))
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=gate))
    before = len(up.seen(CHAT))
    row = _hang_up_on_a_ping(gw, "anthropic-first", "fb19a-gone-b", gate, lambda: len(up.seen(CHAT)) > before)
    assert (row["provider"], row["attempts"]) == ("openai", 2), row


# ---- the first route's headers are slow (s19 variants 19-r..19-u) -----------------------------------------


def _read_releasing(
    gw: Stack, path: str, body: dict[str, Any], rid: str, gate: threading.Event, keepalive: str
) -> list[SSEEvent]:
    """Stream ``body`` to the gateway while the only route's headers are held (``gate``); let them go once
    the client has read two keep-alives (``keepalive``: "ping" or ":" for a comment) — a handshake, not a
    clock. Returns every event the client got. Before the fix the client got nothing while the headers were
    awaited: the gate was never let go here, and the gateway's first-byte timeout ended the request."""
    headers = {"anthropic-version": "2023-06-01", "x-request-id": rid}
    events: list[SSEEvent] = []
    decoder = SSEDecoder()
    seen = 0
    try:
        with httpx2.stream("POST", gw.gateway_url + path, json=body, headers=headers, timeout=30) as r:
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                for ev in decoder.feed(piece):
                    events.append(ev)
                    # (":": a comment, or a Responses ``keepalive`` event: what a translated Responses client
                    # gets once its opening is out, s27)
                    if (
                        (ev.event == "ping")
                        if keepalive == "ping"
                        else (ev.comment or ev.event == "keepalive")
                    ):
                        seen += 1
                        if seen == 2:
                            gate.set()
    finally:
        gate.set()
    assert seen >= 2, kinds(events)
    return events


def test_the_client_hears_keepalives_while_the_first_route_holds_its_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Claude Code on gpt-4o-mini (translated): the provider holds its status line (an Ollama server loading a
    cold model, a relay retrying a rate limit inside the request; s19 variant 19-r). A silence before the
    headers is a silence to the client all the same: its answer starts (``message_start``) and pings follow;
    when the headers come the answer continues the same stream (one ``message_start``)."""
    gate = threading.Event()
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=gate))
    body = messages_body("gpt-4o-mini")
    seen = kinds(_read_releasing(gw, "/v1/messages", body, "ka19r-anth", gate, "ping"))
    assert seen[0] == "message_start" and seen.count("message_start") == 1, seen
    assert seen[-1] == "message_stop" and "error" not in seen, seen
    row = gw.row_for("ka19r-anth")
    assert (row["status"], row["provider"], row["attempts"]) == (200, "openai", 1), row
    assert (row["input_tokens"], row["output_tokens"]) == (21, 5), row


def test_a_passthrough_client_hears_comments_while_the_first_route_holds_its_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """An OpenAI chat client on gpt-4o (passthrough; s19 variant 19-s): SSE comments while the headers are
    awaited, then the provider's own stream as it came (its role chunk, the text, [DONE])."""
    gate = threading.Event()
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=gate))
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    events = _read_releasing(gw, "/v1/chat/completions", body, "ka19s-chat", gate, ":")
    seen = kinds(events)
    assert [k for k in seen if k != ":"] == ["role", "content", "finish", "done"], seen
    row = gw.row_for("ka19s-chat")
    assert (row["status"], row["provider"], row["output_tokens"]) == (200, "openai", 5), row


def test_a_refusal_after_held_headers_is_told_in_the_begun_stream(gw: Stack, up: ScriptedUpstream) -> None:
    """The held headers turn out to be a refusal (a 400 for the context window) after the client's answer
    began: the anthropic SDK still raises the refusal in Claude Code's words ("prompt is too long", which it
    compacts on), from an error event in the stream; the ledger records the 400 (s19 variant 19-u)."""
    gate = threading.Event()
    refusal = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 200000 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    up.script(CHAT, Answer(body=[json.dumps(refusal).encode()], status=400, gate=gate))
    body = messages_body("gpt-4o-mini")
    events = _read_releasing(gw, "/v1/messages", body, "ka19u-anth", gate, "ping")
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "error" and "message_stop" not in seen, seen
    error = json.loads(events[-1].data)["error"]
    assert error["type"] == "invalid_request_error" and "prompt is too long" in error["message"], error
    row = gw.row_for("ka19u-anth")
    assert (row["status"], row["provider"], row["attempts"]) == (400, "openai", 1), row


@pytest.mark.parametrize(
    ("said", "told"),
    [
        (
            "Rate limit reached for gpt-4o-mini",
            "Rate limit reached for gpt-4o-mini (Please try again in 1s.)",
        ),
        # the provider's words already say the wait: not said twice (session 20)
        (
            "Rate limit reached for gpt-4o-mini. Please try again in 20s.",
            "Rate limit reached for gpt-4o-mini. Please try again in 20s.",
        ),
    ],
    ids=["wait-added", "wait-already-said"],
)
def test_a_rate_limit_after_held_headers_says_its_retry_after_in_the_begun_stream(
    gw: Stack, up: ScriptedUpstream, said: str, told: str
) -> None:
    """The held headers turn out to be a 429 with a Retry-After longer than the gateway waits itself (this
    module's RETRY_AFTER_MAX_WAIT is 0): told in the stream the client's answer began, which has no header for
    it, the error's message says the wait (whole seconds, rounded up, as the header would), unless the
    provider's own message says it already, and the type stays the client's rate-limit error. The wait is
    short so the module's later tests find the provider rested."""
    gate = threading.Event()
    refusal = {"error": {"message": said, "type": "requests", "code": None}}
    up.script(
        CHAT,
        Answer(body=[json.dumps(refusal).encode()], status=429, headers={"retry-after": "0.2"}, gate=gate),
    )
    body = messages_body("gpt-4o-mini")
    rid = f"ka19ra-anth-{len(told)}"
    events = _read_releasing(gw, "/v1/messages", body, rid, gate, "ping")
    seen = kinds(events)
    assert seen.count("message_start") == 1 and seen[-1] == "error", seen
    error = json.loads(events[-1].data)["error"]
    assert error["type"] == "rate_limit_error", error
    assert error["message"].endswith(told), error
    assert error["message"].count("retry after") + error["message"].count("try again in") == 1, error
    row = gw.row_for(rid)
    assert (row["status"], row["provider"]) == (429, "openai"), row
    time.sleep(0.3)  # not a measurement: the provider's 0.2 s rest is over before the module's next test


def test_a_client_hanging_up_while_the_first_routes_headers_are_held_ends_the_request(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The only route holds its headers; the client reads its answer's opening and a ping, then hangs up: the
    next keep-alive finds it gone, the provider's request is cancelled and the request ends as the client's
    hang-up (499 ``client_disconnected``), not as that route's first-byte timeout."""
    gate = threading.Event()
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=gate))
    row = _hang_up_on_a_ping(gw, "gpt-4o-mini", "ka19-gone", gate, lambda: True)
    assert (row["provider"], row["attempts"]) == ("openai", 1), row


@pytest.mark.parametrize(
    ("path", "model", "upstream", "refusal"),
    [
        (  # Codex on a Claude model (translated): Anthropic's overflow wording
            "/v1/responses",
            "anthropic-first",
            ANTHROPIC,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 300000 tokens > 200000 maximum",
                },
            },
        ),
        (  # an OpenAI chat client on gpt-4o (passthrough): OpenAI's own overflow body
            "/v1/chat/completions",
            "openai-first",
            CHAT,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens. However, your "
                    "messages resulted in 200000 tokens.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        ),
    ],
    ids=["responses-translated", "chat-passthrough"],
)
def test_an_overflow_after_held_headers_keeps_openais_code_in_the_begun_stream(
    gw: Stack, up: ScriptedUpstream, path: str, model: str, upstream: str, refusal: dict[str, Any]
) -> None:
    """The held headers are a context overflow, told in the stream an OpenAI client's answer began: its error
    carries ``code: context_length_exceeded``, as the same refusal as an HTTP 400 does (Codex compacts only on
    that code in a ``response.failed``; otherwise it retries the same prompt as a stream error). Before: the
    in-stream error said ``server_error`` (Responses) or no code (chat)."""
    gate = threading.Event()
    up.script(upstream, Answer(body=[json.dumps(refusal).encode()], status=400, gate=gate))
    body: dict[str, Any] = {"model": model, "stream": True}
    if path == "/v1/responses":
        body["input"] = "hi"
    else:
        body["messages"] = [{"role": "user", "content": "hi"}]
    rid = "ka19-overflow-" + path.rsplit("/", 1)[-1]
    events = _read_releasing(gw, path, body, rid, gate, ":")
    last = json.loads(events[-1].data)
    error = last["response"]["error"] if path == "/v1/responses" else last["error"]
    assert error["code"] == "context_length_exceeded", last
    assert "maximum context length" in error["message"], last
    row = gw.row_for(rid)
    assert (row["status"], row["attempts"]) == (400, 1), row


def test_the_client_hears_keepalives_while_a_retry_within_the_output_limit_holds_its_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The route refuses the request's max_tokens at once, stating what it affords (OpenRouter's credit
    wording, a limit for this request only); the gateway's retry within it (kind 17) is held at its headers.
    The retry is sent as the first send was: the client's answer opens and pings follow while it waits, then
    the retry's answer continues that stream (one ``message_start``). Before (s20 item 6) the retry's wait
    was a silence: no ping ever came, and the gate was never let go here."""
    gate = threading.Event()
    refusal = {
        "error": {
            "message": "This request requires more credits, or fewer max_tokens. You requested up to 64 "
            "tokens, but can only afford 20.",
            "type": "invalid_request_error",
            "code": None,
        }
    }
    up.script(CHAT, Answer(body=[json.dumps(refusal).encode()], status=400))
    up.script(CHAT, sse(chat_answer(B_TEXT), gate=gate))
    body = messages_body("gpt-4o-mini")
    seen = kinds(_read_releasing(gw, "/v1/messages", body, "ka20-within", gate, "ping"))
    assert seen[0] == "message_start" and seen.count("message_start") == 1, seen
    assert seen[-1] == "message_stop" and "error" not in seen, seen
    asked = [r.json.get("max_completion_tokens") for r in up.requests if r.path == CHAT]
    assert asked == [64, 20], asked
    row = gw.row_for("ka20-within")
    assert (row["status"], row["provider"], row["output_tokens"]) == (200, "openai", 5), row


def test_an_xai_model_behind_a_relay_keeps_xais_usage_after_held_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """grok behind a relay (here the ``openai`` provider, which relays its vendor's counts) holds its headers:
    the answer that continues the begun stream reads usage in xAI's convention (``Provider.usage_rule``),
    reasoning outside ``completion_tokens``, as on every other path: output 600 + 150 (s20 item 2)."""
    gate = threading.Event()
    usage = {
        "prompt_tokens": 40,
        "completion_tokens": 600,
        "completion_tokens_details": {"reasoning_tokens": 150},
    }
    frames = [
        *chat_opening(),
        *unnamed(chat({"content": B_TEXT}), chat({}, "stop")),
        *unnamed({**chat(None), "usage": usage}, b"[DONE]"),
    ]
    up.script(CHAT, sse(frames, gate=gate))
    body = messages_body("grok-relayed")
    events = _read_releasing(gw, "/v1/messages", body, "ka20-grok", gate, "ping")
    told = [json.loads(ev.data)["usage"] for ev in events if ev.event == "message_delta"]
    assert told and told[-1]["output_tokens"] == 750, told
    row = gw.row_for("ka20-grok")
    assert (row["status"], row["output_tokens"], row["reasoning_tokens"]) == (200, 750, 150), row
