"""Prompt-cache markers across formats (client-protocols.md, "Prompt caching across formats"; pure).

Each provider caches a prompt prefix on its own terms:
- Anthropic caches only up to blocks marked ``cache_control`` (at most four per request); a later request
  reads a prefix an earlier one wrote. Clients of other formats send no markers, so the gateway places
  them itself (``place_anthropic_breakpoints``): the end of the system prompt, of the tools, and the last
  two user turns, so turn N reads what turn N-1 wrote and writes what turn N+1 will read.
- OpenRouter serves Anthropic (and Gemini) models through the chat format and honours the same markers on
  message content parts (docs "Prompt Caching"); ``place_chat_breakpoints`` does the same placement there.
- OpenAI caches prefixes of 1024 tokens or more on its own; ``prompt_cache_key`` routes a session's requests
  to the same cache (docs "Prompt caching").
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4  # Anthropic's limit per request
_UNMARKABLE = ("thinking", "redacted_thinking")
_PARTS = ("image_url", "file")  # chat content parts other than text that take a marker (_marked_message)
_KEY = b'"cache_control"'
# Headers that name the conversation a request belongs to (Claude Code sends this one on every request).
SESSION_HEADERS = ("x-claude-code-session-id",)


@dataclass(frozen=True, slots=True)
class Session:
    """What the client's headers say about the conversation a request belongs to (translation input)."""

    id: str | None = None


NO_SESSION = Session()


def session_from(headers: Mapping[str, str]) -> Session:
    """The session a request belongs to, from its headers (lookup is case-insensitive for aiohttp's)."""
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if isinstance(value, str) and value.strip():
            return Session(id=value.strip()[:256])
    return NO_SESSION


def _key_count(value: Any) -> int:
    """At least the number of dicts in ``value`` with a ``cache_control`` key, found without a walk: the
    times ``"cache_control"`` occurs in its JSON (a key's quotes are never escaped; a string may add some).
    A value orjson cannot write (too deep, not JSON) counts as unbounded, so the caller walks it."""
    try:
        return orjson.dumps(value).count(_KEY)
    except orjson.JSONEncodeError:
        return sys.maxsize


def has_markers(value: Any) -> bool:
    """Whether a part of a request (a message, a system list, a tool: nested data, not a whole body) already
    carries a ``cache_control`` marker. Walks with its own stack (a client's deeply nested JSON cannot
    exhaust Python's), only when its JSON text holds the key at all: the usual request has none, and orjson
    finds that faster than a walk. For a whole request body, :func:`body_has_markers`.

    A key inside a tool's JSON schema or a tool call's input or arguments (``_NOT_MARKED``) is the client's
    data, not a marker: an HTTP tool's ``cache_control`` parameter, or a structured-output schema's property
    of that name, must not stop the gateway placing its own breakpoints (s15 variants 08-a, 08-f, 08-g: no
    marker placed, every turn re-billed the prompt). So ``value``'s own keys of those names are skipped too:
    given a Responses body, its top-level ``input`` (the conversation) would be. So is a request's
    ``metadata`` (the client's own string map, which may hold a ``cache_control`` entry), and a
    ``cache_control`` that is not an object (``null``, written by clients and frameworks that send every
    optional field) is no marker (``_is_marker``; s16 variants 08-a, 08-b)."""
    return bool(_key_count(value)) and _walk([value])


def body_has_markers(body: Mapping[str, Any]) -> bool:
    """Whether a whole request body (Chat Completions, Anthropic Messages or Responses) already carries a
    ``cache_control`` marker: :func:`has_markers`, but every top-level key but ``metadata`` is the request's
    own and is looked in (a Responses body's ``input`` is its conversation, not a tool call's input);
    ``_NOT_MARKED`` keys below the top are the client's data, as there; only an object is a marker."""
    if not _key_count(body):
        return False
    return is_marker(body.get("cache_control")) or _walk([v for k, v in body.items() if k != "metadata"])


