"""chat_to_responses / anthropic_to_responses, the gateway-made opaque tokens, and fuzzing of the Responses side."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from dialect_helpers import request_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dialect_request_from_responses import assert_valid_anthropic, assert_valid_chat

from services.gateway.dialects._request_common import Target, TranslationError
from services.gateway.dialects._request_from_responses import (
    anthropic_to_responses,
    chat_to_responses,
    compact_to_responses,
    responses_to_anthropic,
    responses_to_chat,
    validate_responses_request,
)
from services.gateway.dialects._responses_opaque import (
    COMPACTION_PREFIX,
    THINKING_PREFIX,
    decode_compaction,
    decode_thinking,
    encode_compaction,
    encode_redacted_thinking,
    encode_thinking,
    namespaced,
    split_namespaced,
)

GPT5 = Target(model="gpt-5", max_output_tokens=128000, reasoning="reasoning_effort")
GPT4O = Target(model="gpt-4o", max_output_tokens=16384)


# --- chat → Responses -----------------------------------------------------------------------------


def test_openai_sdk_tool_result_conversation() -> None:
    out = chat_to_responses(request_fixture("openai_sdk_tool_result"), GPT4O)
    body = out.body
    assert body["model"] == "gpt-4o"
    assert body["store"] is False
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"location":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C sunny"},
    ]
    assert body["tools"][0]["type"] == "function" and body["tools"][0]["name"] == "get_weather"
    assert "function" not in body["tools"][0]
    assert out.tool_names == {}
    validate_responses_request(body)


def test_chat_fields_map_to_responses_fields() -> None:
    schema = {"type": "object", "properties": {}}
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                ],
            },
        ],
        "max_completion_tokens": 999_999,
        "reasoning_effort": "high",
        "temperature": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": schema, "strict": True},
        },
        "stop": ["x"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u1",
        "prompt_cache_key": "k",
        "n": 1,
    }
    out = chat_to_responses(body, GPT5).body
    assert out["input"][:2] == [
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "be brief"}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
    ]
    assert out["input"][2]["content"][1] == {
        "type": "input_image",
        "image_url": "https://x/y.png",
        "detail": "low",
    }
    assert out["max_output_tokens"] == 128000
    assert out["reasoning"] == {"effort": "high"}
    assert "temperature" not in out  # a reasoning target refuses it
    assert out["text"] == {"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}}
    assert (out["stream"], out["user"], out["prompt_cache_key"]) == (True, "u1", "k")
    assert not {"stop", "stream_options", "n", "messages", "max_completion_tokens"} & set(out)
    plain = chat_to_responses({**body, "response_format": {"type": "json_object"}}, GPT4O).body
    assert plain["temperature"] == 0.2 and "reasoning" not in plain
    assert plain["text"] == {"format": {"type": "json_object"}}


def test_custom_tools_and_calls_to_responses() -> None:
    grammar = {"syntax": "lark", "definition": "start: x"}
    tool = {
        "type": "custom",
        "custom": {
            "name": "apply_patch",
            "description": "d",
            "format": {"type": "grammar", "grammar": grammar},
        },
    }
    messages = [
        {"role": "user", "content": "patch"},
        {
            "role": "assistant",
            "content": "ok",
            "tool_calls": [
                {"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "PATCH"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    out = chat_to_responses(
        {
            "model": "m",
            "messages": messages,
            "tools": [tool],
            "tool_choice": {"type": "custom", "custom": {"name": "apply_patch"}},
        },
        GPT4O,
    ).body
    assert out["tools"] == [
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "d",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
        }
    ]
    assert out["input"][1:] == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "PATCH"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "done"},
    ]
    assert out["tool_choice"] == {"type": "custom", "name": "apply_patch"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("required", "required"),
        ({"type": "function", "function": {"name": "f"}}, {"type": "function", "name": "f"}),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "f"}}]},
            },
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]},
        ),
    ],
)
def test_tool_choice_to_responses(choice: Any, expected: Any) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": tools,
        "tool_choice": choice,
        "parallel_tool_calls": False,
    }
    out = chat_to_responses(body, GPT4O).body
    assert out["tool_choice"] == expected
    assert out["parallel_tool_calls"] is False


def test_legacy_function_call_and_refusals() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "r"},
    ]
    out = chat_to_responses({"model": "m", "messages": messages}, GPT4O).body
    assert out["input"][1]["call_id"] == out["input"][2]["call_id"] == "call_1_fn"
    with pytest.raises(TranslationError) as err:
        chat_to_responses({"model": "m", "messages": messages, "n": 2}, GPT4O)
    assert err.value.param == "n"
    with pytest.raises(TranslationError) as err:
        chat_to_responses(
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, GPT4O
        )
    assert err.value.param == "messages.0.content.0"
    with pytest.raises(TranslationError):
        chat_to_responses({"model": "m", "messages": "hi"}, GPT4O)


def test_anthropic_to_responses_keeps_the_tool_name_map() -> None:
    body = request_fixture("anthropic_sdk_tool_result")
    body = {
        **body,
        "tools": [*body.get("tools", []), {"name": "files.read", "input_schema": {"type": "object"}}],
    }
    out = anthropic_to_responses(body, GPT5)
    assert out.tool_names == {"files_read": "files.read"}
    assert [t["name"] for t in out.body["tools"]][-1] == "files_read"
    kinds = [i["type"] for i in out.body["input"]]
    assert "function_call" in kinds and "function_call_output" in kinds
    assert out.body["store"] is False
    assert out.body["max_output_tokens"] == body["max_tokens"]
    validate_responses_request(out.body)


def test_round_trip_chat_to_responses_to_chat_keeps_the_conversation() -> None:
    chat = request_fixture("openai_sdk_tool_result")
    back = responses_to_chat(chat_to_responses(chat, GPT4O).body, GPT4O).body
    assert back["messages"] == chat["messages"]


# --- gateway-made opaque tokens -------------------------------------------------------------------


def test_thinking_tokens_round_trip() -> None:
    token = encode_thinking("a thought", "sig")
    assert token.startswith(THINKING_PREFIX) and "=" not in token
    assert decode_thinking(token) == {"type": "thinking", "thinking": "a thought", "signature": "sig"}
    assert decode_thinking(encode_redacted_thinking("xyz")) == {"type": "redacted_thinking", "data": "xyz"}
    assert decode_compaction(token) is None


@pytest.mark.parametrize(
    "token",
    [
        None,
        "gAAAAABmOpenAIFernetBlob==",
        THINKING_PREFIX + "!!!not base64",
        THINKING_PREFIX + base64.urlsafe_b64encode(b"[1, 2]").decode(),
        THINKING_PREFIX + base64.urlsafe_b64encode(b'{"ekai": "thinking", "thinking": "t"}').decode(),
        encode_thinking("t", ""),
        encode_compaction("s"),
    ],
)
def test_foreign_or_forged_reasoning_is_not_ours(token: Any) -> None:
    assert decode_thinking(token) is None


def test_compaction_tokens_round_trip() -> None:
    token = encode_compaction("summary ✓ with unicode")
    assert token.startswith(COMPACTION_PREFIX)
    assert orjson.loads(base64.urlsafe_b64decode(token[len(COMPACTION_PREFIX) :] + "==")) == {
        "ekai": "compaction",
        "summary": "summary ✓ with unicode",
    }
    assert decode_compaction(token) == "summary ✓ with unicode"
    assert decode_compaction("gAAAAAB") is None
    assert decode_compaction(encode_thinking("t", "s")) is None


def test_namespaced_names() -> None:
    assert namespaced("multi_agent_v1", "spawn_agent") == "multi_agent_v1:spawn_agent"
    assert split_namespaced("multi_agent_v1:spawn_agent") == ("multi_agent_v1", "spawn_agent")
    assert split_namespaced("exec_command") == (None, "exec_command")
    assert split_namespaced(":x") == (None, ":x")


# --- fuzzing: any Responses body is translated or refused with a reason ---------------------------

TARGETS = [
    GPT5,
    GPT4O,
    Target(model="grok-3-mini", max_tokens_field="max_tokens", reasoning="reasoning_effort"),
    Target(model="x/y", max_tokens_field="max_tokens", reasoning="openrouter"),
    Target(
        model="claude-sonnet-4-5",
        max_output_tokens=64_000,
        max_tokens_field="max_tokens",
        reasoning="anthropic_adaptive",
    ),
    Target(
        model="claude-3-7-sonnet",
        max_output_tokens=8_192,
        max_tokens_field="max_tokens",
        reasoning="anthropic_budget",
    ),
]
WORDS = [
    "user",
    "assistant",
    "developer",
    "system",
    "auto",
    "none",
    "required",
    "low",
    "high",
    "xhigh",
    "",
    "x",
]
texts = st.one_of(st.sampled_from(WORDS), st.text(max_size=6))
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    texts,
    st.lists(texts, max_size=2),
    st.dictionaries(texts, texts, max_size=2),
)
content_parts = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["input_text", "output_text", "refusal", "text"]), "text": junk}
    ),
    st.fixed_dictionaries(
        {"type": st.just("input_image")},
        optional={
            "image_url": st.one_of(
                st.sampled_from(
                    ["https://x/y.png", "data:image/png;base64,AAAA", "data:image/bmp;base64,A", "ftp://x"]
                ),
                junk,
            ),
            "file_id": junk,
            "detail": junk,
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("input_file")}, optional={"file_data": junk, "filename": junk, "file_id": junk}
    ),
    st.dictionaries(st.sampled_from(["type", "text", "image_url"]), junk, max_size=3),
)
contents = st.one_of(
    texts, st.lists(content_parts, max_size=3), texts, st.lists(content_parts, max_size=3), junk
)
call_ids = st.sampled_from(["c1", "c2", "c1", "c2", "toolu_" + "x" * 50, "a.b:c", ""])
names = st.sampled_from(
    ["get_weather", "apply_patch", "spawn_agent", "get_weather", "files.read", "n" * 80, ""]
)
opaque = st.one_of(
    st.builds(encode_thinking, texts, texts),
    st.builds(encode_redacted_thinking, texts),
    st.builds(encode_compaction, texts),
    junk,
)
messages = st.fixed_dictionaries(
    {
        "type": st.just("message"),
        "role": st.sampled_from(["user", "assistant", "developer", "system"]),
        "content": contents,
    }
)
items = st.one_of(
    messages,
    messages,
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "user", "bot"]), "content": contents}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("function_call"),
            "call_id": call_ids,
            "name": names,
            "arguments": st.one_of(st.sampled_from(['{"a":1}', "{bad", ""]), junk),
        },
        optional={"namespace": st.sampled_from(["multi_agent_v1", ""])},
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["function_call_output", "custom_tool_call_output"]),
            "call_id": call_ids,
            "output": contents,
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("custom_tool_call"), "call_id": call_ids, "name": names, "input": junk}
    ),
    st.fixed_dictionaries({"type": st.just("reasoning"), "summary": junk, "encrypted_content": opaque}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["compaction", "compaction_summary"]), "encrypted_content": opaque}
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["compaction_trigger", "web_search_call", "item_reference", "tool_search_call"]
            )
        }
    ),
    st.dictionaries(st.sampled_from(["type", "role", "content", "call_id"]), junk, max_size=3),
)
tools = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("function"), "name": names},
        optional={"parameters": junk, "strict": junk, "description": junk},
    ),
    st.fixed_dictionaries(
        {"type": st.just("custom"), "name": names}, optional={"format": junk, "description": junk}
    ),
    st.fixed_dictionaries(
        {"type": st.just("namespace"), "name": st.sampled_from(["multi_agent_v1", "mcp__x"])},
        optional={
            "tools": st.lists(
                st.fixed_dictionaries({"type": st.just("function"), "name": names}), max_size=3
            ),
            "description": junk,
        },
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["web_search", "tool_search", "file_search", "mystery"])}),
)
choices = st.one_of(
    st.sampled_from(["auto", "none", "required"]),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["function", "custom", "allowed_tools", "web_search_preview"])},
        optional={"name": names, "mode": junk, "tools": junk},
    ),
    junk,
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values three times out of four, so most bodies get past validation and deep into translation."""
    return st.integers(0, 3).flatmap(lambda roll: junk if roll == 0 else valid)


