"""The gateway's intermediate representation of a model's answer (pure data, no I/O).

Upstream decoders (one per provider wire format) turn what a provider sends into these values; client
encoders (one per client API format) turn them into what the client expects. Translation between N
formats is then 2×N small state machines instead of N² pairwise converters. When the client and the
provider speak the same format the gateway relays bytes untouched and only taps them for usage.

Stop reasons use Anthropic's vocabulary, which is the richer one:
``end_turn | max_tokens | stop_sequence | tool_use | refusal | pause_turn``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"]


@dataclass(slots=True)
class Usage:
    """Token counts in disjoint buckets: ``input_tokens`` excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0  # includes reasoning tokens
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    provider_cost_usd: float | None = None  # what the provider says it charged (OpenRouter), if anything

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt, OpenAI style (cache reads and writes included)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


# ---- stream deltas ------------------------------------------------------------------------------


@dataclass(slots=True)
class MessageStart:
    id: str
    model: str


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class SignatureDelta:
    """The signature that closes an Anthropic thinking block."""

    signature: str


@dataclass(slots=True)
class ToolCallStart:
    index: int  # counts tool calls from 0 within the message
    id: str
    name: str


@dataclass(slots=True)
class ToolArgsDelta:
    index: int
    fragment: str  # a piece of the JSON arguments; the pieces joined parse as a JSON object


@dataclass(slots=True)
class UsageUpdate:
    """Usage so far (cumulative, not an increment). Later updates replace earlier ones."""

    usage: Usage


@dataclass(slots=True)
class Finish:
    reason: StopReason
    stop_sequence: str | None = None


@dataclass(slots=True)
class KeepAlive:
    """The provider is alive but has nothing to say (an SSE comment, an Anthropic ping)."""


@dataclass(slots=True)
class StreamError:
    """The provider reported an error after the stream began."""

    status: int  # the HTTP status this error would have had (529 overloaded, 500 api error, ...)
    type: str  # Anthropic-style error type: api_error | overloaded_error | rate_limit_error | ...
    message: str


Delta = Union[
    MessageStart,
    TextDelta,
    ReasoningDelta,
    SignatureDelta,
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
class ToolUseBlock:
    id: str
    name: str
    input: dict[str, Any]


Block = Union[TextBlock, ThinkingBlock, ToolUseBlock]


@dataclass(slots=True)
class Completion:
    id: str
    model: str
    content: list[Block] = field(default_factory=list)
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
