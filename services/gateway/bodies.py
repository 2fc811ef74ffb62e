"""Request bodies serialised for a provider.

orjson parses up to 1024 levels of nesting but serialises at most 255 (``MAX_JSON_DEPTH``): a body the
gateway must re-serialise (translated, or a field changed) is refused past that with a 400. Bodies are
not walked for their depth on arrival (issue 13: that cost as much as parsing them); nothing in the
gateway recurses over a client's JSON (its walkers keep their own stacks), and a body passed on
unchanged is the provider's to judge.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.gateway.errors import ClientError

MAX_JSON_DEPTH = 255  # orjson's own serialisation limit


def dumps_body(body: dict[str, Any]) -> bytes:
    """``body`` as JSON for the provider. Raises ``ClientError`` 400 when it nests deeper than
    ``MAX_JSON_DEPTH`` or holds what JSON cannot carry."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise refusal(exc) from exc


def refusal(exc: orjson.JSONEncodeError | RecursionError) -> ClientError:
    """The client's 400 for a body that could not be serialised again (by ``dumps_body`` or inside a
    translator, which serialises parts such as tool arguments itself)."""
    if isinstance(exc, RecursionError) or "recursion" in str(exc).lower():
        return ClientError(400, f"request body is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return ClientError(400, f"request body cannot be sent on: {exc}")


# JSON's white space (RFC 8259 §2): all a parsed text may end with after its value
_JSON_SPACE = b" \t\n\r"
# The body size from which ``appended`` is tried before a serialisation (session 29, ``Proxy._build`` of a chat
# stream, wall time per call on this 2-core machine, main → splice: a 359-byte body 9.6 → 14.1 us, 13.7 kB
# 19 → 23 us, 113 kB 80 → 40 us): orjson serialises a small body faster than the Python checks and copies of a
# splice take, and a coding agent's body (tens to hundreds of kB) slower.
SPLICE_MIN_BYTES = 32_768


def appended(raw: bytes, before: dict[str, Any], after: dict[str, Any]) -> bytes | None:
    """``raw`` (the JSON object text ``before`` was parsed from) with the members ``after`` adds spliced in before
    its closing brace, or None when ``after`` is not ``before`` plus members at its end (then ``dumps_body(after)``).

    ``after`` must hold ``before``'s keys first, in its order, each value the same object (a str may be an equal
    one: the route's model for the client's), then its new keys. The gateway never changes a client's body in
    place (``Proxy._build`` copies the top level; ``_minted``, ``_prompt_cache``, the providers' ``prepare`` copy
    what they change), so a value that is the same object holds what the client sent. A new key is in no spelling
    in ``raw``'s top level (orjson decodes escaped names and keeps a repeated name's last value: every top-level
    name of ``raw`` is a key of ``before``), so the upstream reads one member of that name whichever of a repeated
    name's values its parser keeps. Issue 13 (session 29): a chat stream's ``stream_options.include_usage``
    (``OpenAICompatProvider.prepare``) cost a serialisation of the whole body; the upstream now gets the client's
    bytes, as every other passthrough does, with the one member added. Raises ``ClientError`` as ``dumps_body``
    for members JSON cannot carry."""
    n = len(before)
    if len(after) <= n:
        return None
    items = list(after.items())
    for (key, value), (key2, value2) in zip(before.items(), items, strict=False):
        if key != key2 or (
            value2 is not value and not (type(value) is type(value2) is str and value == value2)
        ):
            return None
    end = len(raw.rstrip(_JSON_SPACE)) - 1  # (a parsed object's text ends with its ``}`` and white space)
    if end < 1 or raw[end] != 0x7D:
        return None
    added = dumps_body(dict(items[n:]))  # ``{…}``: its members between the braces
    return b"".join((raw[:end], b"," if n else b"", added[1:-1], raw[end:]))
