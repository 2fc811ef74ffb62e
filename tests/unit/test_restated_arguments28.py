"""A streamed call's whole arguments sent again by the server (vLLM's end-of-stream flush), from a chat upstream to
translated clients: the client's joined arguments are the object once (bugcase 01's kind, bug28a variants 01-vD,
vH..vK). vllm-project/vllm#51697 (xlam: the final chunk appends the whole arguments after the streamed ones, or
after a streamed ``{``), #42167 (GLM: the finish chunk restates them with ``id``/``type``/``name`` null), #16340
(restated under the call's own id). Joined, they read ``{..}{..}`` or ``{{..}``, which no client parses; before
the fix a restatement without id became a second call, one under its id was appended. A named object without an
id is still Gemini's next parallel call (test_gemini_stream_tool_calls_e2e), and a last fragment that merely
continues the object is kept."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay

BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
PARIS = {"city": "Paris", "note": 'say "hi" 过路费'}
WHOLE = json.dumps(PARIS, ensure_ascii=False)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({**BASE, "choices": [choice]}) + b"\n\n"


def _item(arguments: str, call_id: Any = "absent", name: Any = "absent") -> dict[str, Any]:
    item: dict[str, Any] = {"index": 0, "function": {"arguments": arguments}}
    if call_id != "absent":
        item |= {"id": call_id, "type": None if call_id is None else "function"}
    if name != "absent":
        item["function"]["name"] = name
    return item


def _stream(streamed: list[str], last: dict[str, Any], in_finish: bool = True) -> list[bytes]:
    frames = [_chunk({"role": "assistant", "content": None})]
    frames.append(_chunk({"tool_calls": [_item("", "call_1", "weather")]}))
    frames += [_chunk({"tool_calls": [_item(piece)]}) for piece in streamed]
    if in_finish:
        frames.append(_chunk({"tool_calls": [last]}, "tool_calls"))
    else:
        frames += [_chunk({"tool_calls": [last]}), _chunk({}, "tool_calls")]
    return [*frames, b"data: [DONE]\n\n"]


def _calls(client: str, frames: list[bytes]) -> list[tuple[str, str]]:
    """(call id, joined arguments) of each call the client got."""
    relay = make_relay(pairing(client, "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    out = (b"".join(relay.feed(f) for f in frames) + relay.finish()).decode()
    assert relay.error is None
    datas = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("data: {")]
    if client == "anthropic":
        ids: dict[int, str] = {}
        joined: dict[int, str] = {}
        for d in datas:
            if d.get("type") == "content_block_start" and d["content_block"]["type"] == "tool_use":
                ids[d["index"]] = d["content_block"]["id"]
                joined[d["index"]] = ""
            if d.get("type") == "content_block_delta" and d["delta"]["type"] == "input_json_delta":
                joined[d["index"]] += d["delta"]["partial_json"]
        return [(ids[i], joined[i]) for i in sorted(ids)]
    views = [
        (d["item"]["call_id"], d["item"]["arguments"])
        for d in datas
        if d.get("type") == "response.output_item.done" and d["item"]["type"] == "function_call"
    ]
    deltas = "".join(d["delta"] for d in datas if d.get("type") == "response.function_call_arguments.delta")
    assert "".join(a for _, a in views) == deltas  # the streamed deltas join to what the item says
    return views


SHAPES = {
    "no id, no name (vllm#51697)": ([WHOLE[:9], WHOLE[9:]], _item(WHOLE)),
    "id, type and name null (GLM, vllm#42167)": (
        [WHOLE[:7], WHOLE[7:20], WHOLE[20:]],
        _item(WHOLE, None, None),
    ),
    "under its own id and name (vllm#16340)": ([WHOLE[:5], WHOLE[5:]], _item(WHOLE, "call_1", "weather")),
    "compact restatement of spaced fragments": ([WHOLE[:9], WHOLE[9:]], _item(orjson.dumps(PARIS).decode())),
    "'{' streamed, then the whole object (vllm#51697)": (["{"], _item(WHOLE)),
    "' {' streamed, then the whole object": ([" {"], _item(" " + WHOLE)),
}


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_restated_arguments_reach_a_translated_client_once(client: str, shape: str) -> None:
    streamed, last = SHAPES[shape]
    calls = _calls(client, _stream(streamed, last))
    assert [(i, json.loads(a)) for i, a in calls] == [("call_1", PARIS)]


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_a_whole_restatement_outside_the_finish_chunk_is_dropped_too(client: str) -> None:
    calls = _calls(client, _stream([WHOLE[:9], WHOLE[9:]], _item(WHOLE, None, None), in_finish=False))
    assert [json.loads(a) for _, a in calls] == [PARIS]


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_a_named_whole_object_without_id_is_still_another_call(client: str) -> None:
    """Gemini's parallel calls on index 0 (dyedd/lens#49, gcli2api#406): same arguments, but named."""
    calls = _calls(client, _stream([WHOLE], _item(WHOLE, "absent", "weather")))
    assert [json.loads(a) for _, a in calls] == [PARIS, PARIS]
    assert len({i for i, _ in calls}) == 2


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_a_different_whole_object_without_id_is_another_call(client: str) -> None:
    calls = _calls(client, _stream([WHOLE], _item('{"city": "Rome"}')))
    assert [json.loads(a) for _, a in calls] == [PARIS, {"city": "Rome"}]


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_a_last_fragment_that_continues_the_object_is_kept(client: str) -> None:
    """The beginning is not a prefix of the finish chunk's fragment: ordinary streaming (vLLM flushing the rest)."""
    calls = _calls(client, _stream(['{"a": '], _item('{"b": 1}}')))
    assert [json.loads(a) for _, a in calls] == [{"a": {"b": 1}}]


@pytest.mark.parametrize("client", ["anthropic", "openai_responses"])
def test_a_nested_object_that_begins_like_the_call_outside_the_finish_chunk_is_kept(client: str) -> None:
    """``{"a": `` then ``{"a": 1}`` then ``}``: a continuation (the value is an object), not a restatement: the
    prefix rule holds in the finish chunk only, where nothing can follow."""
    frames = _stream(['{"a": ', '{"a": 1}'], _item("}"), in_finish=False)
    calls = _calls(client, frames)
    assert [json.loads(a) for _, a in calls] == [{"a": {"a": 1}}]
