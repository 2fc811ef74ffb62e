"""Shared pieces of the OpenAI Chat Completions wire format: usage, finish reasons, errors, ids.

OpenAI, xAI and OpenRouter all speak this format; their quirks (``reasoning`` vs ``reasoning_content``,
numeric error codes, ``usage.cost``) are absorbed here and in the stream decoder.
"""

from __future__ import annotations

import os
import random
from typing import Any

import orjson

from services.gateway.dialects._error_meaning import counts_told, openai_code, provider_message
from services.gateway.dialects.ir import StopReason, StreamError, Usage

FINISH_TO_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    # the context window cut the answer (input and output together): Z.ai's "model_context_window_exceeded"
    # (Anthropic's own stop reason for it, which ``stop_from_anthropic`` reads as max_tokens too;
    # anomalyco/opencode#18813), Mistral's "model_length" (its finish_reason enum, beside "length", the
    # max_tokens budget). A cut answer, not a finished one (s18 variants 10-l, 10-m: they read as end_turn).
    "model_context_window_exceeded": "max_tokens",
    "model_length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

STOP_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


_SPLIT = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")  # Anthropic's TTL split


def _int(value: Any) -> int:
    """A JSON integer, else 0 (``type`` is ``int`` exactly: a decoded JSON value is never a subclass, and
    ``bool`` is not a count)."""
    return value if type(value) is int else 0


def _details(u: dict[str, Any], key: str) -> dict[str, Any]:
    value = u.get(key)
    return value if isinstance(value, dict) else {}


