"""Prompt caching behind an OpenAI-compatible relay configured in the catalog (a LiteLLM proxy serving Claude and
OpenAI's models), through the real gateway and recorder processes, with the openai SDK and Codex-shaped requests
(s20 variants 08-x..08-ab).

The relay is a fake that caches Claude's prompts only at ``cache_control`` markers on content parts, as Anthropic
does behind LiteLLM (tests/fake/prompt_cache.py, OpenRouter's flavour for ``anthropic/…`` models). An openai SDK
client sends no markers: the gateway places them, as for Claude on OpenRouter, so from turn 2 the ledger shows
cache reads (before: none, every turn re-billed the prompt). OpenAI's models behind the relay get Codex's
``prompt_cache_key`` (before: dropped in the translation to the chat wire)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.fake_provider import FakeProvider, running
from tests.procs import Stack, stack

SYSTEM = (
    "You are a coding agent. Follow the repository's conventions, run the tests, keep diffs small. " * 130
)
TURNS = 4
CATALOG = """
[[providers]]
name = "litellm"
base_url = "{url}"
api_key_env = "LITELLM_KEY"
models = ["anthropic/claude-sonnet-4.5", "gpt-5", "databricks-claude-sonnet-4-5", "Claude-Sonnet-4.5", "qwen3-max"]
"""


@pytest.fixture(scope="module")
def relay() -> Iterator[FakeProvider]:
    with running("openrouter") as fps:  # OpenRouter's flavour: Claude caches at markers on content parts
        yield fps["openrouter"]


@pytest.fixture(scope="module")
def gw(relay: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("relay-cache")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(url=relay.provider_base_url))
    with stack(tmp, {}, CATALOG_PATH=str(catalog), LITELLM_KEY="sk-test-litellm-secret-key") as st:
        yield st


def openai_sdk(turn: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for n in range(turn):
        messages += [
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": f"answer {n}"},
        ]
    messages.pop()
    return {"model": "anthropic/claude-sonnet-4.5", "messages": messages, "stream": turn % 2 == 0}


def test_openai_sdk_session_on_claude_behind_a_relay_reads_the_cache(gw: Stack, relay: FakeProvider) -> None:
    relay.prompt_cache.clear()
    relay.requests.clear()
    rows = []
    with httpx.Client(base_url=gw.gateway_url, timeout=30) as client:
        for turn in range(1, TURNS + 1):
            rid = f"relay-claude-{turn}"
            r = client.post("/v1/chat/completions", json=openai_sdk(turn), headers={"x-request-id": rid})
            assert r.status_code == 200, r.text[:300]
            rows.append(gw.row_for(rid))
    assert all(row["provider"] == "litellm" and not row["translated"] for row in rows)
    reads = [row["cache_read_tokens"] for row in rows]
    assert reads[0] == 0 and all(n > 2000 for n in reads[1:]), reads
    first = relay.requests[0].json["messages"]
    assert first[0]["content"][-1]["cache_control"] == {"type": "ephemeral"}  # the gateway's breakpoint


def test_codex_prompt_cache_key_reaches_openais_model_behind_a_relay(gw: Stack, relay: FakeProvider) -> None:
    relay.requests.clear()
    body = {"model": "gpt-5", "instructions": SYSTEM, "input": "hi", "prompt_cache_key": "codex-thread-20"}
    with httpx.Client(base_url=gw.gateway_url, timeout=30) as client:
        r = client.post("/v1/responses", json=body, headers={"x-request-id": "relay-codex-1"})
    assert r.status_code == 200, r.text[:300]
    assert [q.json.get("prompt_cache_key") for q in relay.requests] == ["codex-thread-20"]


@pytest.mark.parametrize("model", ["databricks-claude-sonnet-4-5", "Claude-Sonnet-4.5", "qwen3-max"])
def test_claude_code_markers_reach_a_model_that_caches_only_at_them(
    gw: Stack, relay: FakeProvider, model: str
) -> None:
    """s26 variants 08-vQ, 08-vY: Claude served under a platform's own id (Databricks' ``databricks-claude-…``) or a
    capitalised one (Poe's ``Claude-Sonnet-4.5``) was not read as Claude, so Claude Code's breakpoints were dropped
    on the way to the relay and nothing was cached. s26 variant 08-vAJ: the same for Alibaba's own Qwen at DashScope
    (its explicit cache reads only those markers: Alibaba Model Studio, "Context cache")."""
    relay.requests.clear()
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-client", max_retries=0)
    client.messages.create(
        model=model,
        max_tokens=256,
        system=[{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    )
    messages = relay.requests[-1].json["messages"]
    assert messages[0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert messages[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
