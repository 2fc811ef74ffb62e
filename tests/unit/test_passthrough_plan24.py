"""Session 24: less work per Responses passthrough stream, the same answers.

- ``billed_usage`` (``_responses_wire``: a stream's ``response.completed`` read in ``settle``, a plain
  answer's event) builds one positional ``Usage`` with its counts tested inline: for hypothesis' responses
  (usage of any shape, output items of every billed kind and near misses, background answers, tiers) it
  gives what the reference below gives (the reading before session 24, its rules as the docstring states
  them); an ``output`` that is not a list counts no call (the reference raised on a number).
- ``Passthrough``'s set-up from its pairing alone is made once per relay class, pairing and filter's presence
  (``Passthrough._plan``): a second relay of a pairing reuses it, the reference relay (``EventPassthrough``,
  which lets nothing by undecoded) and a filtered (resumed) relay keep their own, and every relay's plan is
  the one made afresh. Bytes and facts through the relays are checked against the reference by the session
  21 and 23 files (``test_passthrough_later21.py``, ``test_responses_feed_data23.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway import relay as relay_module
from services.gateway.dialects import registry
from services.gateway.dialects._opening import Opening
from services.gateway.dialects._responses_wire import TERMINAL_STATUSES, billed_usage, usage_from_responses
from services.gateway.dialects.ir import Usage
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def _details(u: dict[str, Any], key: str) -> dict[str, Any]:
    value = u.get(key)
    return value if isinstance(value, dict) else {}


def _reference(response: dict[str, Any]) -> Usage:
    """What ``billed_usage`` read before session 24, field by field (a list ``output``)."""
    raw = response.get("usage")
    u = raw if isinstance(raw, dict) else {}
    details = _details(u, "input_tokens_details")
    cache_read = _int(details.get("cached_tokens"))
    cache_write = _int(details.get("cache_write_tokens"))
    usage = Usage(
        input_tokens=max(_int(u.get("input_tokens")) - cache_read - cache_write, 0),
        output_tokens=_int(u.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_int(_details(u, "output_tokens_details").get("reasoning_tokens")),
    )
    if response.get("background") is True:
        rid = response.get("id")
        if response.get("status") in TERMINAL_STATUSES and type(raw) is dict and type(rid) is str and rid:
            usage.billed_once_as = rid
    tier = response.get("service_tier")
    usage.service_tier = tier if type(tier) is str else None
    items = response.get("output") or ()
    usage.web_search_requests = sum(
        1
        for item in items
        if isinstance(item, dict)
        and item.get("type") == "web_search_call"
        and _details(item, "action").get("type", "search") == "search"
    )
    usage.file_search_calls = sum(
        1 for item in items if isinstance(item, dict) and item.get("type") == "file_search_call"
    )
    return usage


_COUNT = st.one_of(
    st.integers(min_value=-5, max_value=10**12),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=3),
)
_DETAILS = st.one_of(
    st.none(),
    st.integers(),
    st.fixed_dictionaries(
        {}, optional={"cached_tokens": _COUNT, "cache_write_tokens": _COUNT, "reasoning_tokens": _COUNT}
    ),
)
_USAGE = st.one_of(
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "input_tokens": _COUNT,
            "output_tokens": _COUNT,
            "total_tokens": _COUNT,
            "input_tokens_details": _DETAILS,
            "output_tokens_details": _DETAILS,
        },
    ),
)
_ACTION = st.one_of(
    st.none(),
    st.just("search"),
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(["search", "open_page", "find", None, 3])}),
)
_ITEM = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["message", "web_search_call", "file_search_call", "function_call", "reasoning", None, 1]
            )
        },
        optional={"action": _ACTION, "id": st.text(max_size=4)},
    ),
)
_RESPONSE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.sampled_from(["resp_1", ""]), st.none(), st.integers()),
        "status": st.sampled_from(
            ["completed", "incomplete", "failed", "cancelled", "in_progress", "queued"]
        ),
        "background": st.one_of(st.booleans(), st.none(), st.just(1)),
        "service_tier": st.one_of(st.sampled_from(["default", "flex", "priority"]), st.none(), st.integers()),
        "usage": _USAGE,
        "output": st.one_of(st.lists(_ITEM, max_size=5), st.none(), st.just([]), st.just("")),
    },
)


def _fields(u: Usage) -> tuple[Any, ...]:
    # every field, the ones equality leaves out (``compare=False``) included
    return tuple(getattr(u, name) for name in Usage.__slots__)


@FUZZ
@given(_RESPONSE)
def test_billed_usage_reads_what_the_reference_reads(response: dict[str, Any]) -> None:
    assert _fields(billed_usage(response)) == _fields(_reference(response))


@FUZZ
@given(_USAGE)
def test_usage_from_responses_is_the_usage_alone(usage: Any) -> None:
    assert _fields(usage_from_responses(usage)) == _fields(_reference({"usage": usage}))


def test_the_usual_completed_response_is_billed_bucket_by_bucket() -> None:
    response = {
        "id": "resp_1",
        "status": "completed",
        "background": True,
        "service_tier": "flex",
        "usage": {
            "input_tokens": 120,
            "input_tokens_details": {"cached_tokens": 100},
            "output_tokens": 40,
            "output_tokens_details": {"reasoning_tokens": 16},
            "total_tokens": 160,
        },
        "output": [
            {"type": "web_search_call", "action": {"type": "search"}},
            {"type": "web_search_call", "action": {"type": "open_page"}},
            {"type": "web_search_call"},
            {"type": "file_search_call"},
            {"type": "message"},
        ],
    }
    u = billed_usage(response)
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens) == (20, 100, 40, 16)
    assert (u.web_search_requests, u.file_search_calls, u.service_tier, u.billed_once_as) == (
        2,
        1,
        "flex",
        "resp_1",
    )
    assert (u.provider_cost_usd, u.cache_write_1h_tokens, u.iterations, u.audio_input_tokens) == (
        None,
        0,
        (),
        0,
    )


@pytest.mark.parametrize("output", [7, 2.5, True, {"type": "file_search_call"}])
def test_an_output_that_is_no_list_counts_no_call(output: Any) -> None:
    """A ``response.completed`` whose ``output`` is a number (or an object) still bills its tokens: the
    reading before session 24 raised TypeError on a number in the relay's ``settle``."""
    u = billed_usage({"output": output, "usage": {"input_tokens": 3, "output_tokens": 2}})
    assert (u.input_tokens, u.output_tokens, u.web_search_requests, u.file_search_calls) == (3, 2, 0, 0)