def usage_from_openai(u: dict[str, Any], tier: Any = None) -> Usage:
    """OpenAI/xAI/OpenRouter ``usage`` → disjoint IR buckets (cache reads and writes split out of the prompt).

    ``tier`` is the answer's (or chunk's) top-level ``service_tier``, kept when a string (OpenAI API
    reference, "The chat completion object": the processing tier that served the request).

    Counts are JSON integers, else 0 (as ``_int``), inline: every answer's usage passes here. Audio tokens
    (``prompt_tokens_details.audio_tokens``, ``completion_tokens_details.audio_tokens``) are kept as the audio
    parts of the input and output counts. Cache reads are
    ``prompt_tokens_details.cached_tokens``; when that gives none, the spellings of other servers on this
    wire are read (``_OTHER_CACHE_READ``, the first positive integer). Cache writes are
    ``prompt_tokens_details.cache_write_tokens`` (OpenRouter), else LiteLLM's spellings for Claude behind it
    (``_OTHER_CACHE_WRITE``): like OpenRouter's, parts of ``prompt_tokens``, except writes named only at the top
    (``cache_creation_input_tokens``) that ``prompt_tokens`` less the reads cannot hold: some LiteLLM releases
    leave them out of ``prompt_tokens``, which is then the uncached input plus the reads.

    Web searches: ``server_tool_use.web_search_requests``, Anthropic's object as LiteLLM's proxy relays Claude's
    usage on this wire (its ``Usage.server_tool_use``), billed per search on top of the tokens (Anthropic pricing,
    "Web search tool"; s18 variant 28-e: not counted, the searches were left out of the cost); without it,
    ``prompt_tokens_details.web_search_requests``, where LiteLLM's usage (its ``PromptTokensDetailsWrapper``) holds the
    same count for Claude and Gemini's billed grounding searches (BerriAI/litellm#36397; s18 variants 28-h..28-j: one
    count in two places, never added together).

    Usage whose keys are all OpenAI's own (``_OWN``, and ``_OWN_PROMPT`` in ``prompt_tokens_details``: what
    OpenAI's API reference, "The chat completion object", names) skips the probes of other servers' spellings
    (``own``): none of them can find anything there. One body reads both kinds of usage, so the two cannot drift
    apart (tests/unit/test_openai_usage_fast.py: the same ``Usage`` as with every probe run)."""
    get = u.get
    prompt = get("prompt_tokens_details")
    own = u.keys() <= _OWN and (type(prompt) is not dict or prompt.keys() <= _OWN_PROMPT)
    if type(prompt) is dict:
        cache_read = prompt.get("cached_tokens")
        cache_read = cache_read if type(cache_read) is int else 0
        cache_write = prompt.get("cache_write_tokens")
        if not own and (type(cache_write) is not int or not cache_write):
            cache_write = _other_prompt_write(prompt)
        cache_write = cache_write if type(cache_write) is int and cache_write > 0 else 0
        audio_in = prompt.get("audio_tokens")
        audio_in = audio_in if type(audio_in) is int and audio_in > 0 else 0
    else:
        cache_read = cache_write = audio_in = 0
    top_write = False  # the writes are read from Anthropic's own name at the top (``_OTHER_CACHE_WRITE``)
    split_1h = None
    searches: Any = 0
    cost = None
    if not own:
        if not cache_read:  # another server's spelling (``_OTHER_CACHE_READ``), read inline: a call fewer
            for key in _OTHER_CACHE_READ:
                value = get(key)
                if type(value) is int and value > 0:
                    cache_read = value
                    break
        if not cache_write:
            value = get("cache_creation_input_tokens")
            cache_write = value if type(value) is int and value > 0 else 0
            top_write = cache_write > 0
        if cache_write:
            split_1h = _write_1h(u, prompt)
        tools = get("server_tool_use")
        searches = tools.get("web_search_requests") if type(tools) is dict else 0
        if (type(searches) is not int or searches <= 0) and type(prompt) is dict:
            searches = prompt.get("web_search_requests")  # LiteLLM's other place for the count
        if "cost" in u or _TICKS in u:
            cost = paid_cost(u)
    prompt_tokens = get("prompt_tokens")
    prompt_tokens = prompt_tokens if type(prompt_tokens) is int else 0
    output = get("completion_tokens")
    output = output if type(output) is int else 0
    completion = get("completion_tokens_details")
    total = get("total_tokens")
    total = total if type(total) is int else None
    # a reasoning count stated (even 0), or Perplexity's own counts beside the standard ones (below); asked only of a
    # total above prompt + completion, the one it is evidence about (inline: every answer's usage passes here)
    beside = (
        total is not None
        and total > prompt_tokens + output
        and (
            (type(completion) is dict and "reasoning_tokens" in completion)
            or "reasoning_tokens" in u
            or "citation_tokens" in u
            or "num_search_queries" in u
        )
    )
    if type(completion) is dict:
        reasoning = completion.get("reasoning_tokens")
        audio_out = completion.get("audio_tokens")
        audio_out = audio_out if type(audio_out) is int and audio_out > 0 else 0
    else:
        reasoning = audio_out = 0
    uncached = prompt_tokens - cache_read - cache_write
    if uncached < 0:
        # writes named only at the top that ``prompt_tokens`` cannot hold: LiteLLM's releases whose Anthropic
        # ``calculate_usage`` sums ``input_tokens + cache_read_input_tokens`` alone into ``prompt_tokens``
        # (the writes outside it); the uncached input is then ``prompt_tokens`` less the reads, not 0
        uncached = max(prompt_tokens - cache_read, 0) if top_write else 0
    # every field up to ``counts_beside_stated`` by position, in their order: no keyword (CPython's type call builds
    # a dict of them: a ``Usage`` of fourteen keywords costs ~2,300 instructions more than of ten, and these six
    # ~3,400 more than none, callgrind, session 27); ``min`` of two ints spelled as a test (a call less each).
    # tests/unit/dialects/test_usage_positional27.py holds each field to its name.
    return Usage(
        uncached,  # input_tokens
        output,  # output_tokens
        cache_read,  # cache_read_tokens
        cache_write,  # cache_write_tokens
        reasoning if type(reasoning) is int else 0,  # reasoning_tokens
        cost,  # provider_cost_usd (``paid_cost``: None without a cost)
        min(split_1h, cache_write) if split_1h is not None else 0,  # cache_write_1h_tokens
        searches if type(searches) is int and searches > 0 else 0,  # web_search_requests
        (),  # iterations
        total,  # reported_total_tokens
        split_1h is not None,  # cache_write_split
        None,  # inference_geo
        None,  # speed
        tier if type(tier) is str else None,  # service_tier
        # audio parts of the counts (priced at the audio rates; s17 variant 28-a), never more than the count
        audio_in if audio_in < uncached else uncached,  # audio_input_tokens
        audio_out if audio_out < output else output,  # audio_output_tokens
        0,  # file_search_calls
        beside,  # counts_beside_stated
    )


