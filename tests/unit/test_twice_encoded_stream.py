"""Streamed tool-call arguments encoded twice (a JSON string holding the object's text, as some
OpenAI-compatible servers send them) from a chat upstream: a translated client gets the object's text
(Anthropic ``input_json_delta``s that join to the object, Responses ``arguments`` the object's text), as a
non-streamed answer is read (``_tool_args.twice_encoded_object``); arguments sent as an object are its text
too. A chat client through the passthrough gets the bytes as the upstream sent them (documented in
``ChatStreamDecoder._advance``)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from services.gateway.dialects import _openai_stream
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay

BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
TWICE = json.dumps(json.dumps({"city": "Paris", "days": [1, 2]}))


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return (
        b"data: "
        + orjson.dumps({**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        + b"\n\n"
    )


def _call(index: int, arguments: Any, start: bool) -> bytes:
    fn: dict[str, Any] = {"arguments": arguments}
    head: dict[str, Any] = {"index": index}
    if start:
        fn["name"] = f"tool{index}"
        head |= {"id": f"call_{index}", "type": "function"}
    return _chunk({"tool_calls": [{**head, "function": fn}]})


def _stream(pieces: list[str], second: bool = False) -> list[bytes]:
    frames = [_chunk({"role": "assistant", "content": None}), _call(0, "", True)]
    frames += [_call(0, p, False) for p in pieces]
    if second:
        frames += [_call(1, "", True), _call(1, '{"x":', False), _call(1, "1}", False)]
    return [*frames, _chunk({}, "tool_calls"), b"data: [DONE]\n\n"]


def _arguments(client: str, frames: list[bytes]) -> list[str]:
    relay = make_relay(pairing(client, "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    out = (b"".join(relay.feed(f) for f in frames) + relay.finish()).decode()
    assert relay.error is None
    datas = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("data: {")]
    if client == "anthropic":
        calls: dict[int, str] = {}
        for d in datas:
            if d.get("type") == "content_block_delta" and d["delta"]["type"] == "input_json_delta":
                calls[d["index"]] = calls.get(d["index"], "") + d["delta"]["partial_json"]
        return list(calls.values())
    return [d["arguments"] for d in datas if d.get("type") == "response.function_call_arguments.done"]


SPLITS = [[TWICE], [TWICE[:1], TWICE[1:9], TWICE[9:]], [" " + TWICE[:-1], TWICE[-1:]]]


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
@pytest.mark.parametrize("pieces", SPLITS, ids=["whole", "three pieces", "space first, quote last"])
def test_arguments_encoded_twice_reach_a_translated_client_as_the_object(
    client: str, pieces: list[str]
) -> None:
    got = _arguments(client, _stream(pieces, second=True))
    assert [json.loads(a) for a in got] == [{"city": "Paris", "days": [1, 2]}, {"x": 1}]


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_a_string_that_holds_no_object_goes_on_as_it_came(client: str) -> None:
    """Held to the end, then released as sent: what the upstream said, not a guess."""
    assert _arguments(client, _stream(['"just', ' text"'])) == ['"just text"']


def test_a_chat_client_through_the_passthrough_gets_the_bytes_as_sent() -> None:
    frames = _stream([TWICE[:5], TWICE[5:]])
    relay = make_relay(pairing("openai_chat", "openai_chat"), View(model="m"))
    assert b"".join(relay.feed(f) for f in frames) + relay.finish() == b"".join(frames)


def test_held_arguments_are_parsed_when_a_fragment_may_close_the_string_not_at_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held arguments were joined and parsed at every fragment: quadratic in a long call (80 KB in 4,000
    fragments to an Anthropic client: 2.2 s of the event loop, against 0.27 s for the same arguments
    encoded once). Only a fragment whose last character is a quote it does not escape may end the string."""
    calls: list[str] = []
    real = _openai_stream.twice_encoded_object
    monkeypatch.setattr(_openai_stream, "twice_encoded_object", lambda t: calls.append(t) or real(t))
    twice = json.dumps(json.dumps({"content": "x" * 700, "n": 1}))
    pieces = [twice[i : i + 7] for i in range(0, len(twice), 7)]
    closing = [p for p in pieces if p.rstrip().endswith('"')]
    assert len(pieces) > 100 and 0 < len(closing) < 10
    got = _arguments("anthropic", _stream(pieces))
    assert [json.loads(a) for a in got] == [{"content": "x" * 700, "n": 1}]
    assert 0 < len(calls) <= len(closing)


@pytest.mark.parametrize(
    ("fragment", "may"),
    [
        ('"', True),
        ('abc"', True),
        ('ab\\"', False),  # an escaped quote
        ('ab\\\\"', True),  # an escaped backslash, then the quote
        ('ab\\\\" \n', True),  # whitespace after it
        ('x\\\\\\"', False),
        ("ab", False),
        ("  ", False),
        ('\\"', True),  # a run from the start: an earlier fragment's backslash may pair with it
    ],
)
def test_a_fragment_that_may_close_a_held_string(fragment: str, may: bool) -> None:
    assert _openai_stream._may_close(fragment) is may
