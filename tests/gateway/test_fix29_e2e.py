"""Session 29 (fix29): session 28's review leads, each over real sockets (the gateway, the scripted upstream, the
official SDKs).

Lead 1: a client's effort with no output limit raised ``max_tokens`` by the thinking budget even when the thinking
was then dropped (a tool turn without thinking, a retry without the refused thinking).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

MESSAGES = "/anthropic/v1/messages"
DEFAULT_MAX_TOKENS = 8192  # the Anthropic provider's default answer room


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
def gw_anthropic(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> Iterator[Stack]:
    up.reset()
    with scripted_stack("fix29-anthropic", {"anthropic": "/anthropic"}) as st:
        yield st


def _chat(st: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="k", max_retries=0)


# ---- lead 1: the raise follows the thinking actually sent -------------------------------------------------------


def test_an_effort_on_a_tool_turn_without_thinking_keeps_the_default_room(
    gw_anthropic: Stack, up: ScriptedUpstream
) -> None:
    """A tool loop begun by another model (no thinking on its tool turn): thinking is off, so ``max_tokens`` stays
    the default; before, 8192 + the high effort's 24,576 budget with no thinking sent."""
    up.script(MESSAGES, json_answer(_answer("claude-sonnet-4-5")))
    messages: list[Any] = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    tools: list[Any] = [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    got = _chat(gw_anthropic).chat.completions.create(
        model="claude-sonnet-4-5", reasoning_effort="high", messages=messages, tools=tools
    )
    assert got.choices[0].message.content == "Hello."
    sent = up.seen(MESSAGES)[-1].json
    assert "thinking" not in sent
    assert sent["max_tokens"] == DEFAULT_MAX_TOKENS


def test_a_retry_without_the_refused_thinking_takes_the_raise_off(
    gw_anthropic: Stack, up: ScriptedUpstream
) -> None:
    """Anthropic refuses the history's signed thinking; the one retry goes without it and without ``thinking``, so
    its ``max_tokens`` is the default again (before: 32,768 on the retry, asking room for thinking not sent)."""
    refusal = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Invalid `signature` in `thinking` block"},
    }
    up.script(MESSAGES, json_answer(refusal, status=400), json_answer(_answer("claude-opus-4-7")))
    details = [
        {"type": "reasoning.text", "text": "thought", "signature": "sig-1", "format": "anthropic-claude-v1"}
    ]
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hi.", "reasoning_details": details},
        {"role": "user", "content": "again"},
    ]
    got = _chat(gw_anthropic).chat.completions.create(
        model="claude-opus-4-7", reasoning_effort="high", messages=messages
    )
    assert got.choices[0].message.content == "Hello."
    first, retry = (s.json for s in up.seen(MESSAGES))
    assert first["thinking"] == {"type": "adaptive"} and first["max_tokens"] > DEFAULT_MAX_TOKENS
    assert "thinking" not in retry
    assert retry["max_tokens"] == DEFAULT_MAX_TOKENS


# ---- lead 2: the thinking form by the model's version, and the other form after a refusal -----------------------


def test_a_claude_model_newer_than_any_list_takes_adaptive(gw_anthropic: Stack, up: ScriptedUpstream) -> None:
    """Claude Sonnet 4.7 (on no list): version 4.7 ≥ 4.6, so adaptive thinking; before, a budget."""
    up.script(MESSAGES, json_answer(_answer("claude-sonnet-4-7")))
    got = _chat(gw_anthropic).chat.completions.create(
        model="claude-sonnet-4-7", reasoning_effort="medium", messages=[{"role": "user", "content": "hi"}]
    )
    assert got.choices[0].message.content == "Hello."
    sent = up.seen(MESSAGES)[-1].json
    assert sent["thinking"] == {"type": "adaptive"} and sent["output_config"]["effort"] == "medium"


