"""How long to wait, said in an error's words: a client rule (``registry.ClientSpec.said_with_wait``), for an
error told where no ``retry-after`` header can go (an in-stream error). Pure.

The wording is OpenAI's own, the one Codex reads: codex-rs ``try_parse_retry_after`` (``codex-rs/codex-api/src/sse/
responses.rs``) takes a ``response.failed`` error's delay from ``code == "rate_limit_exceeded"`` and
``(?i)try again in\\s*(\\d+(?:\\.\\d+)?)\\s*(s|ms|seconds?)`` in its message (``ApiError::Retryable { delay }``, a
stream retry after that wait). An HTTP 429 says Codex nothing to wait by (s31 fix31, read in github:openai/codex):
its transport does not retry a 429 (``codex-rs/core/src/model_provider_info.rs`` ``to_api_provider``: ``retry_429:
false``; ``codex-rs/codex-client/src/retry.rs`` ``run_with_retry`` backs off by its own schedule and reads no
header), and ``map_api_error`` (``codex-rs/codex-api/src/api_bridge.rs``) reads only the body's ``error.type``
(``usage_limit_reached``, ``usage_not_included``), else ``CodexErr::RetryLimit``, which ``is_retryable`` says no to:
the turn ends. Codex before its ``codex-api`` crate (``codex-rs/core/src/client.rs``, e.g. commit edd459a) did read
the ``retry-after`` header on a 429 (whole seconds, ``parse::<u64>``). Either way a message's words reach Codex only
in a stream, so the words are for streams alone; the gateway's HTTP answer carries the ``retry-after`` header for the
clients that read it (``proxy._error_response``; s30 fix30).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

# "Please try again in 20s" / "in 6ms" (OpenAI), "Please retry in 23.5s" (Gemini), "retry after 30 seconds",
# "try again after 2 minutes": a retry verb, then "in" or "after" and a number
_RETRY_TIME = re.compile(r"\b(?:try(?:ing)? again|retry(?:ing)?)\s+(?:in|after)\s+\d", re.IGNORECASE)


def states_retry_time(message: str) -> bool:
    """Whether a provider's error ``message`` already says when to retry ("Please try again in 20s",
    "retry after 30 seconds"): then an in-stream error does not add the Retry-After wait a second time
    (``said_with_wait``). A phrase without a number ("please try again later") says no time."""
    return _RETRY_TIME.search(message) is not None


def said_with_wait(message: str, wait_s: float | None) -> str:
    """``message`` saying when to retry: "… (Please try again in 30s.)", ``wait_s`` (seconds) in whole seconds
    rounded up, at least 1, in OpenAI's words (module docstring: what Codex reads). ``message`` as it is when
    ``wait_s`` is None or the message already says a time (``states_retry_time``)."""
    if wait_s is None or states_retry_time(message):
        return message
    return f"{message} (Please try again in {max(1, math.ceil(wait_s))}s.)"


def waits_only_in_stream(headers: Mapping[str, str]) -> bool:
    """Whether the client that sent a streamed Responses request with ``headers`` waits out a rate limit only when it
    is told inside a stream, so a translated route's HTTP 429 is better told as ``200`` + ``response.failed``
    (``proxy.Proxy._opened_to_tell``; s32 fix32 item 3). Codex (codex-rs, whichever product runs it): on an HTTP 429
    its turn ends (``retry_429: false``, ``CodexErr::RetryLimit``, module docstring), while on a ``response.failed``
    with ``code: rate_limit_exceeded`` it waits the "Please try again in Ns." it reads (``try_parse_retry_after``)
    and sends the turn again, up to its ``stream_max_retries`` (5).

    Known by either of (``headers`` case-insensitive, as aiohttp's are; ``_CODEX_ORIGINATOR``, ``_CODEX_TURN``):
    - the ``originator`` header codex-rs sends on every request, which names the product: ``codex_exec``,
      ``codex_cli_rs`` (/work/shared/captures/codex; codex-rs ``default_client.rs`` ``DEFAULT_ORIGINATOR``),
      ``codex-tui``, ``codex_vscode``, ``codex_sdk_ts``, and "Codex " followed by a product's name (the desktop app:
      ``is_first_party_originator``'s ``starts_with("Codex ")``), so matched without case: ``codex`` then nothing or
      a separator (``_``, ``-``, a space), not a longer word (``codexify``);
    - ``x-codex-turn-metadata``, the turn's JSON codex-rs's core sends with each turn whatever the originator (an
      app-server client's ``client_name`` is sent as the originator: codex-rs #16116; Codex 0.171's capture).
    Review33: ``startswith("codex")`` missed the desktop app's "Codex Desktop" and an app-server client named
    otherwise, whose turn an HTTP 429 still ended.

    No other client: the openai SDK retries an HTTP 429 itself after its ``retry-after`` (``_base_client``
    ``_should_retry``, ``max_retries`` 2) and raises ``RateLimitError``; told in a stream instead (the gateway's
    ``response.failed`` frame carries a top-level ``error``: ``openai_responses.stream_error_frame``), its
    ``responses.create(stream=True)`` and ``responses.stream()`` raise a bare ``APIError`` (no status: not the
    ``RateLimitError`` callers catch) and never retry; on OpenAI's own bare ``response.failed`` the iteration ends
    quietly and ``get_final_response()`` raises ``RuntimeError("Didn't receive a `response.completed` event.")``
    (openai-python 3.60 ``_streaming.py``, ``lib/streaming/responses/_responses.py``)."""
    return _CODEX_ORIGINATOR(headers.get("originator", "")) is not None or _CODEX_TURN in headers


# ``waits_only_in_stream``'s originator (codex-rs's products' names) and codex-rs's per-turn header
_CODEX_ORIGINATOR = re.compile(r"codex(?:$|[_\- ])", re.IGNORECASE).match
_CODEX_TURN = "x-codex-turn-metadata"
