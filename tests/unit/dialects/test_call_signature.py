"""Gemini's own thought signature through clients without a place for it (``dialects/_call_signature``; s24 variant
04-ownsig-vA, bugcase 04's kind): folded into the tool call id an Anthropic or Responses client gets, streamed and
not, split back onto the call (``extra_content.google.thought_signature``) for a Gemini target, and dropped with
the id restored for any other target and on the Anthropic and Responses wires (passthrough included)."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pytest

from services.gateway.dialects import registry
from services.gateway.dialects._call_signature import MARK, signed_id, split_id
from services.gateway.dialects.anthropic import encoder_for as anthropic_encoder
from services.gateway.dialects.anthropic import render as anthropic_render
from services.gateway.dialects.ir import Delta, ToolArgsDelta, ToolCallStart
from services.gateway.dialects.openai_chat import ChatStreamDecoder, completion_from_chat
from services.gateway.dialects.openai_chat import encoder_for as chat_encoder
from services.gateway.dialects.openai_chat import render as chat_render
from services.gateway.dialects.openai_responses import encoder_for as responses_encoder
from services.gateway.dialects.openai_responses import render as responses_render
from services.gateway.dialects.translate_request import (
    Target,
    anthropic_to_chat,
    anthropic_to_responses,
    responses_to_anthropic,
    responses_to_chat,
)
from services.gateway.dialects.view import View
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.routing.config import ProviderSpec
from shared.sse import SSEEvent

SIGNATURE = "CiQBjz1rX2Zha2VHZW1pbmlTaWduYXR1cmUrL0FCQ0RFRkdISUpLTA=="  # standard base64, as Gemini sends
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # Anthropic's tool_use.id pattern (its 400 quotes it)
GEMINI = Target(model="gemini-3-pro-preview", thought_signatures=True)
OTHER = Target(model="gpt-4o")
CALL = {
    "id": "function-call-1",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
    "extra_content": {"google": {"thought_signature": SIGNATURE}},
}
SIGNED = signed_id("function-call-1", SIGNATURE)


@pytest.mark.parametrize(
    "signature", [SIGNATURE, "GemSig==", "a", "not base64 / at all ✓", "ab-_", "x" * 5000, "AAAA===="]
)
def test_a_signed_id_gives_back_the_id_and_the_signature_exactly(signature: str) -> None:
    call_id = signed_id("function-call-1", signature)
    assert ANTHROPIC_ID.match(call_id), call_id  # what Anthropic's pattern (and Claude Code) takes
    assert call_id.startswith("function-call-1" + MARK)
    assert split_id(call_id) == ("function-call-1", signature)


def test_ids_without_a_signature_are_left_as_they_are() -> None:
    assert signed_id("call_1", None) == "call_1" and signed_id("call_1", "") == "call_1"
    assert signed_id("", SIGNATURE) == ""  # nothing to restore it to
    assert signed_id("x" + MARK + "bAAAA", SIGNATURE) == "x" + MARK + "bAAAA"  # already marked: not twice
    for call_id in (
        "call_1",
        "toolu_01R",
        MARK + "bAAAA",
        "x" + MARK + "zAAAA",
        "x" + MARK + "bA",
        "x" + MARK,
    ):
        assert split_id(call_id) == (call_id, None)


def _stream(chunks: list[dict[str, Any]]) -> list[Delta]:
    dec = ChatStreamDecoder()
    out: list[Delta] = []
    for delta in chunks:
        choice = {"index": 0, "delta": delta, "finish_reason": "tool_calls" if not delta else None}
        body = {
            "id": "g",
            "object": "chat.completion.chunk",
            "model": "gemini-3-pro-preview",
            "choices": [choice],
        }
        out += dec.feed(SSEEvent(event=None, data=orjson.dumps(body).decode()))
    return out + dec.finish()


def _sse_objects(raw: bytes) -> list[dict[str, Any]]:
    lines = raw.decode().splitlines()
    return [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]


def test_a_streamed_gemini_call_reaches_claude_code_and_codex_with_its_signature_in_the_id() -> None:
    second = {"id": "function-call-2", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    deltas = _stream([{"role": "assistant", "tool_calls": [CALL]}, {"tool_calls": [second]}, {}])
    starts = [d for d in deltas if type(d) is ToolCallStart]
    assert [(s.id, s.signature) for s in starts] == [
        ("function-call-1", SIGNATURE),
        ("function-call-2", None),
    ]
    view = View(model="gemini-3-pro-preview", tools=True)
    anthropic = anthropic_encoder(view)
    blocks = [
        e["content_block"]["id"]
        for e in _sse_objects(b"".join(map(anthropic.feed, deltas)) + anthropic.finish())
        if e["type"] == "content_block_start"
    ]
    assert blocks == [SIGNED, "function-call-2"]  # only the signed call carries one
    responses = responses_encoder(view)
    added = [
        e["item"]["call_id"]
        for e in _sse_objects(b"".join(map(responses.feed, deltas)) + responses.finish())
        if e["type"] == "response.output_item.added"
    ]
    assert added == [SIGNED, "function-call-2"]


def test_a_whole_gemini_answer_reaches_claude_code_and_codex_with_its_signature_in_the_id() -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [CALL]}
    answer = {"id": "g", "model": "gemini-3-pro-preview", "choices": [{"index": 0, "message": message}]}
    completion = completion_from_chat(answer)
    view = View(model="gemini-3-pro-preview", tools=True)
    assert [b["id"] for b in anthropic_render(completion, view)["content"]] == [SIGNED]
    output = responses_render(completion, view)["output"]
    assert [i["call_id"] for i in output if i["type"] == "function_call"] == [SIGNED]


def _claude_code_history(call_id: str) -> dict[str, Any]:
    turn = [{"type": "tool_use", "id": call_id, "name": "weather", "input": {"city": "Rome"}}]
    result = [{"type": "tool_result", "tool_use_id": call_id, "content": "sunny"}]
    return {
        "model": "m",
        "max_tokens": 100,
        "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": turn},
            {"role": "user", "content": result},
        ],
    }


def _codex_history(call_id: str) -> dict[str, Any]:
    return {
        "model": "m",
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "input": [
            {"type": "message", "role": "user", "content": "Weather in Rome?"},
            {"type": "function_call", "call_id": call_id, "name": "weather", "arguments": '{"city":"Rome"}'},
            {"type": "function_call_output", "call_id": call_id, "output": "sunny"},
        ],
    }


def _chat_calls(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(tool call, tool message id) of a translated chat body's one step."""
    call = next(m for m in body["messages"] if m.get("tool_calls"))["tool_calls"][0]
    result = next(m for m in body["messages"] if m["role"] == "tool")
    return [(call, result["tool_call_id"])]


