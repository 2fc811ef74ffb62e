"""bug35a variants 04v10/04v11/04v13: a tool loop begun on another provider whose call ids are longer than OpenAI takes.

DeepSeek names its calls ``call_0_<uuid>`` (43 characters). A client sends that id back (``tool_calls[].id`` and
``tool_call_id``, or Claude Code's ``tool_use.id``/``tool_result.tool_use_id``, translated) when the conversation
moves to OpenAI, which refuses any over 40 characters on Chat Completions (64 on Responses ``call_id``): 400
"Invalid 'messages[1].tool_calls[0].id': string too long. Expected a string with maximum length 40". The OpenAI
provider's ``prepare`` (and OpenRouter's and a relay's, for OpenAI's models by name) gives each long id one short
form, the same on the call and on its result, on every turn.
"""

from __future__ import annotations

import copy
from typing import Any

from services.gateway.dialects.translate_request import Target, anthropic_to_chat
from services.gateway.providers.base import Wire
from services.gateway.providers.openai_compat import (
    OpenAIProvider,
    OpenRouterProvider,
    openai_call_id,
    openai_call_ids,
)

DEEPSEEK_ID = "call_0_3ebc9e84-a137-4188-995c-9381586f7097"  # 43 characters
OTHER_LONG = "call_0_3ebc9e84-a137-4188-995c-9381586f7098"  # the same but its last character


def _chat_loop(call_id: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
        ],
    }


def _ids(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    messages = body["messages"]
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    results = [m["tool_call_id"] for m in messages if m.get("role") == "tool"]
    return calls, results


def test_an_id_within_the_limit_is_itself() -> None:
    short = "call_abc123"
    assert openai_call_id(short, 40) is short
    assert openai_call_id("x" * 40, 40) == "x" * 40


def test_a_long_id_is_cut_to_the_limit_deterministically_and_stays_distinct() -> None:
    cut = openai_call_id(DEEPSEEK_ID, 40)
    assert len(cut) == 40
    assert cut == openai_call_id(DEEPSEEK_ID, 40)  # the same on every turn
    assert cut != openai_call_id(OTHER_LONG, 40)  # two long ids stay two
    assert cut.startswith("call_0_3ebc9e84")
    assert len(openai_call_id("c" * 100, 64)) == 64


def test_chat_history_ids_fit_and_call_matches_result() -> None:
    body = _chat_loop(DEEPSEEK_ID)
    before = copy.deepcopy(body)
    sent = copy.copy(body)
    assert openai_call_ids(sent, "openai_chat") is True
    calls, results = _ids(sent)
    assert calls == results
    assert all(len(i) <= 40 for i in calls)
    assert body == before  # the client's body is reused across attempts: never changed in place


def test_a_history_within_the_limit_is_left_as_it_is() -> None:
    body = _chat_loop("call_Xq3vGm7kA1bC2dE3fG4hI5jK")
    messages = body["messages"]
    assert openai_call_ids(body, "openai_chat") is False
    assert body["messages"] is messages


def test_responses_input_ids_fit_64() -> None:
    long_id = "fc_" + "a" * 70
    body: dict[str, Any] = {
        "model": "gpt-5",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": long_id, "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": long_id, "output": "sunny"},
        ],
    }
    assert openai_call_ids(body, "openai_responses") is True
    ids = [item["call_id"] for item in body["input"] if "call_id" in item]
    assert len(set(ids)) == 1 and len(ids[0]) == 64
    # DeepSeek's 43 characters fit the Responses wire's 64: unchanged
    within = {"input": [{"type": "function_call_output", "call_id": DEEPSEEK_ID, "output": "x"}]}
    assert openai_call_ids(within, "openai_responses") is False


def test_claude_codes_history_translated_for_openai_fits() -> None:
    """Claude Code's tool loop begun on DeepSeek, translated to Chat Completions, then OpenAI's ``prepare``."""
    anthropic_body = {
        "model": "gpt-4o-mini",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": DEEPSEEK_ID, "name": "weather", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": DEEPSEEK_ID, "content": "sunny"}],
            },
        ],
    }
    chat = anthropic_to_chat(anthropic_body, Target(model="gpt-4o-mini", max_output_tokens=16384)).body
    provider = OpenAIProvider("openai", "http://openai.invalid/v1", "sk-test")
    wire: Wire = "openai_chat"
    provider.prepare(chat, False, wire)
    calls, results = _ids(chat)
    assert calls == results and all(len(i) <= 40 for i in calls)


def test_openrouter_openai_models_only() -> None:
    provider = OpenRouterProvider("openrouter", "http://openrouter.invalid/api/v1", "sk-or-test")
    to_openai = _chat_loop(DEEPSEEK_ID, model="openai/gpt-4o-mini")
    provider.prepare(to_openai, False, "openai_chat")
    assert all(len(i) <= 40 for i in _ids(to_openai)[0])
    to_other = _chat_loop(DEEPSEEK_ID, model="deepseek/deepseek-chat")  # DeepSeek takes its own ids back
    provider.prepare(to_other, False, "openai_chat")
    assert _ids(to_other)[0] == [DEEPSEEK_ID]


def test_openai_prepare_fits_the_responses_wires_ids_too() -> None:
    """A Responses passthrough to OpenAI goes through ``OpenAIProvider.prepare`` as well: its ``call_id``s within 64
    (the merge of session 35 once returned before the ids on this wire)."""
    long_id = "fc_" + "b" * 70
    body: dict[str, Any] = {
        "model": "gpt-5",
        "input": [
            {"type": "function_call", "call_id": long_id, "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": long_id, "output": "sunny"},
        ],
    }
    provider = OpenAIProvider("openai", "http://openai.invalid/v1", "sk-test")
    assert provider.prepare(body, True, "openai_responses") is True
    ids = {item["call_id"] for item in body["input"]}
    assert len(ids) == 1 and len(ids.pop()) == 64
