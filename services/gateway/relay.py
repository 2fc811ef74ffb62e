"""Stream relays: upstream SSE bytes in, client SSE bytes out, usage tapped on the way (pure, no I/O).

Two shapes, chosen by ``make_relay`` from the call's pairing in the format registry:
- passthrough (client and provider speak the same API): the bytes go out as they came (thinking
  signatures, encrypted reasoning and all), or through the client format's frame filter when it has one;
  the wire's decoder only reads them for usage and for the commit decision.
- translation: the wire's decoder → IR deltas → the client format's encoder.
"""

from __future__ import annotations

from services.gateway.dialects import ir
from services.gateway.dialects.registry import FrameFilter, Pairing, StreamDecoder, StreamEncoder
from services.gateway.dialects.view import View
from shared.sse import SSEDecoder, SSEEvent

_CONTENT = (ir.TextDelta, ir.ReasoningDelta, ir.ToolCallStart, ir.ToolArgsDelta)
# Deltas that say nothing yet about whether the answer will succeed.
_PRELUDE = (ir.KeepAlive, ir.MessageStart, ir.UsageUpdate)


class Relay:
    """Base: owns the SSE decoder and the upstream decoder; subclasses decide what the client gets."""

    def __init__(self, pairing: Pairing, view: View) -> None:
        self.pairing = pairing
        self.view = view
        self._sse = SSEDecoder()
        self.decoder: StreamDecoder = pairing.wire.decoder()
        self.saw_content = False  # a token (text, reasoning or tool call) went by: time to first token
        self.started = False  # a token, a finish or an error went by: the gateway can commit to this stream
        self.error: ir.StreamError | None = None

    @property
    def usage(self) -> ir.Usage | None:
        return self.decoder.usage

    @property
    def complete(self) -> bool:
        """The upstream ended its answer."""
        return self.decoder.done

    def feed(self, chunk: bytes) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        raise NotImplementedError

    def fail(self, status: int, message: str) -> bytes:
        """The upstream broke off: an in-stream error in the client's format."""
        self.error = ir.StreamError(status=status, type="api_error", message=message)
        return self.pairing.client.stream_error(status, message)

    def _observe(self, deltas: list[ir.Delta]) -> list[ir.Delta]:
        for d in deltas:
            if isinstance(d, _PRELUDE):
                continue
            self.started = True
            if isinstance(d, _CONTENT):
                self.saw_content = True
            elif isinstance(d, ir.StreamError):
                self.error = d
        return deltas


class Passthrough(Relay):
    """Same API on both sides: bytes go back untouched, or through the client format's frame filter."""

    def __init__(self, pairing: Pairing, view: View) -> None:
        super().__init__(pairing, view)
        self._filter: FrameFilter | None = pairing.client.passthrough_frames

    def feed(self, chunk: bytes) -> bytes:
        events = self._sse.feed(chunk)
        if self._filter is None:
            for ev in events:
                self._observe(self.decoder.feed(ev))
            return chunk
        return b"".join(self._frame(ev) for ev in events)

    def finish(self) -> bytes:
        events = self._sse.flush()
        out = b"".join(self._frame(ev) for ev in events) if self._filter is not None else b""
        if self._filter is None:
            for ev in events:
                self._observe(self.decoder.feed(ev))
        self._observe(self.decoder.finish())
        return out

    def _frame(self, ev: SSEEvent) -> bytes:
        assert self._filter is not None
        return self._filter(ev, self._observe(self.decoder.feed(ev)), self.view)


class Translator(Relay):
    """Different APIs: upstream decoder → IR deltas → client encoder."""

    def __init__(self, pairing: Pairing, view: View) -> None:
        super().__init__(pairing, view)
        self.encoder: StreamEncoder = pairing.client.encoder(view)

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._deltas(self.decoder.feed(ev)) for ev in self._sse.feed(chunk))

    def finish(self) -> bytes:
        out = [self._deltas(self.decoder.feed(ev)) for ev in self._sse.flush()]
        out.append(self._deltas(self.decoder.finish()))
        if self.complete or self.error is not None:  # else the caller ends it with ``fail``
            out.append(self.encoder.finish())
        return b"".join(out)

    def fail(self, status: int, message: str) -> bytes:
        self.error = ir.StreamError(status=status, type="api_error", message=message)
        return self.encoder.feed(self.error) + self.encoder.finish()

    def _deltas(self, deltas: list[ir.Delta]) -> bytes:
        self._observe(deltas)
        if not self.view.reasoning:  # pass reasoning on only to clients that asked
            deltas = [d for d in deltas if not isinstance(d, ir.ReasoningDelta | ir.SignatureDelta)]
        return b"".join(self.encoder.feed(d) for d in deltas)


def make_relay(pairing: Pairing, view: View) -> Relay:
    """The relay for one call on one wire: passthrough when the pairing has no translator."""
    return Passthrough(pairing, view) if pairing.translate is None else Translator(pairing, view)
