"""Stream relays: upstream SSE bytes in, client SSE bytes out, usage tapped on the way (pure, no I/O).

Three shapes, chosen by ``make_relay``:
- same format, Anthropic: the bytes go out exactly as they came (thinking signatures and all); the
  decoder only reads them for usage.
- same format, OpenAI chat: frames go out unchanged, except the usage-only chunk that the gateway
  asked for on the client's behalf when the client did not ask for it itself.
- different formats: upstream decoder → IR deltas → client encoder.
"""

from __future__ import annotations

from typing import Protocol

from services.gateway.dialects import anthropic as anth
from services.gateway.dialects import ir
from services.gateway.dialects import openai_chat as oai
from services.gateway.errors import stream_error_frame
from shared.sse import SSEDecoder, SSEEvent, encode_event

_CONTENT = (ir.TextDelta, ir.ReasoningDelta, ir.ToolCallStart, ir.ToolArgsDelta)
# Deltas that say nothing yet about whether the answer will succeed.
_PRELUDE = (ir.KeepAlive, ir.MessageStart, ir.UsageUpdate)


class Decoder(Protocol):
    usage: ir.Usage | None
    done: bool
    model: str | None

    def feed(self, ev: SSEEvent) -> list[ir.Delta]: ...
    def finish(self) -> list[ir.Delta]: ...


class Relay:
    """Base: owns the SSE decoder and the upstream decoder; subclasses decide what the client gets."""

    def __init__(self, client_format: str, decoder: Decoder) -> None:
        self.client_format = client_format
        self._sse = SSEDecoder()
        self.decoder = decoder
        self.saw_content = False  # a token (text, reasoning or tool call) went by: time to first token
        self.started = False  # a token, a finish or an error went by: the gateway can commit to this stream
        self.error: ir.StreamError | None = None

    @property
    def usage(self) -> ir.Usage | None:
        return self.decoder.usage

    @property
    def complete(self) -> bool:
        """The upstream ended its stream properly ([DONE] or message_stop)."""
        return self.decoder.done

    def feed(self, chunk: bytes) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        raise NotImplementedError

    def fail(self, status: int, message: str) -> bytes:
        """The upstream broke off: an in-stream error in the client's format."""
        self.error = ir.StreamError(status=status, type="api_error", message=message)
        return stream_error_frame(self.client_format, status, message)

    def _observe(self, deltas: list[ir.Delta]) -> None:
        for d in deltas:
            if isinstance(d, _PRELUDE):
                continue
            self.started = True
            if isinstance(d, _CONTENT):
                self.saw_content = True
            elif isinstance(d, ir.StreamError):
                self.error = d


class AnthropicPassthrough(Relay):
    def __init__(self) -> None:
        super().__init__("anthropic", anth.MessagesStreamDecoder())

    def feed(self, chunk: bytes) -> bytes:
        for ev in self._sse.feed(chunk):
            self._observe(self.decoder.feed(ev))
        return chunk

    def finish(self) -> bytes:
        for ev in self._sse.flush():
            self._observe(self.decoder.feed(ev))
        self._observe(self.decoder.finish())
        return b""


class OpenAIPassthrough(Relay):
    def __init__(self, include_usage: bool) -> None:
        super().__init__("openai_chat", oai.ChatStreamDecoder())
        self.include_usage = include_usage

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._frame(ev) for ev in self._sse.feed(chunk))

    def finish(self) -> bytes:
        out = b"".join(self._frame(ev) for ev in self._sse.flush())
        self._observe(self.decoder.finish())
        return out

    def _frame(self, ev: SSEEvent) -> bytes:
        deltas = self.decoder.feed(ev)
        self._observe(deltas)
        if ev.comment:
            return b": " + ev.data.encode() + b"\n\n"
        # The usage-only chunk (choices: []) decodes to nothing but a UsageUpdate.
        if not self.include_usage and deltas and all(isinstance(d, ir.UsageUpdate) for d in deltas):
            return b""
        return encode_event(ev.data, ev.event)


class Translator(Relay):
    def __init__(
        self,
        client_format: str,
        decoder: Decoder,
        encoder: oai.ChatStreamEncoder | anth.MessagesStreamEncoder,
        reasoning: bool = True,
    ) -> None:
        super().__init__(client_format, decoder)
        self.encoder = encoder
        self.reasoning = reasoning  # pass reasoning on (as thinking blocks) only to clients that asked

    def feed(self, chunk: bytes) -> bytes:
        out = [self._deltas(self.decoder.feed(ev)) for ev in self._sse.feed(chunk)]
        return b"".join(out)

    def finish(self) -> bytes:
        out = [self._deltas(self.decoder.feed(ev)) for ev in self._sse.flush()]
        out.append(self._deltas(self.decoder.finish()))
        out.append(self.encoder.finish())
        return b"".join(out)

    def fail(self, status: int, message: str) -> bytes:
        self.error = ir.StreamError(status=status, type="api_error", message=message)
        return self.encoder.feed(self.error) + self.encoder.finish()

    def _deltas(self, deltas: list[ir.Delta]) -> bytes:
        self._observe(deltas)
        if not self.reasoning:
            deltas = [d for d in deltas if not isinstance(d, ir.ReasoningDelta | ir.SignatureDelta)]
        return b"".join(self.encoder.feed(d) for d in deltas)


def make_relay(
    client_format: str,
    provider_wire: str,
    model: str,
    include_usage: bool,
    tool_names: dict[str, str] | None = None,
    reasoning: bool = True,
) -> Relay:
    """The relay for a client format and a provider wire format. ``model`` is the client's model name;
    ``reasoning`` False drops the provider's reasoning text (an Anthropic client that did not ask for
    thinking must not get thinking blocks)."""
    if client_format == provider_wire == "anthropic":
        return AnthropicPassthrough()
    if client_format == provider_wire == "openai_chat":
        return OpenAIPassthrough(include_usage)
    decoder: Decoder
    if provider_wire == "anthropic":
        decoder = anth.MessagesStreamDecoder()
    else:
        decoder = oai.ChatStreamDecoder()
    if client_format == "anthropic":
        encoder = anth.MessagesStreamEncoder(model, tool_names=tool_names)
        return Translator(client_format, decoder, encoder, reasoning)
    return Translator(client_format, decoder, oai.ChatStreamEncoder(model, include_usage, tool_names=tool_names))
