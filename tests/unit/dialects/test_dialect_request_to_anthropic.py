"""chat_to_anthropic: OpenAI Chat requests (openai SDK and friends) → Anthropic Messages requests."""

from __future__ import annotations

from typing import Any

import pytest
from dialect_helpers import request_fixture

from services.gateway.dialects.translate_request import Target, TranslatedRequest, TranslationError
from services.gateway.dialects.translate_request import chat_to_anthropic as translate


def unmarked(value: Any) -> Any:
    """``value`` without the ``cache_control`` markers the gateway places (tested on their own below)."""
    if isinstance(value, dict):
        return {k: unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [unmarked(v) for v in value]
    return value


def chat_to_anthropic(body: dict[str, Any], target: Target) -> TranslatedRequest:
    out = translate(body, target)
    return TranslatedRequest(unmarked(out.body), out.tool_names)


SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000, reasoning="anthropic_adaptive")
HAIKU = Target(model="claude-3-5-haiku", max_output_tokens=4096, default_max_tokens=8192)
BUDGET = Target(model="claude-3-7-sonnet", max_output_tokens=64000, reasoning="anthropic_budget")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def body_with(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **fields}


def test_openai_sdk_tool_result_conversation() -> None:
    out = chat_to_anthropic(request_fixture("openai_sdk_tool_result"), HAIKU)
    assert out.tool_names == {}
    assert out.body == {
        "model": "claude-3-5-haiku",
        "max_tokens": 4096,  # the 8192 default, clamped to the model
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18C sunny"}],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "input_schema": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}},
                    "required": ["location"],
                },
                "description": "Get the weather for a city",
            }
        ],
    }


def test_openai_sdk_streaming_request() -> None:
    body = chat_to_anthropic(request_fixture("openai_sdk_stream_usage"), SONNET).body
    assert body["stream"] is True and "stream_options" not in body and body["max_tokens"] == 8192


def test_system_and_developer_messages_are_hoisted_in_order() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Use British spelling."}]},
        {"role": "user", "content": "again"},
    ]
    body = chat_to_anthropic(body_with(messages=messages), SONNET).body
    assert body["system"] == [{"type": "text", "text": "Be brief.\nUse British spelling."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}
    ]


def test_images_files_and_empty_text() -> None:
    content = [
        {"type": "text", "text": ""},
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGR", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0"}},
    ]
    body = chat_to_anthropic(body_with(messages=[{"role": "user", "content": content}]), SONNET).body
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGR"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"},
        },
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0"}},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "file", "file": {"filename": "a.txt", "file_data": "data:text/plain;base64,aGk="}},
        {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
    ],
)
def test_unsupported_parts_are_translation_errors(part: dict[str, Any]) -> None:
    with pytest.raises(TranslationError) as info:
        chat_to_anthropic(body_with(messages=[{"role": "user", "content": [part]}]), SONNET)
    assert info.value.param is not None and info.value.param.startswith("messages[0].content.0")


def test_parallel_tool_results_become_one_user_turn_with_results_first() -> None:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "functions.g:1", "type": "function", "function": {"name": "g", "arguments": '{"y": "cut off'}},
    ]
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": "A"},
        {"role": "tool", "tool_call_id": "functions.g:1", "content": [{"type": "text", "text": "B"}]},
        {"role": "user", "content": "thanks, now summarise"},
    ]
    body = chat_to_anthropic(body_with(messages=messages), SONNET).body
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_a", "name": "f", "input": {"x": 1}},
                {"type": "tool_use", "id": "functions_g_1", "name": "g", "input": {}},  # invalid JSON → {}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "A"},
                {
                    "type": "tool_result",
                    "tool_use_id": "functions_g_1",
                    "content": [{"type": "text", "text": "B"}],
                },
                {"type": "text", "text": "thanks, now summarise"},
            ],
        },
    ]


def test_user_text_before_tool_results_is_moved_after_them() -> None:
    messages = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "user", "content": "note"},
        {"role": "tool", "tool_call_id": "c1", "content": ""},
    ]
    turns = chat_to_anthropic(body_with(messages=messages), SONNET).body["messages"]
    assert turns[1]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1"},
        {"type": "text", "text": "note"},
    ]


def test_empty_assistant_message_does_not_split_user_turns() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "b"},
    ]
    turns = chat_to_anthropic(body_with(messages=messages), SONNET).body["messages"]
    assert turns == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_tool_message_without_id_is_an_error() -> None:
    with pytest.raises(TranslationError) as info:
        chat_to_anthropic(body_with(messages=[{"role": "tool", "content": "x"}]), SONNET)
    assert info.value.param == "messages[0].tool_call_id"


def test_legacy_functions_and_function_messages() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": '{"location": "Oslo"}'},
        },
        {"role": "function", "name": "get_weather", "content": "-3C"},
    ]
    functions = [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    body = chat_to_anthropic(
        body_with(messages=messages, functions=functions, function_call={"name": "get_weather"}), SONNET
    ).body
    tool_use = body["messages"][1]["content"][0]
    assert tool_use == {
        "type": "tool_use",
        "id": "call_1_fn",
        "name": "get_weather",
        "input": {"location": "Oslo"},
    }
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1_fn", "content": "-3C"}
    ]
    assert body["tools"] == [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}


