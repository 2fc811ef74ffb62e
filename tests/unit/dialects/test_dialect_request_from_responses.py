"""responses_to_chat / responses_to_anthropic: OpenAI Responses requests (Codex CLI, openai SDK) → chat / Anthropic."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pytest
from dialect_helpers import request_fixture

from services.gateway.dialects._request_common import Target, TranslationError
from services.gateway.dialects._request_from_responses import (
    COMPACTION_INSTRUCTION,
    COMPACTION_PREAMBLE,
    MISSING_OUTPUT,
    compact_to_responses,
    responses_to_anthropic,
    responses_to_chat,
    validate_responses_request,
)
from services.gateway.dialects._responses_opaque import (
    encode_compaction,
    encode_redacted_thinking,
    encode_thinking,
)

SONNET = Target(
    model="claude-sonnet-4-5",
    max_output_tokens=64000,
    default_max_tokens=8192,
    max_tokens_field="max_tokens",
    reasoning="anthropic_adaptive",
)
HAIKU = Target(
    model="claude-3-5-haiku", max_output_tokens=4096, default_max_tokens=8192, max_tokens_field="max_tokens"
)
BUDGET = Target(
    model="claude-3-7-sonnet",
    max_output_tokens=64000,
    max_tokens_field="max_tokens",
    reasoning="anthropic_budget",
)
GPT5 = Target(model="gpt-5", max_output_tokens=128000, reasoning="reasoning_effort", prompt_cache_key=True)
GPT4O = Target(model="gpt-4o-mini", max_output_tokens=16384, prompt_cache_key=True)
GROK = Target(model="grok-4", max_output_tokens=32000, max_tokens_field="max_tokens")
GROK_MINI = Target(model="grok-3-mini", max_tokens_field="max_tokens", reasoning="reasoning_effort")
OPENROUTER = Target(model="qwen/qwen3-coder", max_tokens_field="max_tokens", reasoning="openrouter")
ANTHROPIC_TARGETS = [SONNET, HAIKU, BUDGET]
CHAT_TARGETS = [GPT5, GPT4O, GROK, GROK_MINI, OPENROUTER]
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": False,
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files. This is a FREEFORM tool.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" LF hunk+'},
}
MULTI_AGENT = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents",
    "tools": [
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {}}},
        {"type": "function", "name": "wait", "description": "Wait for agents"},
    ],
}
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def call(
    call_id: str, name: str = "get_weather", arguments: str = '{"city":"Paris"}', **extra: Any
) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments, **extra}


def output(call_id: str, out: Any = "18C") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": out}


def body_with(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "client-model", "input": list(items) or [user("hi")], **fields}


# --- properties every translated body must have ------------------------------------------------------


def assert_valid_anthropic(body: dict[str, Any], target: Target) -> None:
    """What Anthropic checks: alternating roles from user, answered tool_use, names, ids, limits, caching."""
    turns = body["messages"]
    assert turns and turns[0]["role"] == "user"
    assert all(a["role"] != b["role"] for a, b in zip(turns, turns[1:], strict=False))
    assert body["max_tokens"] >= 1
    if target.max_output_tokens:
        assert body["max_tokens"] <= target.max_output_tokens
    for tool in body.get("tools", []):
        assert TOOL_NAME.match(tool["name"]), tool["name"]
        assert tool["input_schema"]["type"] == "object"
    for i, turn in enumerate(turns):
        assert turn["content"], "no empty turns"
        for block in turn["content"]:
            if block["type"] == "text":
                assert block["text"], "Anthropic rejects empty text blocks"
        uses = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        for block in turn["content"]:
            if block["type"] == "tool_use":
                assert re.match(r"^[a-zA-Z0-9_-]+$", block["id"])
                assert TOOL_NAME.match(block["name"])
        if uses:
            assert i + 1 < len(turns), "a tool_use must be answered"
            answer = turns[i + 1]["content"]
            results = [b["tool_use_id"] for b in answer if b["type"] == "tool_result"]
            assert sorted(results) == sorted(uses)
            kinds = [b["type"] for b in answer]
            assert kinds[: len(results)] == ["tool_result"] * len(results), "results open the user turn"
        if turn["role"] == "assistant":
            thinking = [
                j for j, b in enumerate(turn["content"]) if b["type"] in ("thinking", "redacted_thinking")
            ]
            assert "thinking" in body or not thinking, "thinking blocks only when thinking is on"
    text = orjson.dumps(body).decode()
    assert text.count('"cache_control"') <= 4


def assert_valid_chat(body: dict[str, Any]) -> None:
    """What OpenAI checks: tool calls answered right after, tool names and ids valid."""
    messages = body["messages"]
    assert any(m["role"] == "user" for m in messages)
    for tool in body.get("tools", []):
        assert TOOL_NAME.match(tool["function"]["name"]), tool["function"]["name"]
    for i, message in enumerate(messages):
        calls = message.get("tool_calls") or []
        ids = [c["id"] for c in calls]
        for c in calls:
            assert len(c["id"]) <= 40
            assert TOOL_NAME.match(c["function"]["name"])
            assert isinstance(c["function"]["arguments"], str)
        answered = [m["tool_call_id"] for m in messages[i + 1 : i + 1 + len(ids)] if m["role"] == "tool"]
        assert answered == ids
        if message["role"] == "tool":
            assert messages[i - 1]["role"] in ("assistant", "tool")


# --- the real Codex request ------------------------------------------------------------------------


def test_codex_capture_to_anthropic() -> None:
    body = request_fixture("codex_say_hi")
    out = responses_to_anthropic(body, SONNET)
    sent = out.body
    assert_valid_anthropic(sent, SONNET)
    developer = [i for i in body["input"] if i["role"] == "developer"]
    texts = [p["text"] for item in developer for p in item["content"]]
    assert sent["system"] == [
        {"type": "text", "text": "\n\n".join(texts), "cache_control": {"type": "ephemeral"}}
    ]
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": body["input"][2]["content"][0]["text"]},
                {
                    "type": "text",
                    "text": body["input"][3]["content"][0]["text"],
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        }
    ]
    names = [t["name"] for t in sent["tools"]]
    assert names == [
        "exec_command",
        "write_stdin",
        "request_user_input",
        "apply_patch",
        "view_image",
        "get_goal",
        "create_goal",
        "update_goal",
    ]  # tool_search and web_search are hosted: dropped
    patch = sent["tools"][3]
    assert patch["input_schema"]["properties"] == {
        "input": {"type": "string", "description": "The raw text the tool takes."}
    }
    assert patch["input_schema"]["required"] == ["input"]
    assert "*** Begin Patch" in patch["description"] and "Lark grammar" in patch["description"]
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert out.custom_tools == frozenset({"apply_patch"})
    assert out.tool_names == {}
    assert out.compaction is False
    # no max_output_tokens: the default answer room (8192) plus medium effort's thinking (8192), s28 bug28c
    assert sent["max_tokens"] == 16384
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "medium"}
    assert sent["stream"] is True
    for dropped in (
        "store",
        "include",
        "text",
        "client_metadata",
        "prompt_cache_key",
        "tool_choice",
        "input",
    ):
        assert dropped not in sent


def test_codex_capture_to_chat() -> None:
    body = request_fixture("codex_say_hi")
    out = responses_to_chat(body, GPT5)
    sent = out.body
    assert_valid_chat(sent)
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][0]["content"].startswith("You are Codex")
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"][-1] == {"type": "text", "text": "say hi"}
    assert sent["reasoning_effort"] == "medium"
    assert sent["prompt_cache_key"] == body["prompt_cache_key"]
    assert sent["parallel_tool_calls"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert "temperature" not in sent and "tool_choice" not in sent  # "auto" is the default
    assert [t["function"]["name"] for t in sent["tools"]][3] == "apply_patch"
    assert out.custom_tools == frozenset({"apply_patch"})
    for dropped in ("store", "include", "text", "client_metadata", "input", "max_output_tokens"):
        assert dropped not in sent


@pytest.mark.parametrize(
    ("translate", "target"), [(responses_to_chat, GPT5), (responses_to_anthropic, SONNET)]
)
def test_the_client_body_is_not_changed(translate: Any, target: Target) -> None:
    body = request_fixture("codex_say_hi")
    body["input"] += [
        call("c1", "exec_command", '{"cmd":"ls"}'),
        output("c1", [{"type": "input_text", "text": "a"}]),
    ]
    before = copy.deepcopy(body)
    out = translate(body, target).body
    out["tools"][0]["cache_control"] = "mutated later by someone"
    assert body == before


def test_prompt_cache_key_only_for_targets_that_take_it() -> None:
    body = body_with(prompt_cache_key="thread-1")
    assert responses_to_chat(body, GPT4O).body["prompt_cache_key"] == "thread-1"
    assert "prompt_cache_key" not in responses_to_chat(body, GROK).body
    assert "prompt_cache_key" not in responses_to_chat(body, OPENROUTER).body
    assert "prompt_cache_key" not in responses_to_anthropic(body, SONNET).body


# --- messages and system --------------------------------------------------------------------------


def test_plain_string_input() -> None:
    chat = responses_to_chat({"model": "m", "input": "hello"}, GPT4O).body
    assert chat["messages"] == [{"role": "user", "content": "hello"}]
    anth = responses_to_anthropic({"model": "m", "input": "hello"}, HAIKU).body
    assert anth["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hello", "cache_control": {"type": "ephemeral"}}],
        }
    ]


def test_instructions_then_developer_and_system_items_become_the_system_prompt_in_order() -> None:
    body = body_with(
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
        user("q"),
        {"role": "system", "content": "sys"},  # an easy input message: no type, string content
        instructions="base",
    )
    chat = responses_to_chat(body, GPT4O).body
    assert chat["messages"] == [
        {"role": "system", "content": "base\n\ndev\n\nsys"},
        {"role": "user", "content": "q"},
    ]
    anth = responses_to_anthropic(body, HAIKU).body
    assert anth["system"][0]["text"] == "base\n\ndev\n\nsys"


def test_assistant_output_text_and_multi_turn() -> None:
    body = body_with(user("a"), assistant("b"), user("c"))
    chat = responses_to_chat(body, GPT4O).body
    assert chat["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    anth = responses_to_anthropic(body, HAIKU).body
    assert [(t["role"], t["content"][0]["text"]) for t in anth["messages"]] == [
        ("user", "a"),
        ("assistant", "b"),
        ("user", "c"),
    ]


def test_unknown_role_is_refused() -> None:
    with pytest.raises(TranslationError) as err:
        responses_to_chat(body_with({"type": "message", "role": "robot", "content": "x"}), GPT4O)
    assert err.value.param == "input[0].role"


# --- images and files -----------------------------------------------------------------------------


def image_message(**part: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", **part}],
    }


def test_input_image_url_and_data_url() -> None:
    chat = responses_to_chat(body_with(image_message(image_url="https://x/y.png", detail="high")), GPT4O).body
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
    ]
    anth = responses_to_anthropic(
        body_with(image_message(image_url="data:image/png;base64,AAAA")), HAIKU
    ).body
    assert anth["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
        "cache_control": {"type": "ephemeral"},
    }
    url = responses_to_anthropic(body_with(image_message(image_url="https://x/y.png")), HAIKU).body
    assert url["messages"][0]["content"][1]["source"] == {"type": "url", "url": "https://x/y.png"}


@pytest.mark.parametrize("translate", [responses_to_chat, responses_to_anthropic])
def test_input_image_file_id_is_refused(translate: Any) -> None:
    target = GPT4O if translate is responses_to_chat else HAIKU
    with pytest.raises(TranslationError) as err:
        translate(body_with(image_message(file_id="file-123")), target)
    assert err.value.param == "input[0].content[1].file_id"


def test_unsupported_image_type_for_anthropic_is_refused() -> None:
    with pytest.raises(TranslationError) as err:
        responses_to_anthropic(body_with(image_message(image_url="data:image/tiff;base64,AAAA")), HAIKU)
    assert err.value.param == "input[0].content.1.image_url"


def test_input_file_pdf() -> None:
    part = {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"}
    body = body_with({"type": "message", "role": "user", "content": [part]})
    chat = responses_to_chat(body, GPT4O).body
    assert chat["messages"][0]["content"] == [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"}}
    ]
    anth = responses_to_anthropic(body, HAIKU).body
    assert anth["messages"][0]["content"][0]["source"] == {
        "type": "base64",
        "media_type": "application/pdf",
        "data": "JVBER",
    }
    with pytest.raises(TranslationError):
        responses_to_chat(
            body_with(
                {"type": "message", "role": "user", "content": [{"type": "input_file", "file_id": "f"}]}
            ),
            GPT4O,
        )


# --- function calls -------------------------------------------------------------------------------


def test_function_call_round_trip_to_chat() -> None:
    body = body_with(user("weather?"), call("call_1"), output("call_1", "18C"), tools=[WEATHER])
    chat = responses_to_chat(body, GPT4O).body
    assert_valid_chat(chat)
    assert chat["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather",
                "parameters": WEATHER["parameters"],
            },
        }
    ]


@pytest.mark.parametrize("arguments", ["", "   ", "null", None])
def test_a_history_call_without_arguments_reaches_chat_as_an_empty_object(arguments: Any) -> None:
    """s14 variant 01-e: Codex's history holds a function_call whose arguments are "" (or null, or missing);
    chat's ``arguments`` is a JSON-encoded object (api-conformance.md §1.7) and vLLM's templates json.loads
    it: the chat upstream gets "{}", never ""."""
    item = call("call_1", name="list_root", arguments=arguments)
    if arguments is None:
        del item["arguments"]
    body = body_with(user("list"), item, output("call_1", "a b"))
    for target in CHAT_TARGETS:
        chat = responses_to_chat(body, target).body
        assert_valid_chat(chat)
        assert chat["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{}"
    anth = responses_to_anthropic(body, SONNET).body
    assert anth["messages"][1]["content"][-1]["input"] == {}


def test_function_call_round_trip_to_anthropic() -> None:
    body = body_with(
        user("weather?"), assistant("Checking."), call("call_1"), output("call_1", "18C"), tools=[WEATHER]
    )
    anth = responses_to_anthropic(body, HAIKU).body
    assert_valid_anthropic(anth, HAIKU)
    assert anth["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }
    assert anth["messages"][2]["content"][0]["type"] == "tool_result"
    assert anth["messages"][2]["content"][0]["tool_use_id"] == "call_1"
    assert anth["messages"][2]["content"][0]["content"] == [{"type": "text", "text": "18C"}]


def test_parallel_calls_are_answered_together_and_in_order() -> None:
    body = body_with(user("q"), call("a"), call("b"), output("b", "B"), output("a", "A"), tools=[WEATHER])
    chat = responses_to_chat(body, GPT4O).body
    assert_valid_chat(chat)
    assert [m.get("tool_call_id") for m in chat["messages"][2:]] == ["a", "b"]
    anth = responses_to_anthropic(body, HAIKU).body
    assert_valid_anthropic(anth, HAIKU)
    assert [b["content"][0]["text"] for b in anth["messages"][2]["content"]] == ["A", "B"]


def test_tool_output_as_parts_with_an_image() -> None:
    parts = [
        {"type": "input_text", "text": "a chart"},
        {"type": "input_image", "image_url": "data:image/png;base64,QQ"},
    ]
    body = body_with(user("q"), call("c1", "view_image", "{}"), output("c1", parts))
    chat = responses_to_chat(body, GPT4O).body
    assert_valid_chat(chat)
    assert chat["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "a chart"}
    assert chat["messages"][3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,QQ"}}],
    }
    anth = responses_to_anthropic(body, HAIKU).body
    result = anth["messages"][2]["content"][0]
    assert [b["type"] for b in result["content"]] == ["text", "image"]


def test_legacy_failed_output_object_is_an_error_result() -> None:
    body = body_with(user("q"), call("c1"), output("c1", {"content": "boom", "success": False}))
    anth = responses_to_anthropic(body, HAIKU).body
    result = anth["messages"][2]["content"][0]
    assert result["is_error"] is True and result["content"] == [{"type": "text", "text": "boom"}]
    chat = responses_to_chat(body, GPT4O).body
    assert chat["messages"][2]["content"] == "Error: boom"


def test_missing_output_gets_a_placeholder_and_orphan_output_is_dropped() -> None:
    body = body_with(user("q"), call("c1"), user("never mind"), output("ghost", "x"))
    chat = responses_to_chat(body, GPT4O).body
    assert_valid_chat(chat)
    assert chat["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": MISSING_OUTPUT}
    assert "ghost" not in orjson.dumps(chat).decode()
    anth = responses_to_anthropic(body, HAIKU).body
    assert_valid_anthropic(anth, HAIKU)
    assert anth["messages"][2]["content"][0]["content"] == [{"type": "text", "text": MISSING_OUTPUT}]
    assert anth["messages"][2]["content"][1] == {
        "type": "text",
        "text": "never mind",
        "cache_control": {"type": "ephemeral"},
    }


def test_call_ids_reused_across_turns_are_made_unique() -> None:
    body = body_with(
        user("q"),
        call("functions.get_weather:0"),
        output("functions.get_weather:0", "first"),
        call("functions.get_weather:0", arguments='{"city":"Rome"}'),
        output("functions.get_weather:0", "second"),
        output("functions.get_weather:0", "a stray duplicate"),
        tools=[WEATHER],
    )
    chat = responses_to_chat(body, GPT4O).body
    assert_valid_chat(chat)
    ids = [m["tool_call_id"] for m in chat["messages"] if m["role"] == "tool"]
    assert ids == ["functions.get_weather:0", "functions.get_weather:0_2"]
    assert [m["content"] for m in chat["messages"] if m["role"] == "tool"] == ["first", "second"]
    anth = responses_to_anthropic(body, HAIKU).body
    assert_valid_anthropic(anth, HAIKU)
    uses = [b["id"] for t in anth["messages"] for b in t["content"] if b["type"] == "tool_use"]
    assert uses == ["functions_get_weather_0", "functions_get_weather_0_2"]


def test_long_call_ids_are_shortened_consistently_for_chat() -> None:
    long_id = "toolu_" + "x" * 60
    chat = responses_to_chat(body_with(user("q"), call(long_id), output(long_id)), GPT4O).body
    assert_valid_chat(chat)
    assert chat["messages"][1]["tool_calls"][0]["id"] == chat["messages"][2]["tool_call_id"] != long_id


def test_function_call_without_call_id_is_refused() -> None:
    with pytest.raises(TranslationError) as err:
        responses_to_chat(
            body_with(user("q"), {"type": "function_call", "name": "f", "arguments": "{}"}), GPT4O
        )
    assert err.value.param == "input[1].call_id"


# --- custom and namespace tools -------------------------------------------------------------------


def test_custom_tool_call_and_output() -> None:
    body = body_with(
        user("add a.txt"),
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "Success"},
        tools=[APPLY_PATCH],
    )
    chat = responses_to_chat(body, GPT4O)
    assert chat.custom_tools == frozenset({"apply_patch"})
    function = chat.body["messages"][1]["tool_calls"][0]["function"]
    assert function["name"] == "apply_patch"
    assert orjson.loads(function["arguments"]) == {"input": PATCH}
    assert chat.body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "Success"}
    tool = chat.body["tools"][0]["function"]
    assert tool["parameters"]["required"] == ["input"]
    assert 'start: "*** Begin Patch" LF hunk+' in tool["description"]
    assert tool["description"].startswith("Edit files.")
    anth = responses_to_anthropic(body, HAIKU)
    assert anth.custom_tools == frozenset({"apply_patch"})
    assert anth.body["messages"][1]["content"][0]["input"] == {"input": PATCH}


def test_custom_tool_with_text_format_has_no_grammar_note() -> None:
    tool = {"type": "custom", "name": "note", "format": {"type": "text"}}
    chat = responses_to_chat(body_with(tools=[tool]), GPT4O).body
    description = chat["tools"][0]["function"]["description"]
    assert "`input`" in description and "grammar" not in description


def test_namespace_tools_are_flattened_and_named_back() -> None:
    history = call("c1", "spawn_agent", '{"task":"x"}', namespace="multi_agent_v1")
    body = body_with(user("go"), history, output("c1", "started"), tools=[MULTI_AGENT, WEATHER])
    for translate, target in ((responses_to_chat, GPT4O), (responses_to_anthropic, HAIKU)):
        out = translate(body, target)
        assert out.tool_names == {
            "multi_agent_v1_spawn_agent": "multi_agent_v1:spawn_agent",
            "multi_agent_v1_wait": "multi_agent_v1:wait",
        }
        text = orjson.dumps(out.body).decode()
        assert '"multi_agent_v1_spawn_agent"' in text and "multi_agent_v1:" not in text
    chat = responses_to_chat(body, GPT4O).body
    assert chat["messages"][1]["tool_calls"][0]["function"]["name"] == "multi_agent_v1_spawn_agent"
    wait = chat["tools"][1]["function"]
    assert wait["description"].startswith("Wait for agents") and "multi_agent_v1" in wait["description"]
    assert chat["tools"][2]["function"]["name"] == "get_weather"


def test_long_and_invalid_tool_names_are_made_valid_and_mapped_back() -> None:
    long_ns = {
        "type": "namespace",
        "name": "mcp__" + "n" * 70,
        "tools": [{"type": "function", "name": "get"}],
    }
    dotted = {"type": "function", "name": "files.read"}
    for translate, target in ((responses_to_chat, GPT4O), (responses_to_anthropic, HAIKU)):
        out = translate(body_with(tools=[long_ns, dotted]), target)
        names = [t["function"]["name"] if "function" in t else t["name"] for t in out.body["tools"]]
        assert all(TOOL_NAME.match(n) for n in names), names
        assert sorted(out.tool_names.values()) == sorted(["mcp__" + "n" * 70 + ":get", "files.read"])
        assert sorted(out.tool_names) == sorted(names)


def test_hosted_tools_and_their_items_are_dropped_without_failing() -> None:
    tools = [
        {"type": "web_search", "external_web_access": False},
        {"type": "web_search_preview"},
        {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
        {"type": "file_search", "vector_store_ids": ["v"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        WEATHER,
    ]
    items = [
        user("q"),
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {"type": "search", "query": "x"},
        },
        {"type": "tool_search_call", "call_id": "ts1", "execution": "client", "arguments": {"query": "x"}},
        {
            "type": "tool_search_output",
            "call_id": "ts1",
            "status": "completed",
            "execution": "client",
            "tools": [],
        },
        assistant("done"),
    ]
    chat = responses_to_chat(
        body_with(*items, tools=tools, tool_choice={"type": "web_search_preview"}), GPT4O
    ).body
    assert [t["function"]["name"] for t in chat["tools"]] == ["get_weather"]
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
    assert "tool_choice" not in chat
    anth = responses_to_anthropic(body_with(*items, tools=tools), HAIKU).body
    assert [t["name"] for t in anth["tools"]] == ["get_weather"]
    assert_valid_anthropic(anth, HAIKU)


def test_function_tool_without_name_is_refused() -> None:
    with pytest.raises(TranslationError) as err:
        responses_to_chat(body_with(tools=[{"type": "function", "parameters": {}}]), GPT4O)
    assert err.value.param == "tools[0].name"


def test_strict_function_tool() -> None:
    tool = {**WEATHER, "strict": True}
    assert responses_to_chat(body_with(tools=[tool]), GPT4O).body["tools"][0]["function"]["strict"] is True
    assert responses_to_anthropic(body_with(tools=[tool]), HAIKU).body["tools"][0]["strict"] is True
    assert "strict" not in responses_to_anthropic(body_with(tools=[WEATHER]), HAIKU).body["tools"][0]


# --- tool_choice and parallel tool calls ----------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "chat", "anthropic"),
    [
        ("auto", None, None),
        ("none", "none", {"type": "none"}),
        ("required", "required", {"type": "any"}),
        (
            {"type": "function", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
        (
            {"type": "custom", "name": "apply_patch"},
            {"type": "function", "function": {"name": "apply_patch"}},
            {"type": "tool", "name": "apply_patch"},
        ),
        (
            {"type": "function", "name": "spawn_agent"},
            {"type": "function", "function": {"name": "multi_agent_v1_spawn_agent"}},
            {"type": "tool", "name": "multi_agent_v1_spawn_agent"},
        ),
        ({"type": "function", "name": "no_such_tool"}, None, None),
    ],
)
def test_tool_choice(choice: Any, chat: Any, anthropic: Any) -> None:
    body = body_with(tools=[WEATHER, APPLY_PATCH, MULTI_AGENT], tool_choice=choice)
    assert responses_to_chat(body, GPT4O).body.get("tool_choice") == chat
    assert responses_to_anthropic(body, HAIKU).body.get("tool_choice") == anthropic


def test_allowed_tools_filters_the_tools() -> None:
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "get_weather"}],
    }
    body = body_with(tools=[WEATHER, APPLY_PATCH], tool_choice=choice)
    chat = responses_to_chat(body, GPT4O).body
    assert [t["function"]["name"] for t in chat["tools"]] == ["get_weather"]
    assert chat["tool_choice"] == "required"
    anth = responses_to_anthropic(body, HAIKU).body
    assert [t["name"] for t in anth["tools"]] == ["get_weather"]
    assert anth["tool_choice"] == {"type": "any"}


def test_forced_tool_becomes_auto_while_thinking() -> None:
    body = body_with(tools=[WEATHER], tool_choice="required", reasoning={"effort": "high"})
    assert "tool_choice" not in responses_to_anthropic(body, SONNET).body  # auto is Anthropic's default
    assert responses_to_anthropic(body, HAIKU).body["tool_choice"] == {"type": "any"}  # no thinking: kept
    parallel = responses_to_anthropic({**body, "parallel_tool_calls": False}, SONNET).body
    assert parallel["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_parallel_tool_calls() -> None:
    body = body_with(tools=[WEATHER], parallel_tool_calls=False)
    assert responses_to_chat(body, GPT4O).body["parallel_tool_calls"] is False
    assert responses_to_anthropic(body, HAIKU).body["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert "parallel_tool_calls" not in responses_to_chat(body_with(parallel_tool_calls=False), GPT4O).body


# --- limits, reasoning, sampling, formats ---------------------------------------------------------


def test_max_output_tokens_is_clamped() -> None:
    assert (
        responses_to_chat(body_with(max_output_tokens=999_999), GPT4O).body["max_completion_tokens"] == 16384
    )
    assert responses_to_chat(body_with(max_output_tokens=100), GROK).body["max_tokens"] == 100
    assert "max_completion_tokens" not in responses_to_chat(body_with(), GPT4O).body
    assert responses_to_anthropic(body_with(max_output_tokens=999_999), HAIKU).body["max_tokens"] == 4096
    assert responses_to_anthropic(body_with(), HAIKU).body["max_tokens"] == 4096  # default 8192, clamped
    assert responses_to_anthropic(body_with(), SONNET).body["max_tokens"] == 8192


@pytest.mark.parametrize(
    ("target", "effort", "expected"),
    [
        (GPT5, "minimal", {"reasoning_effort": "minimal"}),
        (GPT5, "xhigh", {"reasoning_effort": "xhigh"}),
        (GROK_MINI, "xhigh", {"reasoning_effort": "high"}),
        (GROK_MINI, "minimal", {"reasoning_effort": "low"}),
        (OPENROUTER, "medium", {"reasoning": {"effort": "medium"}}),
        (GPT4O, "high", {}),
        (GPT5, "none", {}),
    ],
)
def test_reasoning_effort_to_chat(target: Target, effort: str, expected: dict[str, Any]) -> None:
    out = responses_to_chat(body_with(reasoning={"effort": effort, "summary": "auto"}), target).body
    assert {k: out[k] for k in ("reasoning_effort", "reasoning") if k in out} == expected


def test_reasoning_effort_to_anthropic() -> None:
    adaptive = responses_to_anthropic(body_with(reasoning={"effort": "high"}), SONNET).body
    assert adaptive["thinking"] == {"type": "adaptive"} and adaptive["output_config"] == {"effort": "high"}
    budget = responses_to_anthropic(
        body_with(reasoning={"effort": "low"}, max_output_tokens=16000), BUDGET
    ).body
    assert budget["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "thinking" not in responses_to_anthropic(body_with(reasoning={"effort": "none"}), SONNET).body
    assert "thinking" not in responses_to_anthropic(body_with(reasoning={"effort": "high"}), HAIKU).body
    with pytest.raises(TranslationError) as err:
        responses_to_anthropic(body_with(reasoning={"effort": "extreme"}), SONNET)
    assert err.value.param == "reasoning.effort"


def test_sampling_and_stop_and_user() -> None:
    body = body_with(temperature=1.5, top_p=0.5, stop=["END"], safety_identifier="u-1", metadata={"k": "v"})
    chat = responses_to_chat(body, GPT4O).body
    assert (chat["temperature"], chat["top_p"], chat["stop"], chat["user"]) == (1.5, 0.5, ["END"], "u-1")
    assert "metadata" not in chat
    assert "temperature" not in responses_to_chat(body, GPT5).body  # reasoning models refuse it
    anth = responses_to_anthropic(body, HAIKU).body
    assert anth["temperature"] == 1.0 and "top_p" not in anth  # clamped; not both
    assert anth["stop_sequences"] == ["END"]
    assert anth["metadata"] == {"user_id": "u-1"}
    thinking = responses_to_anthropic({**body, "reasoning": {"effort": "high"}}, SONNET).body
    assert "temperature" not in thinking


def test_text_format_json_schema_and_json_object() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = {
        "format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True},
        "verbosity": "low",
    }
    chat = responses_to_chat(body_with(text=fmt), GPT4O).body
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    anth = responses_to_anthropic(body_with(text=fmt), HAIKU).body
    assert anth["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    obj = {"format": {"type": "json_object"}}
    assert responses_to_chat(body_with(text=obj), GPT4O).body["response_format"] == {"type": "json_object"}
    assert "JSON object" in responses_to_anthropic(body_with(text=obj), HAIKU).body["system"][0]["text"]
    assert "response_format" not in responses_to_chat(body_with(text={"verbosity": "low"}), GPT4O).body


def test_stream_flag() -> None:
    assert "stream" not in responses_to_chat(body_with(), GPT4O).body
    assert "stream_options" not in responses_to_chat(body_with(stream=False), GPT4O).body
    assert "stream" not in responses_to_anthropic(body_with(stream=False), HAIKU).body


# --- stateful fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("previous_response_id", "resp_1"),
        ("store", True),
        ("conversation", "conv_1"),
        ("prompt", {"id": "pmpt_1"}),
        ("background", True),
    ],
)
@pytest.mark.parametrize("translate", [responses_to_chat, responses_to_anthropic])
def test_stateful_fields_are_refused(translate: Any, field: str, value: Any) -> None:
    with pytest.raises(TranslationError) as err:
        translate(body_with(**{field: value}), GPT4O if translate is responses_to_chat else HAIKU)
    assert err.value.param == field
    assert field.split("_")[0] in str(err.value)


def test_store_false_and_dropped_fields_are_accepted() -> None:
    body = body_with(
        store=False,
        include=["reasoning.encrypted_content"],
        client_metadata={"a": "b"},
        stream_options={"include_obfuscation": False},
        truncation="auto",
        service_tier="auto",
    )
    for out in (responses_to_chat(body, GPT4O).body, responses_to_anthropic(body, HAIKU).body):
        assert not {"store", "include", "client_metadata", "truncation", "service_tier"} & set(out)


def test_item_reference_is_refused() -> None:
    with pytest.raises(TranslationError) as err:
        responses_to_chat(body_with({"type": "item_reference", "id": "msg_1"}), GPT4O)
    assert err.value.param == "input[0].id"


# --- reasoning items ------------------------------------------------------------------------------


def reasoning(encrypted: str | None) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "thought"}],
        "encrypted_content": encrypted,
    }


def test_reasoning_items_are_dropped_for_chat() -> None:
    body = body_with(user("q"), reasoning(encode_thinking("t", "sig")), assistant("a"), user("r"))
    chat = responses_to_chat(body, GPT5).body
    assert chat["messages"][1] == {"role": "assistant", "content": "a"}
    assert "sig" not in orjson.dumps(chat).decode()


def test_gateway_made_thinking_goes_back_to_anthropic_with_its_signature() -> None:
    body = body_with(
        user("q"),
        reasoning(encode_thinking("let me think", "sig-abc")),
        reasoning(encode_redacted_thinking("opaque")),
        call("c1"),
        output("c1"),
        reasoning("gAAAAAB-openai-blob"),  # OpenAI's own: never sent to Anthropic
        assistant("done"),
        user("next"),
        reasoning={"effort": "high"},
        tools=[WEATHER],
    )
    anth = responses_to_anthropic(body, SONNET).body
    assert_valid_anthropic(anth, SONNET)
    assert anth["thinking"] == {"type": "adaptive"}
    assert anth["messages"][1]["content"][:2] == [
        {"type": "thinking", "thinking": "let me think", "signature": "sig-abc"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    assert anth["messages"][3] == {"role": "assistant", "content": [{"type": "text", "text": "done"}]}
    assert "gAAAAAB" not in orjson.dumps(anth).decode()


def test_each_upstream_turn_keeps_its_own_thinking_in_a_tool_loop() -> None:
    body = body_with(
        user("q"),
        reasoning(encode_thinking("first", "s1")),
        call("a"),
        output("a", "A"),
        reasoning(encode_thinking("second", "s2")),
        call("b"),
        output("b", "B"),
        reasoning={"effort": "medium"},
        tools=[WEATHER],
    )
    anth = responses_to_anthropic(body, SONNET).body
    assert_valid_anthropic(anth, SONNET)
    assert [[b["type"] for b in t["content"]] for t in anth["messages"]] == [
        ["text"],
        ["thinking", "tool_use"],
        ["tool_result"],
        ["thinking", "tool_use"],
        ["tool_result"],
    ]
    assert [anth["messages"][i]["content"][0]["signature"] for i in (1, 3)] == ["s1", "s2"]


def test_thinking_blocks_are_left_out_when_thinking_is_off() -> None:
    body = body_with(user("q"), reasoning(encode_thinking("t", "sig")), assistant("a"), user("r"))
    anth = responses_to_anthropic(body, SONNET).body
    assert "thinking" not in anth
    assert anth["messages"][1]["content"] == [{"type": "text", "text": "a"}]


def test_thinking_is_turned_off_in_a_tool_loop_that_has_no_thinking_to_give_back() -> None:
    body = body_with(user("q"), call("c1"), output("c1"), reasoning={"effort": "high"}, tools=[WEATHER])
    anth = responses_to_anthropic(body, SONNET).body
    assert "thinking" not in anth
    assert_valid_anthropic(anth, SONNET)
    with_thinking = body_with(
        user("q"),
        reasoning(encode_thinking("t", "s")),
        call("c1"),
        output("c1"),
        reasoning={"effort": "high"},
        tools=[WEATHER],
    )
    assert responses_to_anthropic(with_thinking, SONNET).body["thinking"] == {"type": "adaptive"}


def test_forged_thinking_without_signature_is_dropped() -> None:
    forged = encode_thinking("t", "")
    anth = responses_to_anthropic(
        body_with(user("q"), reasoning(forged), assistant("a"), user("r"), reasoning={"effort": "high"}),
        SONNET,
    ).body
    assert all(b["type"] != "thinking" for t in anth["messages"] for b in t["content"])


# --- compaction -----------------------------------------------------------------------------------


def test_compaction_trigger_asks_for_a_summary() -> None:
    body = body_with(
        user("build it"),
        assistant("built"),
        {"type": "compaction_trigger"},
        tools=[WEATHER],
        text={"format": {"type": "json_object"}},
    )
    chat = responses_to_chat(body, GPT4O)
    assert chat.compaction is True
    assert chat.body["messages"][-1] == {"role": "user", "content": COMPACTION_INSTRUCTION}
    assert chat.body["tool_choice"] == "none"
    assert "response_format" not in chat.body
    anth = responses_to_anthropic(body, HAIKU)
    assert anth.compaction is True
    assert anth.body["messages"][-1]["content"][-1]["text"] == COMPACTION_INSTRUCTION
    assert anth.body["tool_choice"] == {"type": "none"}
    assert_valid_anthropic(anth.body, HAIKU)
    assert responses_to_chat(body_with(user("x")), GPT4O).compaction is False


def test_gateway_made_compaction_item_becomes_the_summary() -> None:
    item = {"type": "compaction", "encrypted_content": encode_compaction("We built X; next: test it.")}
    body = body_with(item, user("continue"))
    chat = responses_to_chat(body, GPT4O).body
    assert chat["messages"][0]["content"][0]["text"] == f"{COMPACTION_PREAMBLE}\n\nWe built X; next: test it."
    assert chat["messages"][0]["content"][1]["text"] == "continue"
    anth = responses_to_anthropic(
        {**body, "input": [{**item, "type": "compaction_summary"}, user("go")]}, HAIKU
    ).body
    assert "We built X" in anth["messages"][0]["content"][0]["text"]


@pytest.mark.parametrize("translate", [responses_to_chat, responses_to_anthropic])
def test_openai_compaction_item_is_refused(translate: Any) -> None:
    body = body_with(user("a"), {"type": "compaction", "encrypted_content": "gAAAAABopaque"}, user("b"))
    with pytest.raises(TranslationError) as err:
        translate(body, GPT4O if translate is responses_to_chat else HAIKU)
    assert err.value.param == "input[1].encrypted_content"
    assert "OpenAI" in str(err.value)


def test_compact_to_responses() -> None:
    compact = {
        "model": "gpt-5.5",
        "input": [user("a"), {"type": "compaction_trigger"}, assistant("b")],
        "instructions": "sys",
        "tools": [WEATHER],
        "parallel_tool_calls": True,
        "reasoning": {"effort": "low"},
    }
    out = compact_to_responses(compact)
    assert out["input"] == [user("a"), assistant("b"), {"type": "compaction_trigger"}]
    assert out["store"] is False and out["stream"] is False
    assert {k: out[k] for k in ("model", "instructions", "tools", "parallel_tool_calls", "reasoning")} == {
        k: compact[k] for k in ("model", "instructions", "tools", "parallel_tool_calls", "reasoning")
    }
    assert compact["input"][1] == {"type": "compaction_trigger"}  # the caller's body is not changed
    assert compact_to_responses({"model": "m", "input": "hi"})["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "compaction_trigger"},
    ]
    assert responses_to_anthropic(out, HAIKU).compaction is True


# --- caching --------------------------------------------------------------------------------------


def test_cache_breakpoints_for_a_long_session() -> None:
    items: list[dict[str, Any]] = [user("start")]
    for n in range(6):
        items += [call(f"c{n}"), output(f"c{n}", f"out {n}")]
    items += [assistant("done"), user("more")]
    anth = responses_to_anthropic(body_with(*items, instructions="sys", tools=[WEATHER]), HAIKU).body
    assert_valid_anthropic(anth, HAIKU)
    marked = [(i, b) for i, t in enumerate(anth["messages"]) for b in t["content"] if "cache_control" in b]
    assert [i for i, _ in marked] == [len(anth["messages"]) - 3, len(anth["messages"]) - 1]
    assert marked[-1][1]["text"] == "more"
    assert anth["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert anth["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert (
        "cache_control" not in anth
    )  # explicit breakpoints only: top-level automatic caching would be a 5th


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"input": "hi"}, "model"),
        ({"model": "", "input": "hi"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": ["hi"]}, "input[0]"),
        ({"model": "m", "input": "hi", "instructions": ["x"]}, "instructions"),
        ({"model": "m", "input": "hi", "tools": {"a": 1}}, "tools"),
        ({"model": "m", "input": "hi", "tools": [{"name": "x"}]}, "tools[0]"),
        ({"model": "m", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "hi", "max_output_tokens": True}, "max_output_tokens"),
        ({"model": "m", "input": "hi", "temperature": "hot"}, "temperature"),
        ({"model": "m", "input": "hi", "stream": "yes"}, "stream"),
        ({"model": "m", "input": [{"type": "message", "role": "user", "content": 5}]}, "input[0].content"),
        ({"model": "m", "input": [{"role": "user", "content": [5]}]}, "input[0].content[0]"),
        (
            {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": "x"}]},
            "tools[0].parameters",
        ),
        ({"model": "m", "input": "hi", "tool_choice": 5}, "tool_choice"),
        ({"model": "m", "input": "hi", "tool_choice": "bogus"}, "tool_choice"),
        ({"model": "m", "input": "hi", "tool_choice": {"name": "f"}}, "tool_choice"),
        ({"model": "m", "input": "hi", "reasoning": "high"}, "reasoning"),
        ({"model": "m", "input": "hi", "reasoning": {"effort": 5}}, "reasoning.effort"),
        ({"model": "m", "input": "hi", "text": "x"}, "text"),
        ({"model": "m", "input": "hi", "text": {"format": 5}}, "text.format"),
        (
            {
                "model": "m",
                "input": "hi",
                "text": {"format": {"type": "json_schema", "name": "o", "schema": 5}},
            },
            "text.format.schema",
        ),
        ({"model": "m", "input": "hi", "previous_response_id": 5}, "previous_response_id"),
        ({"model": "m", "input": "hi", "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ],
)
def test_validate_responses_request_refuses(body: Any, param: str | None) -> None:
    with pytest.raises(TranslationError) as err:
        validate_responses_request(body)
    assert err.value.param == param


def test_validate_responses_request_accepts_real_bodies() -> None:
    validate_responses_request(request_fixture("codex_say_hi"))
    validate_responses_request({"model": "m", "input": "hi", "max_output_tokens": 10, "temperature": 0})
    validate_responses_request({"model": "m", "previous_response_id": "resp_1"})  # passthrough honours it
    validate_responses_request({"model": "m", "prompt": {"id": "pmpt_1"}})  # a stored prompt needs no input
    validate_responses_request(
        {
            "model": "m",
            "input": "hi",
            "tool_choice": {"type": "web_search"},
            "reasoning": {"effort": None},
            "text": {"format": {"type": "text"}},
        }
    )


@pytest.mark.parametrize(
    "item",
    [
        {"type": "bogus"},
        {"type": "mesage", "role": "user", "content": "hi"},
        {"content": "hi"},
        {"type": False},  # not a string: a 400, not an AttributeError (CI's fuzz test found it)
        {"type": ["message"]},
    ],
)
def test_an_unknown_input_item_is_refused_not_dropped(item: dict[str, Any]) -> None:
    """A misspelt or made-up item type (or an item with neither type nor role) is a 400 naming it: dropped,
    the request went upstream without it (and, when nothing was left, with a made-up user turn)."""
    for translate, target in ((responses_to_chat, GPT4O), (responses_to_anthropic, HAIKU)):
        with pytest.raises(TranslationError) as err:
            translate(body_with(user("q"), item), target)
        assert err.value.param == "input[1].type", err.value


def test_a_hosted_tools_item_of_a_later_kind_is_still_dropped() -> None:
    for kind in ("shell_call", "apply_patch_call_output", "mcp_approval_request", "future_tool_output"):
        anth = responses_to_anthropic(body_with(user("q"), {"type": kind, "id": "x"}), HAIKU).body
        assert [m["role"] for m in anth["messages"]] == ["user"], kind