def _walk(stack: list[Any]) -> bool:
    """Whether a dict among ``stack``'s values, or below them outside ``_NOT_MARKED`` keys, has the key."""
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if _is_marker(node):
                return True
            stack.extend(v for k, v in node.items() if k not in _NOT_MARKED)
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _is_marker(node: dict[str, Any]) -> bool:
    """Whether a block, part, tool entry or body carries a marker (:func:`is_marker`)."""
    return is_marker(node.get("cache_control"))


def is_marker(value: Any) -> bool:
    """Whether a ``cache_control`` value asks for caching: an object of type ``"ephemeral"`` (Anthropic,
    "Prompt caching": ``{"type": "ephemeral"}``, optionally with ``ttl``, the only type; OpenRouter takes the
    same on content parts). ``null`` asks for nothing (Anthropic's ``cache_control`` is an object or null), nor
    does ``{}`` (a framework's empty map: Anthropic answers 400 "cache_control.type: Field required"; s17
    variants 08-a, 08-b), which :func:`drop_non_markers` removes from bodies for OpenRouter's Claude."""
    return type(value) is dict and value.get("type") == "ephemeral"


def drop_non_markers(body: dict[str, Any]) -> bool:
    """Remove the ``cache_control`` keys that are no marker (:func:`is_marker`: ``{}``, ``null``) from a Chat
    Completions body bound for a router that relays them to Anthropic (OpenRouter's Claude): at the top, on
    tool entries and on messages' content parts (message-level ones are :func:`markers_onto_parts`'). The
    client's messages and tools are not changed: the lists and the entries that change are copied. True if
    one went. A scan of the entries' own keys, no serialisation (this runs on every such request)."""
    changed = False
    if "cache_control" in body and not is_marker(body["cache_control"]):
        del body["cache_control"]
        changed = True
    for key in ("messages", "tools"):
        entries = body.get(key)
        if not isinstance(entries, list):
            continue
        parts = key == "messages"
        copied: list[Any] | None = None
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and _has_non_marker(entry, parts):
                if copied is None:
                    copied = body[key] = list(entries)  # the client's list is not changed
                copied[i] = _without_non_markers(entry, parts)
                changed = True
    return changed


def _has_non_marker(entry: dict[str, Any], parts: bool) -> bool:
    """Whether a tool entry, or a message's content parts, hold a ``cache_control`` that is no marker."""
    if not parts:
        return "cache_control" in entry and not is_marker(entry["cache_control"])
    content = entry.get("content")
    return type(content) is list and any(
        type(p) is dict and "cache_control" in p and not is_marker(p["cache_control"]) for p in content
    )


def _without_non_markers(entry: Any, parts: bool) -> Any:
    """``entry`` (a tool entry, or a message whose content parts are looked at) without non-marker
    ``cache_control`` keys: itself when it has none, else a copy."""
    if not isinstance(entry, dict):
        return entry
    out = entry
    if not parts and "cache_control" in entry and not is_marker(entry["cache_control"]):
        out = {k: v for k, v in entry.items() if k != "cache_control"}
    content = entry.get("content")
    if parts and isinstance(content, list):
        cleaned = [
            {k: v for k, v in p.items() if k != "cache_control"}
            if isinstance(p, dict) and "cache_control" in p and not is_marker(p["cache_control"])
            else p
            for p in content
        ]
        if any(a is not b for a, b in zip(cleaned, content, strict=True)):
            out = {**entry, "content": cleaned}
    return out


def _markable(block: Any) -> bool:
    if not isinstance(block, dict) or block.get("type") in _UNMARKABLE:
        return False
    return not (block.get("type") == "text" and not block.get("text"))  # Anthropic refuses empty text


