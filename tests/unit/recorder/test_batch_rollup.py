"""``batch_rollup.batch_groups`` (grouped, then summed per group in C) gives exactly, to the last bit and
type, what a running total row by row gives: the figures ``rollups`` sums in SQL, in first-seen order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from services.recorder.batch_rollup import batch_groups
from services.recorder.seed import generate
from services.recorder.store import COLUMNS, event_row

AT = {name: COLUMNS.index(name) for name in COLUMNS}


def row_by_row(
    rows: Sequence[Sequence[Any]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[Any, Any]]:
    """The reference: a running total per group, one row at a time (session 13's implementation)."""
    hourly: dict[tuple[Any, ...], list[Any]] = {}
    who: dict[tuple[Any, ...], list[Any]] = {}
    latencies: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        started, cost, saving = r[AT["started_at"]], r[AT["cost_usd"]], r[AT["cache_savings_usd"]]
        provider = r[AT["provider"]] or ""
        key = (int(started / 3600), provider, r[AT["model"]], r[AT["status"]])
        s = hourly.setdefault(key, [0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, 0.0])
        latencies.setdefault(key, []).append(r[AT["latency_ms"]])
        tokens = [
            r[AT[c]] for c in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        ]
        s[0] += 1
        s[1] += r[AT["attempts"]] > 1
        for i, n in enumerate([*tokens, r[AT["reasoning_tokens"]]], start=2):
            s[i] += n
        if cost is not None:
            s[7] += cost
            s[8] += 1
        s[9] += r[AT["latency_ms"]]
        if saving is not None:
            s[10] += saving
        wkey = (key[0], *(r[AT[c]] or "" for c in ("api_key_name", "client", "session_id")), *key[1:])
        w = who.get(wkey)
        if w is None:
            who[wkey] = [
                1,
                sum(tokens),
                0.0 if cost is None else cost,
                int(cost is not None),
                started,
                started,
            ]
            continue
        w[0] += 1
        w[1] += sum(tokens)
        if cost is not None:
            w[2] += cost
            w[3] += 1
        w[4], w[5] = min(w[4], started), max(w[5], started)
    return [(*k, *v) for k, v in hourly.items()], [(*k, *v) for k, v in who.items()], latencies


@pytest.mark.parametrize("seed", range(12))
def test_batch_groups_equal_a_running_total_row_by_row(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 7, 60, 500])
    end = 1_764_600_000.0
    events = generate(n, end - rng.choice([60, 7200, 86400]), end, np.random.default_rng(seed))
    rows = []
    for e in events:
        r = list(event_row(e))
        for column, values in (
            ("cost_usd", [None, 0.0, 1e-7, 3.25]),
            ("cache_savings_usd", [None, 0.5]),
            ("provider", [None]),
            ("api_key_name", [None, "a", "b"]),
            ("session_id", [None, "s1"]),
            ("attempts", [1, 2, 3]),
        ):
            if rng.random() < 0.3:
                r[AT[column]] = rng.choice(values)
        rows.append(tuple(r))
    got = batch_groups(rows)
    hourly, who, latencies = row_by_row(rows)
    # repr: bit-exact floats, and int stays int (0 and 0.0 differ)
    assert repr(got.hourly) == repr(hourly)
    assert repr(got.who) == repr(who)
    assert repr(got.latencies) == repr(latencies)
