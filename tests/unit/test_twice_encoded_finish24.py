"""Session 24 review: arguments encoded twice whose closing fragment comes in the chunk that ends the answer.

Some servers put a tool call's last arguments fragment in the chunk that carries ``finish_reason`` (vLLM's
streamed tool parsers flush what is left of a call with the finish). Through the chat passthrough
(``ChatStreamDecoder.passed_arguments``, bug24a) that chunk's fragment becomes the object's text; the repair
of the finished stream (``held_arguments_frames``, read before the chunk's own fragment is mended) must not
also give the held string again after it: the openai SDK joins every fragment of an index, and its joined
arguments were ``{"q":1}"{\\"q\\":1}"``, no JSON at all. Each case is checked the way the SDK joins the
fragments, for random objects and random cuts of their twice-encoded text.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay

BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({**BASE, "choices": [choice]}) + b"\n\n"


def _call(arguments: str, start: bool = False, finish: str | None = None) -> bytes:
    head: dict[str, Any] = {"index": 0}
    fn: dict[str, Any] = {"arguments": arguments}
    if start:
        head |= {"id": "call_0", "type": "function"}
        fn["name"] = "tool0"
    return _chunk({"tool_calls": [{**head, "function": fn}]}, finish)


def _frames(pieces: list[str]) -> list[bytes]:
    """A stream whose call's last fragment rides in the finish chunk."""
    frames = [_chunk({"role": "assistant", "content": None}), _call("", start=True)]
    frames += [_call(p) for p in pieces[:-1]]
    return [*frames, _call(pieces[-1], finish="tool_calls"), b"data: [DONE]\n\n"]


def _joined(frames: list[bytes], client: str = "openai_chat") -> str:
    """The call's arguments as the client's SDK joins them."""
    relay = make_relay(pairing(client, "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    out = (b"".join(relay.feed(f) for f in frames) + relay.finish()).decode()
    assert relay.error is None
    joined = ""
    for line in out.splitlines():
        if not line.startswith("data: {"):
            continue
        data = json.loads(line[6:])
        if client == "anthropic":
            if data.get("type") == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
                joined += data["delta"]["partial_json"]
            continue
        for choice in data.get("choices") or []:
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                joined += (call.get("function") or {}).get("arguments") or ""
    return joined


def _cuts(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 5))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.parametrize("client", ["openai_chat", "anthropic"])
@pytest.mark.parametrize(
    "pieces",
    [['"{\\"q\\":1}"'], ['"{\\"q\\"', ':1}"'], [' "{', '}"'], ['"{\\"q\\": [1, \\"}\\"]', "}", '"']],
    ids=["whole", "two", "space first", "quote alone last"],
)
def test_the_object_once_when_the_finish_chunk_closes_the_string(pieces: list[str], client: str) -> None:
    expected = json.loads(json.loads("".join(pieces)))
    assert json.loads(_joined(_frames(pieces), client)) == expected


def test_random_objects_and_cuts_join_to_the_object() -> None:
    rng = random.Random(24)
    for case in range(300):
        obj = {"q": rng.choice([1, 'a"b\\c', None, [1, {"}": '"'}], "é😀", {"k k": []}])}
        text = " " * rng.randint(0, 2) + json.dumps(json.dumps(obj, ensure_ascii=rng.random() < 0.5))
        pieces = _cuts(text, rng)
        got = _joined(_frames(pieces))
        assert json.loads(got) == obj, (case, pieces, got)


@pytest.mark.parametrize("pieces", [['"just', ' text"'], ['"[1, 2]"'], [' "{', '"']])
def test_a_string_without_an_object_closed_in_the_finish_chunk_goes_once_as_sent(pieces: list[str]) -> None:
    assert _joined(_frames(pieces)) == "".join(pieces)


def _arguments(client: str, frames: list[bytes]) -> str:
    """A translated client's joined arguments (Anthropic ``input_json_delta``s, Responses ``arguments``)."""
    if client == "anthropic":
        return _joined(frames, client)
    relay = make_relay(pairing(client, "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    out = (b"".join(relay.feed(f) for f in frames) + relay.finish()).decode()
    datas = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("data: {")]
    done = [d["arguments"] for d in datas if d.get("type") == "response.function_call_arguments.done"]
    assert len(done) == 1
    return str(done[0])


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
@pytest.mark.parametrize("finish", [False, True], ids=["finish apart", "finish with the last"])
def test_a_blank_first_fragment_leaves_a_translated_client_the_object(client: str, finish: bool) -> None:
    """A blank fragment before the quote (``" "``, then the string): a translated client got the blank at once
    and then the string as it came, unmended (``ChatStreamDecoder._advance`` tested the quote only while no
    fragment had gone); blank fragments are held until the first character that is not white space."""
    pieces = [" ", '"{\\"q\\":', '1}"']
    frames = _frames(pieces)
    if not finish:
        frames = [*frames[:-2], _call(pieces[-1]), _chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    assert json.loads(_arguments(client, frames)) == {"q": 1}


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_arguments_only_blank_close_as_the_empty_object(client: str) -> None:
    assert json.loads(_arguments(client, _frames([" ", "  "]))) == {}