numbers = st.one_of(st.integers(0, 2), st.floats(0, 2))
bodies = st.fixed_dictionaries(
    {"model": st.just("gpt-5.5"), "input": st.one_of(st.lists(items, min_size=1, max_size=8), texts)},
    optional={
        "instructions": mostly(texts),
        "tools": mostly(st.lists(tools, max_size=4)),
        "tool_choice": choices,
        "parallel_tool_calls": mostly(st.booleans()),
        "max_output_tokens": mostly(st.integers(1, 200_000)),
        "reasoning": mostly(
            st.fixed_dictionaries(
                {"effort": st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh"])}
            )
        ),
        "text": st.one_of(
            st.fixed_dictionaries(
                {
                    "format": st.fixed_dictionaries(
                        {"type": st.sampled_from(["json_schema", "json_object", "text"])},
                        optional={"schema": junk, "name": junk},
                    )
                }
            ),
            junk,
        ),
        "temperature": mostly(numbers),
        "top_p": mostly(numbers),
        "stop": junk,
        "stream": mostly(st.booleans()),
        "store": mostly(st.just(False)),
        "previous_response_id": st.one_of(st.none(), st.none(), st.none(), junk),
        "prompt_cache_key": junk,
        "safety_identifier": junk,
    },
)
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(bodies)
def test_responses_bodies_translate_or_refuse(body: dict[str, Any]) -> None:
    for target in TARGETS:
        for translate in (responses_to_chat, responses_to_anthropic):
            try:
                out = translate(body, target)
            except TranslationError as exc:
                assert str(exc)  # a refusal says why
                continue
            orjson.dumps(out.body)  # whatever goes upstream is serialisable
            assert out.body["model"] == target.model
            if translate is responses_to_anthropic:
                assert_valid_anthropic(out.body, target)
            else:
                assert_valid_chat(out.body)
    try:
        compacted = compact_to_responses(body)
    except TranslationError:
        return
    assert compacted["input"][-1] == {"type": "compaction_trigger"}


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "model",
                "messages",
                "tools",
                "tool_choice",
                "max_tokens",
                "reasoning_effort",
                "response_format",
                "n",
            ]
        ),
        junk,
        max_size=6,
    )
)
def test_chat_bodies_to_responses_translate_or_refuse(body: dict[str, Any]) -> None:
    for target in TARGETS[:2]:
        try:
            out = chat_to_responses(body, target)
        except TranslationError as exc:
            assert str(exc)
            continue
        assert out.body["store"] is False
        orjson.dumps(out.body)
