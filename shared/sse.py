"""Server-sent events: an incremental, I/O-free decoder and an encoder, both as the WHATWG HTML standard
defines the format ("Interpreting an event stream",
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

Decoding, exactly as the spec says:
- the stream is UTF-8 (invalid bytes become U+FFFD) and one leading byte order mark is ignored;
- lines end in CRLF, LF or CR; a chunk may split a line, a CRLF pair or a character anywhere;
- a blank line dispatches the event; a line starting with ``:`` is a comment; otherwise the field name
  is what precedes the first ``:`` (the whole line when there is none) and the value what follows it,
  less one leading space;
- ``data`` values are joined with LF (several ``data:`` lines make one value); ``event`` sets the type;
  ``id`` (unless it contains NUL) sets the last event id, which persists; ``retry`` (ASCII digits only)
  sets the reconnection time; other fields are ignored;
- an event whose data buffer is empty is not dispatched, and at the end of the stream a pending event
  without its blank line is discarded.

Two additions a relay needs: comment lines are reported (``SSEEvent.comment``) so keep-alives can be
forwarded or translated, and each event carries the ``id``/``retry`` fields given in its own block so a
relay can re-emit them. One departure: an ``error`` field, which the spec ignores, counts as ``event: error``
with its value as data. llama.cpp's server writes the error that ends a stream so (``server_sent_event(sink,
"error", error_data)``: ``error: {"code": 400, "message": …, "type": "exceed_context_size_error", …}``, then
``data: [DONE]``); ignored, its refusal reached clients as an empty, successful answer (s22 variants 10-a, 10-b). ``encode_event`` writes one ``data:`` line per line of the value, so any value,
multi-line JSON included, decodes back to itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

_BOM = "\ufeff".encode()


# Not ``frozen``: a frozen dataclass sets each field through ``object.__setattr__`` (a call per field), and
# the decoder makes one event per upstream frame (1.9 → 0.56 µs each). Nothing changes an event once made.
# The decoder's usual frames make theirs with positional arguments, in field order: keywords cost more
# than the ``__init__`` itself (13 events: 17.2 → 7.7 µs, session 8 on the shared VM).
@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str
    comment: bool = False  # a `: ...` line (keep-alive); data holds its text, less one leading space
    id: str | None = None  # the `id:` field given in this event's block, if any
    retry: int | None = None  # the `retry:` field given in this event's block, if any
    # The frame's own bytes when they are exactly what ``reencode`` would make (the decoder's usual
    # frame: valid UTF-8, no CR); ``reencode`` then returns them as they are.
    raw: bytes | None = field(default=None, compare=False, repr=False)


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far.

    Cursor-based: each ``feed`` joins the kept tail to the new chunk once, scans lines with an index and
    slices the unconsumed tail once at the end. ``last_event_id`` is the spec's last event ID buffer.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the previous line ended in CR: an LF right after it belongs to it
        self._bom_checked = False
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self.last_event_id = ""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[SSEEvent] = []
        pos, n = 0, len(buf)
        if not self._bom_checked:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._buf = buf
                return out  # could still be a BOM: wait for more
            self._bom_checked = True
            if buf.startswith(_BOM):
                pos = len(_BOM)
        if self._skip_lf and pos < n:
            self._skip_lf = False
            if buf[pos] == 0x0A:
                pos += 1
        idle = self._idle()  # changes only on the line-by-line path below
        if idle and pos < n:  # a run of usual frames at once (most reads: whole events, ASCII JSON)
            out, pos = _usual_frames(buf, pos)
        while pos < n:
            if idle and (framed := _usual_frame(buf, pos)) is not None:
                out.append(framed[0])
                pos = framed[1]
                continue
            lf = buf.find(b"\n", pos)
            cr = buf.find(b"\r", pos, lf if lf != -1 else n)
            end = cr if cr != -1 else lf
            if end == -1:
                break
            ev = self._line(buf[pos:end].decode("utf-8", errors="replace"))
            if ev is not None:
                out.append(ev)
            idle = self._idle()
            pos = end + 1
            if cr != -1:  # CR, or CRLF
                if pos < n:
                    if buf[pos] == 0x0A:
                        pos += 1
                else:
                    self._skip_lf = True
        self._buf = buf[pos:] if pos < n else b""
        return out

    def passed(self) -> None:
        """The caller read whole frames of the stream itself, at a boundary (``at_boundary``), and none of
        them began with a byte order mark: the stream's start is behind, and nothing is pending."""
        self._bom_checked = True

    def _idle(self) -> bool:
        """No field of an event is pending (the next line starts a new event)."""
        return not self._data and self._event is None and self._id is None and self._retry is None

    @property
    def at_boundary(self) -> bool:
        """Nothing of an event is pending: bytes written now cannot land inside an upstream event."""
        return (
            not self._buf
            and not self._skip_lf
            and not self._data
            and self._event is None
            and self._id is None
            and self._retry is None
        )

    @property
    def after_cr(self) -> bool:
        """The last byte fed ended a line with CR: an LF next belongs to it (CRLF)."""
        return self._skip_lf

    @property
    def mid_line(self) -> bool:
        """Bytes of a line that has not ended yet are buffered."""
        return bool(self._buf)

    @property
    def pending(self) -> bool:
        """Bytes of an event that has not ended yet are buffered (a body that stops here was cut off)."""
        return bool(self._buf or self._data or self._event is not None)

    def completion_of(self, frame: bytes) -> bytes | None:
        """The bytes that, written after everything fed so far, finish ``frame``, when the pending,
        unfinished event is a beginning of it; else None. ``frame``: one whole event in LF line endings
        whose last field is a single ``data`` line (a wire's closing frame). A body cut inside its closing
        frame has passed that beginning on to a client already; the rest makes it the closing frame again
        instead of an event with half a JSON text (s10 variant 13-x). Whitespace the data's JSON text may
        hold is skipped when comparing (``{"type": "mess`` continues as ``age_stop"}``)."""
        if self._data or self._id is not None or self._retry is not None or self._skip_lf:
            return None
        if self._event is None:
            return frame[len(self._buf) :] if frame.startswith(self._buf) else None
        head, _, rest = frame.partition(b"\n")
        if head.decode("utf-8", errors="replace") != f"event: {self._event}" or not rest.startswith(b"data:"):
            return None
        want = rest[5:].lstrip(b" ").rstrip(b"\n")
        if not self._buf.startswith(b"data:"):
            return None if self._buf else b"data: " + want + b"\n\n"
        got = b"".join(self._buf[5:].split())
        return want[len(got) :] + b"\n\n" if want.startswith(got) else None

    @property
    def ends_whole(self) -> bool:
        """The bytes of a line that has not ended (``mid_line``) are a ``data`` line (or llama.cpp's ``error`` line,
        read as data: the module docstring) that makes the pending event's data whole: one JSON object with the data lines before it (joined with LF, as the event's value is), or
        OpenAI's ``[DONE]`` (spaces and tabs around the line's value aside).

        A server that writes each event's blank line before the next event instead of after its own, or a
        proxy that trims a body's trailing whitespace, closes the body right after the last event's JSON text:
        that event is whole though its line never ended. Half a JSON text (a body cut inside the line) is not:
        it does not parse (bug32b variants 13vD, 13vL, 13vM, 13vO: the finish chunk, or the usage chunk after
        it, so ended was a 502 broken_stream or a ledger row of 0 tokens; 13vS, 13vT: the usage chunk's JSON
        over two data lines, bugcase 18's framing). One parse, asked only when a body has ended inside a line
        (``flush``, the relays' ``finish``). fix33 item 3: llama.cpp's ``error: {…}`` line unended, the error that
        ends its stream, was not read (a 502 "stream ended before its first token" for its 400 overflow)."""
        buf = self._buf
        if buf.startswith(b"data:"):
            value = buf[5:].strip(b" \t")
            if value == b"[DONE]" and not self._data:
                return True
        elif buf.startswith(b"error:"):  # llama.cpp's stream error line (module docstring; fix33 item 3)
            value = buf[6:].strip(b" \t")
        else:
            return False
        if self._data:  # the event's earlier data lines: the value is theirs and this one's, joined with LF
            value = "\n".join(self._data).encode() + b"\n" + value
        value = value.strip()
        if value[:1] != b"{" or value[-1:] != b"}":
            return False
        try:
            return type(orjson.loads(value)) is dict
        except orjson.JSONDecodeError:
            return False

    def flush(self, ended: bool = False) -> list[SSEEvent]:
        """End of stream. A comment line still counts; an event without its blank line is discarded, unless
        ``ended`` and every line of it ended (a line break after the last), or its last line is a whole
        ``data`` line (``ends_whole``): then it is dispatched as if its blank line had come. That lenience is
        the relays': some servers close right after an event's last line (s8 variant 13-k: the usage chunk),
        or right after its JSON text (bug32b variant 13vO), and a relay must not lose what that event says."""
        out: list[SSEEvent] = []
        if self._buf:
            whole = ended and self.ends_whole
            line = self._buf.decode("utf-8", errors="replace")
            self._buf = b""
            if line.startswith(":"):
                out.append(_comment(line))
            elif whole:
                self._line(line)
                if (ev := self._dispatch()) is not None:
                    out.append(ev)
        elif ended and (ev := self._dispatch()) is not None:
            out.append(ev)
        self._event, self._data, self._id, self._retry = None, [], None, None
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line[0] == ":":
            return _comment(line)
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "error":  # llama.cpp's stream error (module docstring)
            self._event = "error"
            self._data.append(value)
        elif name == "id":
            if "\x00" not in value:
                self._id = self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event, id_, retry = self._data, self._event, self._id, self._retry
        self._event, self._data, self._id, self._retry = None, [], None, None
        if not data:
            return None
        return SSEEvent(event=event or None, data="\n".join(data), id=id_, retry=retry)


