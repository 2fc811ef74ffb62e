"""The registry of API formats: everything that differs per client format, per wire and per pair.

- ``CLIENTS[fmt]``: how a client format's requests are parsed and validated, how its errors look (body,
  status mapping, in-stream frame), and how answers are made for it (stream encoder, non-streamed
  renderer, and the frame filter used when its own wire is relayed through).
- ``WIRES[wire]``: how a provider's answers on a wire are read (stream decoder, usage reader, whole
  answer → IR) and which provider operation serves it.
- ``PAIRS[(fmt, wire)]``: the request translator for a client format sent on a wire, or ``None`` for
  passthrough (same API: the body goes upstream untouched).
- ``ENDPOINTS[path]``: the generation endpoints and the client format each one speaks.

``tests/unit/dialects/test_registry.py`` checks that every format, wire and pair has its entry. The
gateway's proxy, relay and handlers look things up here; they never compare format names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from services.gateway.dialects import _error_meaning as em
from services.gateway.dialects import _minted as minted
from services.gateway.dialects import _scan as scan
from services.gateway.dialects import anthropic as anth
from services.gateway.dialects import ir
from services.gateway.dialects import openai_chat as oai
from services.gateway.dialects import openai_responses as resp
from services.gateway.dialects import translate_request as tr
from services.gateway.dialects._opening import Opening, Part, opening_frames
from services.gateway.dialects._prompt_cache import Session
from services.gateway.dialects._request_common import ParsedRequest, Target, TranslatedRequest
from services.gateway.dialects._retry_words import said_with_wait, waits_only_in_stream
from services.gateway.dialects._scan import ScanRule as ScanRule
from services.gateway.dialects.formats import ClientFormat, Operation, Wire
from services.gateway.dialects.view import View
from shared.sse import SSEEvent, encode_comment, encode_event, reencode


class StreamDecoder(Protocol):
    """Upstream SSE events → IR deltas. ``usage`` holds the totals so far; ``done`` turns True when the
    upstream's answer is complete by its meaning (a finish / stop reason, a terminal response event;
    chat's ``[DONE]`` too), not by how the body ends; ``closed`` when the stream's own closing frame
    (chat's ``[DONE]``, Anthropic's ``message_stop``) came; ``model`` is the model the upstream reported."""

    done: bool
    model: str | None

    @property
    def usage(self) -> ir.Usage | None: ...
    @property
    def closed(self) -> bool: ...

    def feed(self, ev: SSEEvent) -> list[ir.Delta]: ...
    def finish(self) -> list[ir.Delta]: ...


class StreamEncoder(Protocol):
    """IR deltas → client SSE bytes. After ``feed(StreamError)`` the stream is over."""

    def feed(self, d: ir.Delta) -> bytes: ...
    def finish(self) -> bytes: ...

    def opened(self, opening: Opening) -> None:
        """The client already has ``opening.frames`` events of its answer's opening (``_opening``), sent for
        an earlier route: write none of it and keep its id (no frames: write it as usual)."""
        ...


class ErrorWords(Protocol):
    """A translated upstream error's meaning in a format's words: (status, message, code), from the meaning,
    the upstream status, its message and the output tokens the refused request asked for (None: unknown)."""

    def __call__(
        self, meaning: em.Meaning, status: int, message: str, asked_output: int | None = None, /
    ) -> em.Words: ...


class ErrorBody(Protocol):
    def __call__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]: ...


# One upstream SSE event, its decoded deltas, the call and the stream's decoder (after it read the event: what
# the event left it holding, ``ChatStreamDecoder.holds_null``) → the bytes a same-format client gets. An event
# that carries only a token (``WireSpec.token_event``) must come back as it was (``reencode``): a relay
# passes such events on without decoding them or calling the filter.
FrameFilter = Callable[[SSEEvent, list[ir.Delta], View, Any], bytes]


# ``PassFrames.tail``: (the stream's decoder, the data of the read's last frames) → (each frame kept as it came
# or dropped, their decoding for later) or None
TailPlan = Callable[[Any, list[str]], "tuple[list[bool], Callable[[], list[ir.Delta]]] | None"]


@dataclass(frozen=True, slots=True)
class PassFrames:
    """The frame filter a relayed stream of a client's own API goes through for one call.

    ``keep`` sees each frame a relay decodes. ``untouched``: True for an event ``keep`` returns as it came
    whatever it decodes to, so that a relay may let such an event of a quiet name
    (``WireSpec.quiet_events``) by undecoded, as it does without a filter (None: no event)."""

    keep: FrameFilter
    untouched: Callable[[SSEEvent], bool] | None = None
    # ``tail(decoder, datas)``: what ``keep`` gives of the frames left in the body's last read once the
    # stream has its first token, before the decoder reads them: ``datas``, each frame's data (usual
    # one-line ``data:`` frames), → per frame, returned as it came (True) or dropped (False), and a call
    # that decodes them later, giving their deltas in order (the same deltas and decoder state as
    # decoding them now); None when unsure (the relay decodes them now). A passthrough relay then ends
    # the client's answer before decoding them (``relay.Relay.feed_last``). None: no such test.
    tail: TailPlan | None = None


# The client's body, the target model, and the client's session (from its headers) → the upstream body.
Translate = Callable[[dict[str, Any], Target, Session], TranslatedRequest]
Render = Callable[[ir.Completion, View], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One client format."""

    name: ClientFormat
    wire: Wire  # the wire that speaks this same API (passthrough)
    parse: Callable[[dict[str, Any]], ParsedRequest]  # raises TranslationError (→ 400)
    error_body: ErrorBody
    client_status: Callable[[int], int]  # the status this client expects for an upstream status
    stream_error: Callable[[int, str], bytes]  # an error after the stream began
    error_words: ErrorWords  # a translated upstream error's meaning in this format's words
    encoder: Callable[[View], StreamEncoder]
    render: Render
    # The frame filter a relayed stream of this same API goes through for one call, or None: the bytes go
    # back exactly as they came.
    passthrough_frames: Callable[[View], PassFrames | None] = lambda view: None
    # For a stream that ``passthrough_frames`` leaves unfiltered: a search of each read's bytes (a match: the
    # read may hold an event the client's SDK cannot read, e.g. a blank one; the relay counts a CR or a leading
    # LF as one too, line ends the search does not read) and the filter the stream goes through from the first
    # read it matches (``relay.Passthrough._guarded``: the bytes before go as they came). None: no such test.
    blank_guard: tuple[Callable[[bytes], object], PassFrames] | None = None
    # With ``blank_guard``: a test of a read that begins at a frame's start (the body's first, one after a whole
    # event), whose first frame has no blank line before it for the search to find (True: the guard's filter
    # from that read on). None: none.
    odd_start: Callable[[bytes], bool] | None = None
    # With ``blank_guard``: the same test (the search, and ``odd_start``) of a read that begins at a frame's
    # start and holds usual named frames only, given as the read split at LF (``relay._usual_named``'s lines;
    # ``relay.Passthrough._watched``: the relay splits such a read to read it anyway). None: the search alone.
    odd_lines: Callable[[list[bytes]], bool] | None = None
    # What a relayed (untranslated) stream's client gets after STREAM_KEEPALIVE_S of upstream silence.
    keepalive: bytes = encode_comment("keep-alive")
    # A format whose keep-alives are numbered events once its answer's opening is out (Responses: a comment is
    # nothing to Codex's reader): the keep-alive numbered n. None: ``keepalive`` always (``proxy.OpenStream``).
    numbered_keepalive: Callable[[int], bytes] | None = None
    # The same for a passed-through stream: the keep-alive after the client's last bytes (numbered after the
    # last number in them), None when they hold none; a relay that sends one numbers the later events after it
    # (``relay.Passthrough.keepalive``). None: ``keepalive`` always.
    keepalive_after: Callable[[bytes], bytes | None] | None = None
    # What one frame a client of this format was sent is: part of its answer's opening, a keep-alive, or
    # (None) anything else (``_opening``); a client whose stream holds nothing else may still get its answer
    # from another route when the one that began it fails before its first token.
    opening_part: Callable[[SSEEvent], Part | None] = lambda ev: "keepalive" if ev.comment else None
    # The answer's id an opening frame gives, where the rest of the stream must keep it (``Opening.id``)
    opening_id: Callable[[SSEEvent], str | None] = lambda ev: None
    # A passed-through frame of this same API for a client that already has its answer's opening
    # (``relay.Relay.resume``): None to drop it (the upstream's own opening), else the event to send
    # (the same one, or one that keeps the opening's id). The dict: one call's memo (what a dropped
    # opening said that a later frame must carry), the same for each of its frames.
    reopened: Callable[[SSEEvent, Opening, dict[str, Any]], SSEEvent | None] = lambda ev, opening, memo: ev
    # An in-stream error for a client that has only ``opening`` and keep-alives (``resumed_error``), where
    # it must go on from the opening (Responses: its sequence numbers and response id); None: ``stream_error``.
    error_after_opening: Callable[[Opening, int, str], bytes] | None = None
    # An in-stream error for a passed-through stream whose upstream answer has begun, from the last bytes the
    # client got and the answer's id (None: unknown), where it must go on from them (Responses: the next
    # sequence number, the same response id); None: ``stream_error``.
    error_after_answer: Callable[[bytes, str | None, int, str], bytes] | None = None
    # An in-stream error's message saying the wait (seconds, None: unknown) an HTTP answer would give as its
    # ``retry-after`` header: the words this client's reader takes it from. Every format: OpenAI's "… (Please try
    # again in 30s.)", which Codex parses (``_retry_words``); Claude Code and the openai SDK read no wait in a
    # message, and a person reads these words as well as any.
    said_with_wait: Callable[[str, float | None], str] = said_with_wait
    # Whether the client that sent a streamed request with these headers acts on a translated route's rate limit
    # only when told inside a stream (``_retry_words.waits_only_in_stream``: Codex): its 429 is then a 200 stream
    # ending in the format's in-stream error, with the wait in its words. Default: never (an HTTP 429 and its
    # ``retry-after`` header, which the SDKs retry by).
    waits_only_in_stream: Callable[[Mapping[str, str]], bool] = lambda headers: False

    def opening(self, sent: bytes) -> Opening | None:
        """The opening ``sent`` (whole events a client got) holds when it holds nothing else but
        keep-alives, else None (``_opening.opening_frames``)."""
        return opening_frames(sent, self.opening_part, self.opening_id)

    def resumed_error(self, opening: Opening, status: int, message: str) -> bytes:
        """An in-stream error for a client whose stream holds only ``opening`` and keep-alives."""
        if self.error_after_opening is None:
            return self.stream_error(status, message)
        return self.error_after_opening(opening, status, message)

    def error_after(self, sent: bytes, answer_id: str | None, status: int, message: str) -> bytes:
        """An in-stream error for a passed-through stream whose answer has begun (``sent``: the last bytes the
        client got; ``answer_id``: the id the upstream's opening gave the answer)."""
        if self.error_after_answer is None:
            return self.stream_error(status, message)
        return self.error_after_answer(sent, answer_id, status, message)

    def resumed(self, opening: Opening, own: PassFrames | None) -> PassFrames:
        """The frame filter of a passed-through stream that continues ``opening`` (``relay.Passthrough
        .resume``): each frame through ``reopened`` (this upstream's own opening dropped), then through the
        call's own filter ``own``, if any. ``untouched``: an event ``reopened`` keeps as it is and ``own``
        leaves untouched (every such event without ``own``)."""
        reopened = self.reopened
        memo: dict[str, Any] = {}

        def keep(ev: SSEEvent, deltas: list[ir.Delta], view: View, decoder: Any) -> bytes:
            sent = reopened(ev, opening, memo)
            if sent is None:
                return b""
            return own.keep(sent, deltas, view, decoder) if own is not None else reencode(sent)

        inner = None if own is None else own.untouched

        def untouched(ev: SSEEvent) -> bool:
            if reopened(ev, opening, memo) is not ev:
                return False
            return own is None or (inner is not None and inner(ev))

        return PassFrames(keep, untouched)


