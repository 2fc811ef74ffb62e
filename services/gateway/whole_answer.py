"""Whether a passed-through plain answer may go to its client before it is parsed (issue 13, session 26).

A same-format plain answer is relayed as its bytes came (``Proxy._relay_json``); its parse decided, before the
write, a 502 ``bad_response`` and the next route for an answer that is no JSON object or a 200 carrying an
error (``Proxy._answer_object``), and nothing else the client gets: usage and the served model are read for
the ledger, after the answer (``Attempt.read_usage``). The parse is half the path's instructions on a
Responses answer (callgrind: ``orjson.loads`` 36.0k of 76.8k on the 985-byte canned answer). ``looks_whole``
is a few C-speed byte tests that pass the answers a provider sends (one JSON object, opened first, closed
last, no ``"error"`` member holding an object anywhere); an answer that fails any of them is parsed first, as
before. What the tests cannot see: a body that opens and closes as an object but is invalid inside (no
provider's serialiser writes one, a cut body fails the transport's length or chunk check first:
``broken_response``) reaches the client as it came, as through a proxy that parses nothing, and its ledger row
has no usage (``read_answer``: logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from services.gateway.calls import Attempt
from services.gateway.dialects import ir

log = logging.getLogger(__name__)

_ERROR_KEY = b'"error"'
_CLOSE = (b"}", b"}\n")  # the last bytes of an object (a server may end its body with a line end)
# what may come between a member's name and its value (RFC 8259 section 2: ws, ":" and ws)
_MEMBER_GAP = b" \t\r\n:"
_GAP_LOOK = 16  # bytes after ``"error"`` looked at: a wider gap is taken for an object (parsed first)
_NULL_MEMBER = b":null"  # ``"error":null`` as compact JSON writes it: a value that is no object


def looks_whole(raw: bytes) -> bool:
    """True when ``raw`` (a 2xx plain answer's body) opens with ``{`` (no BOM, no leading white space),
    closes with ``}`` (one LF after it allowed), and holds no member named ``error`` whose value is an object
    (anywhere: ``Proxy._answer_object`` refuses a top-level one; a nested one, or a gap too wide to see past,
    sends the answer the parsed way). Errs on the side of False: a False answer is parsed before the write,
    as every answer was before session 26. A name inside a JSON string has its quotes escaped (RFC 8259
    section 7), so text that mentions "error" is not taken for a member."""
    if raw[:1] != b"{" or not raw.endswith(_CLOSE):
        return False
    at = raw.find(_ERROR_KEY)
    while at != -1:
        # the usual member, compact ``"error":null`` (every Responses answer has it), told by one slice; any
        # other spelling gets the general look past white space and the colon (session 28)
        # (past ``:null`` no quote: the next name cannot begin before its end)
        if raw[at + 7 : at + 12] == _NULL_MEMBER:
            at = raw.find(_ERROR_KEY, at + 12)
            continue
        after = raw[at + 7 : at + 7 + _GAP_LOOK].lstrip(_MEMBER_GAP)
        if after[:1] == b"{" or not after:
            return False
        at = raw.find(_ERROR_KEY, at + 7)
    return True


def read_answer(
    att: Attempt,
    rule_for: Callable[[str], Callable[[ir.Usage], ir.Usage]],
    read: Callable[[dict[str, Any]], ir.Usage],
    raw: bytes,
) -> ir.Usage:
    """The usage of a passed-through plain answer ``raw`` the client has already been sent (``looks_whole``):
    parsed now, with the event's build (``Attempt.read_usage``), the served model set on ``att`` from its
    ``model`` too, then the wire's reader (``Wire.usage``) and the provider's convention for the route's
    model (``Provider.usage_rule``). An answer that does not parse as a JSON object has no usage (``ir.Usage()``,
    a warning logged without its bytes: they may quote a key)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        log.warning(
            "the answer relayed for %s is not a JSON object: recorded without usage", att.route.provider
        )
        return ir.Usage()
    model = data.get("model")
    att.served_model = model if isinstance(model, str) and model else None
    return rule_for(att.route.model)(read(data))
