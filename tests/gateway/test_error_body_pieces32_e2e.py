"""Session 32 (fix32 item 4): bug31b's error-body reads on the paths session 31 left untested.

bug31b made ``UpstreamClient.error_from`` read an upstream error body to its end (``read_error_body``) and a streamed
request read it inside the send's keep-alive window (``UpstreamClient.read_error``). Its tests used the new SDKs and
the SQLite ledger, and no fallback. Here, with the ledger in PostgreSQL (a private cluster, ``tests/pgserver.py``):

- a first route's 5xx whose body comes in two pieces (``{"error":`` then the rest, a keep-alive period or more later)
  falls back to the second route, streamed or not, chat passthrough and Anthropic translated: the second route
  answers, and the ledger row names it, with ``attempts`` 2 and the first route's failure in ``failed_attempts``
  carrying the provider's whole message (before bug31b: ``{"error":``);
- the old SDK generations (``make old-sdk``: openai 1.109.1, anthropic 0.75.0, run in a subprocess with that
  ``PYTHONPATH``) get the same answers: a fallback's text, a refusal's retry within the stated output limit, a spent
  quota's ``x-should-retry: false``.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import (
    CHEAP,
    DEAR,
    HI,
    QUOTA_SPENT,
    USAGE,
    above_8192_refused,
    catalog,
    chat_answer,
    chat_stream,
    cheap_and_dear,
    in_pieces,
    provider,
)
from tests.pgserver import PgServer
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
KEEPALIVE_S = 1.0
OLD_SDK = Path(__file__).resolve().parents[2] / ".venv" / "old-sdk"
CATALOG = catalog(
    *cheap_and_dear("m32"),
    provider("hosted", "acme-coder-7b", price=(0.2, 0.6)),
)
HOSTED = "/hosted/v1/chat/completions"
OVERLOADED = {
    "error": {"message": "The engine is currently overloaded, please try again later", "type": "server_error"}
}


@pytest.fixture(scope="module")
def pg_ledger(pg_server: PgServer) -> Iterator[str]:
    """One PostgreSQL database for the module's stack (``pg_url`` is per test; the stack is per module)."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def gw(catalog_stack: Callable[..., AbstractContextManager[Stack]], pg_ledger: str) -> Iterator[Stack]:
    env = {"DATABASE_URL": pg_ledger, "STREAM_KEEPALIVE_S": str(KEEPALIVE_S), "BREAKER_FAILURES": "1000"}
    with catalog_stack("pieces32", CATALOG, **env) as st:
        assert st.ledger.startswith("postgresql://")
        yield st


def dear_stream(text: str = "Hello from dear.") -> Answer:
    return sse(chat_stream(text, ident="c32", model="m32", usage=USAGE))


def dear_whole(text: str = "Hello from dear.") -> Answer:
    return json_answer(chat_answer(text, ident="c32", model="m32", usage=(12, 3)))


def failed_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A row's ``failed_attempts`` as a list (JSON text in the ledger)."""
    value = row["failed_attempts"]
    return list(value) if isinstance(value, list) else list(json.loads(value))


def assert_fell_back(gw: Stack, rid: str) -> None:
    """The PostgreSQL row of a request the second route answered after the first route's 503 in pieces."""
    row = gw.row_for(rid)
    assert (row["status"], row["provider"], row["attempts"]) == (200, "dear", 2), row
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
    failed = failed_of(row)
    assert [(f["provider"], f["status"]) for f in failed] == [("cheap", 503)], failed
    assert "currently overloaded" in failed[0]["message"], failed  # the whole body read, not '{"error":'


def test_a_5xx_body_in_pieces_falls_back_to_the_second_route(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, in_pieces(OVERLOADED, 503))
    up.script(DEAR, dear_whole())
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(
            model="m32",
            messages=HI,
            extra_headers={"x-request-id": "pieces32-whole"},  # type: ignore[arg-type]
        )
    assert answer.choices[0].message.content == "Hello from dear."
    assert (len(up.seen(CHEAP)), len(up.seen(DEAR))) == (1, 1)
    assert_fell_back(gw, "pieces32-whole")


def test_a_streamed_5xx_body_slower_than_a_keepalive_falls_back(gw: Stack, up: ScriptedUpstream) -> None:
    """The body's second piece 1.5 keep-alive periods after its first: read inside the send's keep-alive window
    (``read_error``), and the next route still tried."""
    up.script(CHEAP, in_pieces(OVERLOADED, 503, pause_s=1.5 * KEEPALIVE_S))
    up.script(DEAR, dear_stream())
    text = ""
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        for piece in client.chat.completions.create(
            model="m32",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            extra_headers={"x-request-id": "pieces32-stream"},
        ):
            if piece.choices and piece.choices[0].delta.content:
                text += piece.choices[0].delta.content
    assert text == "Hello from dear."
    assert (len(up.seen(CHEAP)), len(up.seen(DEAR))) == (1, 1)
    assert_fell_back(gw, "pieces32-stream")


