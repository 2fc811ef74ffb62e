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
from typing import Any

from services.recorder.rollups import HOURLY_FIGURES
from shared.events import FIELD_NAMES

_AT = {name: FIELD_NAMES.index(name) for name in FIELD_NAMES}
(
    _STARTED,
    _PROVIDER,
    _MODEL,
    _STATUS,
    _ATTEMPTS,
    _INPUT,
    _OUTPUT,
    _CACHE_READ,
    _CACHE_WRITE,
    _REASONING,
    _COST,
    _LATENCY,
    _SAVINGS,
    _KEY,
    _CLIENT,
    _SESSION,
) = (
    _AT[name]
    for name in (
        "started_at",
        "provider",
        "model",
        "status",
        "attempts",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost_usd",
        "latency_ms",
        "cache_savings_usd",
        "api_key_name",
        "client",
        "session_id",
    )
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


@dataclass(frozen=True, slots=True)
class BatchGroups:
    """A batch's rows grouped for the three per-batch writes (:func:`batch_groups`)."""

    hourly: list[Group]  # usage_hourly rows: hour, provider, model, status, then the 11 figures
    who: list[Group]  # usage_attribution_hourly rows: hour, key, client, session, provider, model, status,
    # then requests, tokens, cost_usd, priced, first_at, last_at
    latencies: dict[tuple[int, str, str, int], list[float]]  # latency_ms by latency-list group


def batch_groups(rows: Iterable[Sequence[Any]]) -> BatchGroups:
    """The rollup groups and latency-list groups of ``rows``, in one pass over them (the recorder's loop
    thread does this for every batch: one pass costs about half of three, bench/bench_recorder.py).

    The latency-list key is ``usage_hourly``'s (hour, provider or ``''``, model, status), as
    ``latency_lists.append_plan`` would read it back."""
    hourly: dict[tuple[Any, ...], list[Any]] = {}
    who: dict[tuple[Any, ...], list[Any]] = {}
    latencies: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        started, provider, model, status = r[_STARTED], r[_PROVIDER] or "", r[_MODEL], r[_STATUS]
        hour = int(started / 3600)
        key = (hour, provider, model, status)
        cost, latency = r[_COST], r[_LATENCY]
        tokens = r[_INPUT] + r[_OUTPUT] + r[_CACHE_READ] + r[_CACHE_WRITE]
        s = hourly.get(key)
        if s is None:
            s = hourly[key] = [0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, 0.0]
            latencies[key] = [latency]
        else:
            latencies[key].append(latency)
        s[0] += 1
        s[1] += r[_ATTEMPTS] > 1
        s[2] += r[_INPUT]
        s[3] += r[_OUTPUT]
        s[4] += r[_CACHE_READ]
        s[5] += r[_CACHE_WRITE]
        s[6] += r[_REASONING]
        if cost is not None:
            s[7] += cost
            s[8] += 1
        s[9] += latency
        saving = r[_SAVINGS]
        if saving is not None:
            s[10] += saving
        wkey = (hour, r[_KEY] or "", r[_CLIENT] or "", r[_SESSION] or "", provider, model, status)
        w = who.get(wkey)
        if w is None:
            who[wkey] = [1, tokens, 0.0 if cost is None else cost, int(cost is not None), started, started]
            continue
        w[0] += 1
        w[1] += tokens
        if cost is not None:
            w[2] += cost
            w[3] += 1
        if started < w[4]:
            w[4] = started
        if started > w[5]:
            w[5] = started
    return BatchGroups(
        [(*k, *s) for k, s in hourly.items()],
        [(*k, *w) for k, w in who.items()],
        latencies,
    )


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
