"""The gateway's intermediate representation of a model's answer (pure data, no I/O).

Upstream decoders (one per provider wire format) turn what a provider sends into these values; client
encoders (one per client API format) turn them into what the client expects. Translation between N
formats is then 2×N small state machines instead of N² pairwise converters. When the client and the
provider speak the same format the gateway relays bytes untouched and only taps them for usage.

Stop reasons use Anthropic's vocabulary, which is the richer one:
``end_turn | max_tokens | stop_sequence | tool_use | refusal | pause_turn``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, final

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"]


@dataclass(slots=True)
class Usage:
    """What a request billed, in disjoint buckets: ``input_tokens`` excludes cache reads and writes.

    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written with the 1-hour TTL (Anthropic
    prices it 2× input, 5-minute writes 1.25×). ``web_search_requests``: server-side searches, billed per
    search. ``iterations``: when one request ran several billed model calls (Anthropic's server-side
    compaction, a step on another model), each one, and the counts above are their sums; cost is then
    the sum of each iteration's cost at its own model's prices and tier.
    """

    input_tokens: int = 0
    output_tokens: int = 0  # includes reasoning tokens
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes, 1-hour ones included
    reasoning_tokens: int = 0
    provider_cost_usd: float | None = None  # what the user pays according to the provider (OpenRouter)
    cache_write_1h_tokens: int = 0
    web_search_requests: int = 0
    iterations: tuple[Iteration, ...] = ()
    # The upstream's own ``total_tokens`` (OpenAI wire), None when not stated: the evidence of where a
    # provider counts reasoning (``Provider.usage``); not a bucket, so not compared.
    reported_total_tokens: int | None = field(default=None, compare=False)
    # Whether the provider said how its cache writes split by TTL (Anthropic's ``cache_creation`` object):
    # then ``cache_write_1h_tokens`` is its account, never to be replaced by a guess from the request's
    # markers (``calls.event_for``); not a bucket, so not compared.
    cache_write_split: bool = field(default=False, compare=False)
    # Where the provider says the request ran when that changes its price (Anthropic's
    # ``usage.inference_geo``: "us" is US-only inference, ``shared.pricing.geo_multiplier``); None when not
    # stated. Not a bucket, so not compared.
    inference_geo: str | None = field(default=None, compare=False)
    # The speed tier that served the request when that changes its price (Anthropic's ``usage.speed``:
    # "fast" is fast mode, "standard" the list price, ``shared.pricing.speed_multiplier``); None when not
    # stated. Not a bucket, so not compared.
    speed: str | None = field(default=None, compare=False)
    # The OpenAI service tier that served the request (Chat Completions' top-level ``service_tier``,
    # Responses' ``response.service_tier``: "default", "auto", "flex", "priority", "scale"), priced with
    # genai-prices' variant for it (``shared.pricing.Pricer.tier_rates``); None when not stated. Not a
    # bucket, so not compared.
    service_tier: str | None = field(default=None, compare=False)
    # The audio parts of ``input_tokens`` and ``output_tokens`` (OpenAI's ``prompt_tokens_details.audio_tokens``
    # and ``completion_tokens_details.audio_tokens``: gpt-audio, gpt-4o-audio-preview, gpt-realtime), billed at
    # the model's audio rates (``shared.pricing.ModelRates.audio_extra``)
    # (last: positional constructions name the fields before them)
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    # File search tool calls a Responses answer ran (its ``file_search_call`` output items), billed per call on top of
    # the tokens (``shared.pricing.FILE_SEARCH_USD_PER_CALL``)
    file_search_calls: int = 0
    # Whether the answer states a reasoning count (OpenAI's ``completion_tokens_details.reasoning_tokens``, even 0;
    # Perplexity's top-level ``reasoning_tokens``) or counts beside prompt and completion (Perplexity's
    # ``citation_tokens``): then a ``reported_total_tokens`` above prompt + completion is not thoughts left uncounted
    # (``providers.base.reasoning_as_output``) but what those counts name, or Gemini's tool-use prompt (grounding):
    # never output. Evidence, not a bucket, so not compared.
    counts_beside_stated: bool = field(default=False, compare=False)
    # The key under which these tokens are billed once, whoever reports them and however often: a background
    # Responses answer in a terminal status (``_responses_wire.billed_usage``: its response id). The ledger event
    # that carries them takes an id derived from it (``calls.row_for``, ``shared.events.keyed_event_id``), so
    # the create call's stream and every later retrieve make one row between them. None: an ordinary answer.
    # Not a bucket, so not compared.
    billed_once_as: str | None = field(default=None, compare=False)

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt, OpenAI style (cache reads and writes included)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True, slots=True)
class Iteration:
    """One billed model call inside a request. ``model``: None when it ran on the request's model."""

    usage: Usage
    model: str | None = None


