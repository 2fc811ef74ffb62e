"""Shared pieces of the Anthropic Messages wire format: usage, stop reasons, error types."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, get_args

from services.gateway.dialects.ir import Iteration, StopReason, Usage, summed

_STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))

ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# A thinking block must end with a signature; when the upstream is not Anthropic there is none, so the
# gateway closes the block with this marker (it cannot be verified by Anthropic, and is not meant to be).
SYNTHETIC_SIGNATURE = "ekai-gateway-synthetic-signature"

_TOOL_ID_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def anthropic_tool_id(call_id: str) -> str:
    """``call_id`` as Anthropic takes a ``tool_use.id`` / ``tool_result.tool_use_id``: the pattern
    ``^[a-zA-Z0-9_-]+$`` (Messages API reference, ``tool_use.id``; else 400 "String should match pattern"),
    each other character turned into ``_``. Other providers' ids need not match it: Moonshot's Kimi K2 names its
    calls ``functions.<name>:<n>`` (Kimi K2 tool-calling guide). Pure and deterministic, so a call and its result
    map to the same id on every turn; an id that matches comes back as it is (the same object)."""
    return call_id if anthropic_takes_id(call_id) else _TOOL_ID_BAD_CHARS.sub("_", call_id)


class ToolIds:
    """One request's tool call ids as Anthropic takes them, one to one: ``call`` for each ``tool_use`` in the
    history's order, ``result`` for a ``tool_result``. ``anthropic_tool_id`` alone maps many ids to one
    (``functions.weather:0`` and ``functions.weather.0``), and a host that numbers a model's calls per answer
    gives the same id on every turn (Kimi K2's ``functions.<name>:<n>``); Anthropic refuses a history holding one
    id twice: 400 "messages.1.content.1: `tool_use` ids must be unique" (anomalyco/opencode#1279, a loop moved from
    Kimi K2 to Claude). A ``tool_use`` whose id was taken before gets ``<id>_<n>`` (n = 2, 3, …: the first free),
    a ``tool_result`` the id of the first call with its id that the latest turn's results have not answered yet
    (a server that gives every call of one answer one id: Xinference's ``call_<completion id>``,
    xorbitsai/inference#4237; the results answer them in order), else of the last ``tool_use`` that had its id; an
    empty id is ``call``. Deterministic and read from the start of the history only, so a turn's ids stay the same on
    every later turn (its cached prefix holds)."""

    __slots__ = ("_given", "_taken", "_waiting", "_answering")

    def __init__(self) -> None:
        self._taken: set[str] = set()  # the ids given to tool_use blocks so far
        self._given: dict[str, str] = {}  # a call's own id -> the id its last tool_use got
        # a call's own id -> the ids given to the latest turn's calls with it that no result has answered yet
        self._waiting: dict[str, list[str]] = {}
        self._answering = False  # a result came since the last call: the next call opens a turn

    def call(self, call_id: str) -> str:
        """The id of a ``tool_use`` whose own id is ``call_id``: ``call_id`` itself (the same object) when it is
        in the pattern and not taken."""
        fixed = anthropic_tool_id(call_id) or "call"
        if fixed in self._taken:
            n = 2
            while f"{fixed}_{n}" in self._taken:
                n += 1
            fixed = f"{fixed}_{n}"
        self._taken.add(fixed)
        self._given[call_id] = fixed
        if self._answering:  # the first call of a turn: an earlier turn's calls are answered or never will be
            self._waiting.clear()
            self._answering = False
        waiting = self._waiting.get(call_id)
        if waiting is None:
            self._waiting[call_id] = [fixed]
        else:
            waiting.append(fixed)
        return fixed

    def result(self, call_id: str) -> str:
        """The id of a ``tool_result`` answering ``call_id``: its ``tool_use``'s (``call``), the first one of the
        turn it has not answered yet when the turn gave several calls that id."""
        self._answering = True
        waiting = self._waiting.get(call_id)
        if waiting:
            return waiting.pop(0)
        given = self._given.get(call_id)
        return given if given is not None else anthropic_tool_id(call_id) or "call"


def tool_ids_one_to_one(messages: list[Any]) -> list[Any]:
    """Anthropic ``messages`` with every ``tool_use.id`` / ``tool_result.tool_use_id`` as ``ToolIds`` gives it:
    ``messages`` itself when none changes, else a new list whose changed messages and blocks are copies (the
    client's body is reused across attempts)."""
    # The usual history (Claude's own ``toolu_`` ids, each once, each result after its call): every id in the pattern
    # and no call's twice is ``messages`` itself, known in one plain pass: an id of Anthropic's taken as it is (as
    # ``_minted._touched`` takes it), another checked inline, a result by its call's (the mapping's method calls a
    # block cost ~15% of a 40-call chat translation: callgrind, review34)
    seen: set[str] = set()
    for msg in messages:
        content = msg.get("content") if type(msg) is dict else None
        if type(content) is not list:
            continue
        for block in content:
            kind = block.get("type") if type(block) is dict else None
            if kind == "tool_use":
                value = block.get("id")
                if type(value) is str:
                    if value in seen or not (
                        value.startswith("toolu_")
                        or (value.isascii() and value.replace("-", "a").replace("_", "a").isalnum())
                    ):
                        return tool_ids_mapped(messages)
                    seen.add(value)
            elif kind == "tool_result":
                value = block.get("tool_use_id")
                if type(value) is str and value not in seen and not anthropic_takes_id(value):
                    return tool_ids_mapped(messages)
    return messages


def ids_plain(uses: list[str], results: list[str]) -> bool:
    """Whether a history whose ``tool_use`` ids are ``uses`` and ``tool_result`` ids ``results`` (none empty) goes to
    Anthropic as it is: every id in the pattern, no call's twice (``tool_ids_one_to_one``'s usual case, told from
    the ids a translator made without a walk over its blocks)."""
    joined = "".join(uses) + "".join(results)
    return (
        len(set(uses)) == len(uses)
        and joined.isascii()
        and joined.replace("-", "a").replace("_", "a").isalnum()
    ) or not joined


def tool_ids_mapped(messages: list[Any]) -> list[Any]:
    """``tool_ids_one_to_one``'s mapping, block by block (``ToolIds``), without its usual case's shortcut."""
    ids = ToolIds()
    out: list[Any] | None = None
    for i, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        blocks: list[Any] | None = None
        for k, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "tool_use":
                key, of = "id", ids.call
            elif kind == "tool_result":
                key, of = "tool_use_id", ids.result
            else:
                continue
            value = block.get(key)
            if not isinstance(value, str) or (fixed := of(value)) == value:
                continue
            if blocks is None:
                blocks = list(content)
            blocks[k] = {**block, key: fixed}
        if blocks is not None:
            if out is None:
                out = list(messages)
            out[i] = {**msg, "content": blocks}
    return messages if out is None else out


def anthropic_takes_id(call_id: str) -> bool:
    """Whether ``call_id`` matches ``^[a-zA-Z0-9_-]+$`` (``anthropic_tool_id``; no line break allowed at its end,
    unlike Python's ``$``)."""
    return call_id.isascii() and call_id.replace("-", "a").replace("_", "a").isalnum()


def _int(value: Any) -> int:
    # type(…) is int: a decoded JSON value is never an int subclass, and bool stays out
    return value if type(value) is int else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _counts(u: dict[str, Any], searches: int = 0) -> Usage:
    """The token counts of one Anthropic usage object (top level, or one entry of ``iterations``), with
    ``searches`` as its web searches.

    Cache writes: ``cache_creation_input_tokens`` is the total; ``cache_creation.ephemeral_1h_input_tokens``
    the 1-hour part (the rest is 5-minute). When only the split is given (the total absent or null, s20 variant
    06-aa), the total is its sum. The split is the provider's account of the TTLs (``Usage.cache_write_split``)
    only when its two parts add up to the total: a stream's ``message_delta`` usage carries no ``cache_creation``
    object (the Messages API's ``MessageDeltaUsage``), so a total grown past ``message_start``'s split leaves the
    writes beyond it untold: with no 1-hour part said, the request's markers tell their TTL (``calls.event_for``;
    bug26b variant 06-stale-split-1h-markers-vH: a zero split from message_start priced 5424 1-hour writes at the
    5-minute rate).
    """
    # Each count read inline (``_int``'s test): every streamed usage passes here twice, and a list
    # comprehension is a call of its own on Python 3.11
    get = u.get
    split = get("cache_creation")
    if type(split) is dict:
        write_5m, write_1h = split.get("ephemeral_5m_input_tokens"), split.get("ephemeral_1h_input_tokens")
        said_split = type(write_5m) is int or type(write_1h) is int
        write_5m = write_5m if type(write_5m) is int else 0
        write_1h = write_1h if type(write_1h) is int else 0
    else:
        write_5m = write_1h = 0
        said_split = False
    input_tokens, output_tokens = get("input_tokens"), get("output_tokens")
    cache_read, write = get("cache_read_input_tokens"), get("cache_creation_input_tokens")
    if type(write) is not int:  # absent, or null (the SDKs' types make it nullable): the split's sum, if any
        write = write_5m + write_1h
    elif said_split and write_5m + write_1h < write:  # the split tells only part of the writes
        said_split = False
    details = get("output_tokens_details")
    thinking = details.get("thinking_tokens") if type(details) is dict else 0
    # positional, in field order: a dataclass's keywords cost more than its ``__init__`` (see shared/sse.py)
    return Usage(
        input_tokens if type(input_tokens) is int else 0,
        output_tokens if type(output_tokens) is int else 0,
        cache_read if type(cache_read) is int else 0,
        write,
        thinking if type(thinking) is int else 0,  # reasoning_tokens
        None,  # provider_cost_usd
        write_1h if write_1h < write else write,  # cache_write_1h_tokens
        searches,  # web_search_requests
        (),  # iterations
        None,  # reported_total_tokens
        said_split,  # cache_write_split
    )


def usage_from_anthropic(u: dict[str, Any]) -> Usage:
    """Anthropic ``usage`` → IR usage (``input_tokens`` is already the uncached part).

    Billed usage outside the top-level counters is included (Anthropic's Messages API reference, "usage";
    compaction guide, "Understanding usage"):
    - ``iterations``: with server-side compaction (and other multi-step server work) the top level covers
      only the final message iteration; every iteration is billed, so the totals are their sums, and an
      iteration that names another ``model`` is priced at that model's rates.
    - ``server_tool_use.web_search_requests``: web searches, billed per search on top of tokens.
    - ``inference_geo``: where the request ran ("us": US-only inference, priced higher; data-residency
      docs), kept as ``Usage.inference_geo``.
    - ``speed``: the speed tier that served the request ("fast": fast mode, priced at a per-model premium;
      "standard": the list price, also when a fast request fell back; fast-mode docs), kept as
      ``Usage.speed``. Streamed, it is in ``message_start``'s usage and may be repeated in
      ``message_delta``'s (``merge_stream_usage`` keeps the latest).
    """
    tools = u.get("server_tool_use")
    searches = _int(tools.get("web_search_requests")) if type(tools) is dict else 0
    steps = u.get("iterations")
    steps = [it for it in steps if type(it) is dict] if type(steps) is list else None
    geo = u.get("inference_geo")
    speed = u.get("speed")
    if not steps:
        counted = _counts(u, searches)
        if type(geo) is str:
            counted.inference_geo = geo
        if type(speed) is str:
            counted.speed = speed
        return counted
    iterations = tuple(
        Iteration(
            _counts(it), model=it["model"] if isinstance(it.get("model"), str) and it["model"] else None
        )
        for it in steps
    )
    iterations = _top_level_split_to_message(iterations, steps, _counts(u))
    usage = summed([it.usage for it in iterations])
    usage.web_search_requests = searches
    usage.iterations = iterations
    usage.inference_geo = geo if type(geo) is str else None
    usage.speed = speed if type(speed) is str else None
    return usage


def _top_level_split_to_message(
    iterations: tuple[Iteration, ...], steps: list[dict[str, Any]], top: Usage
) -> tuple[Iteration, ...]:
    """``iterations`` with the top level's cache-write TTL split given to the final ``message`` iteration when that
    iteration reports its writes without one (pure).

    The top level covers the final message iteration only and repeats its figures (compaction guide,
    "Understanding usage"); the iteration entries carry ``cache_creation_input_tokens`` but may lack the
    ``cache_creation`` split, so without this the top level's 1-hour writes would be priced at the 5-minute
    rate (s14 variant 28-b). Given only when both say the same total.
    """
    if not top.cache_write_split or not top.cache_write_tokens:
        return iterations
    for i in range(len(steps) - 1, -1, -1):
        if steps[i].get("type") != "message":
            continue
        own = iterations[i].usage
        if own.cache_write_split or own.cache_write_tokens != top.cache_write_tokens:
            return iterations
        given = replace(own, cache_write_1h_tokens=top.cache_write_1h_tokens, cache_write_split=True)
        return (*iterations[:i], replace(iterations[i], usage=given), *iterations[i + 1 :])
    return iterations


def merge_stream_usage(start: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A stream's usage so far: ``message_start``'s object updated with a ``message_delta``'s.

    ``message_delta`` counts are cumulative (Messages streaming guide), so where the two disagree the delta
    wins: with server tools or compaction, ``message_start`` holds the first step's figures and the delta
    the request's. Nested objects (``cache_creation``, ``server_tool_use``) merge key by key, so a delta that
    repeats only a total keeps the start's split; ``iterations`` is taken whole from the latest event. A delta
    without ``iterations`` (absent or null) after a start that had them updates the final ``message`` iteration with its counts:
    the top level is that iteration's figures (compaction guide, "Understanding usage"), so its output would
    otherwise stay at message_start's placeholder (s15 variant 28-e).
    """
    out = dict(start)
    for key, value in delta.items():
        if value is None:
            continue
        # (orjson's values: exact types, ``type(…) is`` where ``isinstance`` was a C call a member, ~1.4k
        # instructions a merge: session 27)
        if type(value) is dict and type(before := out.get(key)) is dict:
            # without a null in the delta's object, the merge is one C call (no comprehension to make
            # and call: issue 13, session 23; tests/unit/dialects/test_merge_usage23.py)
            value = (
                {**before, **value} if None not in value.values() else _merged_without_nulls(before, value)
            )
        out[key] = value
    steps = out.get("iterations")
    if delta.get("iterations") is None and type(steps) is list:  # absent or null: the delta gives no list
        out["iterations"] = _message_step_updated(steps, delta)
    return out


def stream_usage(start: dict[str, Any], delta: dict[str, Any]) -> Usage:
    """``usage_from_anthropic(merge_stream_usage(start, delta))``, the usage of a stream's ``message_start``
    usage object ``start`` updated with a ``message_delta``'s ``delta`` (Messages streaming guide: the delta's
    counts are cumulative), without the merged object made when neither gives an ``iterations`` list (every
    stream without server-side compaction): each member ``usage_from_anthropic`` reads is the delta's unless it
    is absent or null, then the start's; a nested object (``cache_creation``, ``server_tool_use``,
    ``output_tokens_details``) member by member when both give an object, as ``merge_stream_usage`` merges them.
    Members no count reads (``service_tier``, unknown ones) are not looked at. Pure; the same ``Usage``
    (tests/unit/dialects/test_stream_usage34.py: hypothesis against the merge then the read), one code object
    on the stream's last usage where the merge and the read were four (issue 13, session 34: the read before
    ``response.completed`` of a Responses client)."""
    get, said = start.get, delta.get
    if type(get("iterations")) is list or type(said("iterations")) is list:
        return usage_from_anthropic(merge_stream_usage(start, delta))
    # ``cache_creation``: its two parts, each the delta's object's unless absent or null there and the start's
    # an object too (``merge_stream_usage``'s nested merge; a delta's object with a start's non-object is
    # taken whole, nulls and all; a delta's non-object replaces the start's)
    split, before = said("cache_creation"), get("cache_creation")
    if split is None:
        split = before
    if type(split) is dict:
        write_5m, write_1h = split.get("ephemeral_5m_input_tokens"), split.get("ephemeral_1h_input_tokens")
        if type(before) is dict and split is not before:
            if write_5m is None:
                write_5m = before.get("ephemeral_5m_input_tokens")
            if write_1h is None:
                write_1h = before.get("ephemeral_1h_input_tokens")
        said_split = type(write_5m) is int or type(write_1h) is int
        write_5m = write_5m if type(write_5m) is int else 0
        write_1h = write_1h if type(write_1h) is int else 0
    else:
        write_5m = write_1h = 0
        said_split = False
    # the top-level counts and strings: the delta's unless absent or null (then the start's); a value of
    # another type (an object merged or not) counts 0, as ``_counts`` reads it
    input_tokens, output_tokens = said("input_tokens"), said("output_tokens")
    if input_tokens is None:
        input_tokens = get("input_tokens")
    if output_tokens is None:
        output_tokens = get("output_tokens")
    cache_read, write = said("cache_read_input_tokens"), said("cache_creation_input_tokens")
    if cache_read is None:
        cache_read = get("cache_read_input_tokens")
    if write is None:
        write = get("cache_creation_input_tokens")
    if type(write) is not int:  # (``_counts``' rules from here)
        write = write_5m + write_1h
    elif said_split and write_5m + write_1h < write:
        said_split = False
    thinking = _member(said("output_tokens_details"), get("output_tokens_details"), "thinking_tokens")
    searches = _member(said("server_tool_use"), get("server_tool_use"), "web_search_requests")
    geo, speed = said("inference_geo"), said("speed")
    if geo is None:
        geo = get("inference_geo")
    if speed is None:
        speed = get("speed")
    usage = Usage(
        input_tokens if type(input_tokens) is int else 0,
        output_tokens if type(output_tokens) is int else 0,
        cache_read if type(cache_read) is int else 0,
        write,
        thinking if type(thinking) is int else 0,  # reasoning_tokens
        None,  # provider_cost_usd
        write_1h if write_1h < write else write,  # cache_write_1h_tokens
        searches if type(searches) is int else 0,  # web_search_requests
        (),  # iterations
        None,  # reported_total_tokens
        said_split,  # cache_write_split
    )
    if type(geo) is str:
        usage.inference_geo = geo
    if type(speed) is str:
        usage.speed = speed
    return usage


def _member(value: Any, before: Any, name: str) -> Any:
    """The member ``name`` of a nested object as ``merge_stream_usage`` merges the delta's ``value`` over the
    start's ``before`` (``stream_usage``): None when the merged value is no object or has no such member."""
    if value is None:
        return before.get(name) if type(before) is dict else None
    if type(value) is not dict:
        return None
    got = value.get(name)
    if got is None and type(before) is dict:
        return before.get(name)
    return got


def _merged_without_nulls(before: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """``before`` updated with ``value``'s members that are not null (a new dict, in that key order)."""
    merged = dict(before)
    for k, v in value.items():
        if v is not None:
            merged[k] = v
    return merged


_TOP_LEVEL_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _message_step_updated(steps: list[Any], delta: dict[str, Any]) -> list[Any]:
    """``steps`` (an ``iterations`` list) with the last ``message`` entry's counts replaced by the ``delta``'s
    top-level counts it gives (pure; the list as it was when it has no such entry or the delta gives none)."""
    counts = {k: delta[k] for k in _TOP_LEVEL_COUNTS if delta.get(k) is not None}
    for i in range(len(steps) - 1, -1, -1):
        step = steps[i]
        if type(step) is dict and step.get("type") == "message":
            return [*steps[:i], {**step, **counts}, *steps[i + 1 :]] if counts else steps
    return steps


def usage_to_anthropic(u: Usage) -> dict[str, Any]:
    """IR usage → the client-facing Anthropic ``usage`` object (all four counts always present)."""
    out: dict[str, Any] = {
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens,
    }
    if u.cache_write_tokens:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": u.cache_write_tokens - u.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens,
        }
    if u.web_search_requests:
        out["server_tool_use"] = {"web_search_requests": u.web_search_requests}
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def stop_from_anthropic(stop_reason: Any) -> StopReason:
    """An upstream ``stop_reason`` as an IR stop reason (the IR uses Anthropic's vocabulary)."""
    if stop_reason == "model_context_window_exceeded":
        return "max_tokens"
    if isinstance(stop_reason, str) and stop_reason in _STOP_REASONS:
        return stop_reason  # type: ignore[return-value]  # membership checked against the Literal
    return "end_turn"


def status_for_error_type(error_type: str) -> int:
    """The HTTP status Anthropic uses for an error type; unknown types count as 500 ``api_error``."""
    return ERROR_STATUS.get(error_type, 500)


# ---- errors in Anthropic's shape (conformance §2.6) ---------------------------------------------

_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status (502/503 count as ``overloaded_error``)."""
    if status in _TYPE_FOR_STATUS:
        return _TYPE_FOR_STATUS[status]
    if status in (502, 503):
        return "overloaded_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}`` (conformance §2.6)."""
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": anthropic_error_type(status), "message": message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def client_status(status: int) -> int:
    """Anthropic clients expect 529 for an overloaded upstream (their SDKs retry it)."""
    return 529 if status in (502, 503) else status