def _refusal(message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def test_a_refused_budget_is_sent_once_more_as_adaptive(gw_anthropic: Stack, up: ScriptedUpstream) -> None:
    """A Claude id with no version takes a budget; Anthropic's 400 "thinking.type.enabled is not supported" gets one
    retry with adaptive thinking (before, the 400 went back to the client)."""
    said = '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and effort.'
    up.script(MESSAGES, json_answer(_refusal(said), status=400), json_answer(_answer("claude-nova")))
    got = _chat(gw_anthropic).chat.completions.create(
        model="claude-nova", reasoning_effort="high", messages=[{"role": "user", "content": "hi"}]
    )
    assert got.choices[0].message.content == "Hello."
    first, retry = (s.json for s in up.seen(MESSAGES))
    assert first["thinking"]["type"] == "enabled"
    assert retry["thinking"] == {"type": "adaptive"} and retry["output_config"]["effort"] == "high"


def test_refused_adaptive_is_sent_once_more_as_a_budget(gw_anthropic: Stack, up: ScriptedUpstream) -> None:
    """An Anthropic client's adaptive thinking to a model that does not take it: one retry with a budget."""
    said = "adaptive thinking is not supported on this model"
    up.script(MESSAGES, json_answer(_refusal(said), status=400), json_answer(_answer("claude-haiku-4-5")))
    client = anthropic.Anthropic(base_url=gw_anthropic.gateway_url, api_key="k", max_retries=0)
    got = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=16000,
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert got.content[0].type == "text" and got.content[0].text == "Hello."
    first, retry = (s.json for s in up.seen(MESSAGES))
    assert first["thinking"] == {"type": "adaptive"}
    assert retry["thinking"] == {"type": "enabled", "budget_tokens": 15999}


# ---- lead 3: a failed Responses answer in a 200 that says a context overflow ------------------------------------


@pytest.fixture()
def oai(
    scripted_stack: Callable[..., AbstractContextManager[Stack]], up: ScriptedUpstream
) -> Iterator[Stack]:
    up.reset()
    with scripted_stack("fix29-oai", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


def test_a_failed_responses_answer_saying_an_overflow_is_codexs_400(oai: Stack, up: ScriptedUpstream) -> None:
    """``status: "failed"`` with ``context_length_exceeded`` in a 200: the client's 400 with that code (Codex
    compacts on it), as the streamed ``response.failed`` is told. Before: a 502 ``bad_response``."""
    failed = {
        "id": "resp_29",
        "object": "response",
        "status": "failed",
        "model": "gpt-5",
        "output": [],
        "error": {
            "code": "context_length_exceeded",
            "message": "The request could not be completed.",  # the code alone says the overflow
        },
        "usage": None,
    }
    up.script("/openai/v1/responses", json_answer(failed))
    client = openai.OpenAI(base_url=oai.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-5", input="hi", extra_headers={"x-request-id": "fix29-overflow"})
    assert caught.value.code == "context_length_exceeded"
    assert oai.row_for("fix29-overflow")["status"] == 400


# ---- lead 6: count_tokens answered by an event stream cut short -------------------------------------------------


def test_count_tokens_answered_by_a_cut_event_stream_is_not_read_as_the_answer(
    gw_anthropic: Stack, up: ScriptedUpstream
) -> None:
    """The provider streams a count_tokens answer and breaks off: the cut is the provider's broken answer (the
    route fails and the local estimate answers, as for any broken connection), not the half body relayed as a
    200 (before: the client was given the event text as its JSON answer)."""
    piece = b'event: message_start\ndata: {"type": "message_start"}\n\n'
    up.script(MESSAGES + "/count_tokens", sse([piece], abort=True))
    client = anthropic.Anthropic(base_url=gw_anthropic.gateway_url, api_key="k", max_retries=0)
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello there"}]
    )
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/json")
    assert raw.parse().input_tokens > 0
    assert len(up.seen(MESSAGES + "/count_tokens")) == 1


# ---- lead 4: an Anthropic client's thinking to Claude on a chat wire --------------------------------------------

CHAT_DONE = {
    "id": "chatcmpl-29",
    "object": "chat.completion",
    "model": "anthropic/claude-sonnet-4.5",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}
LITELLM_CATALOG = catalog(provider("litellm", "anthropic/claude-sonnet-4-5"))


def _think(st: Stack, model: str, thinking: Any) -> str:
    client = anthropic.Anthropic(base_url=st.gateway_url, api_key="k", max_retries=0)
    got = client.messages.create(
        model=model, max_tokens=20000, thinking=thinking, messages=[{"role": "user", "content": "hi"}]
    )
    block = got.content[-1]
    return block.text if block.type == "text" else ""


def test_a_thinking_budget_reaches_claude_on_openrouter_as_its_reasoning_max_tokens(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> None:
    """OpenRouter reads ``reasoning.max_tokens`` as Claude's thinking budget; before, the budget went as a coarse
    ``reasoning.effort`` ("medium" for 10,000)."""
    up.reset()
    path = "/openrouter/api/v1/chat/completions"
    up.script(path, json_answer(CHAT_DONE))
    with scripted_stack("fix29-openrouter", {"openrouter": "/openrouter/api/v1"}) as st:
        text = _think(st, "anthropic/claude-sonnet-4.5", {"type": "enabled", "budget_tokens": 10000})
    assert text == "Hello."
    assert up.seen(path)[-1].json["reasoning"] == {"max_tokens": 10000}


def test_a_thinking_setting_reaches_claude_behind_litellm(
    up: ScriptedUpstream, catalog_stack: Callable[..., AbstractContextManager[Stack]]
) -> None:
    """LiteLLM passes ``thinking`` on to Anthropic; before, an Anthropic client's thinking was dropped on the way."""
    up.reset()
    path = "/litellm/v1/chat/completions"
    up.script(path, json_answer(CHAT_DONE))
    with catalog_stack("fix29-litellm", LITELLM_CATALOG) as st:
        text = _think(st, "anthropic/claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 10000})
    assert text == "Hello."
    assert up.seen(path)[-1].json["thinking"] == {"type": "enabled", "budget_tokens": 10000}
