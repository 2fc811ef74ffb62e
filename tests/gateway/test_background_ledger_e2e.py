"""A background response's tokens reach the ledger exactly once: real gateway (two workers) and recorder
processes, the fake OpenAI provider speaking the Responses wire (``tests/fake/stored.py``: a background create
is ``queued``, its first retrieve ``in_progress``, the next ``completed`` with usage), the official openai SDK,
SQLite and PostgreSQL ledgers (docs/responses.md, "Background responses in the ledger").

Exactly once: however many retrieves (JSON or streamed), over both workers, after a recorder restart (the
gateways resend what it had not acknowledged) and a gateway restart (a new process that has published
nothing), the ledger holds one row with the response's tokens, under ``keyed_event_id(provider, id)``, priced
as a synchronous create call of the same model and tokens is; the hourly rollups agree with the rows.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from shared.events import keyed_event_id
from tests.fake_provider import FakeProvider, provider_urls, running
from tests.ledger_db import query
from tests.openai_clients import spread_openai
from tests.procs import Stack, stack

CLIENT_KEY = "sk-background-client-key"
RETRIEVE_PATH = "/v1/responses/{response_id}"
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with running("openai") as fps:
        yield fps


@pytest.fixture(autouse=True)
def clean_fakes(fakes: dict[str, FakeProvider]) -> None:
    for fp in fakes.values():
        fp.clear_fault()
        fp.requests.clear()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("bgledger"), provider_urls(fakes), GATEWAY_WORKERS="2") as st:
        yield st


def sdk(gw: Stack, **headers: str) -> openai.OpenAI:
    return spread_openai(gw, CLIENT_KEY, **headers)


def finished(client: openai.OpenAI, response_id: str) -> Any:
    """Poll as a client of background mode does (OpenAI guide "Background mode"): retrieve while queued or
    in progress (the fake finishes at the second retrieve; a bound, not a timing)."""
    for _ in range(5):
        got = client.responses.retrieve(response_id)
        if got.status not in ("queued", "in_progress"):
            return got
    raise AssertionError(f"{response_id} never finished")


def tokens(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(int(r[name]) for r in rows) for name in TOKENS}


def rollup_agrees(st: Stack) -> None:
    [check] = query(
        st.ledger,
        "SELECT (SELECT count(*) FROM requests) AS ledger, "
        "(SELECT coalesce(sum(requests), 0) FROM usage_hourly) AS rolled, "
        "(SELECT coalesce(sum(output_tokens), 0) FROM requests) AS ledger_out, "
        "(SELECT coalesce(sum(output_tokens), 0) FROM usage_hourly) AS rolled_out",
    )
    assert check["ledger"] == check["rolled"] and check["ledger_out"] == check["rolled_out"], check


def restart(st: Stack, name: str) -> None:
    st.services[name].stop()
    if name == "recorder":
        st.start_recorder()
    else:
        st.start_gateway()


def once_through_restarts(st: Stack) -> None:
    """The claim on one stack (either ledger engine): see the module docstring."""
    since = time.time()
    with sdk(st) as client:
        sync = client.responses.create(model="gpt-4o-mini", input="write about otters")
        queued = client.responses.create(model="gpt-4o-mini", input="write about otters", background=True)
        assert queued.status == "queued" and queued.usage is None
        done = finished(client, queued.id)
        assert done.status == "completed" and done.usage is not None
        for _ in range(4):  # polled again, over both workers
            assert client.responses.retrieve(queued.id).usage == done.usage
        streamed = list(client.responses.retrieve(queued.id, stream=True))
        assert streamed[-1].type == "response.completed"
    st.settle()
    [sync_row] = st.rows("request_id = ?", (sync._request_id,))  # type: ignore[attr-defined]
    both = {name: 2 * sync_row[name] for name in TOKENS}  # the same prompt and answer, twice: no more
    assert tokens(st.rows("started_at >= ? AND endpoint != ?", (since, "/v1/chat/completions"))) == both
    key = keyed_event_id("openai", queued.id)
    [row] = st.rows("event_id = ?", (key,))
    assert row["endpoint"] == RETRIEVE_PATH and row["provider"] == "openai" and row["status"] == 200
    assert row["model"] == row["served_model"] == "gpt-4o-mini"
    [create_row] = st.rows("request_id = ?", (queued._request_id,))  # type: ignore[attr-defined]
    assert create_row["input_tokens"] == create_row["output_tokens"] == 0
    assert create_row["status"] == 200  # the create call's own row: no tokens (they were not made yet)
    # the same prompt and answer: the same tokens, priced by the same code (cost exact to the micro-dollar)
    assert tokens([row]) == tokens([sync_row]) and row["output_tokens"] == done.usage.output_tokens
    assert row["cost_usd"] is not None and round(row["cost_usd"], 6) == round(sync_row["cost_usd"], 6) > 0

    restart(st, "recorder")  # a recorder restart: resends of whatever it had not acknowledged
    restart(st, "gateway")  # new worker processes: they remember nothing published
    with sdk(st) as client:
        for _ in range(3):
            assert client.responses.retrieve(queued.id).status == "completed"
        client.responses.cancel(queued.id)  # a cancel of a finished response shows the same usage
    st.settle()
    everything = st.rows("started_at >= ? AND endpoint != ?", (since, "/v1/chat/completions"))  # no markers
    assert tokens(everything) == both  # sync + background, once each
    assert len(st.rows("event_id = ?", (key,))) == 1
    rollup_agrees(st)


def test_background_usage_once_sqlite(gw: Stack) -> None:
    once_through_restarts(gw)
    # the usage API's export names the row by its endpoint (a plain column of the event)
    export = httpx.get(gw.gateway_url + "/usage", params={"format": "csv"}, timeout=30)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert any(r["endpoint"] == RETRIEVE_PATH and int(r["output_tokens"]) > 0 for r in rows), rows[-3:]


def test_background_usage_once_postgres(fakes: dict[str, FakeProvider], tmp_path: Path, pg_url: str) -> None:
    with stack(tmp_path, provider_urls(fakes), GATEWAY_WORKERS="2", DATABASE_URL=pg_url) as st:
        once_through_restarts(st)
    assert not Path(st.db_path).exists()  # the rows above were PostgreSQL's


def _stream_then_retrieve(client: openai.OpenAI, prompt: str) -> Any:
    """A streamed background create read to its end, then three retrieves: the ``response.completed`` event."""
    with client:
        events = list(
            client.responses.create(model="gpt-4o-mini", input=prompt, background=True, stream=True)
        )
        completed = events[-1]
        assert completed.type == "response.completed"
        for _ in range(3):
            assert client.responses.retrieve(completed.response.id).status == "completed"
    return completed


def test_background_stream_create_and_later_retrieves_make_one_row(gw: Stack) -> None:
    """The create call's stream carried the usage (its event has it); later retrieves add nothing.

    Over one connection (one worker) the create's event is published before any retrieve's, so the row is
    the create call's own. Spread over both workers, whichever event reaches the recorder first names the
    row (docs/responses.md: the first stored wins; the tokens are the same either way): one row still."""
    one_connection = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    completed = _stream_then_retrieve(one_connection, "stream the otters")
    spread = _stream_then_retrieve(sdk(gw), "stream the otters again")
    gw.settle()
    [row] = gw.rows("event_id = ?", (keyed_event_id("openai", completed.response.id),))
    assert row["endpoint"] == "/v1/responses" and bool(row["streamed"])  # the create call's own row
    assert row["output_tokens"] == completed.response.usage.output_tokens > 0
    [row] = gw.rows("event_id = ?", (keyed_event_id("openai", spread.response.id),))
    assert row["endpoint"] in ("/v1/responses", RETRIEVE_PATH)
    assert row["output_tokens"] == spread.response.usage.output_tokens > 0


def test_cancel_of_a_running_response_records_what_ran(gw: Stack) -> None:
    with sdk(gw) as client:
        queued = client.responses.create(model="gpt-4o-mini", input="cancel the otters", background=True)
        assert client.responses.retrieve(queued.id).status == "in_progress"  # nothing to record yet
        cancelled = client.responses.cancel(queued.id)
        assert cancelled.status == "cancelled" and cancelled.usage is not None
        never = client.responses.create(model="gpt-4o-mini", input="cancel it early", background=True)
        assert client.responses.cancel(never.id).usage is None  # cancelled while queued: nothing ran
    gw.settle()
    key = keyed_event_id("openai", queued.id)
    [row] = gw.rows("event_id = ?", (key,))
    assert row["endpoint"] == RETRIEVE_PATH + "/cancel"
    assert row["output_tokens"] == cancelled.usage.output_tokens > 0
    with sdk(gw) as client:  # retrieved afterwards: the cancel's row stays the only one
        for _ in range(2):
            assert client.responses.retrieve(queued.id).status == "cancelled"
    gw.settle()
    assert [r["endpoint"] for r in gw.rows("event_id = ?", (key,))] == [RETRIEVE_PATH + "/cancel"]
    assert gw.rows("event_id = ?", (keyed_event_id("openai", never.id),)) == []