@dataclass(frozen=True, slots=True)
class WireSpec:
    """One upstream wire."""

    name: Wire
    operation: Operation
    decoder: Callable[[], StreamDecoder]
    usage: Callable[[dict[str, Any]], ir.Usage]  # a whole answer → everything it bills, as IR usage
    completion: Callable[[dict[str, Any]], ir.Completion]
    error_meaning: Callable[[int, bytes], em.Meaning]  # what an error answer (status, body) means
    # Remove what the gateway minted (synthetic signatures, ekai.* tokens) from an outgoing body, in
    # place but copying what it changes; True if it changed anything (``_minted``).
    strip_minted: Callable[[dict[str, Any]], bool]
    # SSE event names (the ``event:`` field) whose data only ever carries tokens, never usage, a finish or
    # an error: a passthrough relay that forwards bytes unfiltered counts them as content without
    # decoding their JSON (most of a long stream). Sources: Anthropic "Streaming Messages" (event types;
    # usage rides on message_start/message_delta), OpenAI "Responses streaming events" (usage on
    # response.completed/incomplete/failed).
    content_events: frozenset[str] = frozenset()
    # The same for a wire whose events have no names (OpenAI chat): a new test for one stream's events,
    # given that stream's decoder, True for an event whose data carries only a token and would leave the
    # decoder's state (its ``model`` included) as it was, read without decoding it (a test may learn the
    # stream's shape as it goes). A frame filter passes such an event on unchanged.
    token_event: Callable[[StreamDecoder], Callable[[SSEEvent], bool]] | None = None
    # SSE event names whose data, once the stream has its first token, carries no fact a relay reports
    # (usage, finish, error, served model, keep-alive) unless it names one of the scan rule's marks
    # (``ScanRule.marked``): frames that announce or close a content part, a block or an item, and the
    # ``*.done`` repeats of streamed text. A passthrough relay counts such a frame as progress without
    # decoding it (the ones before the first token are decoded: they may carry it), through a frame filter
    # too when the filter leaves it untouched (``PassFrames.untouched``).
    # Sources: as ``content_events``; the decoders' own branches (``MessagesStreamDecoder.feed``,
    # ``ResponsesStreamDecoder._event``) read a fact only from the marks.
    quiet_events: frozenset[str] = frozenset()
    # SSE event names whose frame the decoder may tell, from its data alone (its ``inert(data) -> bool``,
    # no parse), would leave it as it is and report nothing: a passthrough relay lets such a frame by
    # undecoded, before the first token too. A malformed or different one is decoded, so its error still
    # falls back to the next route before the first token. (Responses: ``response.in_progress`` repeating
    # ``response.created``'s response object, ``response.content_part.added`` of the usual empty text.)
    inert_events: frozenset[str] = frozenset()
    # How a passthrough relay finds, by scanning bytes, the frames it must decode once the stream has its
    # first token (``_scan``); None: it decodes every frame.
    scan: ScanRule | None = None
    # ``feed`` of a frame that is no comment, given the stream's decoder and the frame's data bytes alone:
    # the same deltas and decoder state, or None, nothing changed, when unsure (the relay then makes the
    # frame's ``SSEEvent`` and calls ``feed``). A relay that splits a read into frames itself asks this of
    # a frame the decoder must read, without the event (Anthropic: ``MessagesStreamDecoder.feed_data``;
    # Responses: ``ResponsesStreamDecoder.feed_data``, whose ``inert_data`` then reads the inert names' bytes).
    frame_tap: Callable[[Any, bytes], list[ir.Delta] | None] | None = None
    # The frame that closes a stream of this wire (conformance §1.5 "MUST end the stream with
    # data: [DONE]", §2.4 ``message_stop``): a passthrough relay adds it when the upstream ended its
    # answer (a finish reason, a stop reason) but its body ended without it (bugcase 13).
    closing_frame: bytes = b""
    # A blank line and the event line of the frame that usually brings a stream's first token, then LF
    # (Responses: ``response.output_text.delta``): a passthrough relay that decodes the body's last read up to
    # its first token (``Passthrough.feed_last``) splits only the frames up to the first such frame before
    # the client's answer ends (``_feed_opening``). Empty: the whole read is split (the frames after the first
    # token are few, as in Anthropic's short answers: two splits cost more than one).
    token_line: bytes = b""
    # ``ends_stream(decoder, read)``: the read (whole frames, LF line ends) ends with a frame after which the
    # stream's decoder is closed, or was failed before it, whatever came before: a passthrough relay that has
    # the body's last read may then end the client's answer before decoding all of it (``Relay.feed_last``;
    # the decoder may keep what the test parsed). None: no such test (chat: its frame filter decides what the
    # client gets from decoded frames; its ``PassFrames.tail`` tells it from the frames' parses instead).
    ends_stream: Callable[[Any, bytes], bool] | None = None
    # ``ends_stream`` of a read of usual named frames, given as the read split at LF (``relay._usual_named``),
    # when the relay has split it already (the guard's test, ``Passthrough._watched``): the same answer read on
    # the last frame's lines, no search (session 28). None: ``ends_stream`` of the read.
    ends_lines: Callable[[Any, list[bytes]], bool] | None = None
    # True for a wire whose provider verifies thinking-block signatures and refuses foreign ones with a 400
    # (Anthropic): the proxy then retries once without the history's thinking (bugcase 04, s7 variant 04-g).
    verifies_signatures: bool = False
    # A 400 refusing part of the history the gateway wrote (its status, message, and the built body, changed in
    # place): True when the part was taken out and one retry is worth sending. Anthropic: thinking signed
    # elsewhere (``verifies_signatures``); chat: ``reasoning_content`` on a server that does not take it; Responses:
    # reasoning items whose ``encrypted_content`` OpenAI cannot verify (made for another organization or server).
    strip_refused: Callable[[int | None, str, dict[str, Any]], bool] | None = None
    # A passed-through whole answer's bytes (and the same answer parsed) → the bytes its client gets: the
    # same object unless the answer breaks the client API's contract in a way the gateway mends (chat:
    # tool arguments "" become "{}", bugcase 01-k). None: the bytes go back as they came.
    repair_answer: Callable[[bytes, dict[str, Any]], bytes] | None = None
    # ``repair_answer``'s test of the bytes alone: False when it would return them as they came (then a plain
    # answer may go out before it is parsed: ``whole_answer.looks_whole``). None with a repair: always parsed.
    mends_answer: Callable[[bytes], bool] | None = None
    # The same for a passed-through stream: the frames its client gets (before, after) the event that
    # ended the answer (``StreamDecoder.done`` turned True), read by the stream's decoder; a relay with a
    # frame filter adds them (chat: blank tool arguments get "{}", bugcase 01-k).
    repair_stream: Callable[[StreamDecoder, SSEEvent], tuple[bytes, bytes]] | None = None
    # Whether a passed-through error object says "context overflow" as this wire's own clients look for it
    # (``_error_meaning.said_in_client_words``): OpenAI's clients by code, Anthropic's by message.
    overflow_said: Callable[[dict[str, Any]], bool] = em.overflow_said_by_code
    # The failure a whole (non-streamed) answer's object tells although it came with a 2xx, else None (chat: a
    # finish reason that says the server cut the answer, ``openai_chat.cut_answer``); read before translating it.
    cut_answer: Callable[[dict[str, Any]], ir.StreamError | None] | None = None
    # ``cut_answer``'s test of the bytes alone: False when it would find no cut (then a plain answer may go out
    # before it is parsed: ``Proxy._relay_json``). None with a ``cut_answer``: always parsed.
    cuts_answer: Callable[[bytes], bool] | None = None
    # ``served_only_on(message)``: the wire a refusal's ``message`` on this wire says the model is served on only
    # (the chat wire: OpenAI's 404 "only supported in v1/responses", ``em.served_on_responses_only``), else None. A
    # provider that speaks that wire too learns it per model (``Provider.learn_only_wire``; bill35).
    served_only_on: Callable[[str], Wire | None] = em.served_anywhere


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A generation endpoint. ``prepare`` rewrites the body before a translation (never on passthrough);
    ``parse``, ``render`` and ``passthrough_operation`` override the client format's defaults."""

    path: str
    format: ClientFormat
    parse: Callable[[dict[str, Any]], ParsedRequest] | None = None
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    render: Render | None = None
    passthrough_operation: Operation | None = None


