"""Prompt caching per route: how much of each session's prompt is read from the provider's cache.

Starts fake providers that cache the way each real one documents (tests/fake/prompt_cache.py), the recorder
and the gateway (real processes), replays a session of N turns on each translating route (Claude Code → GPT,
Claude Code → Claude over OpenRouter, Codex → Claude, openai SDK → Claude directly and over OpenRouter) plus
the same-format Claude Code → Claude, and prints from the LEDGER, per route: the cache-read share (cache-read
tokens ÷ all prompt tokens), the share from turn 2 on, and what caching saved.

    python bench/bench_cache.py [--turns 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_provider import FakeProvider  # noqa: E402
from tests.gateway.test_prompt_cache_e2e import ROUTES, SESSION, Route, claude_code  # noqa: E402
from tests.procs import Stack, stack  # noqa: E402

ALL_ROUTES: list[Route] = [
    *ROUTES,
    ("claude-code→claude (same format)", "/v1/messages", "anthropic", "claude-sonnet-4-5", claude_code),
]


def replay(st: Stack, route: Route, turns: int) -> list[dict[str, Any]]:
    name, path, provider, model, build = route
    headers = {
        "anthropic-version": "2023-06-01",
        "x-claude-code-session-id": SESSION,
        "x-ekai-provider": provider,
    }
    ids = []
    with httpx.Client(base_url=st.gateway_url, timeout=60) as client:
        for turn in range(1, turns + 1):
            rid = f"bench-{abs(hash(name))}-{turn}"
            response = client.post(path, json=build(model, turn), headers={**headers, "x-request-id": rid})
            response.raise_for_status()
            ids.append(rid)
    return [st.row_for(rid) for rid in ids]


def share(rows: list[dict[str, Any]]) -> float:
    prompt = sum(r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"] for r in rows)
    return sum(r["cache_read_tokens"] for r in rows) / prompt if prompt else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    fakes = {name: FakeProvider.start_in_thread(name=name) for name in ("anthropic", "openai", "openrouter")}
    results = []
    try:
        urls = {
            "anthropic": fakes["anthropic"].base_url,
            "openai": fakes["openai"].openai_base_url,
            "openrouter": fakes["openrouter"].openrouter_base_url,
        }
        with tempfile.TemporaryDirectory() as tmp, stack(Path(tmp), urls) as st:
            for route in ALL_ROUTES:
                for fp in fakes.values():
                    fp.prompt_cache.clear()
                rows = replay(st, route, args.turns)
                saved = sum(r["cache_savings_usd"] or 0.0 for r in rows)
                cost = sum(r["cost_usd"] or 0.0 for r in rows)
                results.append((route[0], share(rows), share(rows[1:]), cost, saved))
    finally:
        for fp in fakes.values():
            fp.stop()
    print(f"\n{args.turns}-turn sessions, figures from the ledger")
    print(f"{'route':36} {'cache-read share':>16} {'from turn 2':>12} {'cost':>10} {'saved':>10}")
    for name, whole, later, cost, saved in results:
        print(f"{name:36} {whole:16.1%} {later:12.1%} {cost:10.4f} {saved:10.4f}")


if __name__ == "__main__":
    main()