def summed(parts: list[Usage]) -> Usage:
    """The bucket-wise sum of several usages (``provider_cost_usd`` summed when any is known)."""
    costs = [p.provider_cost_usd for p in parts if p.provider_cost_usd is not None]
    return Usage(
        input_tokens=sum(p.input_tokens for p in parts),
        output_tokens=sum(p.output_tokens for p in parts),
        cache_read_tokens=sum(p.cache_read_tokens for p in parts),
        cache_write_tokens=sum(p.cache_write_tokens for p in parts),
        reasoning_tokens=sum(p.reasoning_tokens for p in parts),
        provider_cost_usd=sum(costs) if costs else None,
        cache_write_1h_tokens=sum(p.cache_write_1h_tokens for p in parts),
        web_search_requests=sum(p.web_search_requests for p in parts),
        cache_write_split=any(p.cache_write_split for p in parts),
        file_search_calls=sum(p.file_search_calls for p in parts),
    )


# ---- stream deltas ------------------------------------------------------------------------------
# Final: the relay and the encoders tell deltas apart by ``type(d) is …`` (no isinstance call per kind).


@final
@dataclass(slots=True)
class MessageStart:
    id: str
    model: str


@final
@dataclass(slots=True)
class TextDelta:
    text: str


@final
@dataclass(slots=True)
class ReasoningDelta:
    text: str


@final
@dataclass(slots=True)
class SignatureDelta:
    """The signature that closes an Anthropic thinking block."""

    signature: str


@final
@dataclass(slots=True)
class RedactedThinking:
    """An Anthropic ``redacted_thinking`` block, whole: its encrypted ``data`` (no text; Claude sends it in
    the block's ``content_block_start``). Only a client that can carry it back unchanged keeps it (a
    Responses client, in ``reasoning.encrypted_content``): Anthropic refuses a tool turn whose thinking
    blocks were changed (extended-thinking docs, "Preserving thinking blocks")."""

    data: str


@final
@dataclass(slots=True)
class ToolCallStart:
    index: int  # counts tool calls from 0 within the message
    id: str
    name: str
    # the provider's opaque signature on the call, to be given back with it on the next turn (Gemini 3's thought
    # signature: ``_call_signature``); None when it has none
    signature: str | None = None


@final
@dataclass(slots=True)
class ToolArgsDelta:
    index: int
    fragment: str  # a piece of the JSON arguments; the pieces joined parse as a JSON object