def _other_prompt_write(prompt: dict[str, Any]) -> Any:
    """Cache writes in ``prompt_tokens_details`` under another server's name (``_OTHER_CACHE_WRITE``): the first
    nonzero integer of LiteLLM's, new-api's and Alibaba DashScope's explicit cache's, else the last one read."""
    cache_write = None
    for key in _OTHER_PROMPT_WRITE:
        cache_write = prompt.get(key)
        if type(cache_write) is int and cache_write:
            break
    return cache_write


# Counts Perplexity states at the top of ``usage`` beside prompt and completion (docs.perplexity.ai, "Pricing":
# sonar-deep-research's ``citation_tokens`` and ``reasoning_tokens`` are billed at their own rates, its searches per
# 1000; ``total_tokens`` is prompt + completion without them). They fit no ledger bucket (reasoning is a part of the
# output there, priced at the output rate: these are not), so the gateway's own prices do not bill them: only the
# ``cost`` the answer states covers them (``usage.cost.total_cost``, ``paid_cost``). Never read as output (bugd21
# variants 29-f, 29-g); read inline in ``usage_from_openai`` (``Usage.counts_beside_stated``): ``reasoning_tokens``,
# ``citation_tokens``, ``num_search_queries``.

# Where servers on the OpenAI wire report cache hits outside ``prompt_tokens_details.cached_tokens``, as
# parts of ``prompt_tokens`` like it: DeepSeek's ``prompt_cache_hit_tokens`` (API docs, "Context Caching";
# ``prompt_cache_miss_tokens`` is the rest), Moonshot/Kimi's top-level ``cached_tokens`` (s11 variants 29-a/b).
# LiteLLM's proxy (and relays that copy it) in front of Claude: Anthropic's ``cache_read_input_tokens`` at the top.
_OTHER_CACHE_READ = ("prompt_cache_hit_tokens", "cached_tokens", "cache_read_input_tokens")
# OpenAI's own usage keys (API reference, "The chat completion object": ``usage``, its
# ``prompt_tokens_details``; ``cache_write_tokens``, ``image_tokens``, ``text_tokens`` as
# ../shared/docs/api-conformance.md has this wire send them): none is a key ``usage_from_openai`` probes for
# another server's spelling, a cost, a search count or a TTL split. ``completion_tokens_details`` is read
# the same for any usage.
_OWN = frozenset(
    (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    )
)
_OWN_PROMPT = frozenset(
    ("cached_tokens", "audio_tokens", "cache_write_tokens", "image_tokens", "text_tokens")
)
# Where LiteLLM's proxy reports Claude's cache writes on the OpenAI wire, as parts of ``prompt_tokens`` (its usage:
# ``prompt_tokens`` = input + cache writes + cache reads): ``prompt_tokens_details.cache_creation_tokens``, with the
# TTL split in ``prompt_tokens_details.cache_creation_token_details``; older releases give only Anthropic's
# ``cache_creation_input_tokens`` at the top of ``usage`` (s17 variants 06-a, 06-b, 06-c: the writes were priced as
# plain input, 1-hour writes at the 5-minute rate).
# QuantumNous/new-api (the one-api fork) relaying Claude: ``prompt_tokens_details.cached_creation_tokens``, the
# TTL split at the top as ``claude_cache_creation_5_m_tokens`` / ``claude_cache_creation_1_h_tokens`` (s17 variant
# 06-f).
# Alibaba Cloud Model Studio (DashScope's OpenAI-compatible API) with explicit context caching (Qwen; its
# "Context cache" docs): ``prompt_tokens_details.cache_creation_input_tokens``, part of ``prompt_tokens``, with
# ``prompt_tokens_details.cache_creation.ephemeral_5m_input_tokens`` beside it (s19 variant 06-t: the writes,
# billed at 125% of input, were priced as plain input).
_OTHER_CACHE_WRITE = (
    "prompt_tokens_details.cache_creation_tokens",
    "prompt_tokens_details.cached_creation_tokens",
    "prompt_tokens_details.cache_creation_input_tokens",
    "cache_creation_input_tokens",
)
# the first three, in the order they are read (``_other_prompt_write``)
_OTHER_PROMPT_WRITE = tuple(k.split(".")[1] for k in _OTHER_CACHE_WRITE[:3])


