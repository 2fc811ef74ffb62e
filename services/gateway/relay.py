"""Stream relays: upstream SSE bytes in, client SSE bytes out, usage tapped on the way (pure, no I/O).

Two shapes, chosen by ``make_relay`` from the call's pairing in the format registry:
- passthrough (client and provider speak the same API): the bytes go out as they came (thinking
  signatures, encrypted reasoning and all), or through the client format's frame filter when it has one;
  the wire's decoder only reads them for usage and for the commit decision.
- translation: the wire's decoder → IR deltas → the client format's encoder.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

from services.gateway.dialects import ir
from services.gateway.dialects._opening import Opening
from services.gateway.dialects.registry import (
    FrameFilter,
    Pairing,
    PassFrames,
    ScanRule,
    StreamDecoder,
    StreamEncoder,
    TailPlan,
)
from services.gateway.dialects.view import View
from services.gateway.providers.limits import asked_output_tokens
from services.gateway.routing.health import retry_after_seconds
from shared.sse import SSEDecoder, SSEEvent, reencode, usual_frame

# Delta kinds by exact type (the IR's delta classes are final: ``type(d) in`` a set is isinstance's
# answer, without a call per delta per kind).
_CONTENT: frozenset[type] = frozenset({ir.TextDelta, ir.ReasoningDelta, ir.ToolCallStart, ir.ToolArgsDelta})
_REASONING: frozenset[type] = frozenset({ir.ReasoningDelta, ir.SignatureDelta, ir.RedactedThinking})


UsageRule = Callable[[ir.Usage], ir.Usage]
TextOf = Callable[[SSEEvent], "str | None"]
TextFrame = Callable[[str], "bytes | None"]
TokenData = Callable[[str], bool]
# ``token_event``'s ``run``: the count of token frames at a position of a read and the position after them
TokenRun = Callable[[bytes, int], "tuple[int, int]"]
TextRun = Callable[[bytes, int], "tuple[list[bytes], int] | None"]
TextFrames = Callable[[list[bytes]], "bytes | None"]
DataTap = Callable[[bytes], "list[ir.Delta] | None"]
FrameBatch = Callable[[Any, bytes, int, bool], "tuple[list[ir.Delta], int]"]


_NONE: frozenset[str] = frozenset()


def _as_reported(usage: ir.Usage) -> ir.Usage:
    return usage


def _never(ev: SSEEvent) -> bool:
    return False


def _not_inert(data: str) -> bool:
    return False


def _not_inert_data(data: bytes) -> bool:
    return False


def _never_marked(data: str) -> bool:
    raise AssertionError("a quiet name on a wire without a mark test")


class Relay:
    """Base: owns the SSE decoder and the upstream decoder; subclasses decide what the client gets.

    ``usage_rule``: the provider's usage convention (``Provider.usage``), applied to every usage the wire's
    decoder reports, so the ledger and a translated client see the same counts."""

    # One relay is made per stream: slots, no instance dict to build and grow (about a third of an
    # instance's making, measured with 27 attributes; session 13)
    __slots__ = (
        "pairing",
        "view",
        "_usage_rule",
        "_sse",
        "decoder",
        "saw_content",
        "started",
        "error",
        "delivered",
        "events",
        "_opened",
        "sent",
        "finished",
    )

    def __init__(self, pairing: Pairing, view: View, usage_rule: UsageRule = _as_reported) -> None:
        self.pairing = pairing
        self.view = view
        self._usage_rule = usage_rule
        self._sse = SSEDecoder()
        self.decoder: StreamDecoder = pairing.wire.decoder()
        self.saw_content = False  # a token (text, reasoning or tool call) went by: time to first token
        self.started = False  # a token, a finish or an error went by: the gateway can commit to this stream
        self.error: ir.StreamError | None = None
        self.delivered = False  # the client was sent the whole answer, its closing event included
        self.events = 0  # deltas seen other than keep-alives: progress (a trickle of comments is none)
        self._opened = False  # the decoder reported the message's start (``ir.MessageStart``)
        # the request body sent upstream (``Attempt.sent``), read only when an error comes: the output tokens it
        # asked for go with the error (``ir.StreamError.asked_output``) to restate an overflow's count
        self.sent = b""
        self.finished = False  # ``end`` ran: the body's end was read (``finish``), its bytes given once

    @property
    def usage(self) -> ir.Usage | None:
        usage = self.decoder.usage
        return None if usage is None else self._usage_rule(usage)

    def read_usage(self) -> ir.Usage:
        """``usage``, zero counts when the stream reported none: what the ledger event records, read when
        the event is built (``Attempt.read_usage``), off the answer's path (session 20). Read after the
        stream has ended: nothing feeds the relay then, so it is what ``usage`` said at the end."""
        usage = self.decoder.usage
        return ir.Usage() if usage is None else self._usage_rule(usage)

    @property
    def complete(self) -> bool:
        """The upstream ended its answer."""
        return self.decoder.done

    @property
    def between_events(self) -> bool:
        """Nothing of an upstream event is pending: the last read ended at an event's end."""
        return self._sse.at_boundary

    @property
    def passthrough(self) -> bool:
        """The upstream's own bytes (and so its closing event) reach the client as they arrive."""
        return self.pairing.translate is None

    def feed(self, chunk: bytes) -> bytes:
        raise NotImplementedError

    def feed_last(self, chunk: bytes) -> bytes:
        """``feed`` of a read after which the upstream's body has ended (``upstream.Chunks.ended``): the
        same bytes, and the same facts once ``settle`` has run. A relay may leave part of the read's
        decoding to ``settle`` (``unsettled``) when the bytes it returns are, by a test on the bytes
        alone, the client's whole rest of the answer: ``finish`` then adds nothing. The caller ends the
        client's answer with them, then calls ``settle`` (and ``finish``) before it reads any fact of the
        stream (usage, model, error, completion, progress)."""
        return self.feed(chunk)

    @property
    def unsettled(self) -> bool:
        """``feed_last`` left frames to decode (``settle``): the relay's facts are not yet the stream's."""
        return False

    def settle(self) -> None:
        """Decode what ``feed_last`` left (nothing when not ``unsettled``); returns no bytes: the client
        has them already."""

    @property
    def has_rest(self) -> bool:
        """The last ``feed`` stopped after the stream's first token, the rest of its read not yet
        translated (``rest``)."""
        return False

    def rest(self) -> bytes:
        """The client's bytes for the events the last ``feed`` left after the first token (b"" when
        none). ``feed``, ``finish``, ``fail`` and ``keepalive`` put them first when not taken: the bytes
        in order are the same whether this is called or not; calling it between a first write and the
        next is what gets the first token to the client before the rest of its read is translated."""
        return b""

    def finish(self) -> bytes:
        """End of the upstream body. When the answer is not ``complete`` (and no error came), the caller
        ends the client's stream with ``fail``."""
        raise NotImplementedError

    def end(self) -> bytes:
        """``finish``, once: the client's bytes of the body's end; b"" when it has run (``Proxy.until_committed``
        reads the end of a body that ended inside its last event before the first token, and ``Proxy._pump``
        ends the answer after it)."""
        if self.finished:
            return b""
        self.finished = True
        return self.finish()

    @property
    def inside_event(self) -> bool:
        """The body so far ends inside an event whose lines came whole: its blank line not read, or its last line's
        break (``SSEDecoder.ends_whole``: a whole JSON text). False between events and inside a line cut short (half
        a JSON text: a body that stops there was cut off, ``finish``'s broken stream)."""
        sse = self._sse
        return not sse.at_boundary and (not sse.mid_line or sse.ends_whole)

    def keepalive(self) -> bytes:
        """What the client gets while the upstream is silent: its format's keep-alive, only between two
        events (never inside one the upstream has half sent)."""
        return self.pairing.client.keepalive if self._sse.at_boundary else b""

    def resume(self, opening: Opening) -> None:
        """This relay continues a client stream begun for an earlier route that failed before its first
        token: the client has ``opening.frames`` events of its format's opening (``ClientSpec.opening``) and
        keep-alives, nothing else. With frames > 0 the client gets none of this upstream's own opening
        (its frames, or the encoder's), and the answer keeps the opening's id; with 0 this relay writes its
        answer as usual. Call before ``feed``."""
        raise NotImplementedError

    def fail(self, status: int, message: str, error_type: str = "api_error") -> bytes:
        """The upstream broke off: an in-stream error in the client's format."""
        self.error = ir.StreamError(status=status, type=error_type, message=message)
        return self.pairing.client.stream_error(status, message)


def _ruled(rule: UsageRule, update: ir.UsageUpdate) -> ir.Usage:
    """``rule`` applied to ``update``'s usage: the make of a ruled update made when read
    (``ir.UsageUpdate.later(functools.partial(_ruled, rule, update))``, ``Translator._deltas``): a client that
    keeps only the last update, and the ledger that reads the decoder's, rule none of the others. The rules
    are pure (``Provider.usage``: a new value, never a mutation): the usage is the same whenever it is read.
    (A ``partial`` of this, not a closure through a helper: ~1.1k instructions less a wrap, callgrind; session 33)"""
    return rule(update.usage)


# What a passthrough relay sets from its pairing alone (``Passthrough._make_plan``): the wire's token names,
# scan rule, mark test, quiet and inert names, repair, whether short reads are split as frames, the frame tap,
# and the token, quiet and inert names as event lines. Made once per (relay class, pairing, filtered) and kept
# here: building them was about half of making a relay (callgrind, session 24).
_PairingPlan = tuple[
    frozenset[str],
    ScanRule | None,
    Callable[[str], bool] | None,
    frozenset[str],
    frozenset[str],
    Callable[[StreamDecoder, SSEEvent], tuple[bytes, bytes]] | None,
    bool,
    Callable[[Any, bytes], "list[ir.Delta] | None"] | None,
    frozenset[bytes],
    frozenset[bytes],
    frozenset[bytes],
]
_PLANS: dict[tuple[type, int, bool], tuple[Pairing, _PairingPlan]] = {}
_MAX_PLANS = 64


