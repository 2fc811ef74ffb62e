"""What the fake says, decided from the request alone (pure functions, no I/O).

Every wire format (chat completions, Anthropic messages, Responses) is first reduced to a ``Turn``;
``plan_reply`` turns that into a deterministic ``Reply`` and ``count_usage`` into token counts, so the
faces of the fake answer the same conversation with the same words and the same numbers.

Tool choice is driven by the prompt, so the real agents (Claude Code, Codex) get the calls they can run:
a tool the prompt names wins; then a prompt that asks to list files (``list``/``ls``) gets a shell tool
(``exec_command``, ``shell``, ``shell_command``, ``Bash``) running ``ls``, and one that asks to create or
write a file gets ``apply_patch`` with a patch adding that file (``hello.txt`` unless the prompt names
another ``*.txt``/``*.md``/``*.py`` file) holding ``hello from fake``.
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
SHELL_TOOLS = ("exec_command", "shell", "shell_command", "local_shell", "Bash", "bash")
PATCH_TOOLS = ("apply_patch",)
PATCH_CONTENT = "hello from fake"
DEFAULT_PATCH_FILE = "hello.txt"
_LIST_INTENT = re.compile(r"\b(list|ls)\b", re.I)
_CREATE_INTENT = re.compile(r"\b(create|write|add|make)\b.*\bfile\b|\bfile\b.*\b(create|write)", re.I | re.S)
_FILE_NAME = re.compile(r"\b([\w-]+\.(?:txt|md|py))\b")
_SAMPLE_STRINGS = {
    "command": "ls",
    "cmd": "ls",
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
    custom: bool = False  # a Responses ``custom`` tool: free-form text input, no JSON schema


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
    compact: bool = False  # the input ends with a ``compaction_trigger`` item (Responses wire)
    summary: str = ""  # the user texts of the whole conversation (what a compaction summarises)


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    custom_input: str | None = None  # set for a call to a ``custom`` tool (Responses wire only)

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)

    @property
    def wire_input(self) -> str:
        """What the call carries on the wire: the raw text of a custom call, else the JSON arguments."""
        return self.custom_input if self.custom_input is not None else self.arguments_json


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None
    tool_call: ToolCall | None = None
    thinking: str | None = None
    truncated: bool = False  # text was cut at max_tokens
    compaction: str | None = None  # Responses remote compaction: the summary the compaction item carries


@dataclass(frozen=True, slots=True)
class Usage:
    prompt: int  # every prompt token, cached ones included (OpenAI's prompt_tokens)
    cache_read: int
    cache_write: int
    output: int  # reasoning included (OpenAI's completion_tokens)
    reasoning: int
    cache_write_1h: int = 0  # the part of cache_write written with the 1-hour TTL (Anthropic)

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
    tools = [
        ToolSpec(t.get("name", ""), t.get("input_schema") or {}, t.get("description") or "")
        for t in body.get("tools") or []
    ]
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
        prompt_chars=_text_len(body.get("system"))
        + _text_len(body.get("messages"))
        + sum(_tool_len(t) for t in tools),
    )


def responses_turn(body: dict[str, Any]) -> Turn:
    """A Responses request: ``input`` (a string or a list of items), ``instructions``, ``tools``."""
    raw = body.get("input")
    items: list[dict[str, Any]] = (
        [{"type": "message", "role": "user", "content": raw}]
        if isinstance(raw, str)
        else [i for i in raw or [] if isinstance(i, dict)]
    )
    compact = bool(items) and items[-1].get("type") == "compaction_trigger"
    turns = [i for i in items if _responses_role(i) in ("user", "assistant", "tool")]
    last = turns[-1] if turns else {}
    role = _responses_role(last) or "user"
    users = [i for i in turns if _responses_role(i) == "user"]
    tools = _responses_tools(body.get("tools") or [])
    choice, forced = _openai_choice(body.get("tool_choice"))
    effort = (body.get("reasoning") or {}).get("effort")
    return Turn(
        last_role=role,
        user_text=_text(users[-1].get("content")) if users else "",
        tool_result=_output_text(last.get("output")) if role == "tool" else None,
        tools=[t for t in tools if t.name],
        choice=choice,
        forced_tool=forced,
        max_tokens=body.get("max_output_tokens"),
        thinking=bool(effort) and effort not in ("none", "minimal"),
        prompt_chars=_text_len(body.get("instructions"))
        + _text_len(items)
        + sum(_tool_len(t) for t in tools),
        compact=compact,
        summary=" | ".join(" ".join(_text(u.get("content")).split())[:ECHO_CHARS] for u in users),
    )


def user_texts(body: dict[str, Any]) -> list[str]:
    """The text of every user message of a Responses request, in order."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    items = [i for i in raw or [] if isinstance(i, dict)]
    return [
        _all_text(i.get("content"))
        for i in items
        if i.get("type", "message") == "message" and i.get("role") == "user"
    ]


