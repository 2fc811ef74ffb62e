"""Copy on change: a client's list with some items replaced or left out, copied only when one is (pure).

The gateway never changes a client's body in place (the body is reused across attempts and fallbacks): the
strips and rewrites that make a provider's form of ``messages`` (``_minted``, ``_prompt_cache``,
``providers.openai_compat``) copy the list and the items they change, and leave the rest shared. One loop for
them all: ``rewritten`` over any list, ``rewritten_in`` over a list in a body (``messages``, ``input``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

DROP: Final = object()  # what a rewrite returns for an item to leave out of the copy


def rewritten(items: list[Any], rewrite: Callable[[Any], Any]) -> list[Any] | None:
    """``items`` with each item replaced by ``rewrite(item)``: the item itself (``is``) keeps it, ``DROP`` leaves
    it out, anything else stands in its place. A new list when any item was replaced or left out, else None
    (nothing copied). ``items`` and its items are not changed; ``rewrite`` is called once an item, in order."""
    out: list[Any] = []
    changed = False
    for item in items:
        new = rewrite(item)
        if new is item:
            out.append(item)
            continue
        changed = True
        if new is not DROP:
            out.append(new)
    return out if changed else None


def rewritten_in(body: dict[str, Any], key: str, rewrite: Callable[[Any], Any]) -> bool:
    """``rewritten`` on ``body[key]`` (a list, ``messages`` or a Responses ``input``; else nothing changes), the copy
    set on ``body`` (its one change, at the top level). True if an item was replaced or left out."""
    items = body.get(key)
    out = rewritten(items, rewrite) if isinstance(items, list) else None
    if out is None:
        return False
    body[key] = out
    return True