@dataclass(frozen=True, slots=True)
class Pairing:
    """How one call goes out on one wire and comes back."""

    client: ClientSpec
    wire: WireSpec
    translate: Translate | None  # None: passthrough
    # ``translate is not None``, set once (pairings are made at import): an attribute, not a property
    # call on every attempt
    translated: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "translated", self.translate is not None)


def _chat_passthrough_frames(ev: SSEEvent, deltas: list[ir.Delta], view: View, decoder: Any) -> bytes:
    """Chat frames go back unchanged, except the usage-only chunk the gateway asked for on the client's
    behalf (``stream_options.include_usage``)."""
    # The IR's delta classes are final: ``type(d) is`` is isinstance's answer without a call. A usage-only
    # chunk decodes to one UsageUpdate (two or more only when it is also the stream's first: MessageStart).
    if deltas and type(deltas[-1]) is ir.UsageUpdate and not ev.comment:
        if len(deltas) == 1 or all(type(d) is ir.UsageUpdate for d in deltas):
            return b""
    return _chat_own_frames(ev, deltas, view, decoder)


def _chat_own_frames(ev: SSEEvent, deltas: list[ir.Delta], view: View, decoder: Any) -> bytes:
    """Chat frames go back unchanged (the client asked for the usage chunk itself), except tool-call
    arguments sent as a JSON object, which become its JSON text (``oai.object_arguments_as_text``), and
    an event whose data is blank (``data:`` alone, or only empty ``data:`` lines: legal SSE, WHATWG
    dispatches it with empty data), which is dropped: every chat chunk is a JSON object (OpenAI API
    reference, "The chat completion chunk object") and the openai SDK parses every event's data as JSON,
    so a blank one stops it (s11 variant 18-g). Comments pass. An error event whose data is the error object itself
    (llama.cpp's ``error:`` line, ``shared.sse``) becomes the ``data: {"error": …}`` chunk the openai SDK raises on
    (``oai.stream_error_frame``): re-encoded as it came, the SDK took it for a chunk (s22 variant 10-l). Fragments
    of arguments that are ``null`` so far are blanked, and arguments encoded twice become the object's text
    (``oai.held_arguments_mended``; s23 variant 01-blank-vA, bug24a 01-twice-passthrough-vD). Tool calls sent
    without ``index`` (Gemini's OpenAI endpoint) are given theirs (``oai.indexes_given``; bug30a 01-vK)."""
    if not ev.comment and (not ev.data or ev.data.isspace()):
        return b""
    if ev.event is not None and ev.event == "error" and deltas and type(err := deltas[-1]) is ir.StreamError:
        return oai.stream_error_frame(err.status, err.message, err.body)
    indexed = None
    if '"tool_calls"' in ev.data and decoder.indexless_seen:
        indexed = oai.indexes_given(ev, decoder)
        if indexed is not None:
            ev = indexed
    if '"arguments":' in ev.data:  # a tool call's arguments (in a text chunk the quotes are escaped)
        fixed = oai.object_arguments_as_text(ev)
        if fixed is None and (decoder.null_seen or decoder.quoted_seen):
            fixed = oai.held_arguments_mended(ev, decoder)
        if fixed is not None:
            return fixed
    if indexed is not None:
        return encode_event(ev.data, ev.event, id=ev.id, retry=ev.retry)
    return reencode(ev)  # SSE-exact: multi-line data, id and retry survive (shared/sse.py)