def test_tools_without_parameters_and_custom_tools() -> None:
    tools = [
        {"type": "function", "function": {"name": "now", "strict": True}},
        {"type": "custom", "custom": {"name": "apply_patch", "description": "Apply a patch"}},
        {"type": "web_search"},
    ]
    assert chat_to_anthropic(body_with(tools=tools), SONNET).body["tools"] == [
        {"name": "now", "input_schema": {"type": "object"}, "strict": True},
        {
            "name": "apply_patch",
            "input_schema": {
                "type": "object",
                "properties": {"input": {"type": "string"}},
                "required": ["input"],
            },
            "description": "Apply a patch",
        },
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            {"type": "tool", "name": "get_weather"},
        ),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
        ({}, None),
    ],
)
def test_tool_choice(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    body = chat_to_anthropic(body_with(tools=[WEATHER], **fields), SONNET).body
    assert body.get("tool_choice") == expected


def test_allowed_tools_filters_the_tool_list() -> None:
    other = {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}}
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "other"}}]},
    }
    body = chat_to_anthropic(body_with(tools=[WEATHER, other], tool_choice=choice), SONNET).body
    assert [t["name"] for t in body["tools"]] == ["other"] and body["tool_choice"] == {"type": "any"}


def test_no_tools_means_no_tool_choice() -> None:
    assert "tool_choice" not in chat_to_anthropic(body_with(tool_choice="required"), SONNET).body


def test_sampling_parameters() -> None:
    assert chat_to_anthropic(body_with(temperature=1.7, top_p=0.5), SONNET).body["temperature"] == 1.0
    assert "top_p" not in chat_to_anthropic(body_with(temperature=0.3, top_p=0.5), SONNET).body
    only_top_p = chat_to_anthropic(
        body_with(top_p=0.5, seed=7, presence_penalty=1, logprobs=True), SONNET
    ).body
    assert only_top_p["top_p"] == 0.5 and "temperature" not in only_top_p
    assert not {"seed", "presence_penalty", "logprobs"} & set(only_top_p)


def test_stop_user_and_max_tokens() -> None:
    body = chat_to_anthropic(
        body_with(stop="END", user="u-42", max_tokens=100, max_completion_tokens=200), SONNET
    ).body
    assert (
        body["stop_sequences"] == ["END"]
        and body["metadata"] == {"user_id": "u-42"}
        and body["max_tokens"] == 200
    )
    body = chat_to_anthropic(
        body_with(stop=["a", "b"], safety_identifier="hash-1", max_tokens=999999), SONNET
    ).body
    assert (
        body["stop_sequences"] == ["a", "b"]
        and body["metadata"] == {"user_id": "hash-1"}
        and body["max_tokens"] == 64000
    )


def test_n_greater_than_one_is_rejected() -> None:
    with pytest.raises(TranslationError) as info:
        chat_to_anthropic(body_with(n=2), SONNET)
    assert info.value.param == "n"
    assert chat_to_anthropic(body_with(n=1), SONNET).body["model"] == "claude-sonnet-4-5"


def test_reasoning_effort_adaptive() -> None:
    body = chat_to_anthropic(
        body_with(reasoning_effort="medium", temperature=0.2, tools=[WEATHER], tool_choice="required"), SONNET
    ).body
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "medium"}
    assert "temperature" not in body  # thinking needs the default sampling
    assert body["tool_choice"] == {"type": "auto"}  # forced tool use is refused while thinking
    assert chat_to_anthropic(body_with(reasoning_effort="minimal"), SONNET).body["output_config"] == {
        "effort": "low"
    }


def test_reasoning_effort_budget_fits_under_max_tokens() -> None:
    body = chat_to_anthropic(body_with(reasoning_effort="high", max_completion_tokens=40000), BUDGET).body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576} and "output_config" not in body
    # no limit from the client: the default answer room (8192) beside the budget, not 8191 of 8192 (s28 bug28c)
    roomy = chat_to_anthropic(body_with(reasoning_effort="high"), BUDGET).body
    assert roomy["thinking"] == {"type": "enabled", "budget_tokens": 24576} and roomy["max_tokens"] == 32768
    capped = chat_to_anthropic(body_with(reasoning_effort="high", max_tokens=8192), BUDGET).body
    assert capped["thinking"] == {"type": "enabled", "budget_tokens": 8191} and capped["max_tokens"] == 8192
    assert (
        "thinking" not in chat_to_anthropic(body_with(reasoning_effort="low", max_tokens=1000), BUDGET).body
    )


