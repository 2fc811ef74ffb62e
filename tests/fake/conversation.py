"""What the fake says, decided from the request alone (pure functions, no I/O).

Both wire formats are first reduced to a ``Turn``; ``plan_reply`` turns that into a deterministic
``Reply`` and ``count_usage`` into token counts, so the OpenAI and Anthropic faces of the fake answer
the same conversation with the same words and the same numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fake.behaviour import Behaviour, ToolPolicy

Choice = Literal["auto", "none", "required"]
ECHO_CHARS = 60
TOOL_RESULT_CHARS = 200
THINKING_TEXT = "Let me think about that. (fake thinking)"
# Ids, roles and other bookkeeping strings do not count towards the prompt-size estimate.
_STRUCTURAL = {"role", "type", "id", "tool_call_id", "tool_use_id", "signature", "cache_control", "model"}
_SAMPLE_STRINGS = {
    "command": "ls",
    "path": "README.md",
    "file_path": "README.md",
    "location": "Paris",
    "city": "Paris",
    "query": "fake query",
    "pattern": "*.py",
    "url": "https://example.com/",
    "description": "fake tool call",
    "prompt": "fake prompt",
}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    """The parts of a request that the fake's answer depends on."""

    last_role: str  # "user", "tool" (a tool result ends the conversation) or "assistant"
    user_text: str  # text of the latest user message that is not a tool result
    tool_result: str | None
    tools: list[ToolSpec] = field(default_factory=list)
    choice: Choice = "auto"
    forced_tool: str | None = None
    max_tokens: int | None = None
    thinking: bool = False
    prompt_chars: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None
    tool_call: ToolCall | None = None
    thinking: str | None = None
    truncated: bool = False  # text was cut at max_tokens


@dataclass(frozen=True, slots=True)
class Usage:
    prompt: int  # every prompt token, cached ones included (OpenAI's prompt_tokens)
    cache_read: int
    cache_write: int
    output: int  # reasoning included (OpenAI's completion_tokens)
    reasoning: int

    @property
    def uncached(self) -> int:
        """Anthropic's ``input_tokens``: the prompt minus cache reads and writes."""
        return self.prompt - self.cache_read - self.cache_write


# --- reducing requests to a Turn ------------------------------------------------------------


def openai_turn(body: dict[str, Any]) -> Turn:
    messages = [m for m in body.get("messages") or [] if m.get("role") not in ("system", "developer")]
    last = messages[-1] if messages else {}
    role = last.get("role", "user")
    tools = [_openai_tool(t) for t in body.get("tools") or []]
    choice, forced = _openai_choice(body.get("tool_choice"))
    users = [m for m in messages if m.get("role") == "user"]
    effort = body.get("reasoning_effort") or (body.get("reasoning") or {}).get("effort")
    return Turn(
        last_role="tool" if role in ("tool", "function") else role,
        user_text=_text(users[-1].get("content")) if users else "",
        tool_result=_text(last.get("content")) if role in ("tool", "function") else None,
        tools=[t for t in tools if t.name],
        choice=choice,
        forced_tool=forced,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        thinking=bool(effort) and effort not in ("none", "minimal"),
        prompt_chars=_text_len(body.get("messages")) + sum(_tool_len(t) for t in tools),
    )


def anthropic_turn(body: dict[str, Any]) -> Turn:
    # Claude Code may end `messages` with a mid-conversation role:"system" message; look past it.
    messages = [m for m in body.get("messages") or [] if m.get("role") != "system"]
    last = messages[-1] if messages else {}
    results = _blocks(last.get("content"), "tool_result")
    users = [m for m in messages if m.get("role") == "user" and not _blocks(m.get("content"), "tool_result")]
    tools = [ToolSpec(t.get("name", ""), t.get("input_schema") or {}, t.get("description") or "")
             for t in body.get("tools") or []]
    choice, forced = _anthropic_choice(body.get("tool_choice"))
    thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    return Turn(
        last_role="tool" if results else last.get("role", "user"),
        user_text=_text(users[-1].get("content")) if users else "",
        tool_result="\n".join(_text(b.get("content")) for b in results) if results else None,
        tools=[t for t in tools if t.name],
        choice=choice,
        forced_tool=forced,
        max_tokens=body.get("max_tokens"),
        thinking=thinking,
        prompt_chars=_text_len(body.get("system")) + _text_len(body.get("messages"))
        + sum(_tool_len(t) for t in tools),
    )


def _openai_tool(tool: dict[str, Any]) -> ToolSpec:
    fn = tool.get("function") or tool.get("custom") or {}
    return ToolSpec(fn.get("name", ""), fn.get("parameters") or {}, fn.get("description") or "")