def _chat_frames_for(view: View) -> PassFrames | None:
    """Always a filter, so that the wire's ``repair_stream`` frames can be added (a relay adds them only
    with one); when the client asked for the usage chunk itself, every frame is its own. Chat has no quiet
    names: a filter costs a chat stream a call per decoded frame, and no decoding."""
    return _CHAT_OWN if view.include_usage else _CHAT_PASSED


# Made once: a frozen dataclass costs a call per field to build, and every chat stream asks for one
_CHAT_OWN = PassFrames(_chat_own_frames, tail=partial(oai.ChatStreamDecoder.plan_tail, drop_usage=False))
_CHAT_PASSED = PassFrames(
    _chat_passthrough_frames, tail=partial(oai.ChatStreamDecoder.plan_tail, drop_usage=True)
)


def _responses_frames_for(view: View) -> PassFrames | None:
    """A filter from the start only for a client that declared tools: a function call's blank final arguments
    become "{}" (``openai_responses.passthrough_frame``, s8 variant 01-n); otherwise the bytes go as they came
    until a read may hold a blank event (``ClientSpec.blank_guard``: ``openai_responses.blank_end``), from
    which one on the stream goes through ``_RESPONSES_FRAMES``, which drops them (s25 variants 18-retry-resp-vF,
    18-blank-resp-vG, 18-evonly-resp-vH). The quiet frames it leaves untouched (all but those holding possibly
    blank final arguments) pass undecoded, as without it."""
    return _RESPONSES_FRAMES if view.tools else None