def _relay(cls: type[Passthrough], fmt: str, view: View) -> Passthrough:
    return cls(registry.pairing(fmt, fmt), view)  # type: ignore[arg-type]


FORMATS = ["openai_chat", "anthropic", "openai_responses"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cls", [Passthrough, EventPassthrough])
def test_a_second_relay_of_a_pairing_reuses_its_plan(fmt: str, cls: type[Passthrough]) -> None:
    # the plans are kept for at most ``_MAX_PLANS`` pairings: other tests' own pairings (hypothesis tests
    # build one per example) may have filled the cache before this one runs
    relay_module._PLANS.clear()
    view = View(model="m")
    first, second = _relay(cls, fmt, view), _relay(cls, fmt, view)
    filtered = first._filter is not None
    assert first._plan(filtered) is second._plan(filtered)
    # and it is the plan made afresh for this relay
    assert first._plan(filtered) == second._make_plan(filtered)
    assert (second._frames_read, second._quiet_names, second._inert_names, second._token_names) == (
        first._make_plan(filtered)[6],
        first._make_plan(filtered)[3],
        first._make_plan(filtered)[4],
        first._make_plan(filtered)[8],
    )


def test_the_reference_relay_keeps_its_own_plan() -> None:
    """``EventPassthrough`` decodes every event: no quiet or inert names, and no frames split, even when a
    ``Passthrough`` of the same pairing was made first (a plan keyed by pairing alone would give it those)."""
    view = View(model="m")
    fast = _relay(Passthrough, "openai_responses", view)
    ref = _relay(EventPassthrough, "openai_responses", view)
    assert fast._quiet_names and fast._inert_names and fast._frames_read and fast._frame_tap is not None
    assert not ref._quiet_names and not ref._inert_names and not ref._frames_read and ref._frame_tap is None
    assert _relay(Passthrough, "openai_responses", view)._inert_names == fast._inert_names


def test_a_filtered_relay_has_the_filtered_plan() -> None:
    """A Responses client that declared tools gets a frame filter: no frames split, the wire's repair on;
    a resumed relay (``resume``: the filter set again) takes the filtered plan, a plain one then still the
    unfiltered."""
    tools = _relay(Passthrough, "openai_responses", View(model="m", tools=True))
    assert tools._filter is not None and not tools._frames_read and tools._frame_tap is None
    assert tools._token_names == frozenset()
    resumed = _relay(Passthrough, "openai_responses", View(model="m"))
    assert resumed._frames_read
    resumed.resume(Opening(frames=2, id="resp_x"))
    assert resumed._filter is not None and not resumed._frames_read and resumed._frame_tap is None
    assert _relay(Passthrough, "openai_responses", View(model="m"))._frames_read
