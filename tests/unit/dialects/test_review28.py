"""review28: faults found in the cold review of session 28's merged change (pure translation)."""

from __future__ import annotations

from typing import Any

from services.gateway.dialects.translate_request import Target, chat_to_anthropic
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.routing.config import ProviderSpec

SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000, reasoning="anthropic_adaptive")
CALL = {
    "id": "toolu_01",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
}


def _tool_turn(assistant_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "high",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [CALL], **assistant_extra},
            {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        ],
    }


def test_a_null_reasoning_details_without_thinking_blocks_is_no_thinking_not_a_500() -> None:
    # bug28b read ``message["thinking_blocks"]`` whenever ``reasoning_details`` was None: a KeyError (a 500) for a
    # history whose assistant turn says ``"reasoning_details": null`` (as some SDKs serialise an unset field)
    out = chat_to_anthropic(_tool_turn({"reasoning_details": None}), SONNET).body
    assistant = out["messages"][1]
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]
    assert "thinking" not in out  # a tool turn without its thinking: thinking off (``keeps_thinking``)


def test_a_relay_the_file_says_takes_cache_markers_gets_no_prompt_cache_key_for_an_openai_name() -> None:
    # Before bug28b, ``cache_markers`` (the file's word: the relay takes Anthropic's cache_control markers) ruled
    # out ``prompt_cache_key`` (an ``elif``); bug28b's thinking_blocks test took the ``elif``'s place, so such a
    # relay serving a model under an OpenAI name got both: a field its server was not said to take.
    spec = ProviderSpec(
        name="relay", base_url="http://127.0.0.1:1/v1", models=("gpt-4.1",), cache_markers=True
    )
    target = ConfiguredProvider(spec, None).target("gpt-4.1")
    assert target.cache_markers and not target.prompt_cache_key
    plain = ConfiguredProvider(
        ProviderSpec(name="r", base_url="http://127.0.0.1:1/v1", models=("gpt-4.1",)), None
    )
    assert plain.target("gpt-4.1").prompt_cache_key  # the usual relay of OpenAI's model still gets it
    # and Claude its thinking_blocks
    assert plain.target("anthropic/claude-sonnet-4-5").claude_thinking_blocks
