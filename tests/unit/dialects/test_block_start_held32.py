"""What a streamed block's ``content_block_start`` already holds and a delta may replace is read as the anthropic
SDK reads it (``accumulate_event``): a ``tool_use`` block's ``input`` stands unless ``input_json_delta`` text comes,
which then is the input; a ``thinking`` block's ``signature`` stands unless a ``signature_delta`` comes.

Before (bug32a), the decoder passed the start's value on at once and then the deltas too: a delta restating the
input reached a chat client as ``{"city":"Paris"}{"city": "Paris"}`` (variant 01-v32m), which no client parses; a
signature in the start and in its delta closed two thinking blocks, the first empty, and a Responses client gave
Anthropic back a thinking block it never signed (variant 04-v32j). Every entry of ``MessagesStreamDecoder`` is held
to it: ``feed`` (events), ``feed_data`` (a frame's bytes) and ``feed_frames`` (a read's frames), and the stop's
fast (exact bytes) and spaced spellings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from services.gateway.dialects.anthropic import MessagesStreamDecoder
from services.gateway.dialects.ir import Delta, ReasoningDelta, SignatureDelta, ToolArgsDelta, ToolCallStart
from services.gateway.dialects.openai_responses import ResponsesStreamEncoder
from services.gateway.dialects.view import View
from shared.sse import SSEEvent
from tests.unit.dialects.dialect_helpers import chat_encoder, encode, json_frames, openai_client

START = {
    "type": "message_start",
    "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 5}},
}
END = {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}


def _tool_start(index: int, tool_input: dict[str, Any]) -> dict[str, Any]:
    block = {"type": "tool_use", "id": f"toolu_{index}", "name": "weather", "input": tool_input}
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": text},
    }


def _stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def _by_feed(events: list[dict[str, Any]]) -> list[Delta]:
    dec = MessagesStreamDecoder()
    out: list[Delta] = []
    for ev in events:
        out += dec.feed(SSEEvent(event=ev["type"], data=orjson.dumps(ev).decode()))
    return out + dec.finish()


def _by_feed_data(events: list[dict[str, Any]]) -> list[Delta]:
    dec = MessagesStreamDecoder()
    out: list[Delta] = []
    for ev in events:
        got = dec.feed_data(orjson.dumps(ev))
        assert got is not None
        out += got
    return out + dec.finish()


def _by_feed_frames(events: list[dict[str, Any]]) -> list[Delta]:
    dec = MessagesStreamDecoder()
    buf = b"".join(b"event: %s\ndata: %s\n\n" % (ev["type"].encode(), orjson.dumps(ev)) for ev in events)
    out: list[Delta] = []
    pos = 0
    while pos < len(buf):
        got, pos = dec.feed_frames(buf, pos, False)
        out += got
    return out + dec.finish()


ENTRIES: list[Callable[[list[dict[str, Any]]], list[Delta]]] = [_by_feed, _by_feed_data, _by_feed_frames]


def _arguments(deltas: list[Delta]) -> dict[int, str]:
    calls = {d.index: "" for d in deltas if isinstance(d, ToolCallStart)}
    for d in deltas:
        if isinstance(d, ToolArgsDelta):
            calls[d.index] += d.fragment
    return calls


RESTATED = [START, _tool_start(0, {"city": "Paris"}), _delta(0, '{"city": "Paris"}'), _stop(0), END]
# (events, each call's arguments by its index): the start's input is passed on compact (orjson), the deltas' as sent
TOOL_CASES = {
    "delta-restating-the-start-input-is-the-input-once": (RESTATED, {0: '{"city": "Paris"}'}),
    "deltas-take-the-place-of-the-start-input": (
        [START, _tool_start(0, {"city": "?"}), _delta(0, '{"ci'), _delta(0, 'ty": "Oslo"}'), _stop(0), END],
        {0: '{"city": "Oslo"}'},
    ),
    "the-start-input-stands-without-delta": (
        [START, _tool_start(0, {"city": "Rome"}), _stop(0), END],
        {0: '{"city":"Rome"}'},
    ),
    "the-start-input-stands-with-only-empty-delta-text": (
        [START, _tool_start(0, {"city": "Rome"}), _delta(0, ""), _stop(0), END],
        {0: '{"city":"Rome"}'},
    ),
    "each-block-keeps-its-own-input": (  # block 20: past the fast stop spellings; block 21: a start input alone
        [
            START,
            _tool_start(20, {"city": "Lima"}),
            _delta(20, '{"city":"Lima"}'),
            _stop(20),
            _tool_start(21, {"city": "Quito"}),
            _stop(21),
            END,
        ],
        {0: '{"city":"Lima"}', 1: '{"city":"Quito"}'},
    ),
}


@pytest.mark.parametrize(("events", "arguments"), TOOL_CASES.values(), ids=TOOL_CASES.keys())
@pytest.mark.parametrize("entry", ENTRIES)
def test_a_tool_block_s_arguments(
    entry: Callable[..., list[Delta]], events: list[dict[str, Any]], arguments: dict[int, str]
) -> None:
    """A start's input stands unless delta text comes, which then is the input (once: no start input before it);
    with no delta text, the start's input is the call's arguments, given at the block's stop."""
    assert _arguments(entry(events)) == arguments


