"""Each provider's documented prompt caching, simulated: a prefix counts as cached on a later request only
when the request carries what that provider requires.

- ``markers`` (Anthropic Messages; OpenRouter's Anthropic and Gemini models on the chat format): only blocks
  marked ``cache_control`` (a top-level ``cache_control`` marks the last block) end a cacheable prefix. A request
  reads the longest stored prefix that ends at a block boundary at most 20 blocks before one of its markers
  (Anthropic's lookback), and writes the prefix up to its last marker. Writes are reported, 1-hour ones apart.
- ``automatic`` (OpenAI, xAI, other OpenRouter models): every prompt of 1024 tokens or more is stored by
  prefix; a later request reads the longest stored prefix, under the same ``prompt_cache_key`` if one is sent.
  Nothing is reported as written (OpenAI bills no writes).

Prefixes shorter than ``MIN_TOKENS`` are never cached (Anthropic's and OpenAI's minimum). Token counts use the
fake's rule, a quarter of the characters, over each block's JSON without its markers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

MIN_TOKENS = 1024
LOOKBACK = 20
Style = Literal["markers", "automatic"]


@dataclass(frozen=True, slots=True)
class Block:
    text: bytes  # canonical JSON, markers removed
    marker: dict[str, Any] | None  # the block's cache_control, if any


@dataclass(slots=True)
class Outcome:
    read: int = 0
    write: int = 0
    write_1h: int = 0


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _block(kind: str, value: Any, marker: Any = None) -> Block:
    return Block(
        kind.encode() + orjson.dumps(_plain(value), option=orjson.OPT_SORT_KEYS),
        marker if isinstance(marker, dict) else None,
    )


def _content_blocks(role: str, content: Any) -> list[Block]:
    if isinstance(content, list):
        return [
            _block(role, part, part.get("cache_control") if isinstance(part, dict) else None)
            for part in content
        ]
    return [_block(role, content)] if content not in (None, "") else []


def anthropic_blocks(body: dict[str, Any]) -> list[Block]:
    """Anthropic's cache order: tools, system, messages."""
    out = [_block("tool", t, t.get("cache_control")) for t in body.get("tools") or () if isinstance(t, dict)]
    out += _content_blocks("system", body.get("system"))
    for m in body.get("messages") or ():
        if isinstance(m, dict):
            out += _content_blocks(str(m.get("role")), m.get("content"))
    return _with_top_level(out, body)


def chat_blocks(body: dict[str, Any]) -> list[Block]:
    """A Chat Completions body (markers on tools, content parts, or whole messages)."""
    out = [_block("tool", t, t.get("cache_control")) for t in body.get("tools") or () if isinstance(t, dict)]
    for m in body.get("messages") or ():
        if not isinstance(m, dict):
            continue
        role = str(m.get("role"))
        blocks = _content_blocks(role, m.get("content"))
        if blocks and isinstance(m.get("cache_control"), dict):
            blocks[-1] = Block(blocks[-1].text, m["cache_control"])
        out += blocks
        out += [_block("call", c) for c in m.get("tool_calls") or ()]
    return _with_top_level(out, body)


def responses_blocks(body: dict[str, Any]) -> list[Block]:
    out = [_block("instructions", body.get("instructions"))] if body.get("instructions") else []
    out += [_block("tool", t) for t in body.get("tools") or ()]
    items = body.get("input")
    out += [_block("input", i) for i in (items if isinstance(items, list) else [items] if items else [])]
    return out


def _with_top_level(blocks: list[Block], body: dict[str, Any]) -> list[Block]:
    marker = body.get("cache_control")
    if isinstance(marker, dict) and blocks:
        blocks[-1] = Block(blocks[-1].text, blocks[-1].marker or marker)
    return blocks


@dataclass
class PromptCache:
    """Stored prefixes (by namespace and hash) of one fake server, and what each request read and wrote."""

    stored: dict[tuple[str, str], int] = field(default_factory=dict)  # (namespace, prefix hash) → tokens

    def clear(self) -> None:
        self.stored.clear()

    def serve(self, blocks: list[Block], style: Style, namespace: str = "") -> Outcome:
        hashes, tokens = [], []
        digest, chars = hashlib.sha256(), 0
        for b in blocks:
            digest.update(len(b.text).to_bytes(8, "big") + b.text)
            chars += len(b.text)
            hashes.append(digest.hexdigest())
            tokens.append(chars // 4)
        if style == "automatic":
            return self._automatic(hashes, tokens, namespace)
        return self._markers(blocks, hashes, tokens, namespace)

    def _lookup(self, namespace: str, hashes: list[str], candidates: list[int]) -> int:
        best = -1
        for i in candidates:
            if (namespace, hashes[i]) in self.stored:
                best = max(best, i)
        return best

    def _automatic(self, hashes: list[str], tokens: list[int], namespace: str) -> Outcome:
        hit = self._lookup(namespace, hashes, list(range(len(hashes))))
        for i, n in enumerate(tokens):
            if n >= MIN_TOKENS:
                self.stored[(namespace, hashes[i])] = n
        return Outcome(read=tokens[hit] if hit >= 0 else 0)

    def _markers(self, blocks: list[Block], hashes: list[str], tokens: list[int], namespace: str) -> Outcome:
        marked = [i for i, b in enumerate(blocks) if b.marker is not None]
        if not marked:
            return Outcome()
        candidates = sorted({j for i in marked for j in range(max(0, i - LOOKBACK), i + 1)})
        hit = self._lookup(namespace, hashes, candidates)
        read = tokens[hit] if hit >= 0 else 0
        write = write_1h = 0
        previous = read
        for i in marked:
            if tokens[i] < MIN_TOKENS or i <= hit:
                continue
            self.stored[(namespace, hashes[i])] = tokens[i]
            grew = tokens[i] - previous
            previous = tokens[i]
            write += grew
            if blocks[i].marker and blocks[i].marker.get("ttl") == "1h":
                write_1h += grew
        return Outcome(read=read, write=write, write_1h=write_1h)
