"""Property tests: whatever a client or a provider sends, translation answers or says what is wrong.

Bad input must become a clear 400 (``TranslationError``) or pass through, never an unexpected
exception (which the gateway would turn into a 500). Bodies are random JSON biased towards the real
field names and shapes, so the generator reaches deep into the translators.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import anthropic as anth
from services.gateway.dialects import openai_chat as oai
from services.gateway.dialects import registry
from services.gateway.dialects import translate_request as tr
from shared.sse import SSEEvent

KEYS = [
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "system",
    "tools",
    "tool_choice",
    "name",
    "input_schema",
    "parameters",
    "function",
    "arguments",
    "tool_calls",
    "tool_call_id",
    "tool_use_id",
    "id",
    "input",
    "is_error",
    "image_url",
    "url",
    "source",
    "media_type",
    "data",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "stop_sequences",
    "temperature",
    "top_p",
    "stream",
    "thinking",
    "budget_tokens",
    "reasoning_effort",
    "output_config",
    "effort",
    "format",
    "response_format",
    "metadata",
    "user_id",
    "user",
    "n",
    "choices",
    "delta",
    "finish_reason",
    "usage",
    "index",
    "prompt_tokens",
    "completion_tokens",
    "error",
    "message",
    "content_block",
    "partial_json",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "file",
    "file_data",
    "parallel_tool_calls",
    "disable_parallel_tool_use",
    "cache_control",
    "signature",
    "thinking_delta",
    # Responses
    "input",
    "instructions",
    "call_id",
    "output",
    "max_output_tokens",
    "reasoning",
    "summary",
    "previous_response_id",
    "encrypted_content",
    "strict",
    "verbosity",
    "include",
    "store",
    "status",
]
WORDS = [
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "text",
    "image",
    "tool_use",
    "tool_result",
    "function",
    "auto",
    "any",
    "none",
    "required",
    "enabled",
    "adaptive",
    "base64",
    "image/png",
    "data:image/png;base64,AAAA",
    "https://x/y.png",
    "json_schema",
    "thinking",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "message_delta",
    "text_delta",
    "input_json_delta",
    "stop",
    "length",
    "tool_calls",
    "end_turn",
    '{"a": 1}',
    "{bad",
    "",
    "low",
    "high",
    "message",
    "input_text",
    "output_text",
    "input_image",
    "input_file",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom",
    "reasoning",
    "summary_text",
    "compaction",
    "web_search",
    "ekai.c1.AAAA",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70_000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(WORDS),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=40,
)
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10)
TARGETS = [
    tr.Target(model="gpt-4o-mini", max_output_tokens=16_384),
    tr.Target(model="o3", max_output_tokens=100_000, reasoning="reasoning_effort"),
    tr.Target(model="x/y", max_tokens_field="max_tokens", reasoning="openrouter"),
    tr.Target(
        model="claude-sonnet-4-5",
        max_output_tokens=64_000,
        max_tokens_field="max_tokens",
        reasoning="anthropic_adaptive",
    ),
    tr.Target(
        model="claude-3-5-haiku",
        max_output_tokens=8_192,
        max_tokens_field="max_tokens",
        reasoning="anthropic_budget",
    ),
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def translates_or_refuses(fn: Any, body: dict[str, Any]) -> None:
    for target in TARGETS:
        try:
            out = fn(body, target)
        except tr.TranslationError as exc:
            assert str(exc)  # a refusal says why
            continue
        orjson.dumps(out.body)  # whatever goes upstream is serialisable


@FUZZ
@given(bodies)
def test_anthropic_requests_translate_or_refuse(body: dict[str, Any]) -> None:
    translates_or_refuses(tr.anthropic_to_chat, body)


@FUZZ
@given(bodies)
def test_chat_requests_translate_or_refuse(body: dict[str, Any]) -> None:
    translates_or_refuses(tr.chat_to_anthropic, body)


@FUZZ
@given(bodies)
def test_responses_requests_translate_or_refuse(body: dict[str, Any]) -> None:
    translates_or_refuses(tr.responses_to_chat, body)
    translates_or_refuses(tr.responses_to_anthropic, body)
    try:
        compacted = tr.compact_to_responses(body)
    except tr.TranslationError:
        return
    translates_or_refuses(tr.responses_to_chat, compacted)


@FUZZ
@given(bodies)
def test_requests_to_responses_translate_or_refuse(body: dict[str, Any]) -> None:
    translates_or_refuses(tr.anthropic_to_responses, body)
    translates_or_refuses(tr.chat_to_responses, body)


@FUZZ
@given(bodies)
def test_every_client_format_parses_or_refuses(body: dict[str, Any]) -> None:
    for fmt in registry.CLIENTS:
        try:
            registry.client(fmt).parse(body)
        except tr.TranslationError as exc:
            assert str(exc)


@FUZZ
@given(st.lists(json_values, max_size=8))
def test_stream_decoders_never_raise(payloads: list[Any]) -> None:
    decoders: list[Any] = [oai.ChatStreamDecoder(), anth.MessagesStreamDecoder()]
    for decoder in decoders:
        for p in payloads:
            name = p.get("type") if isinstance(p, dict) and isinstance(p.get("type"), str) else None
            decoder.feed(SSEEvent(name, orjson.dumps(p).decode()))
        decoder.feed(SSEEvent(None, "not json at all"))
        decoder.finish()


@FUZZ
@given(json_values)
def test_whole_responses_parse_or_refuse(body: Any) -> None:
    for parse in (oai.completion_from_chat, anth.completion_from_messages):
        if not isinstance(body, dict):
            continue
        completion = parse(body)
        oai.chat_from_completion(completion, "m")
        anth.messages_from_completion(completion, "m")