@pytest.mark.parametrize(
    ("translate", "history"),
    [(anthropic_to_chat, _claude_code_history), (responses_to_chat, _codex_history)],
)
def test_the_next_turn_gives_gemini_its_own_signature_and_others_none(translate: Any, history: Any) -> None:
    body = history(SIGNED)
    before = copy.deepcopy(body)
    [(call, result_id)] = _chat_calls(translate(body, GEMINI).body)
    assert call["id"] == "function-call-1" and result_id == "function-call-1"
    assert call["extra_content"] == {"google": {"thought_signature": SIGNATURE}}
    sent = translate(body, OTHER).body
    [(call, result_id)] = _chat_calls(sent)
    assert call["id"] == "function-call-1" and result_id == "function-call-1"
    assert "extra_content" not in call and MARK not in orjson.dumps(sent).decode()
    assert body == before  # the client's body is reused across attempts: never changed


def test_a_signed_history_moved_to_claude_or_openai_responses_carries_no_signature() -> None:
    for sent in (
        responses_to_anthropic(_codex_history(SIGNED), Target(model="claude-sonnet-4-5")).body,
        anthropic_to_responses(_claude_code_history(SIGNED), Target(model="gpt-5")).body,
    ):
        text = orjson.dumps(sent).decode()
        assert MARK not in text and "function-call-1" in text


def test_passthrough_bodies_to_anthropic_and_openai_get_the_ids_restored() -> None:
    claude = _claude_code_history(SIGNED)
    before = copy.deepcopy(claude)
    sent = dict(claude)
    assert registry.WIRES["anthropic"].strip_minted(sent)
    assert sent["messages"][1]["content"][0]["id"] == "function-call-1"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == "function-call-1"
    assert claude == before
    codex = _codex_history(SIGNED)
    sent = dict(codex)
    assert registry.WIRES["openai_responses"].strip_minted(sent)
    assert [i.get("call_id") for i in sent["input"]] == [None, "function-call-1", "function-call-1"]
    assert codex == _codex_history(SIGNED)
    plain = _codex_history("call_1")  # nothing of the gateway's: nothing changed
    assert not registry.WIRES["openai_responses"].strip_minted(plain)
    assert not registry.WIRES["anthropic"].strip_minted(_claude_code_history("toolu_01"))


def test_a_catalog_provider_gives_gemini_models_their_signatures_back() -> None:
    spec = ProviderSpec(name="gemini", base_url="http://127.0.0.1:1/v1", models=("gemini-3-pro-preview",))
    provider = ConfiguredProvider(spec, None)
    assert provider.target("gemini-3-pro-preview").thought_signatures
    assert provider.target("gemini-2.5-flash").thought_signatures
    assert not provider.target("llama-3.3-70b").thought_signatures


