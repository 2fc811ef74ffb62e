"""When an upstream's exhausted rate limit resets, read from its rate-limit headers (pure).

Some providers answer 429 with no ``retry-after`` and only their rate-limit headers (bugcase 11's
kind: the client and the gateway then retry blind). The forms, by source:

- OpenAI (and xAI, Groq, …, OpenAI's rate-limits guide): ``x-ratelimit-reset-requests: 1s``,
  ``x-ratelimit-reset-tokens: 6m0s``: a Go-style duration, beside ``x-ratelimit-remaining-*``;
- OpenRouter (its limits docs): ``X-RateLimit-Reset``: a Unix time in milliseconds, beside
  ``X-RateLimit-Remaining``;
- Anthropic (its rate-limits docs): ``anthropic-ratelimit-{requests,tokens,…}-reset``: an RFC 3339
  time; ``anthropic-ratelimit-unified-reset`` (Claude subscriptions): a Unix time in seconds;
- Mistral (promptfoo/promptfoo#10577; its 429s often carry no ``retry-after``): ``ratelimitbysize-reset: 37``,
  seconds from now, beside ``ratelimitbysize-remaining``; the IETF httpapi draft's ``RateLimit-Reset`` (seconds)
  beside ``RateLimit-Remaining``: any header whose name holds ``ratelimit`` and ``reset`` counts (s18 variant 11-m);
- the IETF draft's single ``RateLimit`` field (draft-ietf-httpapi-ratelimit-headers 07+, as Cloudflare's API sends
  it: ``RateLimit: "default";r=0;t=30``, r remaining, t seconds to the reset; earlier drafts' dictionary
  ``limit=100, remaining=0, reset=30``): each limit it lists counts, one at 0 remaining as exhausted (s19 variant
  11-t: Workers AI's 429 behind a proxy that dropped retry-after).

A plain number is read by size: from 10^12 a Unix time in ms, from 10^9 one in seconds, below that a
number of seconds from now.

Some 429s carry no such header and say it in the error body instead (``body_reset_seconds``):

- OpenRouter (its "Limits" and "Errors" docs): the limit's headers inside the body,
  ``{"error": {"code": 429, "metadata": {"headers": {"X-RateLimit-Reset": "<Unix ms>", …}}}}``, or, for a limit of
  the provider behind it, that provider's own error body as a JSON string in ``error.metadata.raw`` (read as
  the provider's body: Google AI Studio's ``RetryInfo``; s17 variant 11-f);
- Google (Gemini's OpenAI-compatible endpoint, its rate-limit docs): a ``google.rpc.RetryInfo`` detail,
  ``{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}``
  (a protobuf JSON Duration: decimal seconds and "s"), the body itself sometimes in a one-element array;
- OpenAI, Groq and Azure OpenAI, in the error message's words, when a proxy in between dropped the headers
  (OpenAI's rate-limit errors: "… Please try again in 20s.", "… in 6m0s.", "… in 860ms."; Azure OpenAI:
  "… Please retry after 20 seconds."); Google's quota refusals relayed on the OpenAI wire: "Your quota will
  reset after 26s.".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from services.gateway.dialects._error_meaning import error_json

# Go's durations (``time.Duration.String``, which servers written in Go such as Groq's print their resets with: "6m0s",
# "2m59.56s", "20ms", and below a millisecond "864µs" or "500ns"; ``time.ParseDuration`` also reads "us" and the Greek
# "μs"): a sub-millisecond reset was no reset at all, a 429 without a wait (s27 variant 11-go-micro-reset-cc-vN)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|\u00b5s|\u03bcs|ns|h|m|s)")
_UNIT_S = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ns": 1e-9,
}
_MS_EPOCH = 1e12
_S_EPOCH = 1e9
# the longest wait any provider's window states: a monthly budget's reset (OpenRouter's key limits reset
# monthly; Anthropic's unified limits weekly). A wait said beyond it ("X-RateLimit-Reset: 1e20", read as Unix
# ms: 3e9 years; a year-9999 date) is no time a client can wait: it says nothing, as infinity does (fix28)
LONGEST_WAIT_S = 31 * 86400.0


def reset_seconds(value: str, now: float) -> float | None:
    """Seconds from ``now`` (Unix seconds) until the reset ``value`` names (>= 0), or None if the
    value is none of the forms in the module docstring ("nan" is none: it is no time, and read as a number
    it would say "now", a retry at once)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if math.isnan(number):
            return None
        if number >= _MS_EPOCH:
            return max(0.0, number / 1000 - now)
        if number >= _S_EPOCH:
            return max(0.0, number - now)
        return max(0.0, number)
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _left_fraction(low: Mapping[str, str], reset_name: str) -> float | None:
    """What is left of the limit whose reset header is ``reset_name``: its ``remaining`` header over its
    ``limit`` header (``x-ratelimit-reset-tokens-minute`` → ``…-remaining-tokens-minute`` /
    ``…-limit-tokens-minute``), or None when either is missing or not a positive number."""
    try:
        left = float(low.get(_remaining_name(reset_name), ""))
        size = float(low.get(reset_name.replace("reset", "limit"), ""))
    except ValueError:
        return None
    if not (size > 0 and 0 <= left <= size):
        return None
    return left / size


