"""Gemini 3's thought signatures on a history's function calls (``openai_compat.unsigned_calls_skip_validation``;
s21 variant 04-vA): the first call of each assistant step gets the documented dummy when none of its calls is
signed (Gemini API docs, "Thought signatures"); signed steps, other messages and the client's body stay as they are."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from services.gateway.dialects.ir import ToolCallStart, ToolUseBlock
from services.gateway.dialects.openai_chat import ChatStreamDecoder, completion_from_chat
from services.gateway.providers.openai_compat import (
    SKIP_THOUGHT_SIGNATURE,
    OpenRouterProvider,
    signatures_into_details,
    signs_tool_calls,
    unsigned_calls_skip_validation,
    unsigned_steps_skip_validation_in_details,
)
from shared.sse import SSEEvent


def _call(n: int, signature: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    if signature is not None:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


@pytest.mark.parametrize(
    ("model", "signs"),
    [
        ("gemini-3-pro-preview", True),
        ("gemini-3.1-pro-preview", True),
        ("models/gemini-3-flash-preview", True),
        ("google/gemini-3-pro-preview", True),
        ("gemini-2.5-flash", False),
        ("gemini-1.5-pro", False),
        ("gpt-4o", False),
    ],
)
def test_which_models_validate_signatures(model: str, signs: bool) -> None:
    assert signs_tool_calls(model) is signs


def test_each_unsigned_step_gets_the_dummy_on_its_first_call_only() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [_call(1), _call(2)]},  # parallel, unsigned
            {"role": "tool", "tool_call_id": "call_1", "content": "a"},
            {"role": "tool", "tool_call_id": "call_2", "content": "b"},
            {"role": "assistant", "content": None, "tool_calls": [_call(3, "GemSig==")]},  # Gemini's own
            {"role": "tool", "tool_call_id": "call_3", "content": "c"},
        ]
    }
    before = copy.deepcopy(body)
    messages = body["messages"]
    assert unsigned_calls_skip_validation(body)
    calls = body["messages"][1]["tool_calls"]
    assert calls[0]["extra_content"] == {"google": {"thought_signature": SKIP_THOUGHT_SIGNATURE}}
    assert "extra_content" not in calls[1]
    assert body["messages"][4] is messages[4]  # a signed step is left as it is
    assert messages == before["messages"]  # the client's messages were copied, not changed


def test_a_body_without_unsigned_calls_is_unchanged() -> None:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    }
    assert not unsigned_calls_skip_validation(body)
    assert not unsigned_calls_skip_validation({"messages": "not a list"})


def test_openrouter_unsigned_steps_get_a_gemini_reasoning_detail_for_their_first_call() -> None:
    """OpenRouter's place for Gemini's signature: a reasoning_details entry (reasoning.encrypted, format
    google-gemini-v1, id = the call's id; OpenRouter docs, "Reasoning Tokens"); s22 variant 04-orgem-vA."""
    other = {"type": "reasoning.text", "text": "t", "format": "unknown", "index": 0}
    own = {"type": "reasoning.encrypted", "data": "GemSig==", "id": "call_3", "format": "google-gemini-v1"}
    body: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_details": [other],
                "tool_calls": [_call(1), _call(2)],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a"},
            {"role": "tool", "tool_call_id": "call_2", "content": "b"},
            {"role": "assistant", "content": None, "reasoning_details": [own], "tool_calls": [_call(3)]},
            {"role": "tool", "tool_call_id": "call_3", "content": "c"},
            {"role": "assistant", "content": "done"},
        ]
    }
    before = copy.deepcopy(body)
    messages = body["messages"]
    assert unsigned_steps_skip_validation_in_details(body)
    assert body["messages"][1]["reasoning_details"] == [
        other,
        {
            "type": "reasoning.encrypted",
            "data": SKIP_THOUGHT_SIGNATURE,
            "id": "call_1",
            "format": "google-gemini-v1",
            "index": 1,
        },
    ]
    assert body["messages"][4] is messages[4] and body["messages"][6] is messages[6]
    assert messages == before["messages"]  # copied, not changed in place
    assert not unsigned_steps_skip_validation_in_details(body)  # now every step is signed
    assert not unsigned_steps_skip_validation_in_details({"messages": None})


