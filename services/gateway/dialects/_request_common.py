"""Types shared by both request translators: the target description, the result and the error."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_DATA_URL = re.compile(
    r"^data:(?P<media_type>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*?;base64,(?P<data>.*)$", re.DOTALL
)


@dataclass(frozen=True)
class Target:
    """What the gateway knows about the upstream model a request is translated for."""

    model: str
    max_output_tokens: int | None = None
    default_max_tokens: int = 8192
    max_tokens_field: str = "max_completion_tokens"  # or "max_tokens" (xAI, OpenRouter)
    # None: the model does not reason | "reasoning_effort" (OpenAI/xAI) | "openrouter" (reasoning: {effort})
    # | "anthropic_adaptive" (thinking adaptive + output_config.effort) | "anthropic_budget" (budget_tokens)
    reasoning: str | None = None
    # Prompt caching (dialects/_prompt_cache.py). ``cache_markers``: the model honours Anthropic
    # ``cache_control`` markers on chat content parts (OpenRouter's Anthropic and Gemini models), so they are
    # kept, or placed when the client sent none. ``prompt_cache_key``: the provider takes
    # ``prompt_cache_key`` (OpenAI), set from the client's session when the client did not send one.
    cache_markers: bool = False
    prompt_cache_key: bool = False
    # The server takes the model's own reasoning back on assistant messages as ``reasoning_content`` (DeepSeek's
    # thinking mode requires it on a tool loop's assistant messages: 400 "Missing `reasoning_content` field in
    # the assistant message at message index N", api-docs.deepseek.com/guides/thinking_mode#tool-calls; Kimi's
    # and GLM's thinking models keep it too). The history's thinking (an Anthropic client's thinking blocks, a
    # Responses client's reasoning items) then goes there instead of being dropped.
    reasoning_content: bool = False
    # The server takes Gemini's thought signatures back on tool calls (``extra_content.google.thought_signature``:
    # Google's OpenAI-compatible endpoint). A signature an Anthropic or Responses client carried in a call's id
    # (``_call_signature``) then goes back onto the call; elsewhere it is dropped and the id restored.
    thought_signatures: bool = False
    # Claude on OpenRouter: the history's signed thinking (an Anthropic client's thinking blocks with Claude's
    # signature, its redacted_thinking blocks) goes back as the assistant message's ``reasoning_details``
    # (``_claude_details``); elsewhere it is dropped.
    claude_details: bool = False
    # Claude behind LiteLLM (or another relay that speaks LiteLLM's message shape): the same signed thinking goes
    # back as the assistant message's ``thinking_blocks`` (``_claude_details.signed_back``; LiteLLM docs,
    # "'Thinking' / 'Reasoning Content'"); ``claude_details`` wins when both are set.
    claude_thinking_blocks: bool = False
    # The server takes an Anthropic client's ``top_k`` as a chat body's ``top_k`` (OpenRouter: "API Parameters",
    # ``top_k``, passed to the models that have it, Claude among them; bug35b variant 08w35c); elsewhere dropped.
    top_k: bool = False

    @property
    def claude_field(self) -> str:
        """The assistant-message field Claude's signed thinking goes back in on the chat wire:
        ``reasoning_details`` (OpenRouter), ``thinking_blocks`` (LiteLLM), or "" (dropped)."""
        if self.claude_details:
            return "reasoning_details"
        return "thinking_blocks" if self.claude_thinking_blocks else ""


class TranslationError(ValueError):
    """The request cannot be expressed for the target; the gateway answers 400 in the client's format."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class TranslatedRequest:
    """The upstream request body, and how to name tools back when the answer is translated."""

    body: dict[str, Any]
    tool_names: dict[str, str] = field(default_factory=dict)  # upstream tool name → client tool name
    custom_tools: frozenset[str] = frozenset()  # client names of Responses custom (free-form) tools
    compaction: bool = False  # a Responses compaction was asked for: answer with one compaction item
    # The body holds nothing the gateway mints (no thinking block, no ``thinking`` field): the wire's
    # ``strip_minted`` would change nothing, and ``Proxy._build`` skips it (issue 13, session 24)
    unminted: bool = False
    # Tokens the translator added to ``max_tokens`` for the thinking it set (a client effort with no output limit:
    # ``_request_to_anthropic._add_thinking``); a later step that drops the ``thinking`` (``strip_minted``, a
    # ``strip_refused`` retry) takes them off again, so the raise follows the thinking actually sent (s29 fix29)
    thinking_room: int = 0


