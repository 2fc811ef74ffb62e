"""Server-sent events: an incremental, I/O-free decoder and an encoder (WHATWG framing rules)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class SSEEvent:
    event: str | None
    data: str
    comment: bool = False  # a `: ...` line on its own (keep-alive); data holds its text


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far.

    Lines may end in LF, CRLF or CR; a chunk may split a line or a multi-byte character anywhere, so
    incomplete bytes are kept until the next feed. Comment lines are reported as ``comment`` events so a
    translator can turn keep-alives into the client's own keep-alive.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buf += chunk
        out: list[SSEEvent] = []
        while True:
            idx = _line_end(self._buf)
            if idx is None:
                break
            end, skip = idx
            line = self._buf[:end].decode("utf-8", errors="replace")
            self._buf = self._buf[end + skip :]
            ev = self._line(line)
            if ev is not None:
                out.append(ev)
        return out

    @property
    def pending(self) -> bool:
        """Bytes of an event that has not ended yet are buffered (a body that stops here was cut off)."""
        return bool(self._buf or self._data or self._event is not None)

    def flush(self) -> list[SSEEvent]:
        """End of stream: a final event without its blank line still counts."""
        out: list[SSEEvent] = []
        if self._buf:
            ev = self._line(self._buf.decode("utf-8", errors="replace"))
            self._buf = b""
            if ev is not None:
                out.append(ev)
        ev = self._dispatch()
        if ev is not None:
            out.append(ev)
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return SSEEvent(event=None, data=line[1:].strip(), comment=True)
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and self._event is None:
            return None
        ev = SSEEvent(event=self._event, data="\n".join(self._data))
        self._event, self._data = None, []
        return ev


def _line_end(buf: bytes) -> tuple[int, int] | None:
    lf = buf.find(b"\n")
    cr = buf.find(b"\r")
    if cr == -1 and lf == -1:
        return None
    if cr != -1 and (lf == -1 or cr < lf):
        if cr + 1 == len(buf):
            return None  # a CR at the end may be the first half of CRLF: wait for more
        return (cr, 2) if buf[cr + 1 : cr + 2] == b"\n" else (cr, 1)
    return (lf, 1)


def encode_event(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE frame. ``data`` must be a single line (JSON from orjson is)."""
    if isinstance(data, str):
        data = data.encode()
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def encode_comment(text: str = "") -> bytes:
    return b": " + text.encode() + b"\n\n"