_RESPONSES_FRAMES = PassFrames(resp.passthrough_frame, resp.passes_unchanged)
# Anthropic's, from the first read with an odd frame (``anthropic.odd_frame``, ``odd_start``): events named
# as their data's type, data-less blocks dropped (``anthropic.passthrough_frame``)
_ANTHROPIC_FRAMES = PassFrames(anth.passthrough_frame, anth.passes_unchanged)


CLIENTS: dict[ClientFormat, ClientSpec] = {
    "openai_chat": ClientSpec(
        name="openai_chat",
        wire="openai_chat",
        parse=oai.parse_request,
        error_body=oai.error_body,
        client_status=oai.client_status,
        stream_error=oai.stream_error_frame,
        opening_part=oai.opening_part,
        reopened=oai.reopened,
        error_words=em.words_for_openai,
        encoder=oai.encoder_for,
        render=oai.render,
        passthrough_frames=_chat_frames_for,
    ),
    "anthropic": ClientSpec(
        name="anthropic",
        wire="anthropic",
        parse=anth.parse_request,
        error_body=anth.error_body,
        client_status=anth.client_status,
        stream_error=anth.stream_error_frame,
        opening_part=anth.opening_part,
        reopened=anth.reopened,
        error_words=em.words_for_anthropic,
        encoder=anth.encoder_for,
        render=anth.render,
        keepalive=encode_event(b'{"type":"ping"}', "ping"),  # Claude Code's idle watchdog counts events
        blank_guard=(anth._ODD_FRAME, _ANTHROPIC_FRAMES),
        odd_start=anth.odd_start,
        odd_lines=anth.odd_lines,
    ),
    "openai_responses": ClientSpec(
        name="openai_responses",
        wire="openai_responses",
        parse=resp.parse_request,
        error_body=resp.client_error_body,
        client_status=resp.client_status,
        stream_error=resp.stream_error,
        opening_part=resp.opening_part,
        opening_id=resp.opening_id,
        reopened=resp.reopened,
        numbered_keepalive=resp.keepalive_event,
        keepalive_after=resp.keepalive_after,
        error_after_opening=resp.resumed_error,
        error_after_answer=resp.error_after_answer,
        error_words=em.words_for_openai,
        waits_only_in_stream=waits_only_in_stream,
        encoder=resp.encoder_for,
        render=resp.render,
        passthrough_frames=_responses_frames_for,
        blank_guard=(resp._BLANK_END, _RESPONSES_FRAMES),
        odd_lines=resp.blank_lines,
    ),
}

