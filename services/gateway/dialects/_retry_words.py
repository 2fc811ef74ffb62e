"""How long to wait, said in an error's words: a client rule (``registry.ClientSpec.said_with_wait``), for an
error told where no ``retry-after`` header can go (an in-stream error). Pure.

The wording is OpenAI's own, the one Codex reads: codex-rs ``try_parse_retry_after`` (codex-api
``sse/responses.rs``) takes a ``response.failed`` error's delay from ``code == "rate_limit_exceeded"`` and
``Please try again in (\\d+(\\.\\d+)?)(s|ms)`` in its message. On an HTTP 429 codex-rs reads no message: its
wait is the ``retry-after`` header (whole seconds, ``parse::<u64>``) and its ``error.type`` only says whether
the plan's usage limit is reached (``usage_limit_reached``, ``usage_not_included``); the gateway's HTTP answer
carries the header (``proxy._error_response``), so the words are for streams alone (s30 fix30).
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
