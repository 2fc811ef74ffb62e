"""``shared.events``' row positions and token fields, and ``calls``' import-time check of ``row_for``'s order."""

from __future__ import annotations

from typing import Any

import pytest

import shared.events as events
from services.gateway import calls
from shared.events import FIELD_NAMES, Row


def _position_constants() -> dict[str, int]:
    """Every row-position constant of ``shared.events`` by the field it names (``SCHEMA_VERSION_AT`` is
    ``schema_version``'s: ``SCHEMA_VERSION`` is the version itself)."""
    found = {name.lower(): getattr(events, name) for name in dir(events) if name.lower() in FIELD_NAMES}
    found["schema_version"] = events.SCHEMA_VERSION_AT
    return found


def test_every_field_has_a_position_constant_at_its_index() -> None:
    found = _position_constants()
    assert sorted(found) == sorted(FIELD_NAMES)
    assert [found[name] for name in FIELD_NAMES] == list(range(len(FIELD_NAMES)))


def test_a_position_for_a_field_the_event_lacks_fails_loudly() -> None:
    with pytest.raises(ImportError, match="no field 'no_such_field'"):
        events._at("no_such_field")


def test_token_fields_are_the_five_buckets_in_ledger_order() -> None:
    assert events.TOKEN_FIELDS == (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    )


def _swapped(row: Row) -> Row:
    values = list(row)
    values[events.MODEL], values[events.REQUEST_ID] = values[events.REQUEST_ID], values[events.MODEL]
    return tuple(values)


def _swap(first: int, second: int) -> Any:
    def change(row: Row) -> Row:
        values = list(row)
        values[first], values[second] = values[second], values[first]
        return tuple(values)

    return change


@pytest.mark.parametrize(
    ("change", "misplaced"),
    [
        (_swapped, "['request_id', 'model']"),
        # the billed numbers and the rest of an answered attempt's values, swapped pairwise (the probe once
        # answered nothing: every token count 0, provider None, so these passed it)
        (_swap(events.INPUT_TOKENS, events.OUTPUT_TOKENS), "'input_tokens', 'output_tokens'"),
        (
            _swap(events.CACHE_READ_TOKENS, events.CACHE_WRITE_TOKENS),
            "'cache_read_tokens', 'cache_write_tokens'",
        ),
        (_swap(events.CACHE_WRITE_1H_TOKENS, events.WEB_SEARCH_REQUESTS), "'cache_write_1h_tokens'"),
        (_swap(events.REASONING_TOKENS, events.ATTEMPTS), "'reasoning_tokens'"),
        (_swap(events.COST_USD, events.CACHE_SAVINGS_USD), "'cost_usd'"),
        (_swap(events.PROVIDER, events.SERVED_MODEL), "'provider'"),
        (_swap(events.TRANSLATED, events.STREAMED), "'translated'"),
        (_swap(events.TTFT_MS, events.LATENCY_MS), "'latency_ms'"),
        (lambda row: (*row, None), f"{len(FIELD_NAMES) + 1} values"),  # one value too many
        (lambda row: row[:-1], f"{len(FIELD_NAMES) - 1} values"),  # a field without its place
    ],
)
def test_row_for_out_of_order_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, change: Any, misplaced: str
) -> None:
    calls._check_row_for()  # row_for as it is passes
    original = calls.row_for
    monkeypatch.setattr(calls, "row_for", lambda *a: change(original(*a)))
    with pytest.raises(ImportError, match="not in shared.events.FIELD_NAMES order") as caught:
        calls._check_row_for()
    assert misplaced in str(caught.value)
