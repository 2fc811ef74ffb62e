"""Session 28 (bug28c) end to end, kinds 10 and 17: real gateway and recorder, scripted upstream, the official SDKs.

Kind 10: an OpenAI-compatible server that says an overflow in Groq's words without the ``context_length_exceeded``
code (or a LiteLLM proxy relaying them under its code "400") gave Claude Code and Codex a plain 400, so neither
compacted. Kind 17: a chat client's ``reasoning_effort`` on Claude Sonnet 4.5 went as adaptive thinking, which only
Claude 4.6 and later take (Anthropic's adaptive-thinking docs), in a max_tokens of 8192 the gateway chose; on Opus 4.7
(adaptive thinking only) it went as a budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

GROQ = "/groq/openai/v1/chat/completions"
CATALOG = """
[[providers]]
name = "groq"
base_url = "{up}/groq/openai/v1"
models = ["llama-3.3-70b-versatile", "groq/llama-3.3-70b-versatile"]
price = {{ input = 0.59, output = 0.79 }}
"""
WORDS = "Please reduce the length of the messages or completion."


@pytest.fixture()
def gw_groq(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    up.reset()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG.format(up=up.url))
    with stack(tmp_path, {}, CATALOG_PATH=str(catalog)) as st:
        yield st


def test_codex_is_told_an_overflow_said_only_in_words(gw_groq: Stack, up: ScriptedUpstream) -> None:
    """s28 variant 10-groq-words-no-code-codex-vD: before, code invalid_request_error (Codex does not compact)."""
    up.script(
        GROQ,
        json_answer({"error": {"message": WORDS, "type": "invalid_request_error", "param": "messages"}}, 400),
    )
    client = openai.OpenAI(base_url=gw_groq.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as told:
        client.responses.create(model="llama-3.3-70b-versatile", input="hi")
    assert told.value.code == "context_length_exceeded"


def test_claude_code_compacts_on_litellms_relay_of_the_words(gw_groq: Stack, up: ScriptedUpstream) -> None:
    """s28 variant 10-litellm-groq-words-cc-vI: before, the words as they came (no "prompt is too long")."""
    relayed = {
        "message": f"litellm.BadRequestError: GroqException - {WORDS}",
        "type": None,
        "param": None,
        "code": "400",
    }
    up.script(GROQ, json_answer({"error": relayed}, 400))
    client = anthropic.Anthropic(base_url=gw_groq.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        with client.messages.stream(
            model="groq/llama-3.3-70b-versatile",
            max_tokens=8000,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:
            stream.get_final_message()
    assert "prompt is too long" in told.value.body["error"]["message"]  # type: ignore[index]


# ---- kind 17: the thinking an effort becomes, and its room ------------------------------------------------------

MESSAGES = "/anthropic/v1/messages"


def _answer(model: str) -> dict[str, object]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Hello."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 2},
    }


@pytest.fixture()
def gw_anthropic(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    up.reset()
    with stack(tmp_path, {"anthropic": f"{up.url}/anthropic"}) as st:
        yield st


def test_a_chat_effort_on_sonnet_45_is_a_budget_with_room_for_the_answer(
    gw_anthropic: Stack, up: ScriptedUpstream
) -> None:
    """s28 variant 17-chat-no-max-effort-high-sonnet45-vA: before, {"type": "adaptive"} (Sonnet 4.5 has no adaptive
    thinking) in max_tokens 8192."""
    up.script(MESSAGES, json_answer(_answer("claude-sonnet-4-5")))
    client = openai.OpenAI(base_url=gw_anthropic.gateway_url + "/v1", api_key="k", max_retries=0)
    got = client.chat.completions.create(
        model="claude-sonnet-4-5", reasoning_effort="high", messages=[{"role": "user", "content": "hi"}]
    )
    assert got.choices[0].message.content == "Hello."
    sent = up.seen(MESSAGES)[-1].json
    assert sent["thinking"]["type"] == "enabled"
    assert sent["max_tokens"] - sent["thinking"]["budget_tokens"] >= 4096 and sent["max_tokens"] <= 64000


def test_a_responses_effort_on_opus_41_leaves_the_answer_room(
    gw_anthropic: Stack, up: ScriptedUpstream
) -> None:
    """s28 variant 17-resp-no-max-effort-high-opus41-ns-vB: before, max_tokens 8192 with a budget of 8191."""
    up.script(MESSAGES, json_answer(_answer("claude-opus-4-1")))
    client = openai.OpenAI(base_url=gw_anthropic.gateway_url + "/v1", api_key="k", max_retries=0)
    got = client.responses.create(model="claude-opus-4-1", input="hi", reasoning={"effort": "high"})
    assert got.output_text == "Hello."
    sent = up.seen(MESSAGES)[-1].json
    assert sent["max_tokens"] <= 32000 and sent["max_tokens"] - sent["thinking"]["budget_tokens"] >= 4096


def test_opus_47_takes_adaptive_thinking(gw_anthropic: Stack, up: ScriptedUpstream) -> None:
    """s28 variant 17-chat-effort-opus47-adaptive-vH: before, a budget (Opus 4.7 refuses one: 400)."""
    up.script(MESSAGES, sse([b"event: message_start\ndata: " + _start() + b"\n\n", *_rest()]))
    client = openai.OpenAI(base_url=gw_anthropic.gateway_url + "/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="claude-opus-4-7",
        reasoning_effort="medium",
        max_completion_tokens=20000,
        stream=True,
        messages=[{"role": "user", "content": "hi"}],
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello."
    sent = up.seen(MESSAGES)[-1].json
    assert sent["thinking"] == {"type": "adaptive"} and sent["output_config"]["effort"] == "medium"


def _start() -> bytes:
    return (
        b'{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
        b'"model":"claude-opus-4-7","content":[],"stop_reason":null,"stop_sequence":null,'
        b'"usage":{"input_tokens":12,"output_tokens":1}}}'
    )


def _rest() -> list[bytes]:
    return [
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hello."}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":2}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]


# ---- kind 28: the tier the chunks name, when the usage chunk leaves it out ---------------------------------------

CHAT = "/openai/v1/chat/completions"


def _tier_chunk(tier: str | None, **extra: object) -> bytes:
    obj: dict[str, object] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5"}
    if tier:
        obj["service_tier"] = tier
    obj.update(extra)
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_a_priority_answer_is_billed_at_priority_when_the_usage_chunk_does_not_say_it(
    up: ScriptedUpstream, tmp_path: Path
) -> None:
    """s28 variant 28-priority-tier-not-on-usage-chunk-chat-vI: before, billed at the standard rates (0.006025)."""
    up.reset()
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "prompt_tokens_details": {"cached_tokens": 200}}
    pieces = [
        _tier_chunk(
            "priority", choices=[{"index": 0, "delta": {"content": "Hello."}, "finish_reason": None}]
        ),
        _tier_chunk("priority", choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        _tier_chunk(None, choices=[], usage=usage),
        b"data: [DONE]\n\n",
    ]
    up.script(CHAT, sse(pieces))
    with stack(tmp_path, {"openai": f"{up.url}/openai/v1"}) as st:
        client = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="k", max_retries=0)
        stream = client.chat.completions.with_raw_response.create(
            model="gpt-5",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": "tier28c-1"},
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
        assert text == "Hello."
        row = st.row_for("tier28c-1")
    # gpt-5 at priority: $2.50 input, $0.25 cached, $20 output per MTok (OpenAI pricing; genai-prices' tier data)
    assert row["cost_usd"] == pytest.approx((800 * 2.5 + 200 * 0.25 + 500 * 20) / 1e6)