class Passthrough(Relay):
    """Same API on both sides, read by scanning bytes once the stream has its first token.

    Until then (and once it has finished or failed) each whole event is decoded, one at a time, as
    ``EventPassthrough`` does with every read: the first token stamps TTFT and commits the stream, and the
    early commit on silence sees every keep-alive. After it, each upstream read (of ``min_frames`` events
    or more) goes to the client as it came, in one write, and only what its ``WireSpec.scan`` rule finds
    is decoded: the event an earlier read left unfinished, the frames that can carry usage, a finish, an error or a keep-alive (``dialects._scan``
    argues why none is missed), and the start of an event the read leaves unfinished (kept by the SSE
    decoder, so ``keepalive``'s boundary and ``finish``'s cut-off test stay exact). Every other frame
    counts as one event of progress. With a frame filter (``registry.PassFrames``), the filter sees every
    decoded frame, and the scanned ones, the token-only ones and the quiet ones it leaves ``untouched``
    pass unchanged (they carry no usage, finish, error or keep-alive: tokens, and for chat role chunks,
    which no frame filter changes); the wire's ``repair_stream`` frames are added around the event that
    ended the answer (chat: blank tool arguments made "{}", bugcase 01-k)."""

    # Reads that end fewer events than this are decoded event by event: the scan's fixed cost (finding
    # the first token, then each loud frame) is about that of decoding 8 to 16 token events (calls per
    # stream, one read: ``tests/unit/test_passthrough_scan.py``'s streams, measured in the commit).
    min_frames = 16
    # Frames of the wire's quiet names (``WireSpec.quiet_events``) pass undecoded once the stream has its
    # first token, in short reads too (``_quiet_event``): the closing frames of a short Responses answer
    # are most of what the decoder read after its first token.
    skips_quiet = True
    # Frames of the wire's inert names (``WireSpec.inert_events``) that the decoder says, from their data,
    # would leave it as it is pass undecoded, before the first token too (``_feed_events``, ``_feed_frames``)
    skips_inert = True
    # Short reads of whole frames are split into frames as bytes, an ``SSEEvent`` made only for a frame
    # the decoder reads: unfiltered ones of named frames (``_feed_frames``), and filtered ones of unnamed
    # frames on a wire whose token test reads data alone (``_feed_data_frames``)
    reads_frames = True
    __slots__ = (
        "_filter",
        "_untouched",
        "_content_only",
        "_token_event",
        "_rule",
        "_skipped",
        "_repair",
        "_mended",
        "_quiet_names",
        "_marked",
        "_inert_names",
        "_inert",
        "_inert_data",
        "_held",
        "_frames_read",
        "_frame_tap",
        "_token_names",
        "_quiet_bytes",
        "_inert_bytes",
        "_token_data",
        "_token_run",
        "_opening",
        "_sent",
        "_answer_id",
        "_later",
        "_tail",
        "_later_tail",
        "_head",
        "_guard",
        "_odd_start",
        "_kept",
    )

    def __init__(self, pairing: Pairing, view: View, usage_rule: UsageRule = _as_reported) -> None:
        super().__init__(pairing, view, usage_rule)
        # The body's first bytes while they may still be the start of a UTF-8 byte order mark (``_unmarked``);
        # None once the body's start is behind
        self._head: bytes | None = b""
        self._opening: Opening | None = None  # ``resume``'s, with frames
        self._kept = 0  # numbered keep-alive events this relay put in the stream (``keepalive``)
        # The last bytes ``feed`` gave the client that hold an event's data (none: b"") and the answer's id its
        # opening gave (the decoder's ``MessageStart``): what an error after the answer began must go on from
        # (``fail``)
        self._sent = b""
        self._answer_id: str | None = None
        # ``feed_last``'s read (or the part of it split so far) and its split lines (None: not split), the
        # first frame not yet decoded, and the read's bytes after that part (``settle``, ``_feed_opening``)
        self._later: tuple[bytes, list[bytes] | None, int, bytes] | None = None
        # Filtered: ``feed_last``'s decoding of the read's last frames, for ``settle`` (``PassFrames.tail``)
        self._later_tail: Callable[[], list[ir.Delta]] | None = None
        frames = pairing.client.passthrough_frames(view)
        self._filter: FrameFilter | None = None if frames is None else frames.keep
        # Unfiltered: the client format's test of each read and the filter it turns on (``ClientSpec.blank_guard``,
        # ``_guarded``); None once filtered
        self._guard = pairing.client.blank_guard if frames is None else None
        # ... and its test of a read that starts at a frame's start (``ClientSpec.odd_start``)
        self._odd_start = pairing.client.odd_start
        self._tail: TailPlan | None = None if frames is None else frames.tail
        # Events the filter returns as they came (``PassFrames.untouched``): quiet ones may skip it
        self._untouched = _never if frames is None or frames.untouched is None else frames.untouched
        token_event = pairing.wire.token_event
        self._token_event = None if token_event is None else token_event(self.decoder)  # its own
        self._skipped = False  # frames went by undecoded: the decoder no longer knows all that came
        self._mended: tuple[SSEEvent, bytes, bytes] | None = None  # (event, before, after) to place
        # What the pairing alone decides (``_PairingPlan``: made once per relay class, pairing and filter's
        # presence, session 24)
        (
            self._content_only,
            self._rule,
            self._marked,
            self._quiet_names,
            self._inert_names,
            self._repair,
            self._frames_read,
            self._frame_tap,
            self._token_names,
            self._quiet_bytes,
            self._inert_bytes,
        ) = self._plan(frames is not None)
        # Frames the decoder tells from their data would leave it as it is (``WireSpec.inert_events``,
        # its ``inert``): let by undecoded, before the first token too (none for the reference relay)
        inert = self._inert_names
        self._inert: Callable[[str], bool] = (
            getattr(self.decoder, "inert", _not_inert) if inert else _not_inert
        )
        # ... the same test of a frame's data bytes, for ``_feed_frames`` (the decoder's ``inert_data``; else
        # ``inert`` of the data's text)
        self._inert_data: Callable[[bytes], bool] = (
            getattr(self.decoder, "inert_data", self._inert_text) if inert else _not_inert_data
        )
        # Unfiltered: the start of an unfinished event, not yet written, in the pieces it came in
        # (``_whole_events``)
        self._held: list[bytes] = []
        # ``_feed_data_frames`` reads this stream's short reads: filtered, on a wire whose token test
        # (``token_event``) reads an event's data alone (its ``data`` method)
        # (asked only of such a wire: ``getattr`` of a missing attribute raises and catches an exception)
        reads = self.reads_frames and self._filter is not None and self._token_event is not None
        self._token_data: TokenData | None = getattr(self._token_event, "data", None) if reads else None
        self._token_run: TokenRun | None = getattr(self._token_event, "run", None) if reads else None

    def _plan(self, filtered: bool) -> _PairingPlan:
        """This relay's ``_PairingPlan`` for its pairing, with a frame filter or without (made once)."""
        key = (type(self), id(self.pairing), filtered)
        known = _PLANS.get(key)
        if known is not None and known[0] is self.pairing:  # (the entry keeps its pairing: no id reused)
            return known[1]
        plan = self._make_plan(filtered)
        if len(_PLANS) < _MAX_PLANS:  # (a test's own pairings beyond that: made per relay)
            _PLANS[key] = (self.pairing, plan)
        return plan

    def _make_plan(self, filtered: bool) -> _PairingPlan:
        """What ``__init__`` and ``_use_frames`` set from the pairing, the class's switches and whether a frame
        filter is used, and nothing else: the same for every stream of a pairing (``_plan`` keeps it)."""
        wire = self.pairing.wire
        content_only = wire.content_events
        rule = wire.scan
        marked = None if rule is None else rule.marked
        # Names whose frames ``_quiet_event`` may let by undecoded (none for the reference relay)
        quiet = wire.quiet_events if self.skips_quiet and marked is not None else _NONE
        inert = wire.inert_events if self.skips_inert else _NONE
        # The wire's repair of a finished stream (``WireSpec.repair_stream``), added around the event that
        # ended the answer; only through a frame filter, which sends whole events.
        repair = wire.repair_stream if filtered else None
        # ``_feed_frames`` reads this stream's short reads: unfiltered, on a wire that names its token or
        # quiet events (the frames it can let by without an ``SSEEvent``)
        frames_read = self.reads_frames and not filtered and bool(content_only)
        return (
            content_only,
            rule,
            marked,
            quiet,
            inert,
            repair,
            frames_read,
            # the wire's ``feed`` of a frame's data bytes (``WireSpec.frame_tap``), for ``_feed_frames``
            wire.frame_tap if frames_read else None,
            _event_lines(content_only) if frames_read else _NO_NAMES,
            _event_lines(quiet) if frames_read else _NO_NAMES,
            _event_lines(inert) if frames_read else _NO_NAMES,
        )

    def _observe(self, deltas: list[ir.Delta]) -> list[ir.Delta]:
        # what ``Translator._deltas`` notes of each delta, without a usage rule to apply (a passthrough client gets
        # the upstream's own bytes, ``usage`` applies the rule when read; a frame filter reads a delta's kind only,
        # ``registry.FrameFilter``): ``deltas`` as they came
        for d in deltas:
            kind = type(d)
            if kind is ir.KeepAlive:
                continue
            self.events += 1
            if kind is ir.UsageUpdate:
                continue
            if kind is ir.MessageStart:
                self._opened = True
                self._answer_id = d.id  # type: ignore[union-attr]  # (kind is MessageStart: no call to narrow)
                continue
            self.started = True
            if kind in _CONTENT:
                self.saw_content = True
            elif type(d) is ir.StreamError:
                self.error = d
        return deltas

    def resume(self, opening: Opening) -> None:
        """With an opening sent (``opening.frames``), the client format's filter for a stream that continues
        it (``ClientSpec.resumed``: this upstream's own opening dropped, its ids made the opening's) goes
        in front of this call's own one, and the relay reads as any filtered one does."""
        if opening.frames:
            self._opening = opening
            own = self.pairing.client.passthrough_frames(self.view)
            if (
                own is None and self._guard is not None
            ):  # (resumed streams are filtered: the guard's filter too)
                own = self._guard[1]
            self._guard = None
            self._filter_every_frame(self.pairing.client.resumed(opening, own))

    def _filter_every_frame(self, frames: PassFrames) -> None:
        """``frames`` as the filter of every upstream event, as a filter that renumbers or re-ids them needs: none
        passes it by name or by a token scan (token frames pass a filter unchanged, ``_token_only``; the scan passes
        quiet frames as bytes, ``_scan``). fix28: a resumed Responses stream's token frames after the first kept
        their upstream numbers (a repeat once an earlier route's opening took more than two)."""
        self._content_only, self._token_event, self._rule = _NONE, None, None
        self._use_frames(frames)

    def _use_frames(self, frames: PassFrames | None) -> None:
        """What ``__init__`` sets from the call's frame filter, set again for ``frames``."""
        self._filter = None if frames is None else frames.keep
        self._tail = None if frames is None else frames.tail
        self._untouched = _never if frames is None or frames.untouched is None else frames.untouched
        plan = self._plan(frames is not None)
        self._repair, self._frames_read, self._frame_tap = plan[5:8]
        self._token_names, self._quiet_bytes, self._inert_bytes = plan[8:]
        reads = self.reads_frames and self._filter is not None and self._token_event is not None
        self._token_data = getattr(self._token_event, "data", None) if reads else None
        self._token_run = getattr(self._token_event, "run", None) if reads else None

    def _guarded(self) -> None:
        """The stream goes through the guard's filter from this read on (``ClientSpec.blank_guard``): the bytes
        before went as they came; the start of an unfinished event held back (``_whole_events``) is dropped,
        as the filter writes that event whole once it ends (the SSE decoder has it)."""
        assert self._guard is not None
        frames = self._guard[1]
        self._guard = None
        self._held.clear()
        self._use_frames(frames)

    def _watched(self, chunk: bytes, data_lines: int, split: bool) -> list[bytes] | None:
        """The guard's test of an unfiltered read (``ClientSpec.blank_guard``): from a read that may hold an
        event the client's SDK cannot read, the stream goes through the guard's filter (``_guarded``; None
        returned). When ``split`` (the read is not one to scan) and the read is one ``_feed_frames`` would
        split (whole frames, from a frame's start, LF line ends), it is split here (``_usual_named``;
        ``data_lines`` as there): a read of usual named frames is tested on its lines
        (``ClientSpec.odd_lines``: the same answer as the search's, read on a few bytes a frame; session 27)
        and its lines returned for ``_feed_frames``, [] for a read split that is not of that shape (it is
        searched). Any other read is searched (``blank_guard``'s search; a leading LF, a CR and
        ``odd_start``), None returned: the read is split where it is read, if at all."""
        guard, odd_lines, sse = self._guard, self.pairing.client.odd_lines, self._sse
        assert guard is not None
        lines: list[bytes] | None = None
        if (
            split
            and odd_lines is not None
            and self._frames_read
            and sse.at_boundary
            and chunk.endswith(b"}\n\n")
            and chunk.find(b"\r") == -1
        ):
            lines = _usual_named(chunk, data_lines)
            if lines is not None:
                if odd_lines(lines):
                    self._guarded()
                    return None
                return lines
            lines = []
        if (
            chunk[:1] == b"\n"
            or chunk.find(b"\r") != -1
            or guard[0](chunk) is not None
            # a read that starts a frame: its start, which the search (after blank lines) cannot see
            or (self._odd_start is not None and sse.at_boundary and self._odd_start(chunk))
        ):
            self._guarded()
            return None
        return lines

    def _first_read(self, chunk: bytes) -> bytes:
        """The body's first read less a byte order mark (``_unmarked``; b"" while one may still come)."""
        if self._head or not chunk or chunk[0] == 0xEF:
            return self._unmarked(chunk)
        self._head = None  # (no BOM: no call)
        return chunk

    def _unmarked(self, chunk: bytes) -> bytes:
        """``chunk`` less the UTF-8 byte order mark the body may begin with (split across reads too: its first
        bytes are held until the mark is whole or ruled out). WHATWG HTML ("Interpreting an event stream") drops
        one leading BOM, but the SDKs' decoders (openai-python, anthropic-python) do not: passed on, it made the
        first line's field "\\ufeffevent", and the anthropic SDK skipped the nameless message_start, then raised
        on the content_block_start before it (s25 variants 18-bom-*). The SSE decoder never sees it either (the
        same events: it would drop it)."""
        head = self._head
        if head:
            chunk = head + chunk
        if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
            self._head = chunk
            return b""
        self._head = None
        return chunk[len(_BOM) :] if chunk.startswith(_BOM) else chunk

    def feed(self, chunk: bytes) -> bytes:
        if self._head is not None:  # (the body's first read, or a BOM's first bytes held: ``_unmarked``)
            if not (chunk := self._first_read(chunk)):
                return b""
        rule = self._rule
        lf_owed = self._sse.after_cr  # the client has a CR whose LF may open this read
        # Data lines after a line end: in a read of usual named frames each frame's (after its event line),
        # in one of unnamed frames each frame's but the first's. The read's frames near enough to choose its
        # path (``min_frames - 1``: a named read of one frame fewer is scanned too; either path gives the
        # same bytes and facts), and ``_usual_named``'s test of its data lines. One
        # count of this 7-byte needle costs half of one of b"\n\n" (the search skips further: callgrind,
        # ~10k against ~20k instructions for the 4.7 kB Responses answer), and saves ``_usual_named`` a join
        # and a count of the data lines (~11k; session 18).
        data_lines = chunk.count(b"\ndata: ")
        scans = rule is not None and data_lines >= self.min_frames - 1
        lines = None if self._guard is None else self._watched(chunk, data_lines, not scans)
        if scans and rule is not None and rule.scans(chunk):
            out = self._scan_read(rule, chunk)
        elif lines is not None:  # (split by the guard's test: ``_feed_frames``' read, or [] for none)
            out = self._feed_frames(chunk, data_lines, False, lines) if lines else self._feed_events(chunk)
        elif (
            self._frames_read
            and self._sse.at_boundary
            and chunk.endswith(b"}\n\n")
            and chunk.find(b"\r") == -1
        ):
            out = self._feed_frames(chunk, data_lines)
        elif (
            self._token_data is not None
            and self._sse.at_boundary
            and chunk.endswith(b"\n\n")
            and chunk.find(b"\r") == -1
            and (chunk.isascii() or _utf8(chunk))
        ):
            out = self._feed_data_frames(chunk)
        else:
            out = self._feed_events(chunk)
        if self._filter is None and (self._held or self._sse.pending):
            out = self._whole_events(out, lf_owed)
        # Kept only when it carries an event (a data field; a read starting with a field's name, a byte
        # above ":", needs no search): a read of comments alone (an upstream's keep-alive, OpenRouter's
        # ": OPENROUTER PROCESSING") or of a lone line end keeps the read before, whose events ``fail``
        # goes on from (s21 variant 13-commentcut: a cut after such a read got a response.failed numbered 0).
        if out and (out[0] > 58 or b"data:" in out):
            self._sent = out
        return out

    def feed_last(self, chunk: bytes) -> bytes:
        """``feed`` of the body's last read (``Relay.feed_last``). Unfiltered (the client gets the
        upstream's bytes as they came), the SSE decoder at a boundary with nothing held back, and
        ``chunk`` of LF line ends ending with a frame that ends the stream (``WireSpec.ends_stream``:
        Anthropic's exact ``message_stop``, a Responses terminal event): the client's bytes are ``chunk``
        itself, and once its frames are decoded the decoder is closed by that frame (or failed before it:
        an error the client has in ``chunk`` too), so ``finish`` adds nothing and the proxy no error. Its frames are then decoded
        only up to the one that brings the stream's first token (the commit and time to first token
        need it before any byte goes out); the rest waits for ``settle``, after the client's answer has
        ended (session 21: the c1 path). Filtered, on a wire whose token test reads data alone (chat), a
        short UTF-8 read of usual frames, LF line ends, ending ``]`` LF LF (``[DONE]``): decoded up to the
        first token, then the frames left go to the filter's ``PassFrames.tail``, which says from their
        parses (or their bytes) what the client gets of them and keeps their decoding for ``settle``
        (session 22; ``_feed_data_frames``). Any other read is ``feed``'s. (Unfiltered, only the frames up to
        the first of a token name are split before the write: ``_feed_opening``.)"""
        if self._head is not None:  # (the body's first read, or a BOM's first bytes held: ``_unmarked``)
            if not (chunk := self._first_read(chunk)):
                return b""
        ends = self.pairing.wire.ends_stream
        lines = None
        if (
            self._frames_read
            and ends is not None
            and self._sse.at_boundary
            and not self._held
            and chunk.endswith(b"}\n\n")
            and chunk.find(b"\r") == -1
        ):
            if self._guard is not None:  # its test, on the read split whole (``_watched``; else ``feed``'s)
                lines = self._watched(chunk, -1, True)
            # (the read split already: its last frame's lines are read, no search; ``WireSpec.ends_lines``)
            if self._frames_read and (
                ends_lines(self.decoder, lines)
                if lines and (ends_lines := self.pairing.wire.ends_lines) is not None
                else ends(self.decoder, chunk)
            ):  # (else the guard's filter turned on, or no end)
                if lines:  # every frame of the usual shape, split already: the split serves ``settle`` too
                    self._feed_frames(chunk, -1, True, lines)
                elif self.pairing.wire.token_line:
                    self._feed_opening(chunk)
                else:
                    self._feed_frames(chunk, -1, True)
                self._sent = chunk  # (it ends with a frame's data line)
                return chunk
        if (
            self._tail is not None
            and self._token_data is not None
            and self._sse.at_boundary
            and chunk.endswith(b"]\n\n")
            and chunk.count(b"\ndata: ") < self.min_frames - 1  # (else ``feed`` scans it)
            and chunk.find(b"\r") == -1
            and (chunk.isascii() or _utf8(chunk))
        ):
            out = self._feed_data_frames(chunk, True)
            if out:  # (a frame's data line ends it)
                self._sent = out
            return out
        return self.feed(chunk)

    def _feed_opening(self, chunk: bytes) -> None:
        """``feed_last``'s decoding of ``chunk`` (unfiltered, at a boundary, whole frames, LF line ends) up to
        the frame that brings the first token, the rest kept for ``settle``. On a wire that names its usual
        first token's frame (``WireSpec.token_line``), the read is cut after the first such frame (one C
        search) and only the frames up to there are split (``_feed_frames``, ``later``): splitting a read
        into lines costs about 7 instructions a byte (callgrind; 33k of the 4.7 kB Responses answer), and
        most of an answer's bytes come after its first token (session 23). A cut ends a frame (a blank line:
        the SSE decoder is at a boundary after it), so the two parts read in turn give the events of the
        whole, in order: when the first token came in the first, the second waits for ``settle`` as it is;
        else it is read the same way."""
        line = self.pairing.wire.token_line
        at = chunk.find(line)
        cut = -1 if at == -1 else chunk.find(b"\n\n", at + len(line)) + 2
        if cut <= 1 or cut >= len(chunk):
            self._feed_frames(chunk, -1, True)
            return
        self._feed_frames(chunk[:cut], -1, True)
        rest = chunk[cut:]
        if self._later is not None:  # the first token came before the cut: both parts wait
            self._later = (*self._later[:3], rest)
        elif self.saw_content:
            self._later = (rest, None, 0, b"")
        else:  # (no token in the frame found: an empty text)
            self._feed_frames(rest, -1, True)

    @property
    def unsettled(self) -> bool:
        return self._later is not None or self._later_tail is not None

    def settle(self) -> None:
        tail = self._later_tail
        if tail is not None:
            self._later_tail = None
            self._observe(tail())  # (no repair frames: ``PassFrames.tail`` is sure of none)
            return
        later = self._later
        if later is None:
            return
        self._later = None
        chunk, lines, start, rest = later
        self._feed_frames(chunk, -1, False, lines, start)
        if rest:
            self._feed_frames(rest)

    def _whole_events(self, out: bytes, lf_owed: bool = False) -> bytes:
        """Unfiltered bytes up to the end of the last whole event; the start of an unfinished one is held
        back until the read that ends it. A client can use an event only once it has ended, and what it has
        then always ends between two events, so a keep-alive can be written while the upstream is silent in
        the middle of one (s10 variant 19-f: a body cut inside an event, then a long silence, reached the
        client with no keep-alive). The cut is after the last blank line in LF, CRLF, CR or mixed line ends
        (``_BLANK_LINES``). Only the new bytes (and the last few held ones, where a blank line may begin)
        are searched, and the held pieces are joined once, when released: linear in an event's size
        however many reads it takes. ``lf_owed``: the client's bytes end with a CR that this read's first
        byte, an LF, completes (a CRLF): that LF goes out at once, so no keep-alive separates the two."""
        held = self._held
        if not self._sse.pending:
            if held:
                held.append(out)
                out = b"".join(held)
                held.clear()
            return out
        lead = held[-1][-3:] if held else b""
        window = lead + out if lead else out
        cut = 0
        for blank in _BLANK_LINES:  # each pattern searched from where a later blank line could begin
            if (at := window.rfind(blank, max(cut - 3, 0))) != -1 and at + len(blank) > cut:
                cut = at + len(blank)
        if 0 < cut < len(window) and window[cut - 1] == 0x0D and window[cut] == 0x0A:
            cut += 1  # the LF of a CRLF blank line goes with it
        cut -= len(lead)  # in ``out``: a blank line the held bytes began ends in it
        if cut <= 0 and lf_owed and not held and out[:1] == b"\n":
            cut = 1
        if cut <= 0:
            held.append(out)
            return b""
        head = out[:cut]
        if held:
            held.append(head)
            head = b"".join(held)
            held.clear()
        if cut < len(out):
            held.append(out[cut:])
        return head

    def _release(self, pending: bool, mid_line: bool) -> bytes:
        """What is held back when the body ends or breaks: an event whose lines all came goes out ended by
        a blank line (``SSEDecoder.flush`` reads it); one whose last line did not come whole is dropped,
        as no client could read it (half a JSON text as an event stops an SDK before the error event that
        follows: the anthropic SDK's JSONDecodeError)."""
        held = b"".join(self._held)
        self._held.clear()
        if not pending:
            return held
        return b"" if mid_line else held + b"\n\n"

    def keepalive(self) -> bytes:
        # What the client has always ends between two events: a frame filter writes whole events, and the
        # start of an unfinished event is held back (``_whole_events``); but not between the CR and the LF
        # of a line end (the LF would reach the client as a blank line of its own).
        # (through a frame filter the client's bytes are whole events the gateway wrote: no such CR). A CR
        # the decoder read last inside an unfinished event is held back with it (``_whole_events``): the
        # client's bytes then end at a blank line, and the keep-alive goes out (s19 variant 19-x: a line's CR,
        # then a long silence before its LF, kept Claude Code's stream silent).
        if self._filter is None and self._sse.after_cr and not self._held:
            return b""
        after = self.pairing.client.keepalive_after
        if after is not None and self._sent and (frame := after(self._sent)) is not None:
            # a numbered keep-alive event (Responses: Codex's reader drops comments, its idle timer waits on
            # events; s27 variant 19-codex-passthrough-vAE), the upstream's later events numbered after it
            self._kept += 1
            self._number_after_keepalives()
            self._sent = frame  # (what a keep-alive or an error after it goes on from)
            return frame
        return self.pairing.client.keepalive

    def _number_after_keepalives(self) -> None:
        """From now on every upstream event goes through the filter of a stream that continues an opening
        (``ClientSpec.resumed``) whose count takes in the ``_kept`` keep-alive events: their ``sequence_number``
        moved on by that many (after the upstream's own opening of two: OpenAI "Streaming API responses"), the
        response id kept as ``resume`` gave it, and the call's own filter (or the guard's) behind it. The start
        of an unfinished event held back is dropped, as ``_guarded`` does: the filter writes it whole."""
        base = self._opening
        opening = (
            Opening(2 + self._kept, None, own=True)  # (the upstream's own opening events go on, renumbered)
            if base is None
            else Opening(base.frames + self._kept, base.id)
        )
        client = self.pairing.client
        own = client.passthrough_frames(self.view)
        if own is None and client.blank_guard is not None:
            own = client.blank_guard[1]
        self._guard = None
        self._held.clear()
        self._filter_every_frame(client.resumed(opening, own))  # every frame renumbered

    def _feed_events(self, chunk: bytes) -> bytes:
        """``chunk``'s events decoded one by one (a short read, or the pieces of a scanned one)."""
        events = self._sse.feed(chunk)
        if self._filter is None:
            # ``_token_only`` is asked only about events it could answer True for (by name, or any on a
            # wire with ``token_event``): a call less for each other event of a named wire
            content_only, any_token, quiet, inert_events = (
                self._content_only,
                self._token_event is not None,
                self._quiet_names,
                self._inert_names,
            )
            for ev in events:
                if not ((any_token or ev.event in content_only) and self._token_only(ev)):
                    if not (ev.event in quiet and self.saw_content and self._quiet_event(ev)):
                        if not (ev.event in inert_events and self._inert(ev.data)):
                            self._decoded(ev)
            return chunk
        # ``_frame`` for each event, without its call; a quiet event the filter leaves untouched goes by
        # undecoded as without a filter
        keep, decoded, token_only, view = self._filter, self._decoded, self._token_only, self.view
        quiet, untouched, quiet_event = self._quiet_names, self._untouched, self._quiet_event
        inert_names, inert = self._inert_names, self._inert
        frames = [
            (ev.raw if ev.raw is not None else reencode(ev))
            if token_only(ev)
            or (ev.event in quiet and self.saw_content and untouched(ev) and quiet_event(ev))
            or (ev.event in inert_names and untouched(ev) and inert(ev.data))
            else keep(ev, decoded(ev), view, self.decoder)
            for ev in events
        ]
        return b"".join(frames if self._mended is None else self._placed(events, frames))

    def _feed_frames(
        self,
        chunk: bytes,
        data_lines: int = -1,
        later: bool = False,
        lines: list[bytes] | None = None,
        start: int = 0,
    ) -> bytes:
        """Unfiltered, the SSE decoder at a boundary, ``chunk`` ending a frame: what ``_feed_events`` does
        with it, frame by frame as bytes. A frame of the usual named shape (``event: <name>`` LF
        ``data: <data>``, one line each) that ``_token_only`` or ``_quiet_event`` would let by is counted
        by the same tests read on its bytes, without the ``SSEEvent`` the SSE decoder would have made (the
        SSE decoder is a quarter to a third of a short read's instructions, callgrind); one of the wire's
        inert names that the decoder's ``inert`` says leaves it as it is (``WireSpec.inert_events``) goes
        by too, uncounted, as ``_feed_events`` lets it by. One the decoder must read goes to the wire's
        ``frame_tap`` with its data bytes when the wire has one, and gets the event the SSE decoder makes
        of it (``shared.sse._usual_frames``) when the tap is unsure (None) or absent. A read with a frame
        of any other shape (more lines, comments, an empty name, ``data:`` without its space) goes to
        ``_feed_events`` whole (``_usual_named``: one C-speed test of the whole read, not a few per
        frame); from a frame the decoder must read with bytes not UTF-8 on, the rest of the read goes
        there too (a token or quiet frame with such bytes is let by, as ``_feed_events`` lets by its
        event with U+FFFD for them: the tests read ``_text``). ``chunk`` holds no CR (the caller checks):
        LF ends every line. ``data_lines``: ``chunk.count(b"\\ndata: ")`` when the caller has it. ``later``:
        stop after the frame that brings the stream's first token (after the first frame the decoder
        reads, when the stream has its first token already), the rest kept for ``settle``
        (``feed_last``). ``lines`` and ``start``: ``settle``'s, the read's split and its first frame not
        yet read. Returns ``chunk``."""
        if lines is None:
            lines = _usual_named(chunk, data_lines)
            if lines is None:
                return self._feed_events(chunk)
        # ``lines``: each frame's event line, data line and blank line, then b""; names are compared as
        # whole event lines (``_event_lines``): no slice per frame for its name
        tokens, quiet, decoded, inert, tap = (
            self._token_names,
            self._quiet_bytes,
            self._decoded,
            self._inert_bytes,
            self._frame_tap,
        )
        decoder = self.decoder
        marked = self._marked or _never_marked  # (no quiet names without it: never called then)
        passed = 0  # frames let by undecoded, each one event of progress
        # ``_scanning()``, inline: only a decoded frame changes it
        live = self.saw_content and self.error is None and not decoder.done
        datas = lines[1::3]
        stop = -1  # the frame a decoded event's bytes not UTF-8 stopped at
        heads = lines[0:-1:3]
        for i in range(start, len(heads)):
            head = heads[i]
            data = datas[i][6:]
            if live and data[:1] == b"{":  # ``_token_only``'s and ``_quiet_event``'s tests
                if head in tokens and (data[-1:] == b"}" or _text(data).rstrip()[-1:] == "}"):
                    passed += 1  # (``live``: the stream has its first token already)
                    continue
                # (the scan rule's mark test, set on a wire with quiet names, of the data's text as ``_text``
                # makes it)
                if head in quiet and data[-1:] == b"}" and not marked(data.decode("utf-8", "replace")):
                    passed += 1
                    continue
            if head in inert and self._inert_data(data):  # (``_feed_events``'s test, on the bytes)
                continue
            if tap is not None and (deltas := tap(decoder, data)) is not None:
                # the decoder read it without an event: what ``_decoded`` does after ``feed`` (unfiltered,
                # so no repair to place)
                if deltas:
                    self._observe(deltas)
                elif self._skipped and self._quiet(head + b"\n" + datas[i] + b"\n\n"):
                    self.events += 1
            else:
                try:
                    ev = SSEEvent(
                        head[7:].decode(), data.decode(), False, None, None, head + b"\n" + datas[i] + b"\n\n"
                    )
                except UnicodeDecodeError:
                    stop = i
                    break
                decoded(ev)
            if later and self.saw_content and i + 1 < len(heads):
                self._later = (chunk, lines, i + 1, b"")  # the client's answer ends before these are read
                break
            live = self.saw_content and self.error is None and not decoder.done
        self.events += passed
        if stop == 0:
            return self._feed_events(chunk)  # (as the SSE decoder's from its first byte)
        self._sse.passed()
        if stop > 0:  # the rest of the read from that frame on
            self._feed_events(chunk[len(b"\n".join(lines[: 3 * stop])) + 1 :])
        return chunk

    def _feed_data_frames(self, chunk: bytes, later: bool = False) -> bytes:
        """Filtered, the SSE decoder at a boundary, ``chunk`` valid UTF-8 with no CR and ending a frame: what
        ``_feed_events`` does with it, frame by frame. A frame of the usual unnamed shape (``data: <data>``,
        one line) is split from the read as the SSE decoder reads it (``shared.sse._usual_frame``: its data
        is its bytes decoded, its ``raw`` its bytes); a token frame (``_token_only``'s test, its data read by
        the token test's ``data``) passes as its bytes, with no ``SSEEvent`` and no call of the filter, as
        ``_frame`` passes it, and a run of them the token test's ``run`` reads on their bytes (the same
        test: ``TextChunks.run``) passes with no str either; any other gets the event the SSE decoder would
        have made and goes to the decoder and the filter (and the wire's repair frames around it,
        ``_placed``). From the first piece of any other shape (a name, comments, more lines, an empty
        piece) the rest of the read goes to ``_feed_events``. ``later`` (``feed_last``): at the first frame
        after the stream's first token that is no token frame, the frames left, all of the usual shape, go
        to the filter's ``tail`` test; when it is sure, the client gets what it says of them and their
        decoding waits for ``settle``."""
        keep, decoded, view, token = self._filter, self._decoded, self.view, self._token_data
        assert keep is not None and token is not None
        token_run = self._token_run
        n = len(chunk)
        out: list[bytes] = []
        run = pos = tokens = 0  # ``chunk[run:pos]``: frames that go out as they came, not yet in ``out``
        # ``_token_only``'s test for an unnamed event, less its per-event part; only a decoded frame
        # changes it
        live = (self.saw_content or self._opened) and not self.decoder.done and self.error is None
        while pos < n:
            if live and token_run is not None:
                count, pos = token_run(chunk, pos)
                if count:
                    tokens += count
                    if pos == n:
                        break
            end = chunk.find(b"\n\n", pos)  # (found: ``chunk`` ends with one, and a frame begins at ``pos``)
            if not chunk.startswith(b"data: ", pos) or chunk.find(b"\n", pos, end) != -1:
                break
            data = chunk[pos + 6 : end].decode()
            end += 2
            if live and data[:1] == "{" and (data[-1:] == "}" or data.rstrip()[-1:] == "}") and token(data):
                tokens += 1
            else:
                if tokens:  # counted as ``_token_only`` counts each, before the decoder reads this one
                    self.events += tokens
                    self.started = self.saw_content = True
                    tokens = 0
                if later and self.saw_content:
                    later = False  # (asked once)
                    if (ends := self._tail_frames(chunk, pos, out, run)) is not None:
                        run, pos = ends
                        break
                raw = chunk[pos:end]
                ev = SSEEvent(None, data, False, None, None, raw)
                frame = keep(ev, decoded(ev), view, self.decoder)
                if frame is not raw or self._mended is not None:
                    out.append(chunk[run:pos])
                    out += [frame] if self._mended is None else self._placed([ev], [frame])
                    run = end
                live = (self.saw_content or self._opened) and not self.decoder.done and self.error is None
            pos = end
        if tokens:
            self.events += tokens
            self.started = self.saw_content = True
        if pos:
            self._sse.passed()
        if run == 0 and pos == n:
            return chunk  # every frame as it came
        out.append(chunk[run:pos])
        if pos < n:
            out.append(self._feed_events(chunk[pos:] if pos else chunk))
        return b"".join(out)

    def _tail_frames(self, chunk: bytes, pos: int, out: list[bytes], run: int) -> tuple[int, int] | None:
        """``_feed_data_frames``' ``later`` step at ``chunk[pos:]`` (whole frames, ``data: `` at ``pos``):
        when each is a usual one-line ``data:`` frame and the filter's ``tail`` is sure of them, the bytes
        it keeps go to ``out`` (as ``_feed_data_frames`` builds it: ``chunk[run:pos]`` not yet in it),
        their decoding is kept for ``settle``, and the new ``(run, pos)`` is returned (``pos``: the read's
        end); else None, nothing done."""
        tail = self._tail
        if tail is None or self.error is not None or self._mended is not None or self._skipped:
            return None
        # The frames' data, split at the LF LF ``data: `` between two frames: each frame is one ``data:``
        # line exactly when no piece holds an LF (then the read's LFs from ``pos`` are two per frame, its LF
        # LF). One join and a ``find`` (memchr) instead of a count of the LFs: a byte count costs ~6
        # instructions a byte under callgrind, the two ~1 (session 24)
        rest = chunk[pos + 6 : -2]  # (``chunk[pos:]`` starts ``data: `` and ends with LF LF)
        datas = rest.split(b"\n\ndata: ")
        if b"".join(datas).find(b"\n") != -1:
            return None
        plan = tail(self.decoder, rest.decode().split("\n\ndata: "))
        if plan is None:
            return None
        kept, self._later_tail = plan
        for data, keeps in zip(datas, kept, strict=True):
            end = pos + len(data) + 8  # (``data: `` and LF LF)
            if not keeps:
                out.append(chunk[run:pos])
                run = end
            pos = end
        return run, pos

    def _inert_text(self, data: bytes) -> bool:
        """``_inert`` of a frame's data bytes read as the SSE decoder reads them (``_text``)."""
        return self._inert(_text(data))

    def finish(self) -> bytes:
        if self._later is not None:
            self.settle()
        if not self._held and self._sse.at_boundary:
            # The body ended between two events, nothing held back (the usual end): nothing to flush,
            # release or complete, and no cut-off (what the general path below does then, without its calls)
            self._observe(self.decoder.finish())
            if self.complete and self.error is None and not self.decoder.closed:
                return self.pairing.wire.closing_frame  # (bugcase 13, as below)
            return b""
        return self._finish_cut()

    def _finish_cut(self) -> bytes:
        """``finish`` when the body may have ended inside an event, or bytes are held back (the general
        path; for a body ended between two events it gives what ``finish``'s shortcut gives)."""
        pending = self._sse.pending
        closed = False
        rest = self._closing_rest(pending) if self._filter is None else None
        # An event whose lines all came is read although its blank line did not (``SSEDecoder.flush``).
        # (before ``flush``, which reads what it can of it; a last line whole but for its line break is read and
        # goes out ended: ``SSEDecoder.ends_whole``)
        mid_line = self._sse.mid_line and not self._sse.ends_whole
        events = self._sse.flush(ended=True)
        if self._filter is not None:
            frames = [self._frame(ev) for ev in events]
            out = b"".join(frames if self._mended is None else self._placed(events, frames))
        else:
            # What is held back (``_whole_events``): ended by a blank line, or the rest of the closing frame
            # it began (``_closing_rest``), or dropped when its last line did not come (``_release``)
            if rest:
                held = b"".join(self._held)
                self._held.clear()
                out, closed = held + rest, True  # the cut fell inside the closing frame: its rest ends it
            else:
                out = self._release(pending, mid_line)
            for ev in events:
                self._observe(self.decoder.feed(ev))
        self._observe(self.decoder.finish())
        if pending and not self.complete and self.error is None:
            # The body ended in the middle of an event the answer still needed (a half frame is not passed
            # on through a filter): an error follows.
            return out + self.fail(502, "upstream stream ended in the middle of an event", "broken_stream")
        if self.complete and self.error is None and not self.decoder.closed and not closed:
            # The answer ended (finish / stop reason) but the body without its closing frame: the client
            # gets it, as its API ends a stream (bugcase 13).
            out += self.pairing.wire.closing_frame
        return out

    def _closing_rest(self, pending: bool) -> bytes | None:
        """Unfiltered, a finished answer whose body was cut inside its closing frame: the rest of that frame
        (the client has its beginning already), or None (``SSEDecoder.completion_of``)."""
        frame = self.pairing.wire.closing_frame
        if not (pending and frame and self.complete and self.error is None):
            return None
        return self._sse.completion_of(frame)

    def fail(self, status: int, message: str, error_type: str = "api_error") -> bytes:
        # Unfiltered, the start of an unfinished event (held back, ``_whole_events``) goes out ended by a
        # blank line, so the error is an event of its own rather than the tail of a broken line.
        if self._later is not None:
            self.settle()
        cut = self._release(self._sse.pending, self._sse.mid_line) if self._filter is None else b""
        if self._opening is not None and not self.started:  # the client has the opening and keep-alives only
            self.error = ir.StreamError(status=status, type=error_type, message=message)
            return cut + self.pairing.client.resumed_error(self._opening, status, message)
        if self.started or self._opened:  # the upstream's own answer has begun: the error goes on from it
            self.error = ir.StreamError(status=status, type=error_type, message=message)
            return cut + self.pairing.client.error_after(self._sent + cut, self._answer_id, status, message)
        return cut + super().fail(status, message, error_type)

    def _token_only(self, ev: SSEEvent) -> bool:
        """True, and counted as one event of content, for a token-only event (``WireSpec.content_events``
        or ``token_event``) the bytes pass on without the decoder reading it: for a named one, only once
        the decoder has found the first token itself (an empty text, a signature or a server tool's input
        is no token); for one ``token_event`` accepts (a token that leaves the decoder's state, its served
        model included, as it was), once the decoder has opened the message (``MessageStart``); while the answer runs (no finish or error seen), and when it is
        plausibly one whole JSON object (an event not shaped ``{…}`` still goes to the decoder, which
        reports it). A named token shaped ``{…}`` that is not JSON is not caught here (that would be a
        parse per token): it passes, and the stream is recorded a success though the client's SDK raises on
        it; a chat text chunk (``token_event``: ``TextChunks``) and a quiet frame (``_scan.json_object``)
        are parsed where needed and so are caught.
        Counted as content, it commits the stream and stamps TTFT as the decoder's token would."""
        named = ev.event in self._content_only
        if not named and self._token_event is None:
            return False
        data = ev.data
        # ``token_event`` accepts a token only when decoding it would leave the decoder's state (model
        # included) unchanged: once the decoder has reported the message's start, the first token too
        # needs no decoding.
        skip = (
            (self.saw_content or (self._opened and not named))
            and not self.decoder.done
            and self.error is None
            and data[:1] == "{"
            and (data[-1:] == "}" or data.rstrip()[-1:] == "}")
            and (named or (self._token_event is not None and self._token_event(ev)))
        )
        if skip:
            self.events += 1
            self.started = self.saw_content = True
        return skip

    def _quiet_event(self, ev: SSEEvent) -> bool:
        """True, and counted as one event of progress, for an event of a quiet name
        (``WireSpec.quiet_events``) let by undecoded: once the stream has its first token and while the
        answer runs (``_scanning``), when its data is plausibly one JSON object naming no mark (the
        scan's test for a frame it passes, ``_scan`` module docstring)."""
        data = ev.data
        assert self._marked is not None
        # ``_skipped`` stays as it was: the token frames of a block or an item whose start went by here
        # are named token events, passed by name (``_token_only``) whether the decoder knows it or not.
        if self._scanning() and data[:1] == "{" and data[-1:] == "}" and not self._marked(data):
            self.events += 1  # a frame of the answer: progress, as the scan counts the frames it passes
            return True
        return False

    def _frame(self, ev: SSEEvent) -> bytes:
        assert self._filter is not None
        if self._token_only(ev):
            # a token passes a frame filter unchanged (``registry.FrameFilter``): ``reencode(ev)``
            return ev.raw if ev.raw is not None else reencode(ev)
        return self._filter(ev, self._decoded(ev), self.view, self.decoder)

    def _scan_read(self, rule: ScanRule, chunk: bytes) -> bytes:
        """One read: its events one at a time until the stream is scanned, then its whole frames scanned
        (``_scan``) and the start of an unfinished one left to the SSE decoder."""
        keep = self._filter is not None
        out: list[bytes] = []
        pos, n = 0, len(chunk)
        while pos < n:
            if self._scanning() and self._sse.at_boundary:
                end = chunk.rfind(b"\n\n", pos) + 2
                if end > pos:  # whole frames up to there: scan them
                    out.append(self._scan(rule, chunk[pos:end] if pos or end < n else chunk, keep))
                    pos = end
                if pos < n:  # the start of a frame the next read ends: the SSE decoder keeps it
                    out.append(self._feed_events(chunk[pos:]))
                break
            end = chunk.find(b"\n\n", pos)  # one event (or what is left) at a time until scanning
            stop = n if end == -1 else end + 2
            out.append(self._feed_events(chunk[pos:stop] if pos or stop < n else chunk))
            pos = stop
        return b"".join(out) if keep else chunk

    def _scanning(self) -> bool:
        """The stream has its first token and has neither finished nor failed (``_token_only``'s test)."""
        return self.saw_content and self.error is None and not self.decoder.done

    def _scan(self, rule: ScanRule, body: bytes, keep: bool) -> bytes:
        """``body``: whole frames, the SSE decoder at a boundary before them. From the first loud frame
        (``ScanRule.first``) to the next, the frames before it pass undecoded when they have the usual
        shape (and, with a filter, are valid UTF-8: the filter's frames are the SSE decoder's text) and
        are decoded otherwise; the loud frame is decoded. Returns what the client gets when ``keep``."""
        out: list[bytes] = []
        pos, n = 0, len(body)
        while pos < n and self._scanning():
            mark = rule.first(body, pos, self.decoder.model)
            if mark == -1:
                start = end = n
            else:
                start = max(pos, body.rfind(b"\n\n", pos, mark) + 2)
                end = body.find(b"\n\n", mark) + 2
            if start > pos:
                quiet = body[pos:start] if pos or start < n else body
                ok = rule.frames(quiet) and (not keep or quiet.isascii() or _utf8(quiet))
                out.append(self._pass(quiet, keep) if ok else self._feed_events(quiet))
            if end > start:
                out.append(self._feed_events(body[start:end]))
            pos = end
        if pos < n:
            out.append(self._feed_events(body[pos:] if pos else body))
        return b"".join(out) if keep else b""

    def _decoded(self, ev: SSEEvent) -> list[ir.Delta]:
        done = self.decoder.done
        deltas = self.decoder.feed(ev)
        if self._repair is not None and self.decoder.done and not done:
            before, after = self._repair(self.decoder, ev)
            if before or after:
                self._mended = (ev, before, after)
        if deltas:
            return self._observe(deltas)
        if self._skipped and self._quiet(ev.raw):
            # A token frame the scan would have counted, which says nothing to a decoder that missed its
            # beginning (a tool call's arguments after its undecoded start): progress all the same.
            self.events += 1
        return deltas

    def _placed(self, events: list[SSEEvent], frames: list[bytes]) -> list[bytes]:
        """``frames`` (one per event of ``events``) with the wire's repair around the event it follows."""
        assert self._mended is not None
        mended, before, after = self._mended
        self._mended = None
        return [before + f + after if ev is mended else f for ev, f in zip(events, frames, strict=True)]

    def _quiet(self, frame: bytes | None) -> bool:
        rule = self._rule
        return frame is not None and rule is not None and rule.quiet(frame, self.decoder.model)

    def _pass(self, frames: bytes, keep: bool) -> bytes:
        """Token frames, not decoded: each one event of progress."""
        self._skipped = True
        self.events += frames.count(b"\n\n")
        return frames if keep else b""


