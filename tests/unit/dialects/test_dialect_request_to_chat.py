"""anthropic_to_chat: Anthropic Messages requests (Claude Code, anthropic SDK) → OpenAI Chat requests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from dialect_helpers import request_fixture

from services.gateway.dialects.translate_request import Target, TranslationError, anthropic_to_chat

GPT5 = Target(model="gpt-5", max_output_tokens=32000, reasoning="reasoning_effort")
GROK = Target(model="grok-4", max_output_tokens=16384, max_tokens_field="max_tokens")
OPENROUTER = Target(model="deepseek/deepseek-r1", max_tokens_field="max_tokens", reasoning="openrouter")


def body_with(**fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return body_with(messages=[{"role": "user", "content": list(blocks)}])


def test_claude_code_tool_result_turn() -> None:
    src = request_fixture("claude_code_tool_result_turn")
    out = anthropic_to_chat(src, GPT5)
    body = out.body
    assert body["model"] == "gpt-5" and body["max_completion_tokens"] == 32000  # 64000 clamped
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "high"  # output_config.effort
    assert body["user"] == hashlib.sha256(src["metadata"]["user_id"].encode()).hexdigest()[:32]
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "system", "assistant", "tool"]
    system = messages[0]["content"]
    assert system.startswith("You are a Claude agent, built on Anthropic's Claude Agent SDK.\n\n")
    assert [p["type"] for p in messages[1]["content"]] == ["text", "text"]
    assert messages[1]["content"][1]["text"] == "List the files in the current directory. Use a tool."
    assert messages[2]["content"].startswith("Available agent types for the Agent tool:")
    assert messages[3] == {
        "role": "assistant",
        "content": "I'll use a tool for that.",
        "tool_calls": [
            {
                "id": "toolu_fake7e5f3e497a284f47af704575",
                "type": "function",
                "function": {
                    "name": "Bash",
                    "arguments": '{"command":"ls","description":"List files in the current directory"}',
                },
            }
        ],
    }
    assert messages[4] == {
        "role": "tool",
        "tool_call_id": "toolu_fake7e5f3e497a284f47af704575",
        "content": "README.txt\napp.py",
    }
    assert [t["function"]["name"] for t in body["tools"]] == ["Agent", "Bash", "Read", "WebSearch"]
    bash = body["tools"][1]["function"]
    assert (
        bash["parameters"] == src["tools"][1]["input_schema"]
        and bash["description"] == src["tools"][1]["description"]
    )
    assert out.tool_names == {}
    text = json.dumps(body)
    for dropped in (
        "x-anthropic-billing-header",
        "cache_control",
        "context_management",
        "fake thinking",
        "signature",
    ):
        assert dropped not in text
    assert set(body) == {
        "model",
        "messages",
        "max_completion_tokens",
        "tools",
        "reasoning_effort",
        "user",
        "stream",
        "stream_options",
    }


def test_anthropic_sdk_tool_result_conversation() -> None:
    body = anthropic_to_chat(request_fixture("anthropic_sdk_tool_result"), GROK).body
    assert body["max_tokens"] == 256 and "max_completion_tokens" not in body
    assert body["messages"] == [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C sunny"},
    ]
    assert "stream" not in body and "stream_options" not in body and "reasoning_effort" not in body


def test_anthropic_sdk_thinking_request_for_each_reasoning_style() -> None:
    src = request_fixture("anthropic_sdk_thinking_stream")  # thinking enabled, budget 1024
    assert anthropic_to_chat(src, GPT5).body["reasoning_effort"] == "low"
    assert anthropic_to_chat(src, OPENROUTER).body["reasoning"] == {"effort": "low"}
    plain = anthropic_to_chat(src, Target(model="gpt-4o-mini")).body
    assert (
        "reasoning_effort" not in plain
        and "reasoning" not in plain
        and plain["max_completion_tokens"] == 2048
    )


@pytest.mark.parametrize(
    ("fields", "effort"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 10000}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 20000}}, "high"),
        ({"thinking": {"type": "adaptive"}}, None),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}, "medium"),
        ({"output_config": {"effort": "xhigh"}}, "high"),
        ({"output_config": {"effort": "max"}}, "high"),
        ({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}}, None),
    ],
)
def test_thinking_to_reasoning_effort(fields: dict[str, Any], effort: str | None) -> None:
    assert anthropic_to_chat(body_with(**fields), GPT5).body.get("reasoning_effort") == effort


def test_system_blocks_joined_and_billing_header_dropped() -> None:
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli;"},
        {"type": "text", "text": "First.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Second."},
    ]
    messages = anthropic_to_chat(body_with(system=system), GPT5).body["messages"]
    assert messages[0] == {"role": "system", "content": "First.\n\nSecond."}
    assert anthropic_to_chat(body_with(system="Be brief."), GPT5).body["messages"][0] == {
        "role": "system",
        "content": "Be brief.",
    }
    assert anthropic_to_chat(body_with(system=[]), GPT5).body["messages"][0]["role"] == "user"


def test_images_and_documents() -> None:
    body = user(
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"},
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
        {"type": "text", "text": "Describe these."},
    )
    assert anthropic_to_chat(body, GPT5).body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {
            "type": "file",
            "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0"},
        },
        {"type": "text", "text": "plain doc"},
        {"type": "text", "text": "Describe these."},
    ]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image", "source": {"type": "file", "file_id": "file_011"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_012"}},
    ],
)
def test_unmappable_sources_are_translation_errors(block: dict[str, Any]) -> None:
    with pytest.raises(TranslationError) as info:
        anthropic_to_chat(user({"type": "text", "text": "x"}, block), GPT5)
    assert info.value.param == "messages.0.content.1"


def test_tool_results_go_first_flattened_with_error_prefix_and_images_after() -> None:
    body = user(
        {"type": "text", "text": "Here are the results."},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_a",
            "content": [
                {"type": "text", "text": "line 1"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
                {"type": "text", "text": "line 2"},
            ],
        },
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "command not found", "is_error": True},
        {"type": "tool_result", "tool_use_id": "toolu_c"},
    )
    assert anthropic_to_chat(body, GPT5).body["messages"] == [
        {"role": "tool", "tool_call_id": "toolu_a", "content": "line 1\nline 2"},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "Error: command not found"},
        {"role": "tool", "tool_call_id": "toolu_c", "content": ""},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
                {"type": "text", "text": "Here are the results."},
            ],
        },
    ]


def test_thinking_only_assistant_turn_is_dropped_and_empty_text_skipped() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "q"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "redacted_thinking", "data": "d"},
            ],
        },
        {"role": "assistant", "content": "plain answer"},
    ]
    assert anthropic_to_chat(body_with(messages=messages), GPT5).body["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "plain answer"},
    ]


def test_server_tools_dropped_and_names_sanitized_consistently() -> None:
    long_name = "mcp__" + "very_long_server_name_" * 4 + "tool"
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "custom", "name": "mcp__github.com__create/issue", "input_schema": {"type": "object"}},
        {
            "name": long_name,
            "description": "long",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        },
        {"name": "plain"},
    ]
    history = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "mcp__github.com__create/issue", "input": {}}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
    ]
    choice = {"type": "tool", "name": long_name}
    out = anthropic_to_chat(body_with(tools=tools, messages=history, tool_choice=choice), GPT5)
    names = [t["function"]["name"] for t in out.body["tools"]]
    assert names[0] == "mcp__github_com__create_issue" and names[2] == "plain" and len(names) == 3
    assert len(names[1]) == 64 and names[1].startswith("mcp__very_long_server_name_")
    assert out.tool_names == {names[0]: "mcp__github.com__create/issue", names[1]: long_name}
    assert out.body["messages"][1]["tool_calls"][0]["function"]["name"] == names[0]
    assert out.body["tool_choice"] == {"type": "function", "function": {"name": names[1]}}
    assert out.body["tools"][2]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert "cache_control" not in json.dumps(out.body["tools"])


def test_colliding_sanitized_names_stay_unique() -> None:
    tools = [
        {"name": "a.b", "input_schema": {"type": "object"}},
        {"name": "a_b", "input_schema": {"type": "object"}},
    ]
    out = anthropic_to_chat(body_with(tools=tools), GPT5)
    names = [t["function"]["name"] for t in out.body["tools"]]
    assert names[0] == "a_b" and names[1].startswith("a_b_") and out.tool_names[names[1]] == "a_b"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        ({"type": "tool", "name": "f"}, {"tool_choice": {"type": "function", "function": {"name": "f"}}}),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            {"tool_choice": "required", "parallel_tool_calls": False},
        ),
        (None, {}),
    ],
)
def test_tool_choice(choice: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"tools": [{"name": "f", "input_schema": {"type": "object"}}]}
    if choice is not None:
        fields["tool_choice"] = choice
    body = anthropic_to_chat(body_with(**fields), GPT5).body
    assert {k: body[k] for k in ("tool_choice", "parallel_tool_calls") if k in body} == expected


def test_tool_choice_without_tools_is_dropped() -> None:
    body = anthropic_to_chat(
        body_with(tool_choice={"type": "any", "disable_parallel_tool_use": True}), GPT5
    ).body
    assert "tool_choice" not in body and "parallel_tool_calls" not in body


def test_sampling_stop_and_format() -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    body = anthropic_to_chat(
        body_with(
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["a", "b", "c", "d", "e"],
            output_config={"format": {"type": "json_schema", "schema": schema}},
            stream=False,
        ),
        GROK,
    ).body
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.2, 0.9, ["a", "b", "c", "d"])
    reasoning_model = anthropic_to_chat(body_with(temperature=0.2, top_p=0.9), GPT5).body
    assert "temperature" not in reasoning_model and "top_p" not in reasoning_model
    assert "top_k" not in body and "stream" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


def test_max_tokens_is_required_and_only_clamped_downwards() -> None:
    with pytest.raises(TranslationError) as info:
        anthropic_to_chat({"model": "m", "messages": []}, GPT5)
    assert info.value.param == "max_tokens"
    assert str(info.value) == "max_tokens: Field required"
    for wrong, words in (
        (2.5, "a valid integer"),
        (False, "a valid integer"),
        (0, "greater than or equal to 1"),
    ):
        with pytest.raises(TranslationError) as info:
            anthropic_to_chat(body_with(max_tokens=wrong), GPT5)
        assert str(info.value) == f"max_tokens: Input should be {words}"
    assert anthropic_to_chat(body_with(max_tokens=500), GPT5).body["max_completion_tokens"] == 500


@pytest.mark.parametrize("messages", [None, "hi", [{"role": "tool", "content": "x"}]])
def test_malformed_messages_are_translation_errors(messages: Any) -> None:
    with pytest.raises(TranslationError):
        anthropic_to_chat(body_with(messages=messages), GPT5)


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (5, "messages.0.content"),
        ({"type": "text", "text": "x"}, "messages.0.content"),
        (None, "messages.0.content"),
        ([{"type": "text"}], "messages.0.content.0.text"),
        ([{"type": "text", "text": 7}], "messages.0.content.0.text"),
    ],
)
def test_user_content_of_a_wrong_type_is_a_400_not_dropped(content: Any, param: str) -> None:
    """s10 variant 00: a user message whose content is not a string or list (or a text block without a
    string text) was dropped, and an empty conversation sent upstream."""
    with pytest.raises(TranslationError) as info:
        anthropic_to_chat(body_with(messages=[{"role": "user", "content": content}]), GPT5)
    assert info.value.param == param