def _usual_frame(buf: bytes, pos: int) -> tuple[SSEEvent, int] | None:
    """The event of the usual whole frame at ``pos`` (``data: …`` LF LF, or ``event: …`` LF first) and the
    position after it: what its lines make when nothing is pending. None for anything else (a CR, more
    fields or lines, invalid UTF-8, a frame not yet whole): the caller then goes line by line.

    Its one or two lines are found by their LFs (a scan as long as the frame), then decoded at once."""
    lf = buf.find(b"\n", pos)
    if lf == -1:
        return None
    named = buf.startswith(b"event: ", pos)
    if named and (lf := buf.find(b"\n", lf + 1)) == -1:
        return None
    if buf[lf + 1 : lf + 2] != b"\n":  # no blank line right after: not a whole usual frame
        return None
    try:
        text = buf[pos:lf].decode()
    except UnicodeDecodeError:
        return None  # the line-by-line path replaces what is not UTF-8
    if "\r" in text:
        return None
    event: str | None = None
    if named:
        head, _, text = text.partition("\n")
        event = head[7:]
        if not event:
            return None  # ``event:`` empty: no name, and not a frame reencode would write back
    if not text.startswith("data: "):  # (text is one line now)
        return None
    return SSEEvent(event, text[6:], False, None, None, buf[pos : lf + 2]), lf + 2


