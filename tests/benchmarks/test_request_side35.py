"""``bench/request_counts.py --request-side`` (session 35): the whole request side as one piece, its footprint and
its callgrind reading."""

from __future__ import annotations

import orjson

from bench.request_counts import REAL, case_named, footprint, request_side, side_cost, side_part_costs


def test_the_request_side_builds_the_upstream_request_the_gateway_sends() -> None:
    up = request_side(case_named("anthropic → openai, stream"))()
    body = orjson.loads(up.body)  # type: ignore[attr-defined]
    assert body["model"] == "gpt-4o-mini" and body["stream_options"] == {"include_usage": True}
    assert up.url.endswith("/chat/completions")  # type: ignore[attr-defined]
    codex = orjson.loads(request_side(case_named(REAL[1]))().body)  # type: ignore[attr-defined]
    assert codex["model"] == "claude-haiku-4-5" and codex["stream"] is True and codex["tools"]


def test_the_footprint_counts_each_code_object_once_and_every_call() -> None:
    codes, size, py, c, names = footprint(request_side(case_named(REAL[0])), functions=True)
    assert codes == len(names)  # (the dataclasses' __init__ share one name: not unique)
    assert py > codes  # Claude Code's body runs some helpers once a message
    assert size > 0 and c > 0
    assert any(n.endswith("Proxy._build") for n in names)
    assert any("anthropic_to_chat" in n for n in names)


def test_the_cost_weighs_l1_and_last_level_misses() -> None:
    dump = "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 1000 7 7 1 2 3 4 5 6\n"
    assert side_cost(dump, 10) == (100.0, (1000 + 10 * 6 + 100 * 15) / 10)
    empty = "events: Ir I1mr\nsummary: 0 0\n"
    parts = side_part_costs([empty, dump, empty, dump.replace("1000", "2000")], warm_runs=10, cold_runs=2)
    assert parts == [(100.0, 256.0), (1000.0, 1780.0)]
