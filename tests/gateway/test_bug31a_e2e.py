"""Session 31 (bug31a) variants, end to end: the official openai and anthropic SDKs, the gateway and the recorder as
processes, a catalog route (chat wire, Moonshot/Kimi's usage convention) replaced by a scripted upstream.

- 28vK-moonshot-choice-usage-json: an unstreamed answer whose usage is only in ``choices[0].usage`` (where Moonshot/
  Kimi put it in their streams' finish chunk; higress#1568, vercel/ai#19727, earendil-works/pi#2017). The stream
  decoder reads it there (s11 variants 28-a/b); the whole-answer readers read the top-level ``usage`` alone, so the
  ledger had 0 tokens and cost 0 on both paths (same format and translated) and the Anthropic client was told 0.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

KIMI = "/kimi/v1/chat/completions"
MODEL = "kimi-k2-0905-preview"
USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
ANSWER = {
    "id": "chatcmpl-31a",
    "object": "chat.completion",
    "created": 1775000000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi."},
            "finish_reason": "stop",
            "usage": USAGE,
        }
    ],
}

pytestmark = pytest.mark.usefixtures("fresh_up")
gw = catalog_gw("bug31a", catalog(provider("kimi", MODEL, price=(0.60, 2.50))))


def test_whole_answer_usage_only_in_the_choice_is_billed_on_both_paths(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """28vK: the chat client (same format) and the Anthropic client (translated) of an unstreamed answer whose usage
    is only in ``choices[0].usage``: both rows hold its 120 / 30 tokens at the route's price, and the Anthropic client
    is told them."""
    up.script(KIMI, json_answer(ANSWER))
    up.script(KIMI, json_answer(ANSWER))
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    answer = chat.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "b31a-28vK-a"},
    )
    assert answer.choices[0].message.content == "Hi."
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    message = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "b31a-28vK-b"},
    )
    assert (message.usage.input_tokens, message.usage.output_tokens) == (120, 30)
    for rid in ("b31a-28vK-a", "b31a-28vK-b"):
        row = gw.row_for(rid)
        assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 120, 30)
        assert row["cost_usd"] == pytest.approx((120 * 0.60 + 30 * 2.50) / 1e6)