def _write_1h(u: dict[str, Any], prompt: Any) -> int | None:
    """The 1-hour part of the cache writes, where a provider relays Anthropic's TTL split
    (``cache_creation.ephemeral_1h_input_tokens``) beside OpenAI-style usage: in ``usage`` or in
    ``prompt_tokens_details`` (OpenRouter's SDK names the object ``AnthropicCacheCreation``; LiteLLM's proxy
    ``prompt_tokens_details.cache_creation_token_details``); None when no split is given."""
    for holder, key in _SPLIT_AT:
        place = prompt if holder else u
        split = place.get(key) if type(place) is dict else None
        if type(split) is dict and any(type(split.get(k)) is int for k in _SPLIT):
            return _int(split.get("ephemeral_1h_input_tokens"))
    if any(type(u.get(k)) is int for k in _NEW_API_SPLIT):  # new-api's names, at the top of usage
        return _int(u.get(_NEW_API_SPLIT[1]))
    return None


# (in prompt_tokens_details?, key) of a TTL split, in the order they are looked for
_SPLIT_AT = ((False, "cache_creation"), (True, "cache_creation"), (True, "cache_creation_token_details"))
_NEW_API_SPLIT = (
    "claude_cache_creation_5_m_tokens",
    "claude_cache_creation_1_h_tokens",
)  # (5-minute, 1-hour)


def _number(value: Any) -> float | None:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        else None
    )


# xAI's exact bill for a request, in ticks of 10^-10 USD (xAI docs, "Cost Tracking": after discounts, token and
# server-side tool invocation costs included; chat completions and Responses usage).
_TICKS = "cost_in_usd_ticks"
_TICKS_PER_USD = 10_000_000_000


def _total(cost: Any) -> Any:
    """``usage.cost`` as one number: itself, or an object's ``total_cost`` (Perplexity's chat answers give
    ``{"input_tokens_cost", "output_tokens_cost", "request_cost", "total_cost"}``, the request fee included)."""
    return cost.get("total_cost") if type(cost) is dict else cost


def paid_cost(u: dict[str, Any]) -> float | None:
    """What the user pays for the request by the provider's own account (OpenRouter's usage accounting;
    xAI's ``cost_in_usd_ticks``).

    ``cost`` is what OpenRouter charged to the account; ``cost_details.upstream_inference_cost`` is what the
    upstream provider charged. With BYOK (``is_byok: true``) the user's own key pays the upstream directly and
    ``cost`` is only OpenRouter's fee, so the user pays both; otherwise ``cost`` already covers the upstream.
    None when the provider reports no cost (then the gateway prices the tokens itself).
    """
    cost = _number(_total(u.get("cost")))
    if cost is None:
        ticks = u.get(_TICKS)
        return ticks / _TICKS_PER_USD if type(ticks) is int and ticks >= 0 else None
    upstream = _number(_details(u, "cost_details").get("upstream_inference_cost"))
    return cost + upstream if u.get("is_byok") is True and upstream is not None else cost


