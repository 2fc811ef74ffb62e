"""The history's thinking goes back as ``reasoning_content`` to a chat server that takes it (s20 variants 04-x..04-ab).

DeepSeek's thinking mode refuses a tool loop without it (400 "Missing `reasoning_content` field in the assistant
message at message index N": api-docs.deepseek.com/guides/thinking_mode#tool-calls); other servers may refuse the
unknown field (Groq), so it goes only where ``Target.reasoning_content`` says (by the model's family, or the
catalog's ``reasoning_content``)."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects.translate_request import (
    Target,
    anthropic_to_chat,
    responses_to_anthropic,
    responses_to_chat,
)
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.openai_compat import keeps_reasoning_content
from services.gateway.routing.config import CatalogError, parse_catalog

REASON = "The user wants Paris weather; I should call the weather tool."
TAKES = Target(model="deepseek-reasoner", max_tokens_field="max_tokens", reasoning_content=True)
PLAIN = Target(model="llama-3.3-70b", max_tokens_field="max_tokens")
CALL = {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}}


def _anthropic(*assistant: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": list(assistant)},
        {"role": "user", "content": [result]},
    ]
    return {"model": "deepseek-reasoner", "max_tokens": 1024, "messages": messages}


def _assistant(out: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in out["messages"] if m["role"] == "assistant")


def test_thinking_blocks_go_back_as_reasoning_content_to_a_target_that_takes_it() -> None:
    thinking = {"type": "thinking", "thinking": REASON, "signature": "ekai-gateway-synthetic-signature"}
    body = _anthropic(thinking, CALL)
    assert _assistant(anthropic_to_chat(body, TAKES).body)["reasoning_content"] == REASON
    assert "reasoning_content" not in _assistant(anthropic_to_chat(body, PLAIN).body)
    # several blocks join; redacted and empty thinking add nothing; a message without thinking gets no field
    parts = [
        {"type": "thinking", "thinking": "One. ", "signature": "s"},
        {"type": "redacted_thinking", "data": "x"},
    ]
    parts.append({"type": "thinking", "thinking": "Two.", "signature": "s"})
    assert (
        _assistant(anthropic_to_chat(_anthropic(*parts, CALL), TAKES).body)["reasoning_content"]
        == "One. Two."
    )
    empty = {"type": "thinking", "thinking": "", "signature": "s"}
    assert "reasoning_content" not in _assistant(anthropic_to_chat(_anthropic(empty, CALL), TAKES).body)
    assert "reasoning_content" not in _assistant(anthropic_to_chat(_anthropic(CALL), TAKES).body)


def _responses(reasoning: dict[str, Any]) -> dict[str, Any]:
    call = {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'}
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        reasoning,
        call,
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    tool = {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}
    return {"model": "deepseek-reasoner", "input": items, "tools": [tool], "store": False}


@pytest.mark.parametrize(
    "reasoning",
    [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": REASON}]},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "A summary."}],
            "content": [{"type": "reasoning_text", "text": REASON}],
        },
    ],
    ids=["summary", "reasoning_text"],
)
def test_reasoning_items_go_back_as_reasoning_content_to_a_target_that_takes_it(
    reasoning: dict[str, Any],
) -> None:
    body = _responses(reasoning)
    assert _assistant(responses_to_chat(body, TAKES).body)["reasoning_content"] == REASON
    plain = responses_to_chat(body, PLAIN).body
    assert "reasoning_content" not in _assistant(plain)
    # elsewhere nothing changes: the same messages as before, and Claude gets no block from such an item
    assert [m["role"] for m in plain["messages"]] == ["user", "assistant", "tool"]
    claude = Target(model="claude-sonnet-4-5", reasoning="anthropic_budget")
    sent = responses_to_anthropic(body, claude).body["messages"]
    assert [b["type"] for b in sent[1]["content"]] == ["tool_use"]


@pytest.mark.parametrize(
    ("model", "keeps"),
    [
        ("deepseek-reasoner", True),
        ("deepseek-chat", True),
        ("deepseek-ai/DeepSeek-V3.2", True),
        ("kimi-k2-thinking", True),
        ("moonshotai/Kimi-K2-Instruct", True),
        ("glm-4.6", True),
        ("qwen3-32b", False),
        ("llama-3.3-70b-versatile", False),
        ("gpt-oss-120b", False),
    ],
)
def test_which_models_take_reasoning_content_by_name(model: str, keeps: bool) -> None:
    assert keeps_reasoning_content(model) is keeps
    provider = ConfiguredProvider(parse_catalog({"providers": [_item(model)]}).providers[0], None)
    assert provider.target(model).reasoning_content is keeps


def _item(model: str, **extra: Any) -> dict[str, Any]:
    return {"name": "x", "base_url": "http://h/v1", "models": [model], **extra}


def test_the_catalog_says_it_for_a_provider() -> None:
    on = ConfiguredProvider(
        parse_catalog({"providers": [_item("qwen3", reasoning_content=True)]}).providers[0], None
    )
    assert on.target("qwen3").reasoning_content is True
    off = _item("deepseek-reasoner", reasoning_content=False)
    assert (
        ConfiguredProvider(parse_catalog({"providers": [off]}).providers[0], None)
        .target("deepseek-reasoner")
        .reasoning_content
        is False
    )
    with pytest.raises(CatalogError, match="reasoning_content"):
        parse_catalog({"providers": [_item("m", reasoning_content="yes")]})
