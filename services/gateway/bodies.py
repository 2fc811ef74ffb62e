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
