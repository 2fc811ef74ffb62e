"""Shared pieces of the OpenAI Responses wire format: usage, errors, ids, gateway-made opaque tokens.

Sources: the openai SDK's ``types/responses`` (``response_usage.py``, ``response_error.py``,
``response_compaction_item.py``), ``../shared/docs/api-conformance.md`` §4 and §6.10–6.11, and Codex's
``codex-rs`` (``protocol/src/models.rs``: ``ResponseItem::Compaction { encrypted_content }``).

Opaque tokens the gateway makes (``encrypted_content`` of ``reasoning`` and ``compaction`` items, read back
by the request translator, see ``/work/notes/compaction.md`` and ``reasoning-encrypted.md``)::

    thinking:   "ekai.t1." + base64url_nopad(orjson.dumps({"ekai": "thinking", "thinking": T, "signature": S}))
    compaction: "ekai.c1." + base64url_nopad(orjson.dumps({"ekai": "compaction", "summary": TEXT}))
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from services.gateway.dialects._openai_wire import OVERFLOW_CODES_NAMED, error_type_for_status
from services.gateway.dialects.ir import StreamError, Usage

# ``ResponseError.code`` is a closed Literal in the openai SDK; these are the two a gateway can mean.
RATE_LIMIT_CODE = "rate_limit_exceeded"
SERVER_ERROR_CODE = "server_error"
# A response's final statuses (OpenAI API reference, "The response object": ``status`` is one of completed,
# failed, in_progress, cancelled, queued or incomplete; guide "Background mode": queued and in_progress are the
# ones still running)
TERMINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})


def usage_from_responses(usage: Any) -> Usage:
    """A Responses ``usage`` object → disjoint IR buckets (conformance §6.10).

    ``input_tokens`` counts the whole prompt; cache reads (``input_tokens_details.cached_tokens``) and
    writes (``cache_write_tokens``) are split out of it. ``output_tokens`` includes reasoning. Anything
    that is not a non-negative integer counts as 0.
    """
    return _billed(usage if isinstance(usage, dict) else {}, None, 0, 0, None)


def _billed(u: dict[str, Any], tier: str | None, searches: int, files: int, once: str | None) -> Usage:
    """``usage_from_responses`` of ``u`` with ``billed_usage``'s own fields, one positional ``Usage`` (its
    field order: ``ir.Usage``): the counts' tests inline (``_int``'s), no call per count (session 24: a
    stream's ``settle`` and a plain answer's event read one per answer)."""
    details = u.get("input_tokens_details")
    cache_read = cache_write = 0
    if isinstance(details, dict):
        v = details.get("cached_tokens")
        cache_read = v if type(v) is int and v > 0 else 0
        v = details.get("cache_write_tokens")
        cache_write = v if type(v) is int and v > 0 else 0
    v = u.get("input_tokens")
    prompt = v if type(v) is int and v > 0 else 0
    v = u.get("output_tokens")
    output = v if type(v) is int and v > 0 else 0
    details = u.get("output_tokens_details")
    v = details.get("reasoning_tokens") if isinstance(details, dict) else 0
    reasoning = v if type(v) is int and v > 0 else 0
    # (positional up to ``billed_once_as``: keywords cost a dict per call, session 22)
    return Usage(
        max(prompt - cache_read - cache_write, 0),
        output,
        cache_read,
        cache_write,
        reasoning,
        None,
        0,
        searches,
        (),
        None,
        False,
        None,
        None,
        tier,
        0,
        0,
        files,
        False,
        once,
    )


def billed_usage(response: dict[str, Any]) -> Usage:
    """Everything a ``Response`` bills: its ``usage``, plus the web searches and file searches it ran.

    Web search and file search tool calls are billed per call on top of the tokens (OpenAI pricing, "Built-in
    tools"), and ``usage`` does not count them: each ``web_search_call`` output item whose action is a search is one
    search, each ``file_search_call`` item one file search call (s20 variants 28-a, 28-b: left out of the cost).
    An ``output`` that is not a list counts none.

    A response created with ``background: true`` that is in a terminal status (``TERMINAL_STATUSES``) with its
    ``usage`` is billed once however many answers show it (the create call's stream, each retrieve, a cancel):
    ``billed_once_as`` is then its ``id`` (OpenAI API reference, "The response object": ``background``,
    ``status``; guide "Background mode": polling ends when the status leaves queued and in_progress).
    """
    raw = response.get("usage")
    once = None
    if response.get("background") is True:  # (most answers: one look, no more)
        rid = response.get("id")
        if response.get("status") in TERMINAL_STATUSES and type(raw) is dict and type(rid) is str and rid:
            once = rid
    # the tier that served it (OpenAI API reference, "The response object")
    tier = response.get("service_tier")
    searches = files = 0
    output = response.get("output")
    if type(output) is list:  # (one walk for both kinds)
        for item in output:
            if isinstance(item, dict):
                kind = item.get("type")
                if kind == "web_search_call":
                    action = item.get("action")
                    searches += not isinstance(action, dict) or action.get("type", "search") == "search"
                elif kind == "file_search_call":
                    files += 1
    u = raw if isinstance(raw, dict) else {}
    return _billed(u, tier if type(tier) is str else None, searches, files, once)


def usage_to_responses(u: Usage) -> dict[str, Any]:
    """IR usage → the client-facing Responses ``usage`` (``ResponseUsage``: every count present)."""
    prompt = u.prompt_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": prompt + u.output_tokens,
    }


def status_for_error_code(code: Any) -> int:
    """The HTTP status an in-stream Responses error code stands for (string codes, or OpenRouter's numbers).

    ``rate_limit_exceeded`` (and ``insufficient_quota``) → 429, overloaded / unavailable → 503, anything else
    (``server_error``, ``context_length_exceeded`` …) → 500: the request was accepted, the answer failed.
    """
    if isinstance(code, int) and not isinstance(code, bool):
        return code if 400 <= code <= 599 else 500
    text = code.lower() if isinstance(code, str) else ""
    if "rate_limit" in text or text == "insufficient_quota":
        return 429
    if "overloaded" in text or "unavailable" in text:
        return 503
    return 500


def stream_error_from_responses(error: Any, default_message: str) -> StreamError:
    """A ``response.failed`` ``response.error`` or an ``error`` event → StreamError.

    A context overflow's code (``OVERFLOW_CODES_NAMED``) whose message does not say so itself is named in the
    message, which is all the error's readers (``_error_meaning.stream_error_meaning``) get, as the chat sibling
    ``stream_error_from_openai`` does. Review32: a streamed ``response.failed`` with ``code:
    context_length_exceeded`` and words that do not name it ("The request could not be completed.") was read as a
    server fault: Codex got a 500 (which it retries) instead of the overflow it compacts on, and the ledger said
    ``api_error``; the whole answer's twin (``_error_meaning.overflow_told_whole``, fix31) read the code."""
    err = error if isinstance(error, dict) else {}
    code = err.get("code")
    status = status_for_error_code(code)
    message = err.get("message")
    text = message if isinstance(message, str) and message else default_message
    if code in OVERFLOW_CODES_NAMED and "context" not in text.lower():
        text = f"{text} ({code})"
    return StreamError(status=status, type=error_type_for_status(status), message=text)


# the codes a ``response.failed`` keeps as they were said: Codex compacts on a context overflow's
_KEPT_CODES = frozenset({"context_length_exceeded"})


def error_code_for_status(status: int, code: str | None = None) -> str:
    """A ``ResponseError.code`` the openai SDK accepts for a gateway status (``rate_limit_exceeded`` for 429,
    else ``server_error``); ``code`` (``_error_meaning.openai_code``'s) instead when Codex acts on it
    (``context_length_exceeded``, which it compacts on)."""
    if code in _KEPT_CODES:
        assert code is not None
        return code
    return RATE_LIMIT_CODE if status == 429 else SERVER_ERROR_CODE


def new_hex() -> str:
    return uuid.uuid4().hex[:24]


def response_id_for(upstream_id: str | None) -> str:
    """The ``resp_…`` id the client sees: the upstream's when it is one, else derived from it (or fresh)."""
    if upstream_id and upstream_id.startswith("resp_"):
        return upstream_id
    # the usual upstream id is letters and digits around underscores (Anthropic's ``msg_01…``, a chat
    # ``chatcmpl-…`` is not): without its underscores such an id is already what the filter keeps, two C calls
    # where the filter makes one call a character (~9k instructions for a 14-character id, callgrind, session 27)
    tail = upstream_id.replace("_", "") if upstream_id else ""
    if not tail.isalnum():  # (False for "" too: the filter then gives "" as well)
        tail = "".join(filter(str.isalnum, tail))
    return "resp_" + (tail or new_hex())


# ---- gateway-made opaque tokens: one implementation, in _responses_opaque (re-exported here) ----------


def custom_input_of(arguments: Any) -> str:
    """A custom tool's raw input from the function-call arguments it was sent upstream as.

    The upstream sees ``{"input": string}``; a model that named the field differently still gets its
    single string through, and anything else is passed on as the raw text rather than lost.
    """
    if isinstance(arguments, dict):
        obj: Any = arguments
    else:
        text = arguments if isinstance(arguments, str) else ""
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    if isinstance(obj, dict):
        if isinstance(obj.get("input"), str):
            value: str = obj["input"]
            return value
        strings = [v for v in obj.values() if isinstance(v, str)]
        if len(obj) == 1 and strings:
            return strings[0]
        return "" if not obj else orjson.dumps(obj).decode()
    return arguments if isinstance(arguments, str) else ""