# A line end and an empty line: the end of an event in LF, CRLF and CR line ends (WHATWG SSE)
# A blank line after a line end, in every mix of LF, CRLF and CR (WHATWG HTML, "Server-sent events": a line
# ends at CRLF, LF or CR): what ends an event. A CR last in a read may be a CRLF's first half: the cut after it
# is exact all the same (the event has ended), and ``keepalive`` waits for the LF (``SSEDecoder.after_cr``).
_BLANK_LINES = (b"\n\n", b"\r\n\r\n", b"\r\r", b"\n\r\n", b"\r\n\n", b"\n\r", b"\r\n\r")


class EventPassthrough(Passthrough):
    """The passthrough relay that decodes every read event by event (token-only ones excepted,
    ``_token_only``): what ``Passthrough`` does with short reads, less its quiet frames
    (``_quiet_event``), and the reference its scan is tested against."""

    min_frames = sys.maxsize
    skips_quiet = False
    skips_inert = False
    reads_frames = False
    __slots__ = ()


_NO_NAMES: frozenset[bytes] = frozenset()
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark (``Passthrough._unmarked``)


@functools.lru_cache(maxsize=16)
def _event_lines(names: frozenset[str]) -> frozenset[bytes]:
    """A wire's event names as the event lines of its frames, ``event: <name>`` (made once per set)."""
    return frozenset(b"event: " + name.encode() for name in names)


