"""A chat request's output-token limit below 1 on a translated route: OpenAI's own 400, not the default (pure).

OpenAI's API reference ("Create chat completion") declares ``max_completion_tokens`` and ``max_tokens`` integers
>= 1 and answers 0 or a negative with "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1,
but got 0 instead." Before session 29 the translators read such a value as "not set" and sent Claude the
gateway's default 8192 (bug29b variant 17-chat-max-tokens-negative-claude-stream-vD).
"""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects._request_common import Target, TranslationError, chat_token_limit
from services.gateway.dialects._request_to_anthropic import chat_to_anthropic
from services.gateway.dialects._request_to_responses import chat_to_responses

SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000, reasoning="anthropic_budget")
GPT5 = Target(model="gpt-5", max_output_tokens=128000, reasoning="reasoning_effort")
MSG = [{"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
FIELDS = ("max_tokens", "max_completion_tokens")


def _words(field: str, value: int) -> str:
    return f"Invalid '{field}': integer below minimum value. Expected a value >= 1, but got {value} instead."


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [0, -1, -32000])
def test_a_limit_below_one_is_openais_400_naming_the_field(field: str, value: int) -> None:
    with pytest.raises(TranslationError) as info:
        chat_token_limit({field: value})
    assert info.value.param == field and str(info.value) == _words(field, value)


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ({}, None),
        ({"max_tokens": None, "max_completion_tokens": None}, None),  # null: not set
        ({"max_tokens": 100}, 100),
        ({"max_completion_tokens": 200, "max_tokens": 100}, 200),  # the newer field first
        ({"max_tokens": 1}, 1),
    ],
)
def test_a_set_limit_is_read_and_an_unset_one_is_none(body: dict[str, Any], want: int | None) -> None:
    assert chat_token_limit(body) == want


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("tools", [False, True], ids=["plain", "general"])
def test_chat_to_claude_refuses_it_on_the_plain_and_the_general_path(
    field: str, value: int, stream: bool, tools: bool
) -> None:
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "messages": MSG, "stream": stream, field: value}
    if tools:
        body["tools"] = TOOLS
    with pytest.raises(TranslationError) as info:
        chat_to_anthropic(body, SONNET)
    assert info.value.param == field and str(info.value) == _words(field, value)


@pytest.mark.parametrize("field", FIELDS)
def test_chat_to_responses_refuses_it(field: str) -> None:
    with pytest.raises(TranslationError) as info:
        chat_to_responses({"model": "gpt-5", "messages": MSG, field: -1}, GPT5)
    assert info.value.param == field


def test_a_valid_limit_is_still_clamped_and_none_still_takes_the_default() -> None:
    assert (
        chat_to_anthropic({"model": "c", "messages": MSG, "max_tokens": 100000}, SONNET).body["max_tokens"]
        == 64000
    )
    assert (
        chat_to_anthropic({"model": "c", "messages": MSG, "max_tokens": None}, SONNET).body["max_tokens"]
        == 8192
    )
    assert (
        chat_to_responses({"model": "g", "messages": MSG, "max_tokens": 10}, GPT5).body["max_output_tokens"]
        == 10
    )