def test_a_chat_client_decoded_answer_keeps_gemini_signature_in_google_field() -> None:
    """A chat client's answer that the gateway re-encodes (a whole answer to a streamed request, say) keeps the
    signature where Google puts it, not in the id: a chat client gives ``extra_content`` back itself."""
    view = View(model="gemini-3-pro-preview", tools=True)
    encoder = chat_encoder(view)
    deltas = _stream([{"role": "assistant", "tool_calls": [CALL]}, {}])
    frames = _sse_objects(b"".join(map(encoder.feed, deltas)) + encoder.finish())
    calls = [
        c for f in frames for ch in f["choices"] for c in ch["delta"].get("tool_calls") or [] if "id" in c
    ]
    assert [(c["id"], c["extra_content"]) for c in calls] == [("function-call-1", CALL["extra_content"])]
    message = {"role": "assistant", "content": None, "tool_calls": [CALL]}
    answer = {"id": "g", "model": "gemini-3-pro-preview", "choices": [{"index": 0, "message": message}]}
    [call] = chat_render(completion_from_chat(answer), view)["choices"][0]["message"]["tool_calls"]
    assert (call["id"], call["extra_content"]) == ("function-call-1", CALL["extra_content"])


# Gemini's signature in a later chunk than its call's start, as a relay in front of Google's endpoint may stream it
# (s25 variants 04-gemsig-argchunk-vA, 04-gemsig-finishchunk-vB, 04-gemsig-afterargs-vC)
_EXTRA = {"google": {"thought_signature": SIGNATURE}}
_START = {
    "index": 0,
    "id": "function-call-1",
    "type": "function",
    "function": {"name": "weather", "arguments": ""},
}
LATE_SIGNATURES = {
    "with-the-arguments": [
        {"role": "assistant", "tool_calls": [_START]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Rome"}'}, "extra_content": _EXTRA}]},
        {},
    ],
    "restated-in-a-later-chunk": [
        {"role": "assistant", "tool_calls": [{**CALL, "index": 0, "extra_content": None}]},
        {"tool_calls": [{**CALL, "index": 0}]},
        {},
    ],
    "a-chunk-of-its-own": [
        {
            "role": "assistant",
            "tool_calls": [{**_START, "function": {"name": "weather", "arguments": '{"city":'}}],
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]},
        {"tool_calls": [{"index": 0, "extra_content": _EXTRA}]},
        {},
    ],
}


def _decoded(chunks: list[dict[str, Any]], wait: bool) -> list[Delta]:
    dec = ChatStreamDecoder()
    if wait:
        dec.wait_for_signatures()
    out: list[Delta] = []
    for delta in chunks:
        choice = {"index": 0, "delta": delta, "finish_reason": "tool_calls" if not delta else None}
        body = {
            "id": "g",
            "object": "chat.completion.chunk",
            "model": "gemini-3-pro-preview",
            "choices": [choice],
        }
        out += dec.feed(SSEEvent(event=None, data=orjson.dumps(body).decode()))
    return out + dec.finish()


@pytest.mark.parametrize("chunks", list(LATE_SIGNATURES.values()), ids=list(LATE_SIGNATURES))
def test_a_call_start_waits_for_a_signature_that_comes_in_a_later_chunk(chunks: list[dict[str, Any]]) -> None:
    deltas = _decoded(chunks, wait=True)
    starts = [d for d in deltas if type(d) is ToolCallStart]
    assert [(s.id, s.signature) for s in starts] == [("function-call-1", SIGNATURE)]
    tools = [d for d in deltas if type(d) in (ToolCallStart, ToolArgsDelta)]
    assert type(tools[0]) is ToolCallStart  # the arguments still follow their call's start
    view = View(model="gemini-3-pro-preview", tools=True, signed_calls=True)
    anthropic = anthropic_encoder(view)
    events = _sse_objects(b"".join(map(anthropic.feed, deltas)) + anthropic.finish())
    assert [e["content_block"]["id"] for e in events if e["type"] == "content_block_start"] == [SIGNED]
    joined = "".join(e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta")
    assert orjson.loads(joined) == {"city": "Rome"}
    responses = responses_encoder(view)
    events = _sse_objects(b"".join(map(responses.feed, deltas)) + responses.finish())
    assert [e["item"]["call_id"] for e in events if e["type"] == "response.output_item.added"] == [SIGNED]


def test_without_waiting_a_late_signature_misses_the_start_and_a_signed_stream_still_starts_calls() -> None:
    # (the decoder of a target that signs nothing starts a call as soon as it is named, as before)
    late = LATE_SIGNATURES["with-the-arguments"]
    assert [d.signature for d in _decoded(late, wait=False) if type(d) is ToolCallStart] == [None]
    # an unsigned call (Gemini signs only a step's first) is released by the next call, and at the finish
    second = {
        "index": 1,
        "id": "function-call-2",
        "type": "function",
        "function": {"name": "weather", "arguments": "{}"},
    }
    deltas = _decoded(
        [{"role": "assistant", "tool_calls": [{**CALL, "index": 0}]}, {"tool_calls": [second]}, {}], True
    )
    starts = [(d.id, d.signature) for d in deltas if type(d) is ToolCallStart]
    assert starts == [("function-call-1", SIGNATURE), ("function-call-2", None)]
    unsigned = [
        {"role": "assistant", "tool_calls": [{**_START, "function": {"name": "w", "arguments": "{}"}}]},
        {},
    ]
    assert [(d.id, d.signature) for d in _decoded(unsigned, True) if type(d) is ToolCallStart] == [
        ("function-call-1", None)
    ]
