"""A wire message (one orjson-encoded event) straight to a ledger row, without a ``UsageEvent`` in between.

Both wire forms of ``shared/events.py`` are read: a JSON object (``encode``) and a JSON array of the values
in field order (``encode_row``, what gateways send since issue 13's recorder work: no key lookups, and
about 40% of the bytes to parse). An array longer than ``COLUMNS`` (a newer gateway) is cut, a shorter one
(an older gateway) filled with the defaults, exactly as ``decode`` reads it.

``wire_row(raw)`` returns exactly what ``store.event_row(shared.events.decode(raw))`` returns, and raises
``ValueError`` exactly when that would, at about a third of the cost: it is the recorder's hot path.

The fast path takes the JSON object's values (or the array's) in column order (unknown keys ignored, missing ones
defaulted as in ``UsageEvent``) and accepts them as they are when every value already has the type the
column stores: text, a 64-bit integer, a float (finite: orjson refuses NaN, Infinity and overflowing numbers), a bool
for a flag column (bound as 0/1), None where the field is optional, and ``failed_attempts`` whose items
are already what ``FailedAttempt`` serialises to (a gateway's: stored as their JSON text). Anything else (a
missing required field or event id, an integer in a float column, failed attempts to normalise, a value
SQLite cannot store) takes the slow path, which is the reference itself.
"""

from __future__ import annotations

import dataclasses
import operator
import typing
from collections.abc import Callable
from typing import Any

import orjson

from services.recorder.store import COLUMNS, Row, event_row
from shared.events import BilledAttempt, FailedAttempt, UsageEvent, decode


class _Missing:
    """Default of a field without a constant default: never an accepted type, so the slow path decides."""


_MISSING = _Missing()
_NONE = type(None)
_SQL_TYPES = (str, int, float, bool)
_FAILED = COLUMNS.index("failed_attempts")
_INT_MAX = 2**63  # orjson yields integers in [-2**63, 2**64): only the top needs a check
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(FailedAttempt))
# what a failed attempt serialises to: a ``FailedAttempt``'s fields, or a ``BilledAttempt``'s (its tokens and cost)
_SENT_FIELDS = (_ATTEMPT_FIELDS, tuple(f.name for f in dataclasses.fields(BilledAttempt)))
_SIGNATURES_MAX = 512  # type signatures remembered (normally a handful: which optional fields are None)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.name == "failed_attempts":
        return []  # only read, never mutated
    return _MISSING if f.default is dataclasses.MISSING else f.default


def _accepted(hint: Any) -> frozenset[type]:
    """Exact value types stored unchanged in a column of this annotation (empty: always the slow path)."""
    if hint in _SQL_TYPES:
        return frozenset({hint})
    args = typing.get_args(hint)
    if len(args) == 2 and _NONE in args:
        return _accepted(next(a for a in args if a is not _NONE)) | {_NONE}
    if typing.get_origin(hint) is list:
        return frozenset({list})
    return frozenset()


_HINTS = typing.get_type_hints(UsageEvent)
_FIELDS = {f.name: f for f in dataclasses.fields(UsageEvent)}
_DEFAULTS = tuple(_default(_FIELDS[name]) for name in COLUMNS)
_ALL = operator.itemgetter(*COLUMNS)  # a gateway's event carries every field: one C call takes them
_ACCEPTED = tuple(_accepted(_HINTS[name]) for name in COLUMNS)

# A signature (the tuple of value types) that is accepted -> a getter of its int values, and
# the positions of its bools (stored as 0/1 ints, as event_row does).
_Check = tuple[Callable[[Any], Any], tuple[int, ...]]
_signatures: dict[tuple[type, ...], _Check | None] = {}


def _getter(indexes: list[int]) -> Callable[[Any], Any]:
    """A function returning the values at ``indexes`` as a tuple (also for zero or one index)."""
    if not indexes:
        return lambda values: ()
    if len(indexes) == 1:
        only = indexes[0]
        return lambda values: (values[only],)
    return operator.itemgetter(*indexes)


def _check_for(signature: tuple[type, ...]) -> _Check | None:
    """None when some value's type is not stored as is in its column."""
    if not all(tp in accepted for tp, accepted in zip(signature, _ACCEPTED, strict=True)):
        return None
    ints = [i for i, tp in enumerate(signature) if tp is int]
    return _getter(ints), tuple(i for i, tp in enumerate(signature) if tp is bool)


_WIDTH = len(COLUMNS)


def _fast(data: dict[str, Any] | list[Any]) -> Row | None:
    """The row, or None when the slow path must decide."""
    values: list[Any]
    if isinstance(data, list):
        n = len(data)
        values = data if n == _WIDTH else data[:_WIDTH] if n > _WIDTH else data + list(_DEFAULTS[n:])
    else:
        try:
            values = list(_ALL(data))
        except KeyError:
            values = list(map(data.get, COLUMNS, _DEFAULTS))
    signature = tuple(map(type, values))
    try:
        check = _signatures[signature]
    except KeyError:
        check = _check_for(signature)
        if len(_signatures) < _SIGNATURES_MAX:
            _signatures[signature] = check
    if check is None:
        return None
    # Floats need no check: orjson refuses NaN, Infinity and numbers that overflow a double, so every float
    # it yields is finite, as event_row requires (issue 13, session 10: about 0.2 us an event).
    ints, bools = check[0](values), check[1]
    if ints and max(ints) >= _INT_MAX:
        return None
    failed = values[_FAILED]
    if not failed:
        values[_FAILED] = "[]"
    elif all(map(_as_sent, failed)):
        values[_FAILED] = orjson.dumps(failed).decode()
    else:
        return None
    for i in bools:
        values[i] = int(values[i])
    return tuple(values)


def _as_sent(attempt: Any) -> bool:
    """Whether a failed attempt is already what ``FailedAttempt`` (or ``BilledAttempt``) serialises to: its
    fields, in order, with text where text is expected (then its JSON is that of the normalised attempt)."""
    return (
        type(attempt) is dict
        and tuple(attempt) in _SENT_FIELDS
        and type(attempt["provider"]) is str
        and type(attempt["error_type"]) is str
        and type(attempt["message"]) is str
    )


# ``wire_row``'s row for an already decoded JSON object or array, or None when ``wire_row`` must decide (it
# then gives the row or the error); may change an array in place. The recorder's loop calls it directly
# for a gateway's usual event (services/recorder/service.py ``_handle_joined``): no wrapper, a call less.
fast_row = _fast


def wire_row(raw: bytes) -> Row:
    """One wire message (bytes of a JSON object, or of an array in field order) as a ledger row in
    ``COLUMNS`` order.

    Raises ``ValueError`` when it is not JSON, not an event, or holds a value SQLite cannot store (the
    message names the field), like ``decode`` followed by ``event_row``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if type(data) is list or type(data) is dict:
        row = _fast(data)
        if row is not None:
            return row
    return event_row(decode(raw))
