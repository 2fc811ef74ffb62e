"""A passed-through whole answer's top-level fields, read from its bytes without parsing all of it (pure).

A plain answer relayed in its own format goes back as it came; the gateway reads only a few top-level
fields of it (the usage, the served model, the service tier, the test for a 200 carrying an ``error``).
``fields`` parses the two short runs of the answer that hold them, its head (the scalar members before the
first array or object) and its tail (from the first wanted member after the head to the end), instead of
the whole answer, whose content is most of its bytes. It returns the same values the full parse
(``orjson.loads``) gives for those keys, or None when it cannot be sure (the caller then parses it all).

Why the values are the full parse's (RFC 8259):

1. Inside a JSON string a quote is always escaped (section 7), so the bytes ``"usage"`` (both quotes
   unescaped) are a string token whose text is ``usage``, never text inside a string (text that quotes
   it shows as ``\\"usage\\"``), unless a key is spelled with ``\\u`` escapes: an answer holding ``\\u``
   is refused (so is one with any byte above 127: its middle, not parsed here, is then ASCII and cannot be
   invalid UTF-8 either).
2. Each wanted key's token must occur once in the answer (``bytes.count``): no duplicate member (the full
   parse keeps the last), no nested member of the same name, no string value of that text to mistake.
3. The head, the answer up to the last comma before its first ``[`` or ``{`` (after the opening brace),
   closed with ``}``, is a prefix of the answer: if it parses, its keys are the answer's top-level keys
   (a comma inside a string leaves the head's string unterminated: it does not parse).
4. The tail begins at ``,"key":`` (a comma then an unescaped quote: a key token) and runs to the end. Given
   one ``{`` in front, it parses only if that key is at the top level: a nested key's run closes its
   enclosing arrays or objects too, one bracket more than the ``{`` opens.
5. Each wanted key found in the answer must be in the head or the tail, else None.

What is not checked: that the middle (between head and tail, the content) is valid JSON. A provider's
answer broken there (not truncated: the tail must parse, and the answer must end with ``}``) goes to the
client as it came, where the full parse answered 502 ``bad_response``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class AnswerRule:
    """What one wire's whole-answer reader needs: ``keys``, the top-level members it reads (``usage``
    must be present: an answer without it is parsed whole), and ``unsure``, bytes that send an answer to
    the full parse (what a reader or a repair reads outside those members: chat's tool calls, ...)."""

    keys: tuple[str, ...]
    unsure: tuple[bytes, ...] = ()
    _tokens: tuple[tuple[str, bytes, bytes], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tokens = tuple((k, b'"%s"' % k.encode(), b',"%s":' % k.encode()) for k in self.keys)
        object.__setattr__(self, "_tokens", tokens)


def fields(raw: bytes, rule: AnswerRule) -> dict[str, Any] | None:
    """The top-level members ``rule.keys`` of the JSON object ``raw`` holds (those it has), as
    ``orjson.loads(raw)`` gives them, or None when unsure (module docstring): not an object that begins
    with ``{`` and ends with ``}``, non-ASCII bytes, a ``\\u`` escape, one of ``rule.unsure``, a wanted key
    twice or where neither the head nor the tail holds it, no ``"usage"`` at all, unusual spacing
    (``, "usage" :``). Never raises."""
    if raw[:1] != b"{" or raw[-1:] != b"}" or b"\\u" in raw or not raw.isascii():
        return None
    for mark in rule.unsure:
        if mark in raw:
            return None
    brace, bracket = raw.find(b"{", 1), raw.find(b"[", 1)
    cut = brace if bracket < 0 or 0 <= brace < bracket else bracket
    if cut < 0:
        return None  # no container: the whole parse is as short
    comma = raw.rfind(b",", 0, cut)
    try:
        head: dict[str, Any] = orjson.loads(raw[:comma] + b"}") if comma > 0 else {}
        start = len(raw)
        present: list[str] = []
        for key, token, member in rule._tokens:
            seen = raw.count(token)
            if seen != 1:
                if seen or key == "usage":
                    return None  # twice (or nested as well), or no usage
                continue
            present.append(key)
            if key not in head:
                at = raw.find(member, max(comma, 0))
                if at < 0:
                    return None  # a value, not a key; or unusual spacing
                start = min(start, at)
        tail: dict[str, Any] = orjson.loads(b"{" + raw[start + 1 :]) if start < len(raw) else {}
    except orjson.JSONDecodeError:
        return None
    out: dict[str, Any] = {}
    for key in present:
        if key in head:
            out[key] = head[key]
        elif key in tail:
            out[key] = tail[key]
        else:
            return None
    return out
