"""``ChatStreamDecoder._learn_first`` keeps a first chunk's form only when nothing of the decoder changed but what
``_kept_first`` sets (session 32: a snapshot compare with a fresh decoder, not a list of fields).

Every field a fresh decoder has is enumerated here: a first chunk read while any one of them (not one that
``_kept_first`` sets) differs from a fresh decoder's must not be kept, so a field added to ``__init__`` is covered
without being named anywhere."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects._openai_stream import _FIRST_READS, _FIRST_SETS, _SPLICED, ChatStreamDecoder
from tests.unit.dialects.test_finish_form26 import ROLE, chunk

FIRST = chunk(ROLE)[len(b"data: ") : -2]
_OTHER = object()  # a value no fresh field has


def _fields() -> list[str]:
    return sorted(vars(ChatStreamDecoder()))


def _read_first(decoder: ChatStreamDecoder) -> None:
    _SPLICED.clear()
    _FIRST_READS.clear()
    assert decoder.feed_frame(FIRST)


def test_a_fresh_decoders_first_chunk_is_kept() -> None:
    """The control: a fresh decoder's role chunk is kept (so the refusals below are the field's doing)."""
    _read_first(ChatStreamDecoder())
    assert list(_FIRST_READS.values()) and all(v is not None for v in _FIRST_READS.values())


def test_the_fields_kept_first_sets_are_fields() -> None:
    """``_FIRST_SETS`` names fields a fresh decoder has (a renamed field would leave a stale name there)."""
    assert _FIRST_SETS <= set(_fields())


@pytest.mark.parametrize("name", [n for n in _fields() if n not in _FIRST_SETS])
def test_a_field_changed_before_the_first_chunk_refuses_its_form(name: str) -> None:
    """Any field a fresh decoder has, changed (to a value no fresh decoder holds) when its first chunk is
    read, makes ``_learn_first`` note the form as not kept (None): the state it was read in was not fresh."""
    decoder = ChatStreamDecoder()
    learn = decoder._learn_first

    def changed_then_learn(data: str, start: Any) -> None:
        setattr(decoder, name, _OTHER)  # (after the read, before the judgement: the read itself is unchanged)
        learn(data, start)

    decoder._learn_first = changed_then_learn  # type: ignore[method-assign]
    _read_first(decoder)
    assert list(_FIRST_READS.values()) == [None], name
