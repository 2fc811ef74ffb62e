"""The view of what the client asked, handed to stream encoders and renderers (pure, immutable data).

A translated attempt's is built from the parsed request and the request translation's result; a
passthrough's is shared by every call of the same shape (``passthrough_view``), so a ``View`` holds no
per-call state. Encoders and renderers take one argument instead of a growing parameter list
(code-review example 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class View:
    """What the client asked for, as the encoders and renderers need it.

    - ``model``: the model name the client asked for (echoed back in every answer).
    - ``include_usage``: OpenAI chat ``stream_options.include_usage``.
    - ``reasoning``: pass reasoning text on (an Anthropic client that did not ask for thinking must not
      get thinking blocks).
    - ``tool_names``: upstream tool name → the client's own name, where translation had to rename.
    - ``custom_tools``: client names of Responses ``custom`` (free-form input) tools: their calls go back
      as ``custom_tool_call`` items carrying the raw input text, not JSON arguments.
    - ``compaction``: the Responses request asked for a ``compaction`` item (a ``compaction_trigger``
      input item, or ``POST /v1/responses/compact``) instead of a message.
    - ``tools``: the request declared tools (only then can an answer call one).
    - ``signed_calls``: the target signs its tool calls (``Target.thought_signatures``): a translated stream's
      decoder holds each call's start until its signature came (``ChatStreamDecoder.wait_for_signatures``).
    """

    model: str
    include_usage: bool = False
    reasoning: bool = True
    tool_names: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    custom_tools: frozenset[str] = frozenset()
    compaction: bool = False
    tools: bool = False
    signed_calls: bool = False


VIEWS_KEPT = 256  # passthrough views kept (``passthrough_view``): keyed by a client's model name


# (model, include_usage, reasoning, tools) → the shared view; read by ``Proxy._build`` before it calls
# ``passthrough_view`` (a kept view costs no call: issue 13, session 35)
KEPT_VIEWS: dict[tuple[str, bool, bool, bool], View] = {}


def passthrough_view(model: str, include_usage: bool, reasoning: bool, tools: bool) -> View:
    """The view of a call whose request goes out untranslated, or translated with no tool renamed, no custom
    tool and no compaction (``TranslatedRequest``'s empty ``tool_names`` and ``custom_tools``: the same view
    as one made with them, ``MappingProxyType({}) == {}``): made once per distinct (model, include_usage, reasoning, tools) and shared (a ``View``
    is immutable; a frozen dataclass costs a ``__setattr__`` per field to build, on every request). At
    most ``VIEWS_KEPT`` are kept: a client inventing model names cannot grow the cache."""
    key = (model, include_usage, reasoning, tools)
    view = KEPT_VIEWS.get(key)
    if view is None:
        view = View(model=model, include_usage=include_usage, reasoning=reasoning, tools=tools)
        if len(KEPT_VIEWS) >= VIEWS_KEPT:
            KEPT_VIEWS.clear()
        KEPT_VIEWS[key] = view
    return view