# Gemini's own signature through OpenRouter (s25 variants 04-orgem-sig-vG/vH): read from reasoning_details into the
# call (so into the id a translated client echoes), and given back in OpenRouter's place, not as the dummy.
_SIG = "CiQBjz1rX2Zha2VHZW1pbmlTaWduYXR1cmUrL0FCQ0RFRkdISUpLTA=="
_ENC = {"type": "reasoning.encrypted", "data": _SIG, "id": "call_1", "format": "google-gemini-v1", "index": 1}


def _or_chunks(deltas: list[dict[str, Any]]) -> list[Any]:
    dec = ChatStreamDecoder()
    dec.wait_for_signatures()
    out: list[Any] = []
    for delta in [*deltas, {}]:
        choice = {"index": 0, "delta": delta, "finish_reason": None if delta else "tool_calls"}
        chunk = {"id": "gen-1", "model": "google/gemini-3-pro-preview", "choices": [choice]}
        out += dec.feed(SSEEvent(event=None, data=orjson.dumps(chunk).decode()))
    return out + dec.finish()


@pytest.mark.parametrize("where", ["with-the-call", "after-the-call", "before-the-call", "without-id"])
def test_openrouter_gemini_signature_in_reasoning_details_signs_its_call(where: str) -> None:
    call = {"index": 0, **_call(1), "function": {"name": "f", "arguments": '{"a":1}'}}
    enc = {k: v for k, v in _ENC.items() if k != "id"} if where == "without-id" else _ENC
    deltas = {
        "with-the-call": [{"tool_calls": [call], "reasoning_details": [enc]}],
        "after-the-call": [{"tool_calls": [call]}, {"reasoning_details": [enc]}],
        "before-the-call": [{"reasoning_details": [enc]}, {"tool_calls": [call]}],
        "without-id": [{"reasoning_details": [enc]}, {"tool_calls": [call]}],
    }[where]
    starts = [(d.id, d.signature) for d in _or_chunks(deltas) if type(d) is ToolCallStart]
    assert starts == [("call_1", _SIG)]
    message = {"role": "assistant", "content": None, "tool_calls": [_call(1), _call(2)]}
    whole = completion_from_chat({"choices": [{"message": {**message, "reasoning_details": [enc]}}]})
    assert [b.signature for b in whole.content if isinstance(b, ToolUseBlock)] == [_SIG, None]


def test_openrouter_gemini_gets_its_signature_back_in_reasoning_details_not_the_dummy() -> None:
    other = {"type": "reasoning.text", "text": "t", "format": "google-gemini-v1", "index": 0}
    signed = {
        "role": "assistant",
        "content": None,
        "reasoning_details": [other],
        "tool_calls": [_call(1, _SIG), _call(2)],
    }
    already = {
        "role": "assistant",
        "content": None,
        "reasoning_details": [_ENC],
        "tool_calls": [_call(1, _SIG)],
    }
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "go"}, signed, already]}
    before = copy.deepcopy(body)
    assert signatures_into_details(body)
    first, second = body["messages"][1], body["messages"][2]
    assert first["reasoning_details"] == [other, {**_ENC, "index": 1}]
    assert first["tool_calls"] == [_call(1), _call(2)]  # no extra_content left for OpenRouter
    assert second["reasoning_details"] == [_ENC] and second["tool_calls"] == [
        _call(1)
    ]  # its own entry kept once
    assert before == {
        "messages": [{"role": "user", "content": "go"}, signed, already]
    }  # not changed in place
    assert not unsigned_steps_skip_validation_in_details(body)  # signed: no dummy
    assert not signatures_into_details(body) and not signatures_into_details({"messages": None})


def test_openrouter_gemini_is_a_target_that_takes_signatures_and_moves_them() -> None:
    provider = OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")
    assert provider.target("google/gemini-3-pro-preview").thought_signatures
    assert provider.target("google/gemini-2.5-pro").thought_signatures
    assert not provider.target("anthropic/claude-sonnet-4.5").thought_signatures
    body: dict[str, Any] = {
        "model": "google/gemini-2.5-pro",
        "messages": [{"role": "assistant", "content": None, "tool_calls": [_call(1, _SIG)]}],
    }
    provider.prepare(body, False, "openai_chat")
    assert body["messages"][0]["reasoning_details"] == [{**_ENC, "index": 0}]
