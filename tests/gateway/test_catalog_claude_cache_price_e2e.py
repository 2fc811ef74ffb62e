"""A catalog price for a Claude model prices its cache tokens at Anthropic's multiples of that input price
(s22 variant 06-w5).

An operator's catalog file sets a negotiated Claude price with no cache prices (``[prices.anthropic]
"claude-sonnet-4-5" = { input = 2.7, output = 13.5 }``). Anthropic prices caching as multiples of the base
input price (pricing page, "Prompt caching": reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x); the ledger
read cache hits at the full input price (10x too much) and 5-minute writes at 1x, while 1-hour writes already took
2x. ``routing.config.Price.rates``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

ANTHROPIC = "/anthropic/v1/messages"
CATALOG = """
[prices.anthropic]
"claude-sonnet-4-5" = { input = 2.7, output = 13.5 }
"""
USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "output_tokens": 100,
}
# 50 x 2.7 + 1000 x 3.375 (1.25x) + 2000 x 5.4 (2x) + 3000 x 0.27 (0.1x) + 100 x 13.5 = 16,470 micro-USD
WANT = (50 * 2.7 + 1000 * 2.7 * 1.25 + 2000 * 2.7 * 2 + 3000 * 2.7 * 0.1 + 100 * 13.5) / 1e6
pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    with stack(tmp_path, {"anthropic": f"{up.url}/anthropic"}, CATALOG_PATH=str(catalog)) as st:
        yield st


def message(usage: dict[str, Any], content: list[Any], stop: str | None) -> dict[str, Any]:
    return {
        "id": "msg_catalog",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def events() -> list[bytes]:
    frames = [
        {"type": "message_start", "message": message({**USAGE, "output_tokens": 1}, [], None)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {k: v for k, v in USAGE.items() if k != "cache_creation"},
        },
        {"type": "message_stop"},
    ]
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in frames]


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_catalog_claude_price_prices_cache_tokens_at_anthropics_multiples(
    gw: Stack, up: ScriptedUpstream, streamed: bool
) -> None:
    if streamed:
        up.script(ANTHROPIC, sse(events()))
    else:
        up.script(ANTHROPIC, json_answer(message(USAGE, [{"type": "text", "text": "Done."}], "end_turn")))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)
    rid = f"catalog-claude-cache-{streamed}"
    args: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "system": [
            {"type": "text", "text": "guidelines", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "messages": [{"role": "user", "content": "Review."}],
        "extra_headers": {"x-request-id": rid},
    }
    if streamed:
        with client.messages.stream(**args) as s:
            assert s.get_final_message().usage.cache_read_input_tokens == 3000
    else:
        assert client.messages.create(**args).usage.cache_read_input_tokens == 3000
    row = gw.row_for(rid)
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (3000, 3000)
    assert row["cost_usd"] == pytest.approx(WANT, abs=1e-9)


# A LiteLLM proxy in front of Claude, configured as a catalog provider that serves Claude under its own aliases
# (LiteLLM's ``model_name``), said to be Claude by ``cache_markers = true`` (docs/catalog.md: "a relay in front of
# Claude"): a provider-wide price, and a per-model one for ``opus``, neither with cache prices.
RELAY_CATALOG = """
[[providers]]
name = "litellm"
base_url = "{url}/litellm/v1"
models = ["sonnet", "opus"]
price = { input = 3, output = 15 }
cache_markers = true

[prices.litellm]
"opus" = { input = 5, output = 25 }
"""
RELAY = "/litellm/v1/chat/completions"
# LiteLLM's usage for Claude: prompt_tokens = 50 input + 1000 writes + 3000 reads, the writes and reads in
# prompt_tokens_details and, as Anthropic names them, beside
RELAY_USAGE = {
    "prompt_tokens": 4050,
    "completion_tokens": 100,
    "total_tokens": 4150,
    "prompt_tokens_details": {"cached_tokens": 3000, "cache_creation_tokens": 1000},
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 3000,
}


@pytest.fixture()
def relay_gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(RELAY_CATALOG.replace("{url}", up.url))
    with stack(tmp_path, {}, CATALOG_PATH=str(catalog)) as st:
        yield st


@pytest.mark.parametrize(
    ("model", "input_usd"), [("sonnet", 3.0), ("opus", 5.0)], ids=["provider", "per-model"]
)
def test_a_claude_relay_s_alias_prices_cache_tokens_at_anthropics_multiples(
    relay_gw: Stack, up: ScriptedUpstream, model: str, input_usd: float
) -> None:
    """s23 variant 06-x7: the relay's alias says nothing of Claude, its configuration does (``cache_markers``);
    its cache hits cost 0.1x and its 5-minute writes 1.25x of the input price it is given, as Anthropic bills
    them. Before, both were priced at the full input price (the 3000 reads at 10x)."""
    answer = {
        "id": "chatcmpl-relay",
        "object": "chat.completion",
        "created": 1775000000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}
        ],
        "usage": RELAY_USAGE,
    }
    up.script(RELAY, json_answer(answer))
    client = openai.OpenAI(base_url=f"{relay_gw.gateway_url}/v1", api_key="client", max_retries=0)
    rid = f"relay-alias-cache-{model}"
    done = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Review."}], extra_headers={"x-request-id": rid}
    )
    assert done.choices[0].message.content == "Done."
    row = relay_gw.row_for(rid)
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (50, 3000, 1000), row
    want = (50 * input_usd + 1000 * input_usd * 1.25 + 3000 * input_usd * 0.1 + 100 * input_usd * 5) / 1e6
    assert row["cost_usd"] == pytest.approx(want, abs=1e-9)
