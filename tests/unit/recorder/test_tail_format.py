"""tail: line format, JSON format, filters and argument checks."""

from __future__ import annotations

import argparse
from datetime import datetime

import orjson
import pytest

from services.recorder.tail_follow import (
    Filter,
    format_json,
    format_line,
    parse_args,
    status_matches,
    status_spec,
)
from shared.events import UsageEvent, to_dict


def event(**kw: object) -> UsageEvent:
    base: dict[str, object] = dict(
        request_id="r",
        endpoint="/v1/messages",
        client_format="anthropic",
        model="claude-sonnet-4-5",
        provider="anthropic",
        status=200,
        input_tokens=1200,
        output_tokens=350,
        cache_read_tokens=800,
        cache_write_tokens=7,
        cost_usd=0.00123456,
        latency_ms=1234.4,
        ttft_ms=210.6,
        started_at=1_700_000_000.0,
        finished_at=1_700_000_001.25,
    )
    return UsageEvent(**(base | kw))  # type: ignore[arg-type]


def test_line_shows_time_provider_model_status_tokens_cost_and_timings() -> None:
    line = format_line(event())
    local = datetime.fromtimestamp(1_700_000_001.25).strftime("%Y-%m-%d %H:%M:%S")
    assert line.startswith(local)
    for part in (
        "anthropic",
        "claude-sonnet-4-5",
        " 200 ",
        "in=1200 out=350",
        "cache r/w=800/7",
        "$0.001235",
        "latency=1234ms",
        "ttft=211ms",
    ):
        assert part in line


def test_line_marks_unknown_cost_ttft_and_provider() -> None:
    line = format_line(
        event(cost_usd=None, ttft_ms=None, provider=None, status=529, error_type="overloaded_error")
    )
    assert "$" not in line and "ttft=-" in line
    assert "529 overloaded_error" in line
    assert line.split()[2] == "-"  # provider column


def test_line_shows_who_and_budget_alerts() -> None:
    assert "key=" not in format_line(event()) and "BUDGET" not in format_line(event())
    line = format_line(
        event(api_key_name="ci", session_id="s-1", client="claude-cli/2.1.332", budget_alert="95%")
    )
    assert "key=ci session=s-1 client=claude-cli/2.1.332" in line and line.endswith("BUDGET 95% used")


def test_json_is_the_event_as_a_dict() -> None:
    e = event()
    assert orjson.loads(format_json(e)) == to_dict(e)
    assert "\n" not in format_json(e)


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        ("200", 200, True),
        ("200", 201, False),
        ("error", 400, True),
        ("error", 399, False),
        ("error", 529, True),
        ("ok", 200, True),
        ("ok", 500, False),
        ("4xx", 429, True),
        ("4xx", 500, False),
        ("5xx", 529, True),
    ],
)
def test_status_matches(spec: str, status: int, expected: bool) -> None:
    assert status_matches(spec, status) is expected


@pytest.mark.parametrize("bad", ["fail", "2x", "x00", ""])
def test_bad_status_spec_is_rejected(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        status_spec(bad)


def test_filter_combines_provider_model_glob_and_status() -> None:
    f = Filter(provider="anthropic", model="claude-*", status="error")
    assert f.matches(event(status=500))
    assert not f.matches(event(status=200))
    assert not f.matches(event(status=500, provider="openai"))
    assert not f.matches(event(status=500, model="gpt-4o"))
    assert Filter(model="claude-sonnet-4-5").matches(event())
    assert Filter(model="*-2025").matches(event(served_model="claude-x-2025"))
    assert Filter().matches(event())


def test_arguments() -> None:
    args = parse_args(["--json", "--provider", "xai", "--status", "ERROR", "--endpoint", "tcp://h:1"])
    assert (args.json, args.provider, args.status, args.endpoint, args.model) == (
        True,
        "xai",
        "error",
        "tcp://h:1",
        None,
    )
