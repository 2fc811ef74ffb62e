"""Review of session 29 (review30), end to end: an Anthropic client's thinking budget for Claude behind LiteLLM fits
the route's output limit the gateway clamps ``max_tokens`` to (Anthropic: ``budget_tokens`` below ``max_tokens``,
else 400 "`max_tokens` must be greater than `thinking.budget_tokens`"). The official Anthropic SDK, the gateway and a
scripted upstream, over real sockets."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import anthropic

from tests.e2e_builders import catalog, chat_answer, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

CHAT_DONE = chat_answer("Hello.", ident="chatcmpl-30", model="anthropic/claude-sonnet-4-5", usage=(10, 2))
# a relay route whose output limit (8192) is below Claude Code's max_tokens (32000) and its budget (31999)
LITELLM_CATALOG = catalog(
    provider("litellm", "anthropic/claude-sonnet-4-5", extra="max_output_tokens = 8192")
)


def test_claude_codes_budget_behind_litellm_fits_the_clamped_limit(
    up: ScriptedUpstream, catalog_stack: Callable[..., AbstractContextManager[Stack]]
) -> None:
    up.reset()
    path = "/litellm/v1/chat/completions"
    up.script(path, json_answer(CHAT_DONE))
    with catalog_stack("review30-litellm", LITELLM_CATALOG) as st:
        client = anthropic.Anthropic(base_url=st.gateway_url, api_key="k", max_retries=0, timeout=60.0)
        got = client.messages.create(
            model="anthropic/claude-sonnet-4-5",
            max_tokens=32000,
            thinking={"type": "enabled", "budget_tokens": 31999},
            messages=[{"role": "user", "content": "hi"}],
        )
    assert got.content[-1].type == "text" and got.content[-1].text == "Hello."
    sent = up.seen(path)[-1].json
    assert sent["max_tokens"] == 8192
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8191}  # before: 31999, Anthropic's 400
