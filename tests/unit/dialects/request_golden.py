"""The request translators' outputs on a fixed set of requests, kept as digests (``REQUEST_GOLDEN``).

Session 18 (issue 13) rewrote the translated request path for speed (optional fields' steps skipped when the
body does not hold the field, ``keep_breakpoints`` only after the client's own markers, a quick field-type
pass). Its outputs were checked byte for byte against the code before it (f7eebbd), and the digests of those
outputs are kept in ``tests/fixtures/request_translation_golden.json``: ``test_request_path18`` recomputes
them, so a change to any translator's output on these requests fails a test naming the group.

A group is: one request body (the request fixtures, ``../shared/captures``' generation requests, the bench's
bodies), with and without a prompt-cache session; one of the cache-marker bodies, plain and with streaming
options; or one top-level field set to each of ``VALUES`` on every fixture and bench body. A group's digest is
SHA-256 over, for ``validate_responses_request`` and each translator × target: the body bytes the translator
made, its tool names, custom tools and compaction flag, or the error's text and param, and the client's body
afterwards (a translator must not change it).

When a translation is meant to change: ``python -m tests.unit.dialects.request_golden --write`` (then read the
diff of the groups that moved).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.paths import PATHS
from services.gateway.dialects import _request_from_responses as tr_responses
from services.gateway.dialects import translate_request as tr
from services.gateway.dialects._prompt_cache import Session
from services.gateway.dialects._request_common import CHAT_FIELD_TYPES, MESSAGES_FIELD_TYPES, TranslationError
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.openai_compat import OpenAIProvider, OpenRouterProvider, XAIProvider

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "request_translation_golden.json"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "requests"
CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "captures"  # ../shared/captures, when there
PATH_FORMATS = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat", "/v1/responses": "responses"}


def bodies() -> list[tuple[str, dict[str, Any]]]:
    """(name, body) of every request fixture, every captured generation request, and the bench's bodies."""
    out: list[tuple[str, dict[str, Any]]] = []
    for f in sorted(FIXTURES.glob("*.json")):
        out.append((f.name, orjson.loads(f.read_bytes())["body"]))
    for f in sorted(CAPTURES.glob("**/*.json")) if CAPTURES.is_dir() else []:
        data = orjson.loads(f.read_bytes())
        if data.get("path") in PATH_FORMATS and isinstance(data.get("body"), dict):
            out.append((str(f.relative_to(CAPTURES)), data["body"]))
    out += [(f"bench {c.name}", dict(c.body)) for c in PATHS]
    return out


def targets() -> list[Any]:
    return [
        OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-4o-mini"),
        OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-5"),
        XAIProvider("xai", "http://127.0.0.1:9", "k").target("grok-3-mini"),
        OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k").target("anthropic/claude-sonnet-4.5"),
        AnthropicProvider("anthropic", "http://127.0.0.1:9", "k").target("claude-haiku-4-5"),
        AnthropicProvider("anthropic", "http://127.0.0.1:9", "k").target("claude-opus-4-6"),
        AnthropicProvider("anthropic", "http://127.0.0.1:9", "k").target("claude-3-haiku"),
    ]


TRANSLATORS: list[tuple[str, Callable[..., Any]]] = [
    ("anthropic_to_chat", tr.anthropic_to_chat),
    ("chat_to_anthropic", tr.chat_to_anthropic),
    ("responses_to_anthropic", tr.responses_to_anthropic),
    ("responses_to_chat", tr.responses_to_chat),
]