def usage_to_openai(u: Usage) -> dict[str, Any]:
    """IR usage → the client-facing OpenAI ``usage`` object; detail counts are integers, never absent."""
    prompt = u.prompt_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def stop_from_finish(finish_reason: str) -> StopReason:
    """An OpenAI ``finish_reason`` as an IR stop reason; anything unknown counts as a normal end."""
    return FINISH_TO_STOP.get(finish_reason, "end_turn")


def finish_from_stop(reason: str, has_tool_calls: bool) -> str:
    """An IR stop reason as an OpenAI ``finish_reason``.

    Upstreams that call tools but say "stop" exist (Gemini via OpenRouter); OpenAI clients expect
    ``tool_calls`` whenever tool calls are present (conformance §1.3).
    """
    finish = STOP_TO_FINISH.get(reason, "stop")
    return "tool_calls" if has_tool_calls and finish == "stop" else finish


def error_type_for_status(status: int) -> str:
    """The Anthropic-style error type the IR uses for an upstream status."""
    if status == 429:
        return "rate_limit_error"
    if status in (502, 503, 529):
        return "overloaded_error"
    return "api_error"


# The context overflow codes an in-band error's readers name in its message when its words do not say it
# (``stream_error_from_openai``, ``_responses_wire.stream_error_from_responses``): the readers get the words alone
# (``_error_meaning.stream_error_meaning``), whose overflow pattern knows these codes. OpenAI's code (error codes guide)
# and Anthropic's stop reason for a full window, which Z.ai also answers with as an error code (``_error_meaning``)
OVERFLOW_CODES_NAMED = ("context_length_exceeded", "model_context_window_exceeded")
# An in-band error's string ``code`` / ``type`` → the HTTP status the same error has as an answer (OpenAI
# error codes guide; the error types of OpenAI's and Anthropic's error objects, which OpenAI-compatible
# servers reuse inside their streams).
_STATUS_OF_WORD: dict[str, int] = {
    "context_length_exceeded": 400,
    "model_context_window_exceeded": 400,
    "invalid_request_error": 400,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "model_not_found": 404,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "overloaded_error": 529,
    # text-generation-inference's ``error_type`` beside a string ``error`` (its router: ``InferError`` → status)
    "validation": 422,
    "template_error": 422,
    "tool_error": 422,
    "overloaded": 429,
}


def _in_band_status(err: dict[str, Any]) -> int:
    """The status of an in-band error: OpenRouter's numeric ``code``, or the same number as a string (LiteLLM's proxy
    streams ``{"error": ProxyException.to_dict()}``, whose ``code`` is ``str(status)``: ``"400"``; s23 variants 10-q,
    10-t: read as 500, its overflows were server faults), else its string ``code`` or ``type`` (xAI and
    OpenAI-compatible servers: ``"code": "context_length_exceeded"``), else 500."""
    code = err.get("code")
    if isinstance(code, str) and len(code) == 3 and code.isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    for word in (code, err.get("type")):
        if isinstance(word, str) and word in _STATUS_OF_WORD:
            return _STATUS_OF_WORD[word]
    return 500


