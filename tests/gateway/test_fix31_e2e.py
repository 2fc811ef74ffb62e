"""Session 31 (fix31), end to end: review findings of session 30. The official SDKs, the gateway and a scripted
upstream, over real sockets.

1. A retry within the output limit a provider stated (OpenRouter's 402 "… can only afford N") keeps the reasoning
   budget OpenRouter reads (``reasoning.max_tokens``, OpenRouter docs "Reasoning Tokens") below the new limit, as it
   does Anthropic's ``thinking.budget_tokens`` (``providers.limits._BUDGETS``).
2. A whole answer's error that says a context overflow in a 200 is read by the error-meaning table
   (``_error_meaning.overflow_told_whole``), every overflow code of it, not one code hard-coded in the proxy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

OPENROUTER = "/openrouter/api/v1/chat/completions"
CHAT_DONE = {
    "id": "chatcmpl-31",
    "object": "chat.completion",
    "model": "anthropic/claude-sonnet-4.5",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


def _cannot_afford(n: int) -> dict[str, Any]:
    """OpenRouter's pre-flight credit refusal (402; Gitlawb/openclaude#1125): this request's limit, not the model's."""
    return {
        "error": {
            "message": "This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, "
            f"but can only afford {n}. To increase, visit https://openrouter.ai/settings/credits and upgrade",
            "code": 402,
        }
    }


def _too_many(body: dict[str, Any]) -> bool:
    return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0) > 20000


@pytest.fixture()
def openrouter(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> Iterator[Stack]:
    up.reset()
    with scripted_stack(
        "fix31-openrouter", {"openrouter": "/openrouter/api/v1"}, BREAKER_FAILURES="1000"
    ) as st:
        yield st


def test_a_translated_budget_fits_openrouters_affordable_limit(
    openrouter: Stack, up: ScriptedUpstream
) -> None:
    """Claude Code's 32000/31999 to Claude on OpenRouter, refused 402 "can only afford 20000": the retry asks
    20000 with ``reasoning.max_tokens`` 19999. Before: 31999, at or above the new limit (refused by Anthropic)."""
    up.script(OPENROUTER, json_answer(_cannot_afford(20000), 402, when=_too_many), json_answer(CHAT_DONE))
    client = anthropic.Anthropic(base_url=openrouter.gateway_url, api_key="k", max_retries=0, timeout=60.0)
    got = client.messages.create(
        model="anthropic/claude-sonnet-4.5",
        max_tokens=32000,
        thinking={"type": "enabled", "budget_tokens": 31999},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert got.content[-1].type == "text" and got.content[-1].text == "Hello."
    first, retry = (s.json for s in up.seen(OPENROUTER))
    assert first["reasoning"] == {"max_tokens": 31999}
    assert retry["max_tokens"] == 20000 and retry["reasoning"] == {"max_tokens": 19999}


def test_a_chat_clients_own_reasoning_budget_fits_the_affordable_limit(
    openrouter: Stack, up: ScriptedUpstream
) -> None:
    """The same refusal for an OpenAI client's own ``reasoning`` (passthrough) that asks by
    ``max_completion_tokens``: the retry's budget is fitted under that field (before: only ``max_tokens`` was read,
    so the budget stayed 30000); the client's other reasoning settings are kept."""
    up.script(OPENROUTER, json_answer(_cannot_afford(20000), 402, when=_too_many), json_answer(CHAT_DONE))
    client = openai.OpenAI(base_url=openrouter.gateway_url + "/v1", api_key="k", max_retries=0, timeout=60.0)
    got = client.chat.completions.create(
        model="anthropic/claude-sonnet-4.5",
        max_completion_tokens=32000,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"reasoning": {"max_tokens": 30000, "exclude": True}},
    )
    assert got.choices[0].message.content == "Hello."
    first, retry = (s.json for s in up.seen(OPENROUTER))
    assert first["reasoning"] == {"max_tokens": 30000, "exclude": True}
    assert retry["max_completion_tokens"] == 20000
    assert retry["reasoning"] == {"max_tokens": 19999, "exclude": True}


@pytest.fixture()
def oai(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> Iterator[Stack]:
    up.reset()
    with scripted_stack("fix31-oai", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


@pytest.mark.parametrize("code", ["context_length_exceeded", "model_context_window_exceeded"])
def test_a_failed_responses_answer_with_any_overflow_code_is_codexs_400(
    oai: Stack, up: ScriptedUpstream, code: str
) -> None:
    """``status: "failed"`` in a 200 whose error code is an overflow's (``_OVERFLOW_CODES``, the codes an HTTP error's
    meaning reads): the client's 400 ``context_length_exceeded`` (Codex compacts on it). Before: only
    ``context_length_exceeded`` was read (hard-coded in ``proxy._overflow_told``); ``model_context_window_exceeded``
    was a 502 ``bad_response``."""
    failed = {
        "id": "resp_31",
        "object": "response",
        "status": "failed",
        "model": "gpt-5",
        "output": [],
        "error": {"code": code, "message": "The request could not be completed."},  # the code alone says it
        "usage": None,
    }
    up.script("/openai/v1/responses", json_answer(failed))
    client = openai.OpenAI(base_url=oai.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-5", input="hi", extra_headers={"x-request-id": f"fix31-{code}"})
    assert caught.value.code == "context_length_exceeded"
    assert "The request could not be completed." in caught.value.message
    assert oai.row_for(f"fix31-{code}")["status"] == 400
