"""bug33b variants 04n/04o/04p: a tool loop begun on another provider whose call ids Anthropic's pattern refuses.

Moonshot's Kimi K2 names its calls ``functions.<name>:<n>``. Claude Code gets that id in its ``tool_use`` block and
sends it back, in ``tool_use.id`` and ``tool_result.tool_use_id``, when the conversation moves to Claude; Anthropic
refuses any id outside ``^[a-zA-Z0-9_-]+$`` (400 "String should match pattern"). ``strip_for_anthropic`` (run on
the passthrough path too) gives both the same id in the pattern, as the chat translator does; for Claude on
OpenRouter's chat wire ``openai_compat.claude_tool_ids`` does the same to ``tool_calls[].id`` / ``tool_call_id``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from services.gateway.dialects._anthropic_wire import anthropic_takes_id, anthropic_tool_id
from services.gateway.dialects._minted import strip_for_anthropic
from services.gateway.dialects.translate_request import Target, chat_to_anthropic
from services.gateway.providers.openai_compat import claude_tool_ids
from tests.e2e_builders import ANTHROPIC_ID, KIMI_CALL_ID, tool_ids

SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000)


def _loop(call_id: str) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": call_id, "name": "weather", "input": {"city": "Paris"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "Sunny"}],
            },
        ],
    }


def test_a_kimi_call_id_reaches_anthropic_in_its_pattern_on_both_blocks() -> None:
    body = _loop(KIMI_CALL_ID)
    sent = copy.deepcopy(body)
    assert strip_for_anthropic(body) is True
    assert tool_ids(body) == ["functions_weather_0", "functions_weather_0"]
    assert all(ANTHROPIC_ID.match(i) for i in tool_ids(body))
    assert body["messages"][1]["content"][0]["input"] == {"city": "Paris"}
    assert sent == _loop(KIMI_CALL_ID)  # the client's body is copied, not changed in place


def test_ids_in_the_pattern_are_left_alone() -> None:
    for call_id in ("toolu_01A09q90qw90lq917835lq9", "call_abc-DEF_123"):
        body = _loop(call_id)
        assert strip_for_anthropic(body) is False
        assert tool_ids(body) == [call_id, call_id]


def test_the_translator_and_the_passthrough_agree_on_the_id() -> None:
    """A chat client's history (translated) and Claude Code's (passthrough) give Anthropic the same id."""
    chat = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": KIMI_CALL_ID,
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": KIMI_CALL_ID, "content": "Sunny"},
        ],
    }
    translated = chat_to_anthropic(chat, SONNET).body
    passthrough = _loop(KIMI_CALL_ID)
    strip_for_anthropic(passthrough)
    assert tool_ids(translated) == tool_ids(passthrough) == [anthropic_tool_id(KIMI_CALL_ID)] * 2


def test_anthropic_tool_id() -> None:
    assert anthropic_tool_id("functions.get weather:12") == "functions_get_weather_12"
    same = "toolu_01"
    assert anthropic_tool_id(same) is same


def _chat_loop(call_id: str) -> dict[str, Any]:
    return {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": "{}"}},
                    {
                        "id": "toolu_01ok",
                        "type": "function",
                        "function": {"name": "weather", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "Sunny"},
            {"role": "tool", "tool_call_id": "toolu_01ok", "content": "Rainy"},
        ],
    }


def test_claude_on_openrouter_gets_call_ids_in_anthropics_pattern() -> None:
    """bug33b variant 04p: OpenRouter hands the ids to Anthropic as they are (tailcallhq/forgecode#1142)."""
    body = _chat_loop(KIMI_CALL_ID)
    client_messages = body["messages"]
    assert claude_tool_ids(body) is True
    calls = body["messages"][1]["tool_calls"]
    assert [c["id"] for c in calls] == ["functions_weather_0", "toolu_01ok"]
    assert [m["tool_call_id"] for m in body["messages"][2:]] == ["functions_weather_0", "toolu_01ok"]
    assert client_messages == _chat_loop(KIMI_CALL_ID)["messages"]  # copies, the client's list kept
    assert body["messages"][3] is client_messages[3]  # an untouched message is not copied


def test_claude_on_openrouter_ids_in_the_pattern_change_nothing() -> None:
    body = _chat_loop("call_abc123")
    messages = body["messages"]
    assert claude_tool_ids(body) is False
    assert body["messages"] is messages


def test_anthropic_takes_id_is_the_pattern() -> None:
    for call_id in (
        "toolu_01A",
        "call-x_Y9",
        KIMI_CALL_ID,
        "",
        "é",
        "a b",
        "ａ",
        "٣",
        "_-",
        "x\n",
        "ß",
    ):
        assert anthropic_takes_id(call_id) is bool(re.fullmatch(r"[a-zA-Z0-9_-]+", call_id)), call_id