def test_a_translated_stream_falls_back_after_a_5xx_body_in_pieces(gw: Stack, up: ScriptedUpstream) -> None:
    """Claude Code's format on a chat wire: the first route's 503 in pieces, the second's answer translated."""
    up.script(CHEAP, in_pieces(OVERLOADED, 503, pause_s=1.5 * KEEPALIVE_S))
    up.script(DEAR, dear_stream())
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model="m32",
        max_tokens=1024,
        messages=HI,
        extra_headers={"x-request-id": "pieces32-claude"},  # type: ignore[arg-type]
    ) as stream:
        message = stream.get_final_message()
    assert [getattr(b, "text", None) for b in message.content] == ["Hello from dear."]
    assert_fell_back(gw, "pieces32-claude")


def old_sdk(program: str, gw: Stack) -> Any:
    """Run ``program`` with the old SDK generation first on the path; its last stdout line, as JSON."""
    assert OLD_SDK.exists(), (
        "run `make old-sdk` (make test does) to install openai 1.109.1 and anthropic 0.75.0"
    )
    env = {**os.environ, "PYTHONPATH": str(OLD_SDK)}
    proc = subprocess.run(
        [sys.executable, "-c", program, gw.gateway_url], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-1500:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


OLD_OPENAI_STREAM = r"""
import json, sys, openai
c = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="k", max_retries=0)
text = ""
for piece in c.chat.completions.create(model="m32", messages=[{"role": "user", "content": "Say hello."}], stream=True,
                                       extra_headers={"x-request-id": "pieces32-old-openai"}):
    if piece.choices and piece.choices[0].delta.content:
        text += piece.choices[0].delta.content
print(json.dumps([openai.__version__, text]))
"""


def test_old_openai_sdk_gets_the_fallbacks_stream(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, in_pieces(OVERLOADED, 503, pause_s=1.5 * KEEPALIVE_S))
    up.script(DEAR, dear_stream())
    version, text = old_sdk(OLD_OPENAI_STREAM, gw)
    assert version.startswith("1.") and text == "Hello from dear."
    assert_fell_back(gw, "pieces32-old-openai")


OLD_ANTHROPIC_STREAM = r"""
import json, sys, anthropic
c = anthropic.Anthropic(base_url=sys.argv[1], api_key="k", max_retries=0)
with c.messages.stream(model="acme-coder-7b", max_tokens=32000, messages=[{"role": "user", "content": "Warmup"}],
                       extra_headers={"x-request-id": "pieces32-old-anthropic"}) as s:
    m = s.get_final_message()
print(json.dumps([anthropic.__version__, m.content[0].text, m.stop_reason]))
"""


def test_old_anthropic_sdk_gets_the_retry_within_a_limit_stated_in_pieces(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Kind 17 (DeepSeek's words), the refusal's body 1.5 keep-alive periods after its first piece: one retry within
    8192, the old SDK's stream answered; the row is the retry's answer (one attempt: a retry within a stated limit
    is the same route, not a failed attempt)."""
    stream = chat_stream("Ready.", ident="c32", model="acme-coder-7b")
    up.script(HOSTED, *above_8192_refused(stream, pause_s=1.5 * KEEPALIVE_S))
    version, text, stop = old_sdk(OLD_ANTHROPIC_STREAM, gw)
    assert version.startswith("0.7") and (text, stop) == ("Ready.", "end_turn")
    assert [seen.json["max_tokens"] for seen in up.seen(HOSTED)] == [32000, 8192]
    row = gw.row_for("pieces32-old-anthropic")
    assert (row["status"], row["provider"], row["translated"]) == (200, "hosted", True), row
    assert failed_of(row) == []


OLD_OPENAI_QUOTA = r"""
import json, sys, openai
c = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="k", max_retries=0)
try:
    c.chat.completions.create(model="acme-coder-7b", messages=[{"role": "user", "content": "hi"}],
                              extra_headers={"x-request-id": "pieces32-old-quota"})
except openai.RateLimitError as e:
    print(json.dumps([openai.__version__, e.status_code, e.code, e.response.headers.get("x-should-retry")]))
"""


def test_old_openai_sdk_is_told_a_quota_in_pieces_is_spent(gw: Stack, up: ScriptedUpstream) -> None:
    """Kind 11: ``insufficient_quota`` 429 in pieces; the old SDK raises RateLimitError with the code, and is told
    not to retry; the row records the 429 with one upstream call."""
    up.script(HOSTED, in_pieces(QUOTA_SPENT, 429))
    version, status, code, should_retry = old_sdk(OLD_OPENAI_QUOTA, gw)
    assert version.startswith("1.") and (status, code, should_retry) == (429, "insufficient_quota", "false")
    assert len(up.seen(HOSTED)) == 1
    row = gw.row_for("pieces32-old-quota")
    assert row["status"] == 429 and row["provider"] == "hosted", row
