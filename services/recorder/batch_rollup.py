"""A batch's rows summed into rollup groups in Python (pure logic, no I/O).

When every row of a batch was new (no replayed event id), the store adds these groups to the rollups with
one upsert each (:data:`HOURLY_UPSERT`, :data:`WHO_UPSERT`) instead of running
``rollups.BATCH_STATEMENTS``, which read the batch's rows back from the table and sort them: about 8 us a
row of SQLite's CPU against about 2 us here (bench/bench_recorder.py). The figures are those of
``rollups._HOURLY_SELECT`` and ``rollups._WHO_SELECT`` exactly: hour ``CAST(started_at / 3600 AS INTEGER)``
(truncated toward zero, like ``int()``), NULL provider, key, client and session as ``''``, NULL cost and
saving summed as 0 and not counted as priced. REAL sums may differ from SQLite's in their last bits
(another summation order), as they already do between batches.

``rows`` are ``store.event_row`` tuples: columns in ``shared.events.FIELD_NAMES`` order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import gt, itemgetter
from typing import Any

from services.recorder.rollups import HOURLY_FIGURES
from shared.events import (
    API_KEY_NAME,
    ATTEMPTS,
    CACHE_READ_TOKENS,
    CACHE_SAVINGS_USD,
    CACHE_WRITE_TOKENS,
    CLIENT,
    COST_USD,
    INPUT_TOKENS,
    LATENCY_MS,
    MODEL,
    OUTPUT_TOKENS,
    PROVIDER,
    REASONING_TOKENS,
    SESSION_ID,
    STARTED_AT,
    STATUS,
)

# usage_hourly's figures in table order (rollups.HOURLY_FIGURES) are added to an existing group's.
HOURLY_UPSERT = (
    f"INSERT INTO usage_hourly VALUES ({', '.join('?' * (4 + len(HOURLY_FIGURES)))}) "
    "ON CONFLICT (hour, provider, model, status) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in HOURLY_FIGURES)
)
WHO_UPSERT = (
    "INSERT INTO usage_attribution_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (hour, api_key_name, client, session_id, provider, model, status) DO UPDATE SET "
    "requests = requests + excluded.requests, tokens = tokens + excluded.tokens, "
    "cost_usd = cost_usd + excluded.cost_usd, priced = priced + excluded.priced, "
    "first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)"
)

Group = tuple[Any, ...]
_get_started, _get_cost, _get_savings, _get_latency, _get_attempts = (
    itemgetter(i) for i in (STARTED_AT, COST_USD, CACHE_SAVINGS_USD, LATENCY_MS, ATTEMPTS)
)
_get_input, _get_output, _get_cache_read, _get_cache_write, _get_reasoning = (
    itemgetter(i)
    for i in (INPUT_TOKENS, OUTPUT_TOKENS, CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, REASONING_TOKENS)
)


@dataclass(frozen=True, slots=True)
class BatchGroups:
    """A batch's rows grouped for the three per-batch writes (:func:`batch_groups`)."""

    hourly: list[Group]  # usage_hourly rows: hour, provider, model, status, then the 11 figures
    who: list[Group]  # usage_attribution_hourly rows: hour, key, client, session, provider, model, status,
    # then requests, tokens, cost_usd, priced, first_at, last_at
    latencies: dict[tuple[int, str, str, int], list[float]]  # latency_ms by latency-list group


def batch_groups(rows: Iterable[Sequence[Any]]) -> BatchGroups:
    """The rollup groups and latency-list groups of ``rows`` (the recorder's loop thread does this for
    every batch).

    The latency-list key is ``usage_hourly``'s (hour, provider or ``''``, model, status), as
    ``latency_lists.append_plan`` would read it back. Groups come in the order of their first row, a
    group's latencies in row order.

    One pass in Python puts each row into its hourly group and its attribution group (a key and a list
    append a row); each group's figures are then summed by C-level ``sum``/``min``/``max`` over its rows,
    in row order: the same additions in the same order as a running total per row, so the same figures
    to the last bit (a group's cost starts at its first row's, as before), with 16% fewer instructions
    than summing row by row in Python (issue 13, session 14: callgrind, 13,576 -> 11,391 a row on the
    bench's mix; docs/benchmarks.md "Session 14: the recorder")."""
    hourly_rows: dict[tuple[Any, ...], list[Sequence[Any]]] = {}
    who_rows: dict[tuple[Any, ...], list[Sequence[Any]]] = {}
    for r in rows:
        hour, provider, model, status = int(r[STARTED_AT] / 3600), r[PROVIDER] or "", r[MODEL], r[STATUS]
        key = (hour, provider, model, status)
        group = hourly_rows.get(key)
        if group is None:
            hourly_rows[key] = [r]
        else:
            group.append(r)
        wkey = (hour, r[API_KEY_NAME] or "", r[CLIENT] or "", r[SESSION_ID] or "", provider, model, status)
        group = who_rows.get(wkey)
        if group is None:
            who_rows[wkey] = [r]
        else:
            group.append(r)
    hourly: list[Group] = []
    latencies: dict[tuple[Any, ...], list[float]] = {}
    for key, group in hourly_rows.items():
        costs = [c for c in map(_get_cost, group) if c is not None]
        savings = [v for v in map(_get_savings, group) if v is not None]
        lats = latencies[key] = list(map(_get_latency, group))
        hourly.append(
            (
                *key,
                len(group),
                sum(map(gt, map(_get_attempts, group), repeat(1))),
                sum(map(_get_input, group)),
                sum(map(_get_output, group)),
                sum(map(_get_cache_read, group)),
                sum(map(_get_cache_write, group)),
                sum(map(_get_reasoning, group)),
                sum(costs, 0.0),
                len(costs),
                sum(lats, 0.0),
                sum(savings, 0.0),
            )
        )
    who: list[Group] = []
    for wkey, group in who_rows.items():
        costs = [c for c in map(_get_cost, group) if c is not None]
        started = list(map(_get_started, group))
        tokens = (
            sum(map(_get_input, group))
            + sum(map(_get_output, group))
            + sum(map(_get_cache_read, group))
            + sum(map(_get_cache_write, group))
        )
        # a group's cost starts at its first row's (0.0 when unpriced), as the upsert's first value does
        cost = sum(costs, 0.0) if group[0][COST_USD] is None else sum(costs[1:], costs[0])
        who.append((*wkey, len(group), tokens, cost, len(costs), min(started), max(started)))
    return BatchGroups(hourly, who, latencies)


def merge_groups(groups: Sequence[BatchGroups]) -> BatchGroups:
    """Several batches' groups as one transaction adds them (``store.Store.insert_batches``).

    ``hourly`` and ``who`` are concatenated, not summed: a key may then appear once per batch, and the
    upserts add each in turn (``ON CONFLICT ... DO UPDATE`` runs per parameter set). The latencies of a
    key are concatenated batch after batch; a key found in one batch only keeps that batch's own list
    (the same object, not a copy). The given groups and their lists are never changed."""
    if len(groups) == 1:
        return groups[0]
    latencies: dict[tuple[int, str, str, int], list[float]] = {}
    for g in groups:
        for key, values in g.latencies.items():
            latencies[key] = latencies[key] + values if key in latencies else values
    return BatchGroups(
        [row for g in groups for row in g.hourly],
        [row for g in groups for row in g.who],
        latencies,
    )
