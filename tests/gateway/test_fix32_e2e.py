"""Session 32 (fix32): decisions left from session 31, end to end.

Item 1, output limits on a passthrough: a chat client's ``max_tokens`` above the model's documented limit (the family
table, ``limits.max_output_tokens``) reaches a provider of the same format untouched; only a limit the provider
stated (a refusal, then remembered) or the catalog gives is applied to it (``Provider.known_output_limit``). The
same model translated (Claude Code's format) is clamped to the documented limit, as before.

Item 2, a llama.cpp context overflow told to a chat client (same format): said again with OpenAI's
``code: context_length_exceeded`` and words (the original in parentheses), and the server's own error fields kept
(``type: exceed_context_size_error``, ``n_prompt_tokens``, ``n_ctx``: ``_error_meaning.said_keeping_fields``).

Item 3, a translated route's rate limit told to Codex: a streamed Responses request with Codex's ``originator``
header (the body: Codex 0.171's recorded turn, ``tests/fixtures/requests/codex_say_hi.json``) on a chat provider
that answers 429 with ``retry-after`` beyond the gateway's own wait gets a 200 stream ending in ``response.failed``
(``rate_limit_exceeded``, "Please try again in 30s."), which codex-rs waits out and retries (``try_parse_retry_after``);
before, an HTTP 429, which ends Codex's turn. The openai SDK (no such header) keeps the HTTP 429 it retries by; told
in a stream it would raise a bare ``APIError`` (no status, no retry of its own; shown here with the header set by
hand). A spent quota stays an HTTP 429 for Codex too. ``make e2e`` should add: the real Codex CLI
against this path (its turn retried after the wait, then answered).

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.e2e_builders import (
    HI,
    LLAMACPP_OVERFLOW,
    QUOTA_SPENT,
    catalog,
    catalog_gw,
    chat_answer,
    chat_stream,
    provider,
)
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
# one provider per rate-limit test: a 429 with retry-after 30 rests its provider for the module's later tests
RATED = ("codexrl", "sdkrl", "helperrl", "quotarl")
CATALOG = catalog(
    provider("hosted", "gpt-4o", price=(2.5, 10.0)),
    provider("llama", "local-qwen", price=(0.0, 0.0)),
    *(provider(name, f"{name}-m", price=(0.0, 0.0)) for name in RATED),
)
HOSTED = "/hosted/v1/chat/completions"
LLAMA = "/llama/v1/chat/completions"
gw = catalog_gw("fix32", CATALOG, BREAKER_FAILURES="1000")


def test_a_passthrough_max_tokens_above_the_documented_limit_goes_untouched(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """gpt-4o's documented 16384 is not applied to a chat client's 32000 on a chat provider that takes it (a
    deployment with a higher cap, a newer snapshot under the old name): the body goes as the client wrote it."""
    up.script(HOSTED, json_answer(chat_answer("Hello.", ident="c32", model="gpt-4o", usage=(12, 3))))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=32000)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hello."
    assert [seen.json.get("max_tokens") for seen in up.seen(HOSTED)] == [32000]


def test_the_same_model_translated_is_clamped_to_the_documented_limit(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The contrast: Claude Code's format on the chat wire is the gateway's own body, within the documented limit."""
    up.script(HOSTED, sse(chat_stream("Hello.", ident="c32", model="gpt-4o")))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(model="gpt-4o", max_tokens=32000, messages=HI) as stream:  # type: ignore[arg-type]
        assert stream.get_final_text() == "Hello."
    sent = up.seen(HOSTED)[0].json
    assert (sent.get("max_tokens") or sent.get("max_completion_tokens")) == 16384


def test_a_llamacpp_overflow_to_a_chat_client_keeps_its_fields(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LLAMA, json_answer(LLAMACPP_OVERFLOW, 400))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="local-qwen",
                messages=HI,
                extra_headers={"x-request-id": "fix32-llamacpp"},  # type: ignore[arg-type]
            )
    said = refused.value.body
    assert isinstance(said, dict)
    assert refused.value.code == "context_length_exceeded"  # what OpenAI's clients act on
    assert "maximum context length is 32768 tokens" in refused.value.message
    assert "exceeds the available context size" in refused.value.message  # the server's own words, kept
    # before fix32: type invalid_request_error, no counts' fields (only their text in the message)
    assert (said["type"], said["n_prompt_tokens"], said["n_ctx"]) == (
        "exceed_context_size_error",
        40000,
        32768,
    )
    assert gw.row_for("fix32-llamacpp")["status"] == 400


