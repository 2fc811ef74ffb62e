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


def hourly_groups(rows: Iterable[Sequence[Any]]) -> list[Group]:
    """``usage_hourly`` rows (hour, provider, model, status, then the 11 figures) of ``rows``."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        key = (int(r[_STARTED] / 3600), r[_PROVIDER] or "", r[_MODEL], r[_STATUS])
        cost, saving = r[_COST], r[_SAVINGS]
        s = sums.get(key)
        if s is None:
            s = sums[key] = [0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, 0.0]
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
        s[9] += r[_LATENCY]
        if saving is not None:
            s[10] += saving
    return [(*key, *s) for key, s in sums.items()]


def who_groups(rows: Iterable[Sequence[Any]]) -> list[Group]:
    """``usage_attribution_hourly`` rows (hour, key, client, session, provider, model, status, then
    requests, tokens, cost_usd, priced, first_at, last_at) of ``rows``."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        started = r[_STARTED]
        key = (
            int(started / 3600),
            r[_KEY] or "",
            r[_CLIENT] or "",
            r[_SESSION] or "",
            r[_PROVIDER] or "",
            r[_MODEL],
            r[_STATUS],
        )
        tokens = r[_INPUT] + r[_OUTPUT] + r[_CACHE_READ] + r[_CACHE_WRITE]
        cost = r[_COST]
        s = sums.get(key)
        if s is None:
            sums[key] = [1, tokens, 0.0 if cost is None else cost, int(cost is not None), started, started]
            continue
        s[0] += 1
        s[1] += tokens
        if cost is not None:
            s[2] += cost
            s[3] += 1
        if started < s[4]:
            s[4] = started
        if started > s[5]:
            s[5] = started
    return [(*key, *s) for key, s in sums.items()]


def latency_groups(rows: Iterable[Sequence[Any]]) -> dict[tuple[int, str, str, int], list[float]]:
    """The latencies (ms) of ``rows`` by latency-list group (hour, provider or ``''``, model, status): the
    key of ``usage_hourly`` and ``latency_lists``, as ``latency_lists.append_plan`` would read it back."""
    groups: dict[tuple[int, str, str, int], list[float]] = {}
    for r in rows:
        key = (int(r[_STARTED] / 3600), r[_PROVIDER] or "", r[_MODEL], r[_STATUS])
        found = groups.get(key)
        if found is None:
            groups[key] = [r[_LATENCY]]
        else:
            found.append(r[_LATENCY])
    return groups