def _usual_named(chunk: bytes, data_lines: int = -1) -> list[bytes] | None:
    """``chunk`` (no CR, ending with a blank line) split at LF when every frame in it has the usual named
    shape, else None: ``event: <name>`` (a name not empty) LF ``data: <data>`` LF LF, one line each, so
    the lines are each frame's event line, data line and blank line in turn, then b"" after the last LF.
    Tested on the whole read with C-speed joins and counts: every third line is blank, and each line
    before a blank one's begins as it must: the event lines (joined with LF and led by one) hold as many
    ``LF event: `` as there are frames, and no event line ``event: `` alone; the read holds as many
    ``LF data: `` as there are frames (``data_lines``, counted here when the caller has not: each such LF
    begins a line that is no event line and not blank, so a data line, and every data line follows an LF:
    the count is that of the data lines that begin ``data: ``). A read of one frame (four lines) has its
    lines tested as they are, the same rule without the joins."""
    lines = chunk.split(b"\n")
    if len(lines) == 4:  # one frame, a streaming upstream's usual read (the joins cost more than they save)
        head = lines[0]
        usual = len(head) > 7 and head.startswith(b"event: ") and lines[1].startswith(b"data: ")
        return lines if usual and not lines[2] else None
    frames = len(lines) // 3
    if len(lines) != 3 * frames + 1 or not frames or any(lines[2::3]):
        return None
    heads = b"\n" + b"\n".join(lines[0:-1:3]) + b"\n"
    if heads.count(b"\nevent: ") != frames or heads.find(b"\nevent: \n") != -1:
        return None
    if (chunk.count(b"\ndata: ") if data_lines < 0 else data_lines) != frames:
        return None
    return lines