def stream_error_from_openai(error: Any, error_type: Any = None) -> StreamError:
    """An in-band ``{"error": {...}}`` object (OpenAI string codes, OpenRouter numeric codes) → StreamError.

    The status comes from the code (``_in_band_status``). A ``context_length_exceeded`` code whose
    message does not say so itself is named in the message, which is all the error's readers
    (``_error_meaning.stream_error_meaning``) get. OpenRouter's "Provider returned error" gives way to the
    provider's own message in ``metadata.raw``, as in an HTTP error body (``provider_message``); counts the error
    object states in fields of its own (llama.cpp's ``n_prompt_tokens``, ``n_ctx``) join the message, as they do an
    error body's (``counts_told``; s22 variant 10-a). ``error_type``: the chunk's own ``error_type`` beside its
    ``error``, which text-generation-inference gives as a string: its stream's error event is ``{"error": "<text>",
    "error_type": "validation"}`` (its router's ``impl From<InferError> for Event``; it validates a streamed request
    after the 200), the type whose status as an answer is 422 (``_STATUS_OF_WORD``): read as 500, TGI's overflow and
    its ``max_new_tokens`` cap were server faults (s22 variants 10-j, 10-k, 17-f). A 429 keeps
    the error object as its ``body``: it may say when to retry (OpenRouter's ``metadata.headers``); so does an error
    object with fields of its own beyond OpenAI's four (llama.cpp's ``n_prompt_tokens``, ``n_ctx``): a same-format
    client gets them again as fields (``_error_meaning.said_keeping_fields``; fix33 item 4)."""
    err = error if isinstance(error, dict) else {"message": str(error)}
    if isinstance(error_type, str) and "type" not in err:
        err = {**err, "type": error_type}
    status = _in_band_status(err)
    message = provider_message(err) or err.get("message")
    text = message if isinstance(message, str) and message else "upstream error during streaming"
    text = counts_told(err, text)  # llama.cpp's counts in fields of the error object, as in an error body
    code = err.get("code")
    if code in OVERFLOW_CODES_NAMED and "context" not in text.lower():
        text = f"{text} ({code})"
    body = orjson.dumps({"error": err}, default=str) if status == 429 or _fields_of_its_own(err) else b""
    return StreamError(status=status, type=error_type_for_status(status), message=text, body=body)


# The fields of OpenAI's error object (API reference, "Error codes"; ``{"error": {"message", "type", "param",
# "code"}}``): an in-band error with any other keeps its object as its ``StreamError.body``
_OPENAI_ERROR_FIELDS = frozenset({"message", "type", "param", "code"})


def _fields_of_its_own(err: dict[str, Any]) -> bool:
    """Whether the error object ``err`` says more than OpenAI's four fields (llama.cpp's counts)."""
    return not _OPENAI_ERROR_FIELDS.issuperset(err)


_rng = random.Random()  # ``new_id``'s own generator: no random.seed() elsewhere (a test's) repeats its ids
os.register_at_fork(after_in_child=_rng.seed)  # a forked child draws its own bits, fresh from os.urandom
_random_bits = _rng.getrandbits


def new_id(prefix: str) -> str:
    """A fresh id in the style providers use (``chatcmpl-…``, ``call_…``, ``msg_…``): ``prefix`` then 24
    lowercase hex digits, 96 random bits. (It was the first 24 digits of a ``uuid4``, whose fixed version
    digit said nothing; the API references give these ids no format beyond a string. A ``uuid4`` costs
    about four times as much, and a translated stream's encoder makes one before its first write: session
    15.) The bits come from a private ``random.Random`` seeded from ``os.urandom`` at import and again in a
    forked child, as ``shared.events.new_event_id``'s do: an id must be unique, not secret, and this costs
    no ``getrandom`` system call (``os.urandom`` made one per id, one per openai → anthropic stream:
    session 30, issue 13)."""
    return f"{prefix}{_random_bits(96):024x}"


# ---- errors in OpenAI's shape (conformance §1.8; the Responses API uses the same object) --------

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error_type(status: int) -> str:
    """OpenAI's ``error.type`` for an HTTP status: ``server_error`` for 5xx, ``invalid_request_error`` else."""
    return _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``, as OpenAI answers (the request id goes in a header).
    ``code``: the error's own, else OpenAI's for the status (``_error_meaning.openai_code``)."""
    return {
        "error": {
            "message": message,
            "type": openai_error_type(status),
            "param": param,
            "code": code or openai_code(status),
        }
    }


def client_status(status: int) -> int:
    """OpenAI clients get the status as it is."""
    return status