def test_an_open_tool_loop_goes_without_thinking() -> None:
    """s10 variant 04-f: a Chat client's tool loop (its last assistant message called a tool; its
    reasoning_content came from another provider, unsigned) continues on Claude with reasoning on. A Chat
    history has no signed thinking to start that turn with, and Anthropic refuses the turn while thinking
    is on (400 "Expected `thinking` or `redacted_thinking`, but found `tool_use`"): thinking goes, and
    with it the rules it forces (forced tool use, default sampling)."""
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    loop = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "reasoning_content": "Need the tool.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    fields = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0.2}
    for target in (SONNET, BUDGET):
        body = chat_to_anthropic(
            body_with(messages=loop, reasoning_effort="high", max_completion_tokens=40000, **fields), target
        ).body
        assert "thinking" not in body
        assert body["tool_choice"] == {"type": "any"} and body["temperature"] == 0.2
        assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_use"]
    # the loop finished (a text answer after the results): thinking stays on for the next question
    done = [*loop, {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "And Rome?"}]
    assert chat_to_anthropic(body_with(messages=done, reasoning_effort="high"), SONNET).body["thinking"] == {
        "type": "adaptive"
    }


def test_reasoning_effort_ignored_without_reasoning_target_or_when_none() -> None:
    assert "thinking" not in chat_to_anthropic(body_with(reasoning_effort="high"), HAIKU).body
    assert "thinking" not in chat_to_anthropic(body_with(reasoning_effort="none"), SONNET).body
    for bad in ("extreme", [], {}):
        with pytest.raises(TranslationError) as info:
            chat_to_anthropic(body_with(reasoning_effort=bad), SONNET)
        assert info.value.param == "reasoning_effort"


def test_response_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    rf = {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}}
    body = chat_to_anthropic(body_with(response_format=rf, reasoning_effort="low"), SONNET).body
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}
    body = chat_to_anthropic(body_with(response_format={"type": "json_object"}), SONNET).body
    assert "JSON object" in body["system"][0]["text"] and "output_config" not in body


# --- prompt caching: the gateway places the breakpoints (OpenAI clients send none) --------------------


def conversation(turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a careful assistant."}]
    for n in range(turns):
        messages.append({"role": "user", "content": f"question {n}"})
        if n < turns - 1:
            messages.append({"role": "assistant", "content": f"answer {n}"})
    return {"model": "gpt-4o", "messages": messages, "tools": [WEATHER]}


def marked_paths(body: dict[str, Any]) -> list[str]:
    found = []
    for i, block in enumerate(body.get("system") or []):
        found += [f"system.{i}"] if "cache_control" in block else []
    for i, tool in enumerate(body.get("tools") or []):
        found += [f"tools.{i}"] if "cache_control" in tool else []
    for i, message in enumerate(body["messages"]):
        for j, block in enumerate(message["content"] if isinstance(message["content"], list) else []):
            found += [f"messages.{i}.{j}"] if "cache_control" in block else []
    return found


def test_breakpoints_on_system_tools_and_the_last_two_user_turns() -> None:
    body = translate(conversation(3), SONNET).body
    assert "cache_control" not in body  # no top-level marker: explicit breakpoints only, within the limit
    assert marked_paths(body) == ["system.0", "tools.0", "messages.2.0", "messages.4.0"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_turn_two_marks_the_prefix_turn_one_wrote() -> None:
    """Turn 1's last breakpoint ends its prompt; turn 2 carries a breakpoint at the same block, so Anthropic
    reads that prefix instead of re-billing it."""
    one = translate(conversation(1), SONNET).body
    two = translate(conversation(2), SONNET).body
    last_one = marked_paths(one)[-1]
    assert last_one in marked_paths(two)
    assert one["messages"] == two["messages"][: len(one["messages"])]


@pytest.mark.parametrize("turns", [1, 2, 5])
def test_never_more_than_four_breakpoints(turns: int) -> None:
    assert len(marked_paths(translate(conversation(turns), SONNET).body)) <= 4


def test_no_breakpoint_on_a_thinking_or_empty_block() -> None:
    body = translate(
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}, SONNET
    ).body
    assert marked_paths(body) == []


@pytest.mark.parametrize("effort", [[], {}, 3, ["high"]])
def test_a_reasoning_effort_of_the_wrong_type_is_a_400_not_a_crash(effort: object) -> None:
    from services.gateway.dialects._request_common import Target, TranslationError
    from services.gateway.dialects.translate_request import chat_to_anthropic

    target = Target(model="claude-opus-4-8", max_output_tokens=32000, reasoning="anthropic_adaptive")
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort}
    with pytest.raises(TranslationError) as info:
        chat_to_anthropic(body, target)
    assert info.value.param == "reasoning_effort"


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (5, "messages[0].content"),
        ({"type": "text", "text": "x"}, "messages[0].content"),
        ([{"type": "text"}], "messages[0].content.0.text"),
        ([{"type": "text", "text": ["x"]}], "messages[0].content.0.text"),
    ],
)
def test_user_content_of_a_wrong_type_is_a_400_not_dropped(content: Any, param: str) -> None:
    """s10 variant 00: a user message whose content is not a string or list (or a text part without a
    string text) was dropped, and an empty conversation sent upstream."""
    with pytest.raises(TranslationError) as info:
        chat_to_anthropic(body_with(messages=[{"role": "user", "content": content}]), SONNET)
    assert info.value.param == param