# the top-level fields the translators read, of every format
TOP_FIELDS = sorted(
    set(MESSAGES_FIELD_TYPES)
    | set(CHAT_FIELD_TYPES)
    | {
        "stream",
        "messages",
        "input",
        "instructions",
        "reasoning",
        "text",
        "max_output_tokens",
        "store",
        "previous_response_id",
        "safety_identifier",
        "cache_control",
        "prompt_cache_key",
        "stop",
        "background",
        "conversation",
        "prompt",
    }
)
# each top-level field set to each of these, alone, on every fixture and bench body
VALUES: list[Any] = [
    None,
    True,
    0,
    1,
    5000,
    0.5,
    "high",
    "auto",
    "required",
    "x",
    [],
    ["a", "b"],
    {},
    {"type": "json_schema", "schema": {"type": "object"}, "json_schema": {"schema": {}}},
    {"type": "json_object"},
    {"type": "enabled", "budget_tokens": 5000},
    {"type": "adaptive"},
    {"effort": "high", "format": {"type": "json_schema", "schema": {}}},
    {"user_id": "u"},
    {"type": "ephemeral", "ttl": "1h"},
    [{"type": "function", "name": "t", "function": {"name": "t"}, "parameters": {}}],
    [{"type": "text", "text": "hi"}],
]


def _marked(text: str, ttl: str | None = None) -> dict[str, Any]:
    marker: dict[str, Any] = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    return {"type": "text", "text": text, "cache_control": marker}


MARKED: list[dict[str, Any]] = [
    # a Chat client's own markers (OpenRouter's extension), more than Anthropic takes: some must go
    {
        "model": "m",
        "messages": [
            {"role": "system", "content": [_marked("s1", "1h"), _marked("s2")]},
            {"role": "user", "content": [_marked("u1"), _marked("u2"), {"type": "text", "text": "u3"}]},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": [_marked("u4"), _marked("u5", "5m")]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}, "cache_control": {}}],
    },
    # as many as Anthropic takes, and a "cache_control" that is no marker (null, a schema's property)
    {
        "model": "m",
        "messages": [
            {"role": "system", "content": [_marked("s1")]},
            {
                "role": "user",
                "content": [_marked("u1"), {"type": "text", "text": "t", "cache_control": None}],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {"properties": {"cache_control": {"type": "string"}}},
                },
            }
        ],
    },
    # none at all, a text that names the key
    {"model": "m", "messages": [{"role": "user", "content": 'say "cache_control" five times'}] * 5},
]


def outcome(translate: Callable[..., Any], body: dict[str, Any], target: Any, session: str | None) -> bytes:
    """What a translator made of a copy of ``body`` (see the module docstring), as bytes."""
    mine = orjson.loads(orjson.dumps(body))
    try:
        got = translate(mine, target, Session(session))
    except TranslationError as exc:
        result: list[Any] = ["error", str(exc), exc.param]
    else:
        result = [got.body, got.tool_names, sorted(got.custom_tools), got.compaction]
    return orjson.dumps([*result, mine])


def checked(body: dict[str, Any]) -> bytes:
    try:
        tr_responses.validate_responses_request(orjson.loads(orjson.dumps(body)))
    except TranslationError as exc:
        return orjson.dumps([str(exc), exc.param])
    return b"ok"


def groups() -> Iterator[tuple[str, list[tuple[dict[str, Any], str | None]]]]:
    """(group name, its (body, session) pairs)."""
    all_bodies = bodies()
    for name, body in all_bodies:
        yield f"body {name}", [(body, None), (body, "sess-1")]
    for i, body in enumerate(MARKED):
        extra = {"stream": True, "reasoning_effort": "high", "temperature": 0.5}
        yield f"marked {i}", [(body, None), ({**body, **extra}, None)]
    seeds = [b for n, b in all_bodies if n.endswith(".json") and "/" not in n or n.startswith("bench ")]
    for field in TOP_FIELDS:
        yield f"field {field}", [({**base, field: value}, None) for base in seeds for value in VALUES]


def digest(pairs: list[tuple[dict[str, Any], str | None]]) -> str:
    h = hashlib.sha256()
    all_targets = targets()
    for body, session in pairs:
        h.update(checked(body))
        for _, translate in TRANSLATORS:
            for target in all_targets:
                h.update(outcome(translate, body, target, session))
    return h.hexdigest()


def compute() -> dict[str, str]:
    return {name: digest(pairs) for name, pairs in groups()}


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        GOLDEN.write_bytes(orjson.dumps(compute(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        print(f"wrote {GOLDEN}")
    else:
        print(orjson.dumps(compute(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