CODEX_TURN: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "requests" / "codex_say_hi.json").read_text()
)["body"]
CODEX_HEADERS = {"originator": "codex_exec", "user-agent": "codex_exec/0.171.0 (Debian 12.0.0; x86_64)"}
# codex-rs ``sse/responses.rs`` ``rate_limit_regex``: the wait it reads from a ``response.failed`` message
CODEX_WAIT = re.compile(r"Please try again in (\d+(?:\.\d+)?)(s|ms)")
RATE_LIMITED = {
    "error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}
}


def _path(name: str) -> str:
    return f"/{name}/v1/chat/completions"


def _codex_events(
    gw: Stack, rid: str, model: str, headers: dict[str, str]
) -> tuple[int, list[dict[str, Any]]]:
    """Codex's recorded turn (``model``: a chat provider's, translated) as Codex sends it: the status and the
    stream's events (the error body, when not 200)."""
    body = {**CODEX_TURN, "model": model}
    with httpx2.stream(
        "POST",
        gw.gateway_url + "/v1/responses",
        json=body,
        headers={**headers, "x-request-id": rid},
        timeout=30,
    ) as r:
        raw = r.read()
        if r.status_code != 200:
            return r.status_code, [json.loads(raw)]
    return 200, [json.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


def test_a_translated_rate_limit_is_told_to_codex_in_its_stream(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(_path("codexrl"), json_answer(RATE_LIMITED, 429, headers={"retry-after": "30"}))
    status, events = _codex_events(gw, "fix32-codex-429", "codexrl-m", CODEX_HEADERS)
    assert status == 200, events  # before fix32: 429, which ends Codex's turn (CodexErr::RetryLimit)
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    error = events[-1]["response"]["error"]
    assert error["code"] == "rate_limit_exceeded"
    wait = CODEX_WAIT.search(error["message"])
    assert wait is not None and wait.groups() == (
        "30",
        "s",
    )  # what codex-rs waits before it sends the turn again
    assert len(up.seen(_path("codexrl"))) == 1
    assert gw.row_for("fix32-codex-429")["status"] == 429
    # another turn while the provider rests (a subagent's, sent at once): the refusal told again, in the stream too
    status, events = _codex_events(gw, "fix32-codex-429-again", "codexrl-m", CODEX_HEADERS)
    assert status == 200 and events[-1]["type"] == "response.failed", events
    wait = CODEX_WAIT.search(events[-1]["response"]["error"]["message"])
    assert wait is not None and 0 < float(wait.group(1)) <= 30
    assert len(up.seen(_path("codexrl"))) == 1  # not sent: the provider rests
    assert gw.row_for("fix32-codex-429-again")["status"] == 429


def test_the_openai_sdk_keeps_the_http_429(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(_path("sdkrl"), json_answer(RATE_LIMITED, 429, headers={"retry-after": "30"}))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as limited:
            client.responses.create(model="sdkrl-m", input="hi", stream=True)
    assert limited.value.response.headers.get("retry-after") == "30"


def test_told_in_a_stream_the_sdk_raises_no_rate_limit_error(gw: Stack, up: ScriptedUpstream) -> None:
    """Why the SDK keeps its 429: given Codex's header by hand, ``responses.stream()`` raises a bare ``APIError`` at
    the ``response.failed`` event (the gateway's frame carries a top-level ``error``, ``stream_error_frame``): no
    status, not the ``RateLimitError`` its callers catch, and the SDK's own retry after ``retry-after`` never runs."""
    up.script(_path("helperrl"), json_answer(RATE_LIMITED, 429, headers={"retry-after": "30"}))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=2) as client:
        with pytest.raises(openai.APIError) as failed:
            with client.responses.stream(
                model="helperrl-m", input="hi", extra_headers=CODEX_HEADERS
            ) as stream:
                stream.get_final_response()
    assert not isinstance(failed.value, openai.APIStatusError)
    assert "Please try again in 30s." in failed.value.message
    assert len(up.seen(_path("helperrl"))) == 1  # max_retries=2, yet no retry


def test_a_spent_quota_stays_an_http_429_for_codex(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(_path("quotarl"), json_answer(QUOTA_SPENT, 429))
    status, said = _codex_events(gw, "fix32-codex-quota", "quotarl-m", CODEX_HEADERS)
    assert status == 429 and said[0]["error"]["code"] == "insufficient_quota", said