def _openai_choice(choice: Any) -> tuple[Choice, str | None]:
    if choice in ("none", "required"):
        return choice, None
    if isinstance(choice, dict):
        if choice.get("type") == "allowed_tools":
            mode = (choice.get("allowed_tools") or {}).get("mode")
            return ("required" if mode == "required" else "auto"), None
        named = choice.get("function") or choice.get("custom") or {}
        return "required", named.get("name")
    return "auto", None


def _anthropic_choice(choice: Any) -> tuple[Choice, str | None]:
    kind = (choice or {}).get("type", "auto")
    if kind == "none":
        return "none", None
    if kind == "any":
        return "required", None
    if kind == "tool":
        return "required", choice.get("name")
    return "auto", None


def _blocks(content: Any, kind: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind]


def _text(content: Any) -> str:
    """Plain text of a message content: a string, or the last text part/block of a list."""
    if isinstance(content, str):
        return content
    texts = [b.get("text", "") for b in _blocks(content, "text")]
    return texts[-1] if texts else ""


def _text_len(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_len(v) for v in value)
    if isinstance(value, dict):
        return sum(_text_len(v) for k, v in value.items() if k not in _STRUCTURAL)
    return 0


def _tool_len(tool: ToolSpec) -> int:
    schema = json.dumps(tool.schema, sort_keys=True, separators=(",", ":"))
    return len(tool.name) + len(tool.description) + len(schema)


# --- deciding the answer --------------------------------------------------------------------


def plan_reply(turn: Turn, name: str, policy: ToolPolicy, call_id: str) -> Reply:
    """Tool call, tool-result echo, or greeting; see the module docstring of tests/fake_provider.py."""
    thinking = THINKING_TEXT if turn.thinking else None
    tool = _pick_tool(turn, policy)
    if tool is not None:
        return Reply(None, ToolCall(call_id, tool.name, tool_arguments(tool.schema)), thinking)
    if turn.last_role == "tool":
        text = f"Tool said: {(turn.tool_result or '')[:TOOL_RESULT_CHARS]}"
    else:
        text = f"Hello from fake-{name}: {' '.join(turn.user_text.split())[:ECHO_CHARS]}".rstrip()
    words = pieces(text)
    if turn.max_tokens is not None and 0 < turn.max_tokens < len(words):
        return Reply("".join(words[: turn.max_tokens]), None, thinking, truncated=True)
    return Reply(text, None, thinking)


def _pick_tool(turn: Turn, policy: ToolPolicy) -> ToolSpec | None:
    if not turn.tools or turn.choice == "none":
        return None
    named = [t for t in turn.tools if t.name == turn.forced_tool]
    mentioned = [t for t in turn.tools if re.search(rf"\b{re.escape(t.name)}\b", turn.user_text, re.I)]
    if turn.choice == "required":
        return (named or mentioned or turn.tools)[0]
    if turn.last_role != "user" or policy == "never":
        return None
    if policy == "mention":
        return mentioned[0] if mentioned else None
    return (mentioned or turn.tools)[0]


def tool_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Deterministic arguments: one sample value per required property (``command`` -> ``"ls"``)."""
    props = schema.get("properties") or {}
    return {key: _sample(key, props.get(key) or {}) for key in schema.get("required") or []}


def _sample(key: str, prop: dict[str, Any]) -> Any:
    if prop.get("enum"):
        return prop["enum"][0]
    if "const" in prop:
        return prop["const"]
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    samples: dict[str, Any] = {"integer": 1, "number": 1, "boolean": True, "array": [], "null": None}
    if kind == "object":
        return tool_arguments(prop)
    return samples.get(kind, _SAMPLE_STRINGS.get(key, f"fake-{key}"))


def count_usage(turn: Turn, reply: Reply, behaviour: Behaviour) -> Usage:
    """Token counts: prompt = chars // 4 + 10; output = words (+ a quarter of the tool arguments)."""
    prompt = turn.prompt_chars // 4 + 10
    cache_read = min(behaviour.cache_read, prompt)
    cache_write = min(behaviour.cache_write, prompt - cache_read)
    reasoning = len(pieces(reply.thinking or ""))
    output = len(pieces(reply.text or "")) + reasoning
    if reply.tool_call is not None:
        output += len(reply.tool_call.arguments_json) // 4 + 1
    return Usage(prompt, cache_read, cache_write, output, reasoning)


def pieces(text: str) -> list[str]:
    """Split text into word-sized stream pieces that join back to the original text."""
    return re.findall(r"\s*\S+\s*", text)


def fragments(text: str, parts: int = 3) -> list[str]:
    """Split a string into at most ``parts`` non-empty fragments (tool-argument streaming)."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
