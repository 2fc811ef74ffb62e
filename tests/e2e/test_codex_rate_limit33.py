"""The real Codex CLI and a translated route's rate limit (session 33, fix33 item 5; session 32's fix32 item 3).

Codex (a custom Responses provider, ``wire_api = "responses"``) on a Claude model the gateway serves from an
Anthropic-format provider (translated). The provider answers the turn's first request 429 ``rate_limit_error`` with
``retry-after: 1``; the gateway does not wait itself (``RETRY_AFTER_MAX_WAIT=0``), so it tells Codex in its stream:
a 200 whose ``response.failed`` says ``rate_limit_exceeded`` and "Please try again in 1s." (``Proxy._opened_to_tell``).
Codex waits that long and sends the turn again (codex-rs ``try_parse_retry_after``, within the provider's
``stream_max_retries``), which the provider answers: the turn ends with the answer. Codex says what it got as it reconnects ("Reconnecting...
1/2 (rate limit exceeded: … (Please try again in 2s.))"): the test holds to that. Found here: Codex 0.171 with stream
retries on (``stream_max_retries`` > 0, its default 5) reconnects after an HTTP 429 too ("exceeded retry limit, last
status: 429 …"), so with the in-stream telling turned off this turn still ends well; only the words tell the two
apart (checked: the test fails with ``_opened_to_tell`` returning None).

Real gateway and recorder processes, the fake Anthropic provider, the Codex binary ``make clients`` installed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.codex import run_codex, write_catalog, write_config
from tests.fake.behaviour import Behaviour, apply_spec
from tests.fake_provider import FakeProvider, ThreadedFakeProvider
from tests.procs import ROOT, Stack, stack

pytestmark = pytest.mark.e2e

CLAUDE_MODEL = "claude-sonnet-4-5"
RETRY_AFTER_S = 2  # small: Codex waits it out before its next try


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[ThreadedFakeProvider]:
    """The Anthropic-format provider; a tool call only when the prompt names a tool (its base behaviour, kept when
    a fault set for one request clears)."""
    fake = FakeProvider.start_in_thread(name="anthropic", behaviour=apply_spec("tools:mention", Behaviour()))
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def gw(fake_anthropic: ThreadedFakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    # the gateway waits out no Retry-After itself: the 429 is told to Codex
    with stack(tmp, {"anthropic": fake_anthropic.base_url}, RETRY_AFTER_MAX_WAIT="0") as st:
        yield st


def test_codex_waits_out_a_translated_rate_limit_and_finishes_its_turn(
    codex_bin: Path, gw: Stack, fake_anthropic: ThreadedFakeProvider, tmp_path: Path
) -> None:
    # CODEX_HOME outside /tmp: Codex refuses to create its helper aliases under a temporary directory
    codex_home = ROOT / ".e2e" / f"codex-{uuid.uuid4().hex[:10]}"
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    codex_home.mkdir(parents=True)
    try:
        catalog = write_catalog(codex_bin, codex_home, CLAUDE_MODEL)
        write_config(codex_home, gw.gateway_url + "/v1", CLAUDE_MODEL, catalog, stream_retries=2)
        fake_anthropic.set_fault(f"tools:mention,status:429:retry-after={RETRY_AFTER_S}", times=1)
        seen = len(fake_anthropic.requests)
        since = time.time()
        try:
            run = run_codex(codex_bin, "say hi", cwd=work, home=home, codex_home=codex_home)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"codex exec did not finish in {exc.timeout}s\n{exc.stdout!r}\n{gw.logs()}", pytrace=False
            )
    finally:
        shutil.rmtree(codex_home, ignore_errors=True)
    assert run.returncode == 0, run.describe() + gw.logs()
    assert [e for e in run.events() if e.get("type") == "turn.failed"] == [], run.describe() + gw.logs()
    # what Codex got was the stream's response.failed with the wait in its words (it says so as it reconnects:
    # "Reconnecting... 1/2 (rate limit exceeded: … (Please try again in 2s.))"), not the HTTP 429 ("exceeded retry
    # limit, last status: 429 …", which Codex 0.171 also reconnects after when stream retries are on)
    told = [str(e.get("message")) for e in run.events() if e.get("type") == "error"]
    assert len(told) == 1 and f"Please try again in {RETRY_AFTER_S}s." in told[0], run.describe()
    assert run.messages() and all(m.strip() for m in run.messages()), run.describe()
    # the provider: refused once, then answered the same turn sent again
    calls = fake_anthropic.requests[seen:]
    assert len(calls) == 2, [c.path for c in calls]
    assert all(c.path == "/v1/messages" for c in calls), [c.path for c in calls]
    # the ledger: the refusal told in the stream (429), then the answer
    where = "endpoint = '/v1/responses' AND started_at >= ? ORDER BY started_at"
    rows = gw.wait_rows(where, (since,), 2)
    assert [(r["status"], r["provider"], r["translated"]) for r in rows] == [
        (429, "anthropic", 1),
        (200, "anthropic", 1),
    ], rows