def _remaining_name(reset_name: str) -> str:
    """The ``remaining`` header beside a ``reset`` one (``x-ratelimit-reset-tokens`` →
    ``x-ratelimit-remaining-tokens``; ``anthropic-ratelimit-tokens-reset`` → ``…-tokens-remaining``)."""
    return reset_name.replace("reset", "remaining")


def rate_limit_reset_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the exhausted limit resets, from a 429's rate-limit headers, or None if they
    name no reset.

    A limit whose ``remaining`` header says 0 is the exhausted one, and so is one whose ``status`` header
    says ``rejected`` (a Claude subscription's unified windows: ``anthropic-ratelimit-unified-5h-status:
    rejected`` beside ``…-5h-reset``, while ``…-7d-status: allowed`` names a window that did not refuse;
    s13 variant 11-g; not the ``…-overage-`` pair: overage, extra usage, is what would have served the request
    past its window, and a subscriber without it gets ``…-overage-status: rejected`` with the month's end as
    ``…-overage-reset`` on every response; a spend cap that refused says so in ``…-unified-status/-reset``);
    when none says so, the limit with the least left of its size (``remaining`` over the ``limit`` header
    beside it) is the one that refused: a provider refuses a request bigger than what is left of a token
    window while some is left (Cerebras reserves ``max_completion_tokens`` up front, its rate-limits docs;
    its 429 for a minute's tokens names the day's request window too, ``x-ratelimit-reset-requests-day``:
    hours away; s19 variant 11-u); when that cannot be told (no ``limit`` headers, or no ``remaining``
    ones), every named reset counts. Of those, the latest: when it has passed, each limit that may have
    refused the request has reset. Header names are matched case-insensitively.
    """
    low = {name.lower(): value for name, value in headers.items()}
    exhausted: list[float] = []
    every: list[float] = []
    least: tuple[float, list[float]] | None = None  # the smallest fraction left, and its limits' resets
    if (combined := low.get("ratelimit")) is not None:  # the IETF draft's one field (module docstring)
        for remaining, wait in _combined_limits(combined):
            every.append(wait)
            if remaining == 0:
                exhausted.append(wait)
    for name, value in low.items():
        if not ("ratelimit" in name and "reset" in name):
            continue
        seconds = reset_seconds(value, now)
        if seconds is None:
            continue
        every.append(seconds)
        if low.get(_remaining_name(name), "").strip() == "0" or _rejected_window(low, name):
            exhausted.append(seconds)
        elif (left := _left_fraction(low, name)) is not None:
            if least is None or left < least[0]:
                least = (left, [seconds])
            elif left == least[0]:
                least[1].append(seconds)
    chosen = exhausted or (least[1] if least is not None else every)
    return max(chosen) if chosen else None


_PARAM = re.compile(r"\b([a-z]+)\s*=\s*(\d+(?:\.\d+)?)", re.I)


def _combined_limits(value: str) -> list[tuple[float | None, float]]:
    """(remaining or None, seconds to reset) of each limit in the IETF httpapi draft's one ``RateLimit`` field:
    the structured list of drafts 07+ (``"default";r=0;t=30``: r remaining, t seconds; Cloudflare's API sends
    it, with ``Ratelimit-Policy`` beside it) or the dictionary of earlier drafts (``limit=100, remaining=0,
    reset=30``). A limit without a reset is left out."""
    items = value.split(",") if ";" in value else [value]
    out: list[tuple[float | None, float]] = []
    for item in items:
        params = {k.lower(): float(v) for k, v in _PARAM.findall(item)}
        seconds = params.get("t", params.get("reset"))
        if seconds is not None:
            out.append((params.get("r", params.get("remaining")), seconds))
    return out


def _rejected_window(low: Mapping[str, str], reset_name: str) -> bool:
    """True when the ``status`` header beside ``reset_name`` (``…-5h-reset`` → ``…-5h-status``) says
    ``rejected``, the overage pair aside (``rate_limit_reset_seconds``)."""
    if not reset_name.endswith("-reset") or reset_name.endswith("-overage-reset"):
        return False
    return low.get(reset_name[: -len("reset")] + "status", "").strip() == "rejected"


_PROTO_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")
# "Please try again in 20s." / "in 6m0s" / "in 860ms" (OpenAI, Groq); "Please retry after 20 seconds." (Azure);
# "Your quota will reset after 26s." (Google's Code Assist API behind Gemini CLI and the proxies relaying it:
# vybestack/llxprt-code#813; s18 variant 11-d), "resets in 26s"
_SAID_DELAY = re.compile(
    r"(?:try again|retry|resets?) (?:in|after) "
    r"(?:(\d+(?:\.\d+)?) seconds?\b|((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)(?![a-z]))",
    re.I,
)
_RETRY_INFO = "google.rpc.RetryInfo"
_RAW_DEPTH = 2  # a router's relayed body inside a relayed body at most (OpenRouter → a provider's body)


def _stated_retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a ``retry-after`` (or ``retry-after-ms``) among an error body's relayed headers says (a number
    of seconds; OpenRouter's ``metadata.headers`` carry the provider's own 429 headers), None when there is none
    or it is not a number (bug29a variant 11-or-midstream-429-codex-vG: read only for its reset headers, a relayed
    ``retry-after: 30`` was no wait at all)."""
    low = {k.lower(): v.strip() for k, v in headers.items()}
    for name, unit_s in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(low[name]) * unit_s
        except (KeyError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def body_reset_seconds(body: bytes, now: float, _depth: int = 0) -> float | None:
    """Seconds from ``now`` (Unix seconds) until a 429's limit resets, read from its error body (the forms in
    the module docstring: OpenRouter's ``error.metadata.headers``, Google's ``RetryInfo.retryDelay``, the
    delay OpenAI's and Azure's messages state), or
    None when the body says nothing of it (or is not JSON)."""
    try:
        data: Any = error_json(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None
    metadata = err.get("metadata")
    headers = metadata.get("headers") if isinstance(metadata, dict) else None
    if isinstance(headers, dict):
        said = {str(k): str(v) for k, v in headers.items()}
        found = _stated_retry_after(said)
        if found is None:
            found = rate_limit_reset_seconds(said, now)
        if found is not None:
            return found
    raw = metadata.get("raw") if isinstance(metadata, dict) else None
    if isinstance(raw, str) and _depth < _RAW_DEPTH:  # the provider's own body, relayed as text
        found = body_reset_seconds(raw.encode(), now, _depth + 1)
        if found is not None:
            return found
    details = err.get("details")
    for detail in details if isinstance(details, list) else ():
        if not (isinstance(detail, dict) and str(detail.get("@type", "")).endswith(_RETRY_INFO)):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (m := _PROTO_DURATION.fullmatch(delay.strip())):
            return float(m.group(1))
    message = err.get("message")
    if isinstance(message, str) and (m := _SAID_DELAY.search(message)):
        return float(m.group(1)) if m.group(1) else reset_seconds(m.group(2), now)
    return None
