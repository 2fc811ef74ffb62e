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
    ``MAX_JSON_DEPTH`` or holds what JSON cannot carry.

    A body the gateway changes (translated, or a passthrough with a field added or changed: a chat stream's
    ``stream_options``) is sent as this serialisation of the gateway's own reading of it, whatever its size: a name
    the client repeated is sent once, with the value the gateway read (orjson, as Python's ``json``: the last; RFC
    8259 §4: names "SHOULD be unique", and of a repeated one "Many implementations report the last name/value pair
    only", others an error or every pair). So the provider reads the model, stream and limits the gateway
    routed, priced and relayed by, whichever its parser keeps. s31 fix31: a body of 32 kB or more (``appended``,
    session 29) went as the client's bytes with the new member spliced in, its repeated names kept, while a smaller
    one lost them; finding a repeated top-level name in the client's bytes costs more than serialising (one
    ``bytes.count`` of a 56 kB body ~33 µs, ``orjson.dumps`` of it ~10 µs), so the splice was dropped. A body the
    gateway does not change goes as the client's bytes (passthrough untouched), repeated names and all."""
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
