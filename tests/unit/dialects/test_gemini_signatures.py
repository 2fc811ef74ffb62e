"""Gemini 3's thought signatures on a history's function calls (``openai_compat.unsigned_calls_skip_validation``;
s21 variant 04-vA): the first call of each assistant step gets the documented dummy when none of its calls is
signed (Gemini API docs, "Thought signatures"); signed steps, other messages and the client's body stay as they are."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.gateway.providers.openai_compat import (
    SKIP_THOUGHT_SIGNATURE,
    signs_tool_calls,
    unsigned_calls_skip_validation,
    unsigned_steps_skip_validation_in_details,
)


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