def place_anthropic_breakpoints(out: dict[str, Any]) -> bool:
    """Mark an Anthropic Messages body in place: system, tools, the last two user turns (at most four).

    A string ``system`` becomes one text block so it can carry the marker; string user content likewise.
    Nothing is added when the body already carries markers (the client placed its own): then True (the
    client's may be more than Anthropic takes: ``keep_breakpoints``); False when the gateway placed its own
    (never more than ``MAX_BREAKPOINTS``).
    """
    system = out.get("system")
    # plain system text cannot hold a marker: left out of the look for one, it costs nothing (it is the
    # longest part of an agent's request: Codex's instructions, Claude Code's system prompt)
    if body_has_markers({k: v for k, v in out.items() if k != "system"} if _plain(system) else out):
        return True
    place_unmarked_breakpoints(out)
    return False


def place_unmarked_breakpoints(out: dict[str, Any]) -> None:
    """``place_anthropic_breakpoints`` without its look for the client's markers: for a body its translator built
    from its own blocks alone, where no ``cache_control`` can be (the Responses → Anthropic translator: no
    Responses item or tool carries one). The look serialises the whole body but the system text (issue 13,
    session 29: ~10% of a Codex turn's translation, growing with the conversation)."""
    system = out.get("system")
    budget = MAX_BREAKPOINTS
    if isinstance(system, str) and system:
        out["system"] = system = [{"type": "text", "text": system}]
    if isinstance(system, list) and system and _markable(system[-1]):
        system[-1]["cache_control"] = dict(EPHEMERAL)
        budget -= 1
    tools = out.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
        tools[-1]["cache_control"] = dict(EPHEMERAL)
        budget -= 1
    users = [m for m in out.get("messages") or () if isinstance(m, dict) and m.get("role") == "user"]
    for message in users[-min(budget, 2) :] if budget > 0 else []:
        if isinstance(message.get("content"), str) and message["content"]:
            message["content"] = [{"type": "text", "text": message["content"]}]
        blocks = [b for b in message.get("content") or () if _markable(b)]
        if blocks:
            blocks[-1]["cache_control"] = dict(EPHEMERAL)


def _plain(system: Any) -> bool:
    """An Anthropic ``system`` that holds no ``cache_control`` key: a string, or text blocks that are
    ``{"type": str, "text": str}`` and nothing else."""
    if type(system) is str:
        return True
    return type(system) is list and all(
        type(b) is dict and b.keys() <= _TEXT_KEYS and all(type(v) is str for v in b.values()) for b in system
    )


_TEXT_KEYS = frozenset({"type", "text"})


def keep_breakpoints(out: dict[str, Any]) -> None:
    """Leave at most ``MAX_BREAKPOINTS`` markers on an Anthropic Messages body (Anthropic answers 400
    above): the first one (the system prompt's, usually) and the last ones, which cover the most; the
    top-level automatic marker takes a slot too (``_automatic_fits``)."""
    if _key_count(out) <= MAX_BREAKPOINTS:  # no more markers than allowed: nothing to remove, no walk
        return
    marked = _markers([out.get("system"), out.get("tools"), out.get("messages")])
    _drop_between(marked)
    _automatic_fits(out, len(marked))


def keep_chat_breakpoints(body: dict[str, Any]) -> bool:
    """The same on a Chat Completions body bound for an Anthropic model behind a router (OpenRouter passes
    the markers on, and Anthropic answers 400 "A maximum of 4 blocks with cache_control may be provided"):
    the system messages' markers come first, then the tools', then the conversation's; the top-level
    automatic marker takes a slot too (``_automatic_fits``). The client's parts are not changed: ``messages``
    and ``tools`` are copied when markers must go. True if some went."""
    if _key_count(body) <= MAX_BREAKPOINTS:
        return False
    explicit = len(_markers(_chat_roots(body)))
    if explicit > MAX_BREAKPOINTS:
        body["messages"] = copy.deepcopy(body.get("messages"))
        if "tools" in body:
            body["tools"] = copy.deepcopy(body["tools"])
        _drop_between(_markers(_chat_roots(body)))
    return _automatic_fits(body, explicit) or explicit > MAX_BREAKPOINTS