def test_a_start_input_whose_stop_never_came_goes_before_the_finish() -> None:
    deltas = _by_feed([START, _tool_start(0, {"city": "Rome"}), END])
    args = [i for i, d in enumerate(deltas) if isinstance(d, ToolArgsDelta)]
    finish = [i for i, d in enumerate(deltas) if type(d).__name__ == "Finish"]
    assert len(args) == 1 and args[0] < finish[0]
    assert _arguments(deltas) == {0: '{"city":"Rome"}'}


def test_the_openai_sdk_parses_the_translated_call() -> None:
    """The chat stream the gateway writes for such a block, read by the official openai SDK's accumulator."""
    body = encode(_by_feed(RESTATED), chat_encoder())
    client = openai_client(body)
    with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}]


SIG = "EqQBCkgIBhABGAIqQFakeSignature=="


def _thinking_start(index: int, signature: str, text: str = "") -> dict[str, Any]:
    block = {"type": "thinking", "thinking": text, "signature": signature}
    return {"type": "content_block_start", "index": index, "content_block": block}


def _thinking_delta(index: int, kind: str, value: str) -> dict[str, Any]:
    key = "thinking" if kind == "thinking_delta" else "signature"
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: value}}


def _thoughts(deltas: list[Delta]) -> list[tuple[str, str]]:
    """(text, signature) per signed block, as the encoders close them: a signature closes the text before it."""
    out, text = [], ""
    for d in deltas:
        if isinstance(d, ReasoningDelta):
            text += d.text
        elif isinstance(d, SignatureDelta):
            out.append((text, d.signature))
            text = ""
    return out


SIGNED_TWICE = [
    START,
    _thinking_start(0, SIG),
    _thinking_delta(0, "thinking_delta", "Hmm."),
    _thinking_delta(0, "signature_delta", SIG),
    _stop(0),
    END,
]
THINKING_CASES = {
    "a-signature-in-the-start-and-its-delta-closes-one-block": SIGNED_TWICE,
    # a block given whole in its start (a relay that streams a whole answer), or its text streamed after
    "a-whole-block-in-its-start": [START, _thinking_start(0, SIG, "Hmm."), _stop(0), END],
    "a-signature-only-in-the-start": [
        START,
        _thinking_start(0, SIG),
        _thinking_delta(0, "thinking_delta", "Hmm."),
        _stop(0),
        END,
    ],
}


@pytest.mark.parametrize("events", THINKING_CASES.values(), ids=THINKING_CASES.keys())
@pytest.mark.parametrize("entry", ENTRIES)
def test_a_signed_thinking_block_closes_once(
    entry: Callable[..., list[Delta]], events: list[dict[str, Any]]
) -> None:
    assert _thoughts(entry(events)) == [("Hmm.", SIG)]


def test_a_responses_client_gets_one_reasoning_item_for_the_block() -> None:
    enc = ResponsesStreamEncoder(View(model="m"), response_id="resp_32")
    body = encode(_by_feed(SIGNED_TWICE), enc)
    done = [f["item"] for f in json_frames(body) if f.get("type") == "response.output_item.done"]
    assert [i["type"] for i in done] == ["reasoning"]