# Token-only events by name (``WireSpec.content_events``).
_ANTHROPIC_TOKENS = frozenset({"content_block_delta"})
_RESPONSES_TOKENS = frozenset(
    {
        "response.output_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.function_call_arguments.delta",
    }
)

# Names quiet once a stream has its first token (``WireSpec.quiet_events``).
_ANTHROPIC_QUIET = frozenset({"content_block_start", "content_block_stop"})
_RESPONSES_QUIET = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.done",
        "response.refusal.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.done",
        "response.reasoning_text.done",
        "response.function_call_arguments.done",
    }
)

WIRES: dict[Wire, WireSpec] = {
    "openai_chat": WireSpec(
        name="openai_chat",
        operation="chat",
        decoder=oai.ChatStreamDecoder,
        usage=oai.answer_usage,
        completion=oai.completion_from_chat,
        error_meaning=em.meaning_from_openai,
        strip_minted=minted.strip_nothing,
        token_event=oai.TextChunks,
        scan=scan.CHAT,
        closing_frame=oai.DONE_FRAME,
        repair_answer=oai.repair_empty_arguments,
        mends_answer=oai.may_mend_answer,
        repair_stream=oai.repair_stream,
        strip_refused=minted.strip_refused_for_chat,
        cut_answer=oai.cut_answer,
        cuts_answer=oai.may_cut_answer,
        served_only_on=em.served_on_responses_only,
    ),
    "anthropic": WireSpec(
        name="anthropic",
        operation="messages",
        decoder=anth.MessagesStreamDecoder,
        usage=anth.answer_usage,
        completion=anth.completion_from_messages,
        error_meaning=em.meaning_from_anthropic,
        strip_minted=minted.strip_for_anthropic,
        content_events=_ANTHROPIC_TOKENS,
        quiet_events=_ANTHROPIC_QUIET,
        scan=scan.named_rule(_ANTHROPIC_TOKENS, scan.ANTHROPIC_MARKS),
        frame_tap=anth.MessagesStreamDecoder.feed_data,
        closing_frame=anth.STOP_FRAME,
        ends_stream=anth.ends_stream,
        verifies_signatures=True,
        strip_refused=minted.strip_refused_thinking,
        overflow_said=em.overflow_said_by_anthropic,
    ),
    "openai_responses": WireSpec(
        name="openai_responses",
        operation="responses",
        decoder=resp.ResponsesStreamDecoder,
        usage=resp.billed_usage,
        completion=resp.completion_from_responses,
        error_meaning=em.meaning_from_openai,
        strip_minted=minted.strip_for_responses,
        strip_refused=minted.strip_refused_for_responses,
        repair_answer=resp.repair_blank_arguments,
        mends_answer=resp.may_mend_answer,
        content_events=_RESPONSES_TOKENS,
        quiet_events=_RESPONSES_QUIET,
        inert_events=frozenset({"response.in_progress", "response.content_part.added"}),
        scan=scan.named_rule(_RESPONSES_TOKENS, scan.RESPONSES_MARKS),
        frame_tap=resp.ResponsesStreamDecoder.feed_data,
        token_line=b"\n\nevent: response.output_text.delta\n",
        ends_stream=resp.ends_stream,
        ends_lines=resp.ends_lines,
    ),
}