def _automatic_fits(body: dict[str, Any], explicit: int) -> bool:
    """Drop ``body``'s top-level automatic-caching marker when its ``explicit`` block markers (before any were
    cut) fill Anthropic's four: Anthropic allows four breakpoints a request (400 "A maximum of 4 blocks with
    cache_control may be provided. Found 5.", the answer peers' users got when a relay added one more:
    VicBilibily/GCMP#83, Wei-Shaw/sub2api#176), and the automatic one ("Prompt caching", automatic caching: a
    breakpoint the system applies to the last cacheable block) is one more. Four explicit ones, the last at
    the conversation's end as clients place it, already cache what it would, so nothing is lost either way
    (bug24a variant 08-fivemarks-vL: five reached OpenRouter's Claude). True when it went."""
    if explicit < MAX_BREAKPOINTS or not is_marker(body.get("cache_control")):
        return False
    del body["cache_control"]
    return True


def _chat_roots(body: dict[str, Any]) -> list[Any]:
    listed = [m for m in body.get("messages") or () if isinstance(m, dict)]
    systems = [m for m in listed if m.get("role") in ("system", "developer")]
    rest = [m for m in listed if m.get("role") not in ("system", "developer")]
    return [systems, body.get("tools"), rest]


# Values a marker cannot be in: a JSON schema (a property may be named ``cache_control``): a tool's, or the
# structured-output one (chat ``response_format.json_schema.schema``, Responses ``text.format.schema``,
# Anthropic ``output_format.schema``; s15 variants 08-f, 08-g), and a tool call's own input or arguments (the
# model's data). Markers sit on blocks, content parts, system blocks and tool entries (Anthropic, "Prompt
# caching": "cache_control" on tools, system and messages' content blocks).
# ``metadata`` is the client's own map (OpenAI chat and Responses: string keys and values; Anthropic: ``user_id``),
# never a prompt part (s16 variant 08-a: {"cache_control": "no-store"} there stopped the placement).
_NOT_MARKED = frozenset(
    {"cache_control", "input_schema", "parameters", "schema", "input", "arguments", "metadata"}
)


def _markers(roots: list[Any]) -> list[dict[str, Any]]:
    """The dicts under ``roots`` that carry a ``cache_control`` marker, in document order (depth first,
    with its own stack: a client's deeply nested JSON cannot exhaust Python's)."""
    marked: list[dict[str, Any]] = []
    stack: list[Any] = list(reversed(roots))
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if _is_marker(node):
                marked.append(node)
            stack.extend(reversed([v for k, v in node.items() if k not in _NOT_MARKED]))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return marked


def writes_all_1h(body: Mapping[str, Any]) -> bool:
    """Whether every cache write a request can cause is a 1-hour one: it carries at least one
    ``cache_control`` marker (top-level automatic caching included) and each says ``ttl: "1h"``.

    For a provider that reports cache writes without Anthropic's TTL split (OpenRouter's chat usage has
    only ``prompt_tokens_details.cache_write_tokens``): the request's markers are then the only word on
    their TTL (Anthropic, "Prompt caching": a marker without ``ttl`` writes for 5 minutes).
    """
    if not _key_count(body):
        return False
    marked = _markers([body])  # the request itself when it carries the automatic-caching marker
    return bool(marked) and all(
        isinstance(m["cache_control"], dict) and m["cache_control"].get("ttl") == "1h" for m in marked
    )


def _drop_between(marked: list[dict[str, Any]]) -> None:
    """Drop the markers of all but the first and the last ``MAX_BREAKPOINTS - 1`` of ``marked``."""
    for node in marked[1 : len(marked) - MAX_BREAKPOINTS + 1]:
        del node["cache_control"]


