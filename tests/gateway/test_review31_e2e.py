"""Review of session 30 (review31), end to end: a chat client's own thinking budget, passed through, fits the output
limit the gateway clamps its request to (``limits.clamp_body``), as session 30 made a translated Anthropic client's
fit (``_request_to_chat._claude_thinking``). Anthropic: ``budget_tokens`` below ``max_tokens``, else 400 "`max_tokens`
must be greater than `thinking.budget_tokens`" (extended thinking docs). The official openai SDK, the gateway and a
scripted upstream (LiteLLM, OpenRouter), over real sockets."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import openai

from tests.e2e_builders import catalog, chat_answer, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

CHAT_DONE = chat_answer("Hello.", ident="chatcmpl-31", model="anthropic/claude-sonnet-4-5", usage=(10, 2))
# a relay route whose output limit (8192) is below the client's limit (32000) and its budget (31999)
LITELLM_CATALOG = catalog(
    provider("litellm", "anthropic/claude-sonnet-4-5", extra="max_output_tokens = 8192")
)
# Anthropic's refusal of an output limit above the model's, as OpenRouter relays it (a lasting limit)
REFUSAL = {
    "error": {
        "message": "max_tokens: 32000 > 8192, which is the maximum allowed number of output tokens for "
        "claude-sonnet-4-5",
        "code": 400,
    }
}


def test_a_chat_clients_thinking_budget_behind_litellm_fits_the_clamped_max_completion_tokens(
    up: ScriptedUpstream, catalog_stack: Callable[..., AbstractContextManager[Stack]]
) -> None:
    """The openai SDK's ``max_completion_tokens`` with LiteLLM's ``thinking`` (LiteLLM docs, "'Thinking' /
    'Reasoning Content'"): before, the clamp lowered the limit and left the budget at 31999."""
    up.reset()
    path = "/litellm/v1/chat/completions"
    up.script(path, json_answer(CHAT_DONE))
    with catalog_stack("review31-litellm", LITELLM_CATALOG) as st:
        client = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="k", max_retries=0, timeout=60.0)
        got = client.chat.completions.create(
            model="anthropic/claude-sonnet-4-5",
            max_completion_tokens=32000,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"thinking": {"type": "enabled", "budget_tokens": 31999}},
        )
    assert got.choices[0].message.content == "Hello."
    sent = up.seen(path)[-1].json
    assert sent["max_completion_tokens"] == 8192
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8191}


def test_a_chat_clients_reasoning_budget_on_openrouter_fits_the_limit_claude_stated(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> None:
    """OpenRouter's ``reasoning.max_tokens`` (Claude's thinking budget there): refused once for a limit above the
    model's 8192, the retry within it keeps the budget below it too (before: 8192 with a budget of 31999)."""
    up.reset()
    path = "/openrouter/api/v1/chat/completions"
    up.script(path, json_answer(REFUSAL, status=400), json_answer(CHAT_DONE))
    with scripted_stack("review31-openrouter", {"openrouter": "/openrouter/api/v1"}) as st:
        client = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="k", max_retries=0, timeout=60.0)
        got = client.chat.completions.create(
            model="anthropic/claude-sonnet-4.5",
            max_tokens=32000,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"reasoning": {"max_tokens": 31999}},
        )
    assert got.choices[0].message.content == "Hello."
    first, retry = (s.json for s in up.seen(path))
    assert first["max_tokens"] == 32000 and first["reasoning"] == {"max_tokens": 31999}
    assert retry["max_tokens"] == 8192
    assert retry["reasoning"] == {"max_tokens": 8191}