# The usual named frame at a position (``Translator._tapped``): ``event: <name>`` LF ``data: <data>`` LF LF, a
# name not empty, neither holding an LF (the caller has checked the read holds no CR); group 1 is the data.
# One C call where ``startswith``/``find`` with a position took five and a slice (~8k instructions a frame
# against ~3k, callgrind, CPython 3.11: their arguments are parsed by ``PyArg_ParseTuple``).
_NAMED_FRAME = re.compile(rb"event: [^\n]+\ndata: ([^\n]*)\n\n").match
# ... and the usual unnamed one, ``data: <data>`` LF LF (the chat wire's), the same way (session 26: one call
# where two ``startswith``, a ``find`` and a slice were four)
_DATA_FRAME = re.compile(rb"data: ([^\n]*)\n\n").match


def _text(data: bytes) -> str:
    """``data`` as the SSE decoder gives it (UTF-8, an invalid byte replaced)."""
    return data.decode("utf-8", errors="replace")


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


class Translator(Relay):
    """Different APIs: upstream decoder → IR deltas → client encoder."""

    __slots__ = ("encoder", "_lane", "_run", "_tap", "_data_tap", "_batch", "_rest", "_raw")

    def __init__(self, pairing: Pairing, view: View, usage_rule: UsageRule = _as_reported) -> None:
        super().__init__(pairing, view, usage_rule)
        self.encoder: StreamEncoder = pairing.client.encoder(view)
        if view.signed_calls and (wait := getattr(self.decoder, "wait_for_signatures", None)) is not None:
            wait()  # a call's start (its id, which carries the signature to the client) waits for the signature
        # The text lane, when both ends have one: the decoder's ``text_of(ev)`` (the text of an event it
        # could only turn into one ``TextDelta``, read without parsing) and the encoder's ``text(text)``
        # (that delta's frame when it is the usual one). Most of a stream goes through it: no JSON parse,
        # no delta object, no list, three calls an event instead of a dozen. Either says None when unsure:
        # the event then takes the general path, which gives the same bytes (tests/unit/test_text_lane.py).
        text_of: TextOf | None = getattr(self.decoder, "text_of", None)
        text: TextFrame | None = getattr(self.encoder, "text", None)
        self._lane: tuple[TextOf, TextFrame] | None = (text_of, text) if text_of and text else None
        # The run lane, when both ends have one: the decoder's ``text_run(buf, pos)`` (a run of whole usual
        # text frames, read by two regex calls on the bytes, their texts' JSON string bodies) and the
        # encoder's ``text_frames(bodies)`` (the frames ``text`` would make of each). A read's text frames
        # after the first token then cost no SSE event, no call per frame; None from either: the frames
        # go the way above (``_bytes``; tests/unit/dialects/test_text_run.py).
        text_run: TextRun | None = getattr(self.decoder, "text_run", None)
        text_frames: TextFrames | None = text_run and getattr(self.encoder, "text_frames", None)
        self._run: tuple[TextRun, TextFrames] | None = (
            (text_run, text_frames) if text_run and text_frames else None
        )
        # The wire's frame tap (``WireSpec.frame_tap``: the decoder's ``feed`` of a frame given its data
        # bytes alone, or None when unsure): a usual named frame then needs no ``SSEEvent`` (``_tapped``)
        self._tap = pairing.wire.frame_tap
        # ... and the decoder's ``feed_frame(data)``, the same for an unnamed ``data: …`` frame (chat)
        self._data_tap: DataTap | None = getattr(self.decoder, "feed_frame", None)
        # ... and the decoder class's ``feed_frames(decoder, buf, pos, until_token)``, the tap of a read's usual
        # named frames as one batch (their deltas in one list: one ``_deltas``), used where the tap is (called
        # with ``self.decoder``, as the tap is: unbound)
        self._batch: FrameBatch | None = getattr(type(self.decoder), "feed_frames", None)
        # The events of the read that brought the first token that come after it (``rest``)
        self._rest: list[SSEEvent] = []
        # ... or, when that read's frames up to the token were read one at a time (``_first_frames``),
        # its bytes after the token, not yet SSE-decoded (the decoder is at a boundary before them)
        self._raw = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self.saw_content:
            return self._first_frames(chunk)
        if self._run is not None and not self._rest and self._sse.at_boundary:
            raw, self._raw = self._raw, b""
            return self._bytes(raw + chunk if raw else chunk)
        if self._raw or self._rest:
            events = self._held(chunk)
        else:
            events = self._sse.feed(chunk)
        if len(events) == 1:  # one event a read: the usual chunk of a stream that arrives as it is made
            return self._event(events[0])
        return b"".join([self._event(ev) for ev in events])

    # ``Relay.feed_last`` is ``feed`` here: the same function, without the base's call through to it (issue 13,
    # session 35: a code object less on a c1 request's first read)
    feed_last = feed

    def _held(self, chunk: bytes = b"") -> list[SSEEvent]:
        """The events ``rest`` holds (kept, or decoded now from the bytes kept), then ``chunk``'s."""
        events, self._rest = self._rest, []
        raw, self._raw = self._raw, b""
        return events + self._sse.feed(raw + chunk) if raw or chunk else events

    def _first_frames(self, chunk: bytes) -> bytes:
        """``_until_token`` of ``chunk``'s events, its usual frames read one at a time up to the token
        (``shared.sse.usual_frame``) instead of the whole read SSE-decoded first: the bytes after the
        token are kept undecoded (``rest`` decodes them). The same events in the same order, so the
        same bytes and facts; the first token goes out without the rest of its read decoded (time to
        first token; tests/unit/test_translator_lazy17.py)."""
        sse = self._sse
        if not sse.at_boundary:  # inside an event (or after a CR): the decoder reads on
            return self._until_token(sse.feed(chunk))
        out: list[bytes] = []
        pos, n = 0, len(chunk)
        # (``13 not in``: CR as an int, one memchr; ``b"\r" not in`` first fails an int conversion, ~2k more)
        tap = (self._tap is not None or self._data_tap is not None) and 13 not in chunk
        while pos < n:
            # the frames up to the token as one batch: ``_tapped``'s deltas, one call, one ``_deltas``; on a wire
            # with a named frame tap (Anthropic) from the read's first frame on (session 33: a one-read answer's
            # opening and first token in one list, −1.7k instructions; on the chat wire, +0.3k there and +0.9k a
            # one-frame read: after its first frame, the tap's alone, as before; callgrind)
            if (
                (pos or self._tap is not None)
                and tap
                and self._batch
                and (got := self._batch(self.decoder, chunk, pos, True))[1] != pos
            ):
                pos = got[1]
                out.append(self._deltas(got[0]))
            elif tap and (tapped := self._tapped(chunk, pos)) is not None:
                pos = tapped[1]
                out.append(tapped[0])
            elif (framed := usual_frame(chunk, pos)) is not None:
                ev, pos = framed
                out.append(self._event(ev))
            else:
                break
            if self.saw_content:
                sse.passed()  # (the frames read began with "event: " or "data: ": no byte order mark)
                if pos < n:
                    self._raw = chunk[pos:]
                return b"".join(out)
        if pos:
            sse.passed()
            chunk = chunk[pos:]
        if pos < n:
            out.append(self._until_token(sse.feed(chunk)))
        return b"".join(out)

    def _until_token(self, events: list[SSEEvent]) -> bytes:
        """``events`` translated up to and including the one that brings the stream's first token; those
        after it are kept for ``rest``. A whole canned answer often comes in one read: the client gets
        its first token without waiting for the rest to be translated (time to first token)."""
        out: list[bytes] = []
        for i, ev in enumerate(events):
            out.append(self._event(ev))
            if self.saw_content:
                self._rest = events[i + 1 :]
                break
        return b"".join(out)

    @property
    def has_rest(self) -> bool:
        return bool(self._rest or self._raw)

    def rest(self) -> bytes:
        if not (self._rest or self._raw):
            return b""
        if self._run is not None and not self._rest:  # (``_raw`` is kept at a boundary)
            raw, self._raw = self._raw, b""
            return self._bytes(raw)
        return b"".join([self._event(ev) for ev in self._held()])

    def _bytes(self, buf: bytes) -> bytes:
        """``buf``'s events translated, the SSE decoder at a boundary before them (``_run`` set): each run
        of usual text frames the decoder's ``text_run`` finds, valid UTF-8, through the encoder's
        ``text_frames``; a usual frame at which there is none (``shared.sse.usual_frame``) as ``_event``
        reads it; from the first frame of another shape on, the SSE decoder's events. The same events in
        the same order as ``SSEDecoder.feed(buf)`` gives, so the same bytes and facts."""
        run, frames = self._run  # type: ignore[misc]
        out: list[bytes] = []
        pos, n = 0, len(buf)
        tap = (self._tap is not None or self._data_tap is not None) and 13 not in buf  # (CR: see above)
        while pos < n:
            found = run(buf, pos)
            if found is not None:
                bodies, end = found
                piece = buf[pos:end]
                if (piece.isascii() or _utf8(piece)) and (made := frames(bodies)) is not None:
                    # what ``_event`` notes of each text delta
                    self.events += len(bodies)
                    self.started = self.saw_content = True
                    out.append(made)
                    pos = end
                    if pos == n:
                        break
                    # The frame after a run is read below, the run lane not tried again: each decoder's
                    # ``text_run`` is maximal (the Anthropic wire's a greedy repeat, the chat wire's a loop to
                    # the first frame that is not one) and changes nothing, so it would find none here
                    # (session 32: ~2-3k instructions a read whose text a frame of another kind follows,
                    # callgrind; tests/unit/dialects/test_run_once32.py)
            # after the read's first frame, the frames up to the next run as one batch (as above)
            if pos and tap and self._batch and (got := self._batch(self.decoder, buf, pos, False))[1] != pos:
                out.append(self._deltas(got[0]))
                pos = got[1]
                continue
            if tap and (tapped := self._tapped(buf, pos)) is not None:
                out.append(tapped[0])
                pos = tapped[1]
                continue
            framed = usual_frame(buf, pos)
            if framed is None:
                break
            out.append(self._event(framed[0]))
            pos = framed[1]
        if pos:
            self._sse.passed()  # (the frames read began with "event: " or "data: ": no byte order mark)
        if pos < n:
            out += [self._event(ev) for ev in self._sse.feed(buf[pos:] if pos else buf)]
        return b"".join(out)

    def _tapped(self, buf: bytes, pos: int) -> tuple[bytes, int] | None:
        """``_event`` of the usual named frame at ``pos`` of ``buf`` (``event: <name>`` LF ``data: <data>``
        LF LF, a name not empty; ``buf`` holds no CR: the caller checks) read by the wire's frame tap from
        its data bytes (on a wire without one, an unnamed ``data: <data>`` LF LF by the decoder's
        ``feed_frame``: its event's name is None), and the position after the frame; None, nothing read, when the frame at ``pos`` is
        not one or the tap is unsure. No ``SSEEvent``, no str (``usual_frame`` makes both: ~13k
        instructions a frame, callgrind). The tap gives the deltas ``feed`` of the frame's event gives, and
        ``_event``'s text lane gives the bytes and facts of ``_deltas`` of them (``text``'s contract), so
        the bytes and facts are ``_event``'s (tests/unit/test_translator_tap23.py)."""
        tap = self._tap
        if tap is None:  # (then the decoder has ``feed_frame``: the callers check) unnamed frames
            framed = _DATA_FRAME(buf, pos)
            if framed is None:
                return None
            deltas = self._data_tap(framed[1])  # type: ignore[misc]
            return None if deltas is None else (self._deltas(deltas), framed.end())
        framed = _NAMED_FRAME(buf, pos)
        if framed is None:
            return None
        deltas = tap(self.decoder, framed[1])
        return None if deltas is None else (self._deltas(deltas), framed.end())

    def _event(self, ev: SSEEvent) -> bytes:
        lane = self._lane
        if lane is not None and (said := lane[0](ev)) is not None and (frame := lane[1](said)) is not None:
            # what ``_deltas`` notes of one text delta
            self.events += 1
            self.started = self.saw_content = True
            return frame
        return self._deltas(self.decoder.feed(ev))

    def finish(self) -> bytes:
        out = [self.rest()] if self._rest or self._raw else []  # (first: the bytes kept are decoded then)
        sse = self._sse
        decoder = self.decoder
        # (at a boundary nothing is pending, and ``flush`` changes nothing and gives no event: one property read)
        pending = False
        if not sse.at_boundary:
            pending = sse.pending
            out += [self._deltas(decoder.feed(ev)) for ev in sse.flush(ended=True)]
        if last := decoder.finish():
            out.append(self._deltas(last))
        if pending and not decoder.done and self.error is None:  # cut off mid-event (see Passthrough)
            return b"".join(out) + self.fail(
                502, "upstream stream ended in the middle of an event", "broken_stream"
            )
        if decoder.done or self.error is not None:  # a stream cut before its finish is not closed
            out.append(self.encoder.finish())  # as a normal answer: the caller ``fail``s it
        return b"".join(out)

    def keepalive(self) -> bytes:
        return self.rest() + self.encoder.feed(ir.KeepAlive())  # the encoder only writes whole events

    def resume(self, opening: Opening) -> None:
        self.encoder.opened(opening)

    def fail(self, status: int, message: str, error_type: str = "api_error") -> bytes:
        head = self.rest()
        self.error = ir.StreamError(status=status, type=error_type, message=message)
        return head + self.encoder.feed(self.error) + self.encoder.finish()

    def _deltas(self, deltas: list[ir.Delta]) -> bytes:
        """The client's bytes for ``deltas``: each noted (progress in ``events``, but keep-alives; the first token;
        the commit; an error, ``_noted_error``; the message's start) and, but reasoning for a client that did not
        ask for it (``View.reasoning``), fed to the encoder, a usage update with the provider's usage rule
        applied. One pass, no list copied (session 33): the same bytes and facts as noting them all, then
        filtering, then a ``feed`` of each (the relay's two passes before), since the encoder reads nothing of
        the relay and the noting nothing of the encoder (tests/unit/test_translator_deltas33.py)."""
        if len(deltas) == 1 and type(deltas[0]) is ir.TextDelta:
            # most of a stream: one text delta, noted without the loop
            self.events += 1
            self.started = self.saw_content = True
            return self.encoder.feed(deltas[0])
        if not deltas:
            return b""
        feed = self.encoder.feed
        out: list[bytes] = []
        noted = 0  # deltas other than keep-alives: ``events``, added once
        for d in deltas:
            kind = type(d)
            if kind is ir.KeepAlive:  # no progress, and says nothing yet
                out.append(feed(d))
                continue
            noted += 1
            if kind is ir.UsageUpdate:
                # the provider's usage rule (the ledger and the client see the same counts): a usage made already
                # (a wire that states it once: it will be read) ruled now, one made when read (``ir.UsageUpdate.later``)
                # ruled when read (``_ruled``)
                rule = self._usage_rule
                d = (
                    ir.UsageUpdate(rule(d.usage))  # type: ignore[union-attr]
                    if d.make is None  # type: ignore[union-attr]
                    else ir.UsageUpdate.later(functools.partial(_ruled, rule, d))  # type: ignore[arg-type]
                )
            elif kind is ir.MessageStart:  # says nothing yet about whether the answer will succeed
                self._opened = True
            else:
                self.started = True
                if kind in _CONTENT:
                    self.saw_content = True
                elif kind is ir.StreamError:
                    self._noted_error(d)  # type: ignore[arg-type]
                if kind in _REASONING and not self.view.reasoning:
                    continue  # noted, not written
            out.append(feed(d))
        self.events += noted
        return out[0] if len(out) == 1 else b"".join(out)

    def _noted_error(self, d: ir.StreamError) -> None:
        """What an in-stream error notes: the relay's error, the output tokens the request asked for (to restate
        an overflow's count) and its words for the client."""
        self.error = d
        if self.sent:
            d.asked_output = asked_output_tokens(self.sent)
        # a translated client's in-stream error has no retry-after header: the wait its error object states
        # (OpenRouter's ``metadata.headers``) goes in its words, where Codex reads it (bug29a variant
        # 11-or-midstream-429-codex-vG); its wording is the client encoder's, from these
        d.message = self.pairing.client.said_with_wait(d.message, retry_after_seconds({}, d.status, d.body))


def make_relay(pairing: Pairing, view: View, usage_rule: UsageRule = _as_reported) -> Relay:
    """The relay for one call on one wire: passthrough when the pairing has no translator."""
    if pairing.translate is None:
        return Passthrough(pairing, view, usage_rule)
    return Translator(pairing, view, usage_rule)