def usual_frame(buf: bytes, pos: int) -> tuple[SSEEvent, int] | None:
    """The event of the usual whole frame at ``pos`` of ``buf`` and the position after it, or None
    (``_usual_frame``): for a caller that reads a read's first frames itself, one at a time, while its
    ``SSEDecoder`` is ``at_boundary``, and feeds the decoder the bytes after the last frame it took
    (calling ``SSEDecoder.passed`` first when it took any). The events are the ones ``SSEDecoder.feed``
    makes of the same frames: it reads them with this same function, or ``_usual_frames`` (the same
    shapes, asserted by ``tests/unit/test_translator_lazy17.py``)."""
    return _usual_frame(buf, pos)


def _usual_frames(buf: bytes, pos: int) -> tuple[list[SSEEvent], int]:
    """The events of the run of usual whole frames at ``pos`` (``_usual_frame``'s shapes) and the position
    after it, read in one pass over their text: only for a buffer that is all ASCII with no CR (else
    ``([], pos)``, and ``_usual_frame`` reads frame by frame). The run stops at the first frame of another
    shape, or the start of one not yet whole; the caller goes on from there.

    ASCII: a character is a byte, so each frame's own bytes (``raw``) are a slice of ``buf`` at the
    positions its text has. Each piece between two blank lines (``split``) is one frame's lines."""
    if not buf.isascii() or b"\r" in buf:
        return [], pos
    out: list[SSEEvent] = []
    pieces = buf[pos:].decode("ascii").split("\n\n")
    pieces.pop()  # after the last blank line: the start of a frame not yet whole (or nothing)
    for piece in pieces:
        end = pos + len(piece) + 2
        if piece.startswith("data: "):
            if "\n" in piece:
                break
            out.append(SSEEvent(None, piece[6:], False, None, None, buf[pos:end]))
        elif piece.startswith("event: "):
            head, _, line = piece.partition("\n")
            if len(head) == 7 or not line.startswith("data: ") or "\n" in line:
                break  # an empty name, or not the one data line after the name
            out.append(SSEEvent(head[7:], line[6:], False, None, None, buf[pos:end]))
        else:
            break
        pos = end
    return out, pos


def _comment(line: str) -> SSEEvent:
    text = line[1:]
    return SSEEvent(event=None, data=text[1:] if text[:1] == " " else text, comment=True)


def encode_event(
    data: bytes | str, event: str | None = None, *, id: str | None = None, retry: int | None = None
) -> bytes:
    """One SSE frame. A value with line breaks goes out as one ``data:`` line per line."""
    if isinstance(data, str):
        data = data.encode()
    head = b""
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    if retry is not None:
        head += b"retry: " + str(retry).encode() + b"\n"
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    return head + b"data: " + data + b"\n\n"


def encode_comment(text: str = "") -> bytes:
    """A comment (keep-alive), one ``:`` line per line of ``text``, with no blank line after it: the
    spec ignores comments, but some clients (the openai SDK) dispatch an empty event at a blank line
    once an ``id:`` was seen, and an empty event is not JSON."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "".join(f": {line}\n" if line else ":\n" for line in lines).encode()


def reencode(ev: SSEEvent) -> bytes:
    """The bytes of a decoded event (or comment) that decode back to the same event."""
    if ev.raw is not None:
        return ev.raw
    if ev.comment:
        return encode_comment(ev.data)
    return encode_event(ev.data, ev.event, id=ev.id, retry=ev.retry)