PAIRS: dict[tuple[ClientFormat, Wire], Translate | None] = {
    ("openai_chat", "openai_chat"): None,
    ("openai_chat", "anthropic"): tr.chat_to_anthropic,
    ("anthropic", "anthropic"): None,
    ("anthropic", "openai_chat"): tr.anthropic_to_chat,
    ("anthropic", "openai_responses"): tr.anthropic_to_responses,
    ("openai_chat", "openai_responses"): tr.chat_to_responses,
    ("openai_responses", "openai_responses"): None,
    # A Responses body reaches its translator validated: the client format's parse (``parse_request``,
    # ``parse_compact_request``) runs first, and ``compact_to_responses`` keeps a valid body valid.
    ("openai_responses", "openai_chat"): partial(tr.responses_to_chat, validated=True),
    ("openai_responses", "anthropic"): partial(tr.responses_to_anthropic, validated=True),
}

ENDPOINTS: dict[str, Endpoint] = {
    "/v1/chat/completions": Endpoint("/v1/chat/completions", "openai_chat"),
    "/v1/messages": Endpoint("/v1/messages", "anthropic"),
    "/v1/responses": Endpoint("/v1/responses", "openai_responses"),
    # Codex's remote compaction: passed through to OpenAI; elsewhere one summarising request to the routed
    # model, answered with one compaction item (docs/responses.md, "Compaction").
    "/v1/responses/compact": Endpoint(
        "/v1/responses/compact",
        "openai_responses",
        parse=resp.parse_compact_request,
        prepare=tr.compact_to_responses,
        render=resp.render_compact,
        passthrough_operation="responses_compact",
    ),
}
# Other paths under a prefix speak that prefix's format (count_tokens, models with anthropic-version).
_PREFIXES: tuple[tuple[str, ClientFormat], ...] = (
    ("/v1/messages", "anthropic"),
    ("/v1/responses", "openai_responses"),
)
DEFAULT_FORMAT: ClientFormat = "openai_chat"
# a request on a path any client may call (``/v1/models``, an unknown one) says its format by a header its
# SDK always sends: Anthropic's send ``anthropic-version`` (and get their models list in their shape)
_MARKER_HEADERS: tuple[tuple[str, ClientFormat], ...] = (("anthropic-version", "anthropic"),)