def _all_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict) and "text" in b)


def _responses_role(item: dict[str, Any]) -> str | None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        return role if role in ("user", "assistant") else None  # developer/system: instructions
    if kind in ("function_call_output", "custom_tool_call_output"):
        return "tool"
    if kind in ("function_call", "custom_tool_call", "compaction"):
        return "assistant"  # a compaction item stands for the model's work so far: the fake answers in text
    return None  # reasoning, compaction_trigger, …


def _responses_tools(tools: list[Any]) -> list[ToolSpec]:
    """Function and custom tools, with ``namespace`` tools flattened; hosted tools are not callable."""
    out: list[ToolSpec] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind == "function":
            out.append(
                ToolSpec(tool.get("name", ""), tool.get("parameters") or {}, tool.get("description") or "")
            )
        elif kind == "custom":
            out.append(ToolSpec(tool.get("name", ""), {}, tool.get("description") or "", custom=True))
        elif kind == "namespace":
            out += _responses_tools(tool.get("tools") or [])
    return out


def _output_text(output: Any) -> str:
    """A tool output: a string, or a list of ``input_text`` parts."""
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict))
    return output if isinstance(output, str) else ""


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
    texts = [
        b.get("text", "") for kind in ("text", "input_text", "output_text") for b in _blocks(content, kind)
    ]
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
    if turn.compact:
        return Reply(None, None, None, compaction=f"Summary of the conversation so far: {turn.summary}")
    tool = _pick_tool(turn, policy)
    if tool is not None:
        return Reply(None, tool_call(tool, turn.user_text, call_id), thinking)
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
    wanted = mentioned + _intended(turn)
    if turn.choice == "required":
        return (named or wanted or turn.tools)[0]
    if turn.last_role != "user" or policy == "never":
        return None
    if policy == "mention":
        return wanted[0] if wanted else None
    return (wanted or turn.tools)[0]


def _intended(turn: Turn) -> list[ToolSpec]:
    """The tools the prompt asks for without naming them: a shell for listing files, apply_patch for
    creating one."""
    out: list[ToolSpec] = []
    if _CREATE_INTENT.search(turn.user_text):
        out += [t for t in turn.tools if t.name in PATCH_TOOLS]
    if _LIST_INTENT.search(turn.user_text):
        out += [t for name in SHELL_TOOLS for t in turn.tools if t.name == name]
    return out


def tool_call(tool: ToolSpec, prompt: str, call_id: str) -> ToolCall:
    """The call the fake makes to ``tool``: shells run ``ls``, apply_patch adds a file, others get samples."""
    if tool.name in PATCH_TOOLS:
        patch = add_file_patch(prompt)
        if tool.custom:
            return ToolCall(call_id, tool.name, {}, custom_input=patch)
        return ToolCall(call_id, tool.name, _with_text(tool.schema, patch, ("input", "patch")))
    if tool.custom:
        return ToolCall(call_id, tool.name, {}, custom_input="fake input")
    if tool.name in SHELL_TOOLS:
        return ToolCall(call_id, tool.name, shell_arguments(tool.schema, "ls"))
    return ToolCall(call_id, tool.name, tool_arguments(tool.schema))


def add_file_patch(prompt: str) -> str:
    """An apply_patch patch adding the file the prompt names (``hello.txt`` by default)."""
    found = _FILE_NAME.search(prompt)
    name = found.group(1) if found else DEFAULT_PATCH_FILE
    return f"*** Begin Patch\n*** Add File: {name}\n+{PATCH_CONTENT}\n*** End Patch\n"


def shell_arguments(schema: dict[str, Any], command: str) -> dict[str, Any]:
    """Arguments running ``command`` in the shape the tool's schema asks for: ``{"cmd": "ls"}``,
    ``{"command": "ls"}`` or ``{"command": ["ls"]}``."""
    args = tool_arguments(schema)
    props = schema.get("properties") or {}
    key = next((k for k in ("cmd", "command") if k in props), "command")
    args[key] = [command] if (props.get(key) or {}).get("type") == "array" else command
    return args


def _with_text(schema: dict[str, Any], text: str, keys: tuple[str, ...]) -> dict[str, Any]:
    args = tool_arguments(schema)
    props = schema.get("properties") or {}
    key = next((k for k in keys if k in props), None) or next(iter(schema.get("required") or []), keys[0])
    args[key] = text
    return args


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
        output += len(reply.tool_call.wire_input) // 4 + 1
    if reply.compaction is not None:
        output += len(pieces(reply.compaction))
    return Usage(prompt, cache_read, cache_write, output, reasoning)


def pieces(text: str) -> list[str]:
    """Split text into word-sized stream pieces that join back to the original text."""
    return re.findall(r"\s*\S+\s*", text)


def fragments(text: str, parts: int = 3) -> list[str]:
    """Split a string into at most ``parts`` non-empty fragments (tool-argument streaming)."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
