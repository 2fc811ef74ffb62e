"""Session 33 (review33), end to end: what the cold review of session 32's change found.

Codex known by every product's ``originator`` (``_retry_words.waits_only_in_stream``): a translated route's rate
limit is told in the stream (200 + ``response.failed``, ``rate_limit_exceeded``, "Please try again in 30s.", which
codex-rs waits out and retries: ``try_parse_retry_after``) also to the Codex desktop app, whose originator is
"Codex Desktop" (codex-rs ``default_client.rs`` ``is_first_party_originator``: ``starts_with("Codex ")``), and to an
app-server client whose ``client_name`` is its originator but whose turns carry codex-rs's ``x-codex-turn-metadata``.
Before (fix32's ``startswith("codex")``) both got the HTTP 429, which ends a Codex turn (``CodexErr::RetryLimit``).

A background response's streamed retrieve (``GET /v1/responses/{id}?stream=true``) whose body ends right after
``response.completed``'s JSON, or after its data line without the blank line: the client gets the provider's bytes
as they came, and the response's tokens get their one ledger row (``background_usage.StreamTap.finish``, the
relays' ``SSEDecoder.ends_whole``: bug32b's kind, missed in the stored responses' tap). Before, no row.

Real gateway and recorder processes, the scripted upstream, Codex's recorded turn
(``tests/fixtures/requests/codex_say_hi.json``) sent as Codex sends it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest

from shared.events import keyed_event_id
from tests.e2e_builders import catalog, catalog_gw, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
# one provider per test: a 429 with retry-after 30 rests its provider for the module's later tests
RATED = ("desktoprl", "appserverrl", "plainrl")
CATALOG = catalog(*(provider(name, f"{name}-m", price=(0.0, 0.0)) for name in RATED))
CODEX_TURN: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "requests" / "codex_say_hi.json").read_text()
)["body"]
# codex-rs ``sse/responses.rs`` ``rate_limit_regex``: the wait it reads from a ``response.failed`` message
CODEX_WAIT = re.compile(r"Please try again in (\d+(?:\.\d+)?)(s|ms)")
RATE_LIMITED = {
    "error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}
}


gw = catalog_gw("review33", CATALOG, {"openai": "/openai/v1"}, BREAKER_FAILURES="1000")


def _path(name: str) -> str:
    return f"/{name}/v1/chat/completions"


def _turn(gw: Stack, rid: str, model: str, headers: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    """Codex's recorded turn on ``model`` (a chat provider's: translated) with ``headers``: the status and the
    stream's events (the error body, when not 200)."""
    with httpx2.stream(
        "POST",
        gw.gateway_url + "/v1/responses",
        json={**CODEX_TURN, "model": model},
        headers={**headers, "x-request-id": rid},
        timeout=30,
    ) as r:
        raw = r.read()
        if r.status_code != 200:
            return r.status_code, [json.loads(raw)]
    return 200, [json.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        (
            "desktoprl",
            {"originator": "Codex Desktop", "user-agent": "Codex Desktop/0.171.0 (Mac OS 15.5; arm64)"},
        ),
        (
            "appserverrl",
            {
                "originator": "acme_ide",
                "user-agent": "acme_ide/0.171.0 (Debian 12.0.0; x86_64)",
                "x-codex-turn-metadata": '{"turn_id":"t1","request_kind":"turn"}',
            },
        ),
    ],
)
def test_a_translated_rate_limit_is_told_in_the_stream_to_every_codex(
    gw: Stack, up: ScriptedUpstream, name: str, headers: dict[str, str]
) -> None:
    up.script(_path(name), json_answer(RATE_LIMITED, 429, headers={"retry-after": "30"}))
    status, events = _turn(gw, f"review33-{name}", f"{name}-m", headers)
    assert status == 200, events  # before review33: 429, which ends the turn
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    error = events[-1]["response"]["error"]
    assert error["code"] == "rate_limit_exceeded"
    wait = CODEX_WAIT.search(error["message"])
    assert wait is not None and wait.groups() == ("30", "s")
    assert gw.row_for(f"review33-{name}")["status"] == 429


def test_a_client_named_otherwise_keeps_the_http_429(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(_path("plainrl"), json_answer(RATE_LIMITED, 429, headers={"retry-after": "30"}))
    status, said = _turn(
        gw, "review33-plain", "plainrl-m", {"originator": "codexify", "user-agent": "codexify/1"}
    )
    assert status == 429, said
    assert said[0]["error"]["code"] == "rate_limit_exceeded"


def _background(response_id: str) -> dict[str, Any]:
    usage = {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 7}
    return {
        "id": response_id,
        "object": "response",
        "status": "completed",
        "background": True,
        "model": "gpt-4o-mini",
        "output": [],
        "usage": usage,
    }


@pytest.mark.parametrize("cut", [b"\n\n", b"\n"], ids=["no-line-break", "no-blank-line"])
def test_a_streamed_retrieve_ended_inside_its_last_event_gets_its_row(
    gw: Stack, up: ScriptedUpstream, cut: bytes
) -> None:
    response_id = f"resp_review33_{len(cut)}"
    completed = {"type": "response.completed", "sequence_number": 1, "response": _background(response_id)}
    in_progress = {"type": "response.in_progress", "sequence_number": 0, "response": {"id": response_id}}
    body = (
        b"event: response.in_progress\ndata: " + json.dumps(in_progress).encode() + b"\n\n"
        b"event: response.completed\ndata: " + json.dumps(completed).encode() + b"\n\n"
    )[: -len(cut)]
    up.script(f"/openai/v1/responses/{response_id}", sse([body]))
    r = httpx2.get(f"{gw.gateway_url}/v1/responses/{response_id}", params={"stream": "true"}, timeout=30)
    assert r.status_code == 200 and r.content == body  # the provider's bytes, as they came
    gw.settle()
    [row] = gw.rows("event_id = ?", (keyed_event_id("openai", response_id),))  # before review33: none
    assert row["provider"] == "openai" and row["status"] == 200
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (20, 10, 7)