# every pairing made once (frozen): an attempt looks its own up instead of building one (session 13)
_PAIRINGS: dict[tuple[ClientFormat, Wire], Pairing] = {
    (fmt, wire): Pairing(CLIENTS[fmt], WIRES[wire], translate) for (fmt, wire), translate in PAIRS.items()
}


def pairing(fmt: ClientFormat, wire: Wire) -> Pairing:
    """The pairing for a client format on a wire. KeyError only if the registry is incomplete."""
    return _PAIRINGS[(fmt, wire)]


def upstream_error_meaning(wire: Wire, status: int, body: bytes | None, message: str) -> em.Meaning:
    """What an upstream error means (context overflow, rate limit, …), read by ``wire``'s reader from the
    error's body, or, for an error told inside a stream where no body came, from its message
    (``_error_meaning.told_in_stream``)."""
    return WIRES[wire].error_meaning(status, body or em.told_in_stream(message))


def over_the_limit_itself(message: str) -> bool:
    """Whether a refusal says the request alone exceeds the limit it hit (``_error_meaning.over_the_limit_itself``)."""
    return em.over_the_limit_itself(message)


def quota_exhausted(status: int | None, body: bytes) -> bool:
    """Whether an upstream error is a 429 for a quota or credit used up (``_error_meaning.quota_exhausted``)."""
    return em.quota_exhausted(status, body)


def retry_advice(meaning: em.Meaning) -> dict[str, str]:
    """Retry headers for an upstream error of that meaning (``_error_meaning.retry_advice``)."""
    return em.retry_advice(meaning)


def said_in_client_words(wire: Wire, meaning: em.Meaning, body: bytes) -> bool:
    """Whether a same-format error body of ``wire`` says its meaning as that format's clients look for it
    (``_error_meaning.said_in_client_words``, with the wire's ``overflow_said``)."""
    return em.said_in_client_words(meaning, body, WIRES[wire].overflow_said)


def client(fmt: ClientFormat) -> ClientSpec:
    return CLIENTS[fmt]


def path_meant(path: str) -> str | None:
    """The generation endpoint a request for an unknown ``path`` most likely meant, when its base URL was
    off by ``/v1``: ``/chat/completions`` (an OpenAI SDK given the host alone) or ``/v1/v1/messages`` (an
    Anthropic SDK given ``…/v1``, which it adds itself) → the endpoint's path; else None."""
    for known in ENDPOINTS:
        if path != known and (path.endswith(known) or "/v1" + path == known):
            return known
    return None


def format_for_path(path: str) -> ClientFormat:
    """The client format a request path speaks, for errors outside a generation handler (404, 405, 413)."""
    endpoint = ENDPOINTS.get(path) or ENDPOINTS.get(path_meant(path) or "")
    if endpoint is not None:
        return endpoint.format
    return next((fmt for prefix, fmt in _PREFIXES if path.startswith(prefix)), DEFAULT_FORMAT)


def format_for_request(path: str, headers: Mapping[str, str]) -> ClientFormat:
    """``format_for_path``, except that on a path no format owns (``/v1/models``, an unknown one) a
    client's marker header names its format: an Anthropic SDK listing models with a wrong key gets
    Anthropic's 401, as it gets Anthropic's list with a right one."""
    endpoint = ENDPOINTS.get(path) or ENDPOINTS.get(path_meant(path) or "")
    if endpoint is None and not any(path.startswith(prefix) for prefix, _ in _PREFIXES):
        for header, fmt in _MARKER_HEADERS:
            if header in headers:
                return fmt
    return format_for_path(path)


def error_response_body(
    fmt: ClientFormat,
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The error object a client of ``fmt`` expects for ``status``."""
    return CLIENTS[fmt].error_body(status, message, code, param, request_id)


def choose_wire(fmt: ClientFormat, wires: tuple[Wire, ...]) -> Wire:
    """The wire to use with a provider that speaks ``wires`` (best first): the client's own format when the
    provider speaks it (passthrough, nothing lost), else the provider's first."""
    own = CLIENTS[fmt].wire
    return own if own in wires else wires[0]