@final
class UsageUpdate:
    """Usage so far (cumulative, not an increment). Later updates replace earlier ones.

    ``usage`` is given (``UsageUpdate(usage)``), or made when first read (``UsageUpdate.later(make)``:
    ``make()`` is called once, then its value kept). A wire that states usage in several frames of one
    stream (Anthropic: ``message_start`` and ``message_delta``) converts only those whose usage someone
    reads: a chat or Responses client keeps only the last, the ledger reads the decoder's at the end
    (session 22). ``make`` must be pure over values nobody changes afterwards, so reading sooner or later
    gives the same ``Usage``. Equal when the usages are (a dataclass's equality, as before)."""

    __slots__ = ("_usage", "make")
    __match_args__ = ("usage",)

    def __init__(self, usage: Usage) -> None:
        self._usage: Usage | None = usage
        # what makes ``usage`` when first read; None once it is made (a given usage: None)
        self.make: Callable[[], Usage] | None = None

    @classmethod
    def later(cls, make: Callable[[], Usage]) -> UsageUpdate:
        """The update whose usage is ``make()``, called when ``usage`` is first read."""
        update = cls.__new__(cls)
        update._usage = None
        update.make = make
        return update

    @property
    def usage(self) -> Usage:
        # (a property, not a ``__getattr__`` for a slot left unset: that costs an AttributeError made and
        # dropped at each first read, measured worse on the Anthropic wire's paths; session 22)
        usage = self._usage
        if usage is None:
            usage = self._usage = self.make()  # type: ignore[misc]  # (``make`` is set while ``_usage`` is not)
            self.make = None
        return usage

    def __eq__(self, other: object) -> bool:
        if type(other) is not UsageUpdate:
            return NotImplemented
        return self.usage == other.usage

    __hash__ = None  # type: ignore[assignment]  # (mutable, as the dataclass was: unhashable)

    def __repr__(self) -> str:
        return f"UsageUpdate(usage={self.usage!r})"


@final
@dataclass(slots=True)
class Finish:
    """The answer's end. ``filtered``: a ``refusal`` that a provider's content filter or safety classifier
    made (OpenAI ``finish_reason: "content_filter"``, Responses ``incomplete_details.reason:
    "content_filter"``, Anthropic ``stop_reason: "refusal"``, which its docs describe as streaming
    classifiers intervening), not the model declining in its own words (Chat ``message.refusal`` with
    ``finish_reason: "stop"``, a Responses ``refusal`` content part in a completed response). Only the
    Responses API tells the two apart on the wire (``incomplete`` vs ``completed``)."""

    reason: StopReason
    stop_sequence: str | None = None
    filtered: bool = False


@final
@dataclass(slots=True)
class KeepAlive:
    """The provider is alive but has nothing to say (an SSE comment, an Anthropic ping)."""


@final
@dataclass(slots=True)
class StreamError:
    """The provider reported an error after the stream began."""

    status: int  # the HTTP status this error would have had (529 overloaded, 500 api error, ...)
    type: str  # Anthropic-style error type: api_error | overloaded_error | rate_limit_error | ...
    message: str
    # the provider's error object as an error body (``{"error": {...}}`` JSON), for what else it says: when
    # to retry a 429 (OpenRouter's ``metadata.headers``, ``routing.health.retry_after_seconds``); b"" if none
    body: bytes = field(default=b"", compare=False, repr=False)
    # the output tokens the refused request asked for (its max_tokens as sent, ``limits.asked_output_tokens``),
    # set by the relay (``Relay.sent``): an overflow counting prompt and output together is restated as the
    # prompt's (``_error_meaning.words_for_anthropic``), as for a refusal with a status; None when unknown
    asked_output: int | None = field(default=None, compare=False)


Delta = Union[
    MessageStart,
    TextDelta,
    ReasoningDelta,
    SignatureDelta,
    RedactedThinking,
    ToolCallStart,
    ToolArgsDelta,
    UsageUpdate,
    Finish,
    KeepAlive,
    StreamError,
]


# ---- whole (non-streamed) answers ---------------------------------------------------------------


@dataclass(slots=True)
class TextBlock:
    text: str


@dataclass(slots=True)
class ThinkingBlock:
    thinking: str
    signature: str = ""


@dataclass(slots=True)
class RedactedThinkingBlock:
    """An Anthropic ``redacted_thinking`` block (``RedactedThinking``)."""

    data: str


@dataclass(slots=True)
class ToolUseBlock:
    id: str
    name: str
    input: dict[str, Any]
    signature: str | None = None  # as ``ToolCallStart.signature``


Block = Union[TextBlock, ThinkingBlock, RedactedThinkingBlock, ToolUseBlock]
REASONING_BLOCKS = (ThinkingBlock, RedactedThinkingBlock)  # what a client that asked for no reasoning loses


@dataclass(slots=True)
class Completion:
    id: str
    model: str
    content: list[Block] = field(default_factory=list)
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    filtered: bool = False  # as ``Finish.filtered``
    usage: Usage = field(default_factory=Usage)
