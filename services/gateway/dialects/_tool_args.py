"""A streamed tool call's arguments, checked when the call closes (pure).

Every tool call a stream encoder emits must end with arguments that, joined, parse as a JSON object
(OpenAI chat ``function.arguments``, Responses ``arguments``, Anthropic ``input``). Upstreams do not
always provide that: Anthropic streams a call without parameters as one empty ``input_json_delta``, an
OpenAI-compatible server may send no arguments at all, and a stream cut by ``max_tokens`` stops in the
middle of the object. The encoders stream fragments as they come and, when the call closes, append
``closing()``: ``"{}"`` for no arguments, the brackets (and string end, ``null`` value) a truncated
object still needs, or nothing when the arguments already parse.
"""

from __future__ import annotations

from typing import Any

import orjson

_LITERALS = ("true", "false", "null")


class ToolArgs:
    """The fragments of one call's arguments."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    def add(self, fragment: str) -> None:
        self._parts.append(fragment)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def closing(self) -> str:
        """What to append so the arguments parse as a JSON object ("" when they already do)."""
        return closing_suffix(self.text)


def input_object(value: Any) -> dict[str, Any]:
    """A tool call's input as the JSON object every client format needs (Anthropic ``tool_use.input``,
    OpenAI ``function.arguments`` once encoded): the object itself; a JSON-encoded object sent as a
    string (a relay that double-encodes ``input``: ``"{\"city\": \"Rome\"}"``) parsed, and so is
    arguments text encoded twice (``"\"{\\\"city\\\": …}\""``: a relay that ``json.dumps`` an already
    serialised string; s13 variant 01-i); anything else (null, missing, a list, text that is not an
    object) ``{}``: no arguments rather than a lost call."""
    if type(value) is dict:
        return value
    if isinstance(value, str) and value.strip():
        parsed = _loads(value)
        if isinstance(parsed, str):  # encoded twice: the object's text inside a JSON string
            parsed = _loads(parsed)
        return parsed if type(parsed) is dict else {}
    return {}


def twice_encoded_object(text: str) -> str | None:
    """The object's JSON text when ``text`` is a JSON string whose value is a JSON object's text (arguments
    encoded twice, ``input_object``), else None. One look at the first character for every other text."""
    if not text.lstrip().startswith('"'):
        return None
    inner = _loads(text)
    return inner if isinstance(inner, str) and type(_loads(inner)) is dict else None


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def null_so_far(text: str) -> bool:
    """True while ``text`` (whitespace aside) is ``null`` or a beginning of it. Some OpenAI-compatible servers
    stream the arguments of a call made without any as the JSON text ``null`` (vLLM's tool parsers render
    them with ``json.dumps(None)``: vllm-project/vllm#21046, #43851), which no client format accepts as
    arguments (a JSON object: OpenAI chat ``function.arguments``, Anthropic ``input``). A decoder holds such
    fragments back and, if the call closes on ``null``, drops them: the call has no arguments ("{}")."""
    stripped = text.strip()
    return bool(stripped) and "null".startswith(stripped)


def closing_suffix(text: str) -> str:
    """The shortest text that, appended, makes ``text`` a JSON object; "" if it is one already or if no
    suffix can (then the arguments are left as the upstream sent them)."""
    if not text.strip():
        return "{}"
    if _is_object(text):
        return ""
    suffix = _complete(text)
    return suffix if suffix is not None and _is_object(text + suffix) else ""


def _is_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def _complete(text: str) -> str | None:
    """Close a truncated JSON object: scan it, then close the open string, token and containers.
    None when the text is not the beginning of an object or when closing it would need invented
    content (a key after a trailing comma)."""
    stack: list[
        list[str]
    ] = []  # [container, state]: key, key2 (after a comma), colon, value, value2 (after a comma), after
    in_string = is_key = False
    escape = ""  # pending escape: "\\" or "\\u" plus the hex digits so far
    token = ""
    started = False
    for ch in text:
        if in_string:
            if escape == "\\":
                escape = "\\u" if ch == "u" else ""
            elif escape:
                escape = "" if len(escape) == 5 else escape + ch
            elif ch == "\\":
                escape = "\\"
            elif ch == '"':
                in_string = False
                stack[-1][1] = "colon" if is_key else "after"
            continue
        if token and (ch.isspace() or ch in ",:]}"):
            token = ""
            stack[-1][1] = "after"
        if ch.isspace():
            continue
        if not started:
            if ch != "{":
                return None
            started = True
            stack.append(["{", "key"])
            continue
        if not stack:
            return None  # text after the object
        top = stack[-1]
        if ch == '"':
            in_string, is_key = True, top[0] == "{" and top[1] in ("key", "key2")
        elif ch in "{[":
            top[1] = "after"  # the container is the parent's value
            stack.append([ch, "key" if ch == "{" else "value"])
        elif ch in "}]":
            stack.pop()
            if stack:
                stack[-1][1] = "after"
        elif ch == ":":
            top[1] = "value"
        elif ch == ",":
            top[1] = "key2" if top[0] == "{" else "value2"
        else:
            token += ch
    out = ""
    if in_string:
        if escape.startswith("\\u"):
            out += "0" * (6 - len(escape))
        elif escape:
            out += "\\"
        out += '"'
        stack[-1][1] = "colon" if is_key else "after"
    elif token:
        literal = next((lit for lit in _LITERALS if lit.startswith(token)), None)
        if literal is not None:
            out += literal[len(token) :]
        elif token[-1] in "-+.eE":
            out += "0"
        stack[-1][1] = "after"
    for container, state in reversed(stack):
        if state == "key2":
            return None
        if state == "colon":
            out += ":null"
        elif (state == "value" and container == "{") or state == "value2":
            out += "null"
        out += "}" if container == "{" else "]"
    return out