def markers_onto_parts(body: dict[str, Any]) -> bool:
    """Move ``cache_control`` markers a Chat client put on a MESSAGE (LiteLLM's style: ``{"role": "system",
    "content": "…", "cache_control": {"type": "ephemeral"}}``) onto that message's last content part, for a target
    that reads markers on content parts only (OpenRouter, "Prompt Caching"; a message-level marker caches
    nothing there: OpenRouterTeam/ai-sdk-provider#35, whose provider moves them onto parts; s16 variant 08-f).
    String content becomes one text part carrying the marker; a last part that has its own marker keeps it. A
    message-level key that is not a marker object (``null``), or that has no part to go to, is removed (it
    asks nothing the target reads). The client's messages are not changed: the list and the messages that
    change are copied. True when something moved or went."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(
        isinstance(m, dict) and "cache_control" in m for m in messages
    ):
        return False
    out: list[Any] = []
    for message in messages:
        if not (isinstance(message, dict) and "cache_control" in message):
            out.append(message)
            continue
        moved = {k: v for k, v in message.items() if k != "cache_control"}
        marker = message["cache_control"]
        content = moved.get("content")
        if is_marker(marker) and isinstance(content, str) and content:
            moved["content"] = [{"type": "text", "text": content, "cache_control": marker}]
        elif is_marker(marker) and isinstance(content, list) and content:
            last = content[-1]
            if isinstance(last, dict) and not _is_marker(last):
                moved["content"] = [*content[:-1], {**last, "cache_control": marker}]
        out.append(moved)
    body["messages"] = out
    return True


def place_chat_breakpoints(body: dict[str, Any]) -> None:
    """The same placement on a Chat Completions body for a target that honours ``cache_control`` on content
    parts (OpenRouter's Anthropic models): the last system message, the last tool, the last two user (or
    tool-result) messages. String content becomes one text part so it can carry the marker. Nothing is
    added when the body already carries markers.

    Only ``body`` itself is changed: its ``messages`` and ``tools`` lists, and the entries that get a marker,
    are copies (on a passthrough the lists and entries are the client's, which a fallback attempt to another
    provider reads again: a marker left there reaches a provider that refuses it, as Google's Gemini API
    does: 400 "Unknown name \"cache_control\"")."""
    if body_has_markers(body):
        return
    budget = MAX_BREAKPOINTS
    listed = body.get("messages")
    messages = list(listed) if isinstance(listed, list) else []
    at = [i for i, m in enumerate(messages) if isinstance(m, dict)]
    systems = [i for i in at if messages[i].get("role") in ("system", "developer")]
    marked = False
    if systems and (copy := _marked_message(messages[systems[-1]])) is not None:
        messages[systems[-1]], marked = copy, True
        budget -= 1
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
        body["tools"] = [*tools[:-1], {**tools[-1], "cache_control": dict(EPHEMERAL)}]
        budget -= 1
    turns = [i for i in at if messages[i].get("role") in ("user", "tool")]
    for i in turns[-min(budget, 2) :] if budget > 0 else []:
        if (copy := _marked_message(messages[i])) is not None:
            messages[i], marked = copy, True
    if marked:
        body["messages"] = messages


def _marked_message(message: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of ``message`` with a marker on its last markable part (string content made one text part
    first), or None when it has none. ``message`` and its parts are not changed.

    Markable: a non-empty text part, an ``image_url`` or a ``file`` part (OpenRouter's content parts carry
    ``cache_control`` on each, "Prompt Caching"; Anthropic caches up to the marked block, "Prompt caching").
    A user message of images alone is what a tool result's screenshots become (chat tool messages hold
    text only): the text-only rule left them outside the cached prefix, the marker on the tool text before
    them (s21 variant 08-v25, a Responses ``function_call_output`` with an ``input_image``)."""
    content = message.get("content")
    if isinstance(content, str) and content:
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return None
    last = next(
        (
            i
            for i in range(len(content) - 1, -1, -1)
            if isinstance(content[i], dict)
            and (
                content[i].get("text")
                if content[i].get("type") == "text"
                else content[i].get("type") in _PARTS
            )
        ),
        None,
    )
    if last is None:
        return None
    parts = list(content)
    parts[last] = {**parts[last], "cache_control": dict(EPHEMERAL)}
    return {**message, "content": parts}
