"""bug35b kind 01 on the Responses wire (a Responses-only model such as gpt-5-codex translated for chat and Messages
clients): a function call's arguments read once, and a call made without arguments closed as "{}".

- 01w35c/d: a server that gives the whole arguments in ``response.output_item.added`` and restates them in
  ``response.function_call_arguments.delta`` events (as Claude's ``content_block_start`` input restated by its
  deltas, bug32a) reached the client twice, ``{"city":"Paris"}{"city":"Paris"}``; the deltas replace them.
- 01w35g: arguments streamed as the JSON text ``null`` (vLLM's tool parsers render a call without arguments with
  ``json.dumps(None)``, vllm-project/vllm#21046) reached an Anthropic client as ``input: null``; they are held
  while blank or a beginning of ``null`` and dropped if the call closes on it, as ``ChatStreamDecoder`` does.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.dialects._responses_stream import ResponsesStreamDecoder
from services.gateway.dialects.ir import ToolArgsDelta, ToolCallStart
from shared.sse import SSEDecoder

BASE = {"id": "resp_35", "object": "response", "created_at": 1775000000, "model": "gpt-5-codex"}


def _event(kind: str, **fields: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"


def call_stream(added: str, deltas: list[str], done: str | None, item_done: str) -> bytes:
    """A Responses stream of one function call: ``added`` the arguments in ``output_item.added``, ``deltas`` its
    argument deltas, ``done`` those of ``function_call_arguments.done`` (None: no such event), ``item_done``
    those of ``output_item.done``."""
    item = {"id": "fc_35", "type": "function_call", "call_id": "call_35", "name": "weather"}
    ref = {"item_id": "fc_35", "output_index": 0}
    events = [
        _event("response.created", response={**BASE, "status": "in_progress", "output": []}),
        _event("response.output_item.added", output_index=0, item={**item, "arguments": added}),
    ]
    events += [_event("response.function_call_arguments.delta", **ref, delta=d) for d in deltas]
    if done is not None:
        events.append(_event("response.function_call_arguments.done", **ref, arguments=done))
    final = {**item, "status": "completed", "arguments": item_done}
    events.append(_event("response.output_item.done", output_index=0, item=final))
    usage = {"input_tokens": 50, "output_tokens": 5, "total_tokens": 55}
    completed = {**BASE, "status": "completed", "output": [final], "usage": usage}
    return b"".join(events) + _event("response.completed", response=completed)


def arguments(raw: bytes) -> list[str]:
    """The argument text each call of the stream gets, as a client joins the fragments."""
    decoder = ResponsesStreamDecoder()
    calls: dict[int, str] = {}
    for ev in SSEDecoder().feed(raw):
        for d in decoder.feed(ev):
            if isinstance(d, ToolCallStart):
                calls[d.index] = ""
            elif isinstance(d, ToolArgsDelta):
                calls[d.index] += d.fragment
    assert decoder.done
    return [calls[i] for i in sorted(calls)]


PARIS = '{"city":"Paris"}'


@pytest.mark.parametrize(
    ("added", "deltas", "done", "item_done", "want"),
    [
        # 01w35c/d: given in the added item and restated by the deltas: once
        (PARIS, ['{"city":', '"Paris"}'], PARIS, PARIS, PARIS),
        (PARIS, [PARIS], None, PARIS, PARIS),
        # given in the added item only (no deltas): relayed at the done event
        (PARIS, [], PARIS, PARIS, PARIS),
        (PARIS, [], None, PARIS, PARIS),
        (PARIS, [], "", "", PARIS),
        # OpenAI's own shape: "" added, the deltas, the done events restating them
        ("", ['{"city":', '"Paris"}'], PARIS, PARIS, PARIS),
        # only in output_item.done
        ("", [], None, PARIS, PARIS),
        # 01w35g: null, streamed or whole, is no arguments
        ("", ["null"], "null", "null", ""),
        ("", ["nu", "ll"], "null", "null", ""),
        ("", [], "null", "null", ""),
        ("null", [], None, "null", ""),
        ("", [" "], "", "", ""),
        # a beginning of null that turns out to be something else is relayed whole
        ("", [" ", '{"city":"Paris"}'], PARIS, PARIS, ' {"city":"Paris"}'),
    ],
)
def test_a_call_gets_its_arguments_once(
    added: str, deltas: list[str], done: str | None, item_done: str, want: str
) -> None:
    assert arguments(call_stream(added, deltas, done, item_done)) == [want]


def test_held_arguments_are_read_through_feed_data_too() -> None:
    """A relay that frames reads itself (``feed_data``) gets the same deltas."""
    raw = call_stream(PARIS, ['{"city":', '"Paris"}'], PARIS, PARIS)
    decoder = ResponsesStreamDecoder()
    got = ""
    for ev in SSEDecoder().feed(raw):
        out = decoder.feed_data(ev.data.encode())
        for d in out if out is not None else decoder.feed(ev):
            if isinstance(d, ToolArgsDelta):
                got += d.fragment
    assert got == PARIS
