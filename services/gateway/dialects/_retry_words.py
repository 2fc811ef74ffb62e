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