def clamp_tokens(value: int, target: Target) -> int:
    """``value`` limited to the target model's output maximum."""
    return min(value, target.max_output_tokens) if target.max_output_tokens else value


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` → (media type, base64 data); None for anything else."""
    m = _DATA_URL.match(url)
    return (m.group("media_type").lower(), m.group("data")) if m else None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty dict (malformed optional fields are ignored)."""
    return value if isinstance(value, dict) else {}


def message_content(value: Any, path: str) -> str | list[Any]:
    """A message's ``content``: a string or a list of parts, as both APIs require (Anthropic and OpenAI
    answer 400 to anything else). Raises ``TranslationError`` (param ``<path>.content``) otherwise, rather
    than the message being dropped and the conversation sent on without it."""
    if isinstance(value, (str, list)):
        return value
    raise TranslationError(f"{path}.content: Input should be a valid string or list", param=f"{path}.content")


def text_of_part(part: dict[str, Any], where: str) -> str:
    """A text part's ``text``, which must be a string (both APIs: "Field required" / "valid string")."""
    text = part.get("text")
    if isinstance(text, str):
        return text
    raise TranslationError(f"{where}.text: Input should be a valid string", param=f"{where}.text")


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """What the gateway reads from a client's request before routing it (the body itself goes on as is).

    ``reasoning``: whether the client wants reasoning text back (an Anthropic client that did not ask for
    thinking must not get thinking blocks).
    """

    model: str
    stream: bool = False
    include_usage: bool = False
    reasoning: bool = True


def require_model(body: dict[str, Any]) -> str:
    """``model``: a non-empty string (every format requires it)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise TranslationError("`model` is required and must be a non-empty string", param="model")
    return model


def require_stream_flag(body: dict[str, Any]) -> bool:
    """``stream``: absent, null or a boolean."""
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise TranslationError("`stream` must be a boolean", param="stream")
    return body.get("stream") is True


def require_max_tokens(body: dict[str, Any]) -> int:
    """A Messages request's ``max_tokens``: required, an integer >= 1 (Anthropic API reference, "Create a
    Message": ``max_tokens`` required, ``x >= 1``). Raises ``TranslationError`` (param ``max_tokens``) in
    the Pydantic wording Anthropic's own 400s use: "Field required" only when the key is absent, "Input
    should be a valid integer" when it is present but not an integer (``null``: Pydantic judges a present
    ``None`` by the field's type; a float such as ``1e30``, a string, a boolean, an array), "Input should be
    greater than or equal to 1" for 0 and negatives."""
    value = body.get("max_tokens")
    if type(value) is not int:
        words = "Input should be a valid integer" if "max_tokens" in body else "Field required"
        raise TranslationError(f"max_tokens: {words}", param="max_tokens")
    if value < 1:
        raise TranslationError("max_tokens: Input should be greater than or equal to 1", param="max_tokens")
    return value


# A chat request's output-token limits, in the order they are read (``max_completion_tokens`` replaced ``max_tokens``).
CHAT_TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")


def chat_token_limit(body: dict[str, Any]) -> int | None:
    """The output-token limit a Chat Completions body sets for a translated request: its first positive integer
    of ``CHAT_TOKEN_FIELDS``, or None when it sets none (absent or null: the target's default applies).

    Either field holding an integer below 1 is a 400 (``TranslationError``, param: the field) in OpenAI's wording
    (OpenAI API reference, "Create chat completion": ``max_completion_tokens``/``max_tokens`` are integers >= 1;
    OpenAI answers "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0
    instead."): read as "not set", a client's ``max_tokens: 0`` or ``-1`` reached Claude as the gateway's 8192
    default (s29 variant 17-chat-max-tokens-negative-claude-stream-vD). Other types are judged by
    ``check_field_types`` (or make the body take that path)."""
    asked = None
    for key in CHAT_TOKEN_FIELDS:
        value = body.get(key)
        if type(value) is int:
            if value < 1:
                raise TranslationError(
                    f"Invalid '{key}': integer below minimum value. Expected a value >= 1, but got {value} "
                    "instead.",
                    param=key,
                )
            if asked is None:
                asked = value
    return asked


# The largest output-token limit a request may ask for: a signed 64-bit integer, as the providers' schemas
# declare their integer fields (OpenAPI ``format: int64``; OpenAI's 400 for a larger one: "integer above
# maximum value. Expected a value <= N").
TOKEN_LIMIT_MAX = 2**63 - 1


def check_token_limit_range(body: dict[str, Any], fields: tuple[str, ...], floats: bool = True) -> None:
    """Each of ``fields`` (an output-token limit: ``max_tokens``, ``max_completion_tokens``,
    ``max_output_tokens``) that ``body`` holds as a number of magnitude beyond a signed 64-bit integer is a
    400 naming the field. The JSON parser (orjson) gives an integer beyond 64 bits as a float, so without
    this check such a limit was judged a float ("Input should be a valid integer", misleading for an
    integer), or, on a passthrough route, clamped to the model's limit as if it had been asked for. A
    float with a fraction is left to the type checks. ``floats=False``: only integers are judged here (a
    Messages request: Anthropic validates with Pydantic in strict mode, whose word for any float, ``1e30``
    too, is "Input should be a valid integer", ``require_max_tokens``; the parser cannot tell ``1e30`` from
    an integer literal past 64 bits). Raises ``TranslationError`` (param: the field); runs on every route,
    before the type checks."""
    for key in fields:
        value = body.get(key)
        if type(value) is float:
            if not floats or not value.is_integer() or abs(value) <= TOKEN_LIMIT_MAX:
                continue
        elif type(value) is not int or -TOKEN_LIMIT_MAX <= value <= TOKEN_LIMIT_MAX:
            continue
        if value > 0:
            words = f"integer above maximum value, expected a value <= {TOKEN_LIMIT_MAX}"
        else:
            words = "integer below minimum value, expected a value >= 1"
        raise TranslationError(f"{key}: {words}", param=key)


def require_messages(body: dict[str, Any]) -> None:
    """``messages``: a non-empty array of objects, each with a string ``role`` (chat and Messages)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("`messages` is required and must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise TranslationError(
                f"messages[{i}] must be an object with a string `role`", param=f"messages[{i}]"
            )


# The JSON types a field may hold: ``check_field_types``'s kinds, each with its test and its name in an
# error message (Pydantic's wording, as Anthropic's and OpenAI's 400s phrase it).
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "string"),
    "integer": (lambda v: type(v) is int, "integer"),
    "number": (lambda v: type(v) in (int, float), "number"),
    "boolean": (lambda v: type(v) is bool, "boolean"),
    "object": (lambda v: isinstance(v, dict), "object"),
    "objects": (lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v), "list of objects"),
    "strings": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "list of strings"),
    "list": (lambda v: isinstance(v, list), "list"),
}

# Anthropic Messages request: the optional top-level fields a translation reads, and their types (Anthropic
# API reference, "Create a Message": body parameters).
MESSAGES_FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "system": ("string", "list"),
    "max_tokens": ("integer",),
    "metadata": ("object",),
    "stop_sequences": ("strings",),
    "temperature": ("number",),
    "top_p": ("number",),
    "top_k": ("integer",),
    "tools": ("objects",),
    "tool_choice": ("object",),
    "thinking": ("object",),
    "output_config": ("object",),
}

# OpenAI Chat Completions request: the same (OpenAI API reference, "Create chat completion": request body).
CHAT_FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "tools": ("objects",),
    "functions": ("objects",),
    "tool_choice": ("string", "object"),
    "function_call": ("string", "object"),
    "parallel_tool_calls": ("boolean",),
    "temperature": ("number",),
    "top_p": ("number",),
    "presence_penalty": ("number",),
    "frequency_penalty": ("number",),
    "max_tokens": ("integer",),
    "max_completion_tokens": ("integer",),
    "n": ("integer",),
    "seed": ("integer",),
    "stop": ("string", "strings"),
    "response_format": ("object",),
    "stream_options": ("object",),
    "reasoning_effort": ("string",),
    "metadata": ("object",),
    "user": ("string",),
}


# A kind's values as JSON gives them (orjson: exact types), for ``check_field_types``' quick pass: a value of
# one of these exact types is of that kind (the list kinds: when every element is too, ``_ELEMENT``). Another
# value is judged by ``_KINDS``' own test, which decides.
_EXACT: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "objects": (list,),
    "strings": (list,),
    "list": (list,),
}
_ELEMENT: dict[str, type] = {"objects": dict, "strings": str}


def _quick(types: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[tuple[type, ...], type | None]]:
    """Per field of ``types``: the exact types its kinds take, and the element type a list of them must
    hold (None: any list); a field with a list kind of elements and another list kind gets none of its own
    quick pass (its element type would be ambiguous): ``(), None``."""
    out: dict[str, tuple[tuple[type, ...], type | None]] = {}
    for key, kinds in types.items():
        exact = tuple(t for k in kinds for t in _EXACT[k])
        elements = {_ELEMENT[k] for k in kinds if k in _ELEMENT}
        lists = sum(1 for k in kinds if _EXACT[k] == (list,))
        if len(elements) > 1 or (elements and lists > 1):
            out[key] = ((), None)
        else:
            out[key] = (exact, elements.pop() if elements else None)
    return out


# the quick passes of the field-type tables above, computed once (another table's: at each call)
_QUICK: dict[int, tuple[Mapping[str, tuple[str, ...]], dict[str, tuple[tuple[type, ...], type | None]]]] = {
    id(t): (t, _quick(t)) for t in (MESSAGES_FIELD_TYPES, CHAT_FIELD_TYPES)
}


def check_field_types(body: dict[str, Any], types: Mapping[str, tuple[str, ...]]) -> None:
    """Each field of ``types`` that ``body`` holds (null counts as absent) is of one of its kinds: a
    translated request with ``tools: "x"`` or ``system: 5`` is a 400 naming the field, as the provider of
    the client's own API answers it, not a request sent on without the field. Raises ``TranslationError``
    (param: the field).

    A quick pass first (issue 13, session 18: the walk below took ~15 Python calls per translated
    request): only the fields ``body`` holds, each by its value's exact type (``_EXACT``), which a JSON body's
    values always have; when it cannot vouch for every field, the walk below decides, in ``types``' order
    (so the error names the same field as ever)."""
    kept = _QUICK.get(id(types))
    quick = kept[1] if kept is not None and kept[0] is types else _quick(types)
    for key in body.keys() & quick.keys():
        value = body[key]
        if value is None:
            continue
        exact, element = quick[key]
        kind = type(value)
        if kind not in exact:
            break
        if element is not None and kind is list:
            for x in value:
                if type(x) is not element:
                    break
            else:
                continue
            break
    else:
        return
    for key, kinds in types.items():
        value = body.get(key)
        if value is None or any(_KINDS[k][0](value) for k in kinds):
            continue
        expected = " or ".join(_KINDS[k][1] for k in kinds)
        raise TranslationError(f"{key}: Input should be a valid {expected}", param=key)
