"""Who sent a request, from the headers clients send anyway (no client configuration needed).

Claude Code: ``x-claude-code-session-id``, ``x-claude-code-agent-id`` (subagents) and, with
``CLAUDE_CODE_GATEWAY_HINT_HEADERS=1``, ``x-claude-code-request-class``. Codex: ``session-id`` (else the
session in ``x-codex-turn-metadata``, else ``thread-id``). The client's name and version come from the
``User-Agent``. Every value is client-controlled text bound for the ledger: it is kept only when it is
short printable ASCII (see :func:`clean`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

MAX_CHARS = 128
_PRODUCT = re.compile(r"([A-Za-z][A-Za-z0-9._+-]*)/(v?[0-9][A-Za-z0-9._+-]*)")
_SDK = re.compile(r"^(OpenAI|Anthropic)/(Python|JS|Node|Go|Java|Ruby)\s+v?([0-9][A-Za-z0-9._+-]*)")


@dataclass(slots=True)  # not frozen: a frozen __init__ sets each field through object.__setattr__
class Attribution:
    session_id: str | None = None
    agent_id: str | None = None
    client: str | None = None
    request_class: str | None = None


def clean(value: str | None, limit: int = MAX_CHARS) -> str | None:
    """``value`` stripped, or None when empty, longer than ``limit`` or not printable ASCII."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > limit or not text.isascii() or not text.isprintable():
        return None
    return text


def client_name(user_agent: str | None) -> str | None:
    """A short ``name/version`` from a User-Agent: ``claude-cli/2.1.332``, ``codex_exec/0.171.0``,
    ``openai-python/1.109.1`` (the SDKs' ``OpenAI/Python 1.109.1``), ``curl/8.5.0``. Pure, and kept for
    the last 1,024 User-Agents seen, by their first 256 characters (all it reads), so the cache holds at
    most about 256 KB however long the headers are (two regular expressions per request saved)."""
    if not user_agent:
        return None
    return _client_name(user_agent.strip()[:256])


@functools.lru_cache(maxsize=1024)  # a client sends the same User-Agent on every request
def _client_name(head: str) -> str | None:
    sdk = _SDK.match(head)
    if sdk:
        return clean(f"{sdk[1].lower()}-{sdk[2].lower()}/{sdk[3]}", 64)
    product = _PRODUCT.search(head)
    if product:
        return clean(f"{product[1]}/{product[2]}", 64)
    return clean(head.split()[0] if head.split() else None, 64)


def _turn_session(metadata: str | None) -> str | None:
    """The session id inside Codex's ``x-codex-turn-metadata`` JSON, if any."""
    if not metadata or len(metadata) > 4096:
        return None
    try:
        data = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        return None
    value = data.get("session_id") if isinstance(data, dict) else None
    return clean(value) if isinstance(value, str) else None


def from_headers(headers: Mapping[str, str]) -> Attribution:
    """The attribution of one request (pure). Session: ``x-claude-code-session-id``, else ``session-id``,
    else the session in ``x-codex-turn-metadata``, else ``thread-id`` (the first usable one). A header
    that is absent costs one lookup (most requests carry none of them)."""
    get = headers.get
    session = None
    if (value := get("x-claude-code-session-id")) is not None:
        session = clean(value)
    if session is None and (value := get("session-id")) is not None:
        session = clean(value)
    if session is None and (value := get("x-codex-turn-metadata")) is not None:
        session = _turn_session(value)
    if session is None and (value := get("thread-id")) is not None:
        session = clean(value)
    agent = get("x-claude-code-agent-id")
    request_class = get("x-claude-code-request-class")
    return Attribution(
        session,
        None if agent is None else clean(agent),
        client_name(get("user-agent")),
        None if request_class is None else clean(request_class, 32),
    )
