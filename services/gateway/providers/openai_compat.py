"""Providers that speak OpenAI's Chat Completions: OpenAI itself, xAI, OpenRouter, and any configured one.

Each owns its usage convention on that wire (``Provider.usage``):
- OpenAI (API reference, "The chat completion object" → ``usage``): ``completion_tokens`` includes
  ``completion_tokens_details.reasoning_tokens``; ``prompt_tokens`` includes
  ``prompt_tokens_details.cached_tokens``. This is what ``usage_from_openai`` reads, unchanged.
- xAI (docs.x.ai, "Reasoning": "reasoning token consumption is counted separately from
  ``completion_tokens``, but included in ``total_tokens``"): reasoning tokens are billed at the output rate
  but left out of ``completion_tokens``, so output = ``completion_tokens`` + ``reasoning_tokens``.
- OpenRouter (docs "Usage Accounting"): token counts normalised to OpenAI's convention; ``usage.cost`` is what
  it charged to the account, ``cost_details.upstream_inference_cost`` what the upstream charged, which a
  BYOK user (``is_byok``) pays to the upstream directly on top: ``usage_from_openai`` records the sum.
- Configured OpenAI-compatible servers: OpenAI's convention (they implement OpenAI's API), unless the
  answer's ``total_tokens`` shows reasoning outside ``completion_tokens`` (Gemini's OpenAI-compatible
  endpoint counts thoughts that way) or, without a total that tells, there is more reasoning than
  completion (a relay that drops ``total_tokens``): ``base.reasoning_as_output`` reads it for every provider.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE, ToolIds, anthropic_takes_id
from services.gateway.dialects._call_signature import chat_signature, details_entry
from services.gateway.dialects._copy_on_change import rewritten_in
from services.gateway.dialects._minted import MINTED_PREFIX
from services.gateway.dialects._prompt_cache import (
    body_has_markers,
    drop_non_markers,
    keep_chat_breakpoints,
    markers_onto_parts,
    place_chat_breakpoints,
)
from services.gateway.dialects.ir import Usage
from services.gateway.dialects.translate_request import Target
from services.gateway.providers.base import (
    TARGETS_KEPT,
    Operation,
    Provider,
    Wire,
    reasoning_as_output,
)
from services.gateway.providers.limits import named_in
from shared.pricing import bedrock_model_id

# Models that reason and take `reasoning_effort`; they also need `max_completion_tokens`.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class OpenAICompatProvider(Provider):
    wires: tuple[Wire, ...] = ("openai_chat",)
    max_tokens_field = "max_completion_tokens"

    def url(self, op: Operation) -> str:
        if op == "models":
            return f"{self.base_url}/models"
        if op == "responses":
            return f"{self.base_url}/responses"
        if op == "responses_compact":
            return f"{self.base_url}/responses/compact"
        return f"{self.base_url}/chat/completions"

    def headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        """The same headers for every request (none of the client's are forwarded): a copy of
        ``_own_headers``, built once."""
        return self._own_headers.copy()

    @functools.cached_property
    def _own_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        if not stream or wire != "openai_chat":  # the Responses API reports usage in response.completed
            return False
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            return False
        # The gateway needs usage for the ledger; the client's own choice is honoured downstream.
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return True

    def target(self, model: str) -> Target:
        bare = model.rsplit("/", 1)[-1]
        reasoning = "reasoning_effort" if bare.startswith(_REASONING_PREFIXES) else None
        return Target(
            model=model,
            max_output_tokens=self.output_limit(model),
            max_tokens_field=self.max_tokens_field,
            reasoning=reasoning,
        )


# OpenAI's models served on the Responses API only (platform.openai.com/docs/models, each model's "Endpoints":
# v1/responses, not v1/chat/completions), bare names with dots read as dashes (``limits.named_in``: snapshots and
# "-latest"/"-preview" aliases are the same model). A chat request for one is refused: 404 "This model is only
# supported in v1/responses and not in v1/chat/completions." (s34 bug34a variants 10i, 18n: an Anthropic or chat
# client asking gpt-5-codex got that 404 on every request)
_RESPONSES_ONLY = frozenset(
    (
        "o1-pro",
        "o3-pro",
        "o3-deep-research",
        "o4-mini-deep-research",
        "gpt-5-pro",
        "gpt-5-codex",
        "gpt-5-1-codex",
        "gpt-5-1-codex-mini",
        "gpt-5-1-codex-max",
        "codex-mini",
        "computer-use",
    )
)


class OpenAIProvider(OpenAICompatProvider):
    # Codex's Responses requests pass through untouched (reasoning encrypted_content included), and so
    # does their prompt_cache_key.
    wires = ("openai_chat", "openai_responses")
    wires_by_model = True

    def only_wire(self, model: str) -> Wire | None:
        """The Responses wire ("openai_responses") for a Responses-only model (``_RESPONSES_ONLY``, or one learned
        from a refusal: ``Provider.learn_only_wire``, the chat wire's reading of OpenAI's 404), else None. Kept per
        model (at most ``TARGETS_KEPT``)."""
        if model in self._only_wires:
            return self._only_wires[model]
        wire: Wire | None = "openai_responses" if named_in(model, _RESPONSES_ONLY) else None
        if len(self._only_wires) < TARGETS_KEPT:
            self._only_wires[model] = wire
        return wire

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        """``OpenAICompatProvider.prepare``, then ``completion_tokens_for_reasoning`` on the chat wire. Each is
        called only when it may change ``body`` (a stream without ``stream_options.include_usage``; a
        ``max_tokens``): the usual body (a translated one has both as needed) makes no call (session 35). On either wire
        the history's call ids then within OpenAI's length limit (``openai_call_ids``)."""
        if wire != "openai_chat":
            return openai_call_ids(body, wire)
        changed = False
        if stream:
            options = body.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                changed = super().prepare(body, stream, wire)
        if "max_tokens" in body:
            changed = completion_tokens_for_reasoning(body) or changed
        return openai_call_ids(body, wire) or changed

    def target(self, model: str) -> Target:
        # OpenAI caches prompt prefixes automatically; prompt_cache_key keeps a session on one cache.
        return replace(super().target(model), prompt_cache_key=True)


# The longest tool call id OpenAI takes back, per wire: Chat Completions ``tool_calls[].id`` and a tool message's
# ``tool_call_id`` 40 characters, Responses ``call_id`` (``function_call`` and its output) 64; else 400 "Invalid
# 'messages[2].tool_calls[0].id': string too long. Expected a string with maximum length 40, but got a string with
# length 43 instead." (code ``string_above_max_length``; the 64 of the Responses API: AnswerDotAI/fastllm#45)
_CALL_ID_MAX: dict[Wire, int] = {"openai_chat": 40, "openai_responses": 64}
_ID_HASH = 16  # hex digits of the long id's SHA-256 kept in its short form


def openai_call_id(call_id: str, limit: int) -> str:
    """``call_id`` within ``limit`` characters, as OpenAI takes it back: itself (the same object) when it fits, else
    its first ``limit - 17`` characters, ``_`` and 16 hex digits of its SHA-256. Other providers' ids can be longer
    than OpenAI's: DeepSeek names its calls ``call_0_<uuid>`` (43 characters). Pure and deterministic, so a call
    and its result map to the same id on every turn (the cached prefix holds), and two long ids stay two."""
    if len(call_id) <= limit:
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:_ID_HASH]
    return f"{call_id[: limit - _ID_HASH - 1]}_{digest}"


def openai_call_ids(body: dict[str, Any], wire: Wire) -> bool:
    """A history's tool call ids within OpenAI's length limit for ``wire`` (``_CALL_ID_MAX``: 40 on Chat
    Completions, 64 on Responses), each longer one as ``openai_call_id`` gives it, on the call and on its result
    alike. A tool loop begun on another provider and moved to OpenAI (DeepSeek's 43-character ids) was refused on
    every turn: 400 "string too long. Expected a string with maximum length 40" (bug35a variants 04v10, 04v11,
    04v13). Changed messages or items are copies (``body["messages"]`` / ``body["input"]`` a new list); True if any
    changed. The usual history (ids within the limit) is one plain pass and no copy."""
    limit = _CALL_ID_MAX.get(wire)
    key = "messages" if wire == "openai_chat" else "input"
    items = body.get(key)
    if limit is None or type(items) is not list:
        return False
    # one plain pass, every id's length tested inline (every OpenAI request passes here; a call or a generator a
    # message cost ~5,000 instructions each: callgrind in docs/benchmarks.md, session 35 bug35a)
    for item in items:
        if type(item) is not dict:
            continue
        value = item.get("tool_call_id") if key == "messages" else item.get("call_id")
        if type(value) is str and len(value) > limit:
            return rewritten_in(body, key, lambda item: _short_ids_of(item, limit))
        calls = item.get("tool_calls")
        if type(calls) is list:
            for call in calls:
                value = call.get("id") if type(call) is dict else None
                if type(value) is str and len(value) > limit:
                    return rewritten_in(body, key, lambda item: _short_ids_of(item, limit))
    return False


def _long_ids(item: Any, limit: int) -> bool:
    """Whether a message or Responses input item holds a call id over ``limit`` characters."""
    if type(item) is not dict:
        return False
    for name in ("tool_call_id", "call_id"):
        value = item.get(name)
        if type(value) is str and len(value) > limit:
            return True
    calls = item.get("tool_calls")
    return type(calls) is list and any(
        type(c) is dict and type(c.get("id")) is str and len(c["id"]) > limit for c in calls
    )


def _short_ids_of(item: Any, limit: int) -> Any:
    """``item`` with its call ids as ``openai_call_id`` gives them: itself when none is too long, else a copy."""
    if not _long_ids(item, limit):
        return item
    out = dict(item)
    for name in ("tool_call_id", "call_id"):
        value = out.get(name)
        if type(value) is str:
            out[name] = openai_call_id(value, limit)
    calls = out.get("tool_calls")
    if type(calls) is list:
        out["tool_calls"] = [
            {**c, "id": openai_call_id(c["id"], limit)}
            if type(c) is dict and type(c.get("id")) is str and len(c["id"]) > limit
            else c
            for c in calls
        ]
    return out


def completion_tokens_for_reasoning(body: dict[str, Any]) -> bool:
    """OpenAI's reasoning models (o1, o3, o4, gpt-5) refuse ``max_tokens`` (400 "Unsupported parameter:
    'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."; API reference,
    chat ``max_tokens``: "not compatible with o-series models"): a client's ``max_tokens`` becomes
    ``max_completion_tokens`` (which wins when both are sent). Changes ``body`` in place; True if it did."""
    model = body.get("model")
    if "max_tokens" not in body or not isinstance(model, str):
        return False
    if not model.rsplit("/", 1)[-1].startswith(_REASONING_PREFIXES):
        return False
    limit = body.pop("max_tokens")
    body.setdefault("max_completion_tokens", limit)
    return True


class XAIProvider(OpenAICompatProvider):
    max_tokens_field = "max_tokens"
    # xAI caches prompts per server; on Chat Completions this header routes a conversation to one server
    # (prompt_cache_key counts only on its Responses API): docs.x.ai, "Prompt Caching › Maximizing cache hits".
    # Without it a translated client's turns land anywhere and miss the cache (s19 variants 08-u..08-w; the
    # same fix in a peer: workweave/router#1121).
    conversation_header = "x-grok-conv-id"

    def usage(self, usage: Usage) -> Usage:
        # Reasoning is outside completion_tokens at xAI (module docstring): added to the output, unless
        # the answer's own total_tokens says otherwise.
        return reasoning_as_output(usage, outside_by_default=True)

    def target(self, model: str) -> Target:
        # grok-3-mini takes reasoning_effort; grok-4 reasons always and rejects the parameter.
        reasoning = "reasoning_effort" if model.startswith("grok-3-mini") else None
        return Target(
            model=model,
            max_output_tokens=self.output_limit(model),
            max_tokens_field="max_tokens",
            reasoning=reasoning,
        )


# OpenRouter models that cache only what carries Anthropic-style ``cache_control`` markers on content parts
# (OpenRouter docs, "Prompt Caching": Anthropic Claude and Google Gemini; Alibaba's Qwen: ``_ALIBABA_QWEN``).
_MARKER_CACHING = ("anthropic/", "google/gemini")
# Alibaba's own Qwen models on OpenRouter (served by Alibaba alone: ``qwen/qwen3-max``, ``qwen/qwen-plus``,
# ``qwen/qwen3-coder-plus``, ``qwen/qwen-vl-max``, ``qwen/qwen-turbo``, ``qwen/qwen3-coder-flash``): OpenRouter docs,
# "Prompt Caching": "some (see Alibaba and Anthropic below) require you to enable it on a per-message basis";
# Alibaba Model Studio, "Context cache": explicit cache by ``cache_control`` on Chat Completions content. Qwen's open
# weights (``qwen/qwen3-coder``, ``qwen/qwen3-32b``), served by many providers that cache by themselves, are not.
_ALIBABA_QWEN = re.compile(r"^qwen[^/]*?-(?:max|plus|turbo|flash)(?:-|:|$)")


def alibaba_qwen_by_name(model: str) -> bool:
    """True for one of Alibaba's own (not open-weight) Qwen models by name, bare or behind a relay's prefix
    (``qwen3-max``, ``qwen-plus-2025-07-28``, ``qwen/qwen3-coder-plus``, LiteLLM's ``dashscope/qwen-turbo``):
    served by Alibaba Model Studio (DashScope) alone, which caches a prompt explicitly only at ``cache_control``
    markers on Chat Completions content ("Context cache"; OpenRouter docs, "Prompt Caching", Alibaba)."""
    return _ALIBABA_QWEN.match(model.rsplit("/", 1)[-1].lower()) is not None


def caches_by_markers(model: str) -> bool:
    """True for an OpenRouter model id that caches only at ``cache_control`` markers: ``anthropic/…``,
    ``google/gemini…`` and Alibaba's own Qwen models (``alibaba_qwen_by_name``: s26 variants 08-vAE..08-vAG, never cached
    before), OpenRouter's variants of them (``anthropic/claude-3.7-sonnet:thinking``), and its family aliases, which
    start with ``~`` (``~anthropic/claude-sonnet-latest`` "always redirects to the latest model in the Anthropic
    Claude Sonnet family": openrouter.ai/~anthropic/claude-sonnet-latest; s13 variants 08-a, 08-b, 08-e)."""
    bare = model.removeprefix("~")
    return bare.startswith(_MARKER_CACHING) or (bare.startswith("qwen/") and alibaba_qwen_by_name(bare))


def chat_cache_markers(body: dict[str, Any]) -> bool:
    """A Chat Completions body for a model that caches only at Anthropic ``cache_control`` markers on content
    parts (Claude or Gemini on OpenRouter; Claude behind a relay such as LiteLLM: ``Target.cache_markers``) made
    ready for its cache, in place: markers a client put on messages are moved onto content parts (the only place
    read), a ``cache_control`` that asks nothing (``{}`` or null: Anthropic refuses ``{}`` with 400) is dropped,
    a client's own markers are cut to Anthropic's four (the first and the last three: more is a 400 "A maximum
    of 4 blocks with cache_control may be provided"), and a body with none (a plain OpenAI client) gets the
    gateway's breakpoints (``place_chat_breakpoints``: the system prompt, the tools and the last user turns),
    or every turn re-bills the whole prompt at the full input price (bugcase 08's kind; s20 variants
    08-x..08-z: Claude behind LiteLLM got none of this). Rules: ``dialects/_prompt_cache.py``. True when the
    body changed."""
    changed = markers_onto_parts(body)
    changed = drop_non_markers(body) or changed
    if not body_has_markers(body):
        place_chat_breakpoints(body)
        return body_has_markers(body) or changed
    return keep_chat_breakpoints(body) or changed


# Gemini 3 and later by name (``gemini-3-pro-preview``, ``gemini-3.1-pro-preview``, ``models/gemini-3-flash-preview``,
# ``google/gemini-3-pro-preview`` behind a relay): the models that validate the thought signatures of a history's
# function calls (Gemini API docs, "Thought signatures": Gemini 2.5 does not enforce them).
_GEMINI_SIGNING = re.compile(r"^gemini-(?:[3-9]|[1-9][0-9])")
# The value Google documents for function calls Gemini did not make ("Thought signatures", FAQ: a history
# transferred from another model, or calls injected by the application): the validator then lets them pass.
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"


def gemini_by_name(model: str) -> bool:
    """True for a Gemini model by name (``gemini-…``, bare or behind a relay's prefix): Google's OpenAI-compatible
    endpoint signs its tool calls (``extra_content.google.thought_signature``) and takes the signatures back
    (Gemini API docs, "Thought signatures": Gemini 3 requires them, 2.5 "may return" them and benefits)."""
    return model.rsplit("/", 1)[-1].lower().startswith("gemini-")


def signs_tool_calls(model: str) -> bool:
    """True for a Gemini model that validates the thought signatures of its history's function calls
    (``_GEMINI_SIGNING``), bare or behind a relay's vendor prefix."""
    return _GEMINI_SIGNING.match(model.rsplit("/", 1)[-1].lower()) is not None


def unsigned_calls_skip_validation(body: dict[str, Any]) -> bool:
    """A Chat Completions body for Gemini 3 (``signs_tool_calls``) whose history holds function calls Gemini did not
    sign, made acceptable: in each assistant message with ``tool_calls`` none of which carries a thought signature,
    the first call gets the documented dummy (``SKIP_THOUGHT_SIGNATURE``) in ``extra_content.google.thought_signature``,
    where Google's OpenAI-compatible endpoint reads it. Without it Gemini 3 answers 400 "Function call is missing a
    thought_signature in functionCall parts" to a tool loop begun on another model, or one a translated client
    (Anthropic Messages, Responses) carried on, whose history has no place for Gemini's signatures (Gemini API docs,
    "Thought signatures": the signature of each step's first function call is validated; on the OpenAI-compatible
    endpoint it sits in ``tool_calls[].extra_content.google.thought_signature``; bugcase 04's kind, s21 variant
    04-vA). A call with a signature of its own, Gemini's, is left as it is, and so is its message. The messages are
    copied where changed, never changed in place (the client's body is reused across attempts). True if changed."""
    return rewritten_in(body, "messages", _dummy_on_first_call)


def _dummy_on_first_call(msg: Any) -> Any:
    """``unsigned_calls_skip_validation`` of one message: a copy with the dummy signature on its first call, or
    itself when it is no assistant message with calls or one of its calls is signed."""
    calls = msg.get("tool_calls") if isinstance(msg, dict) and msg.get("role") == "assistant" else None
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict) or any(map(_signed, calls)):
        return msg
    extra = calls[0].get("extra_content")
    extra = extra if isinstance(extra, dict) else {}
    google = extra.get("google")
    google = {**(google if isinstance(google, dict) else {}), "thought_signature": SKIP_THOUGHT_SIGNATURE}
    first = {**calls[0], "extra_content": {**extra, "google": google}}
    return {**msg, "tool_calls": [first, *calls[1:]]}


# OpenRouter's ``reasoning_details[].format`` for Gemini's thought signatures (OpenRouter docs, "Reasoning Tokens",
# reasoning_details array structure)
_GEMINI_FORMAT = "google-gemini-v1"


def unsigned_steps_skip_validation_in_details(body: dict[str, Any]) -> bool:
    """``unsigned_calls_skip_validation`` on OpenRouter's chat wire, for Gemini 3 (``signs_tool_calls``:
    ``google/gemini-3-pro-preview``, ``google/gemini-3.1-pro-preview``). OpenRouter carries Gemini's thought signature
    of a step's function call as a ``reasoning_details`` entry ``{"type": "reasoning.encrypted", "data": <signature>,
    "id": <tool call id>, "format": "google-gemini-v1"}`` on the assistant message, and answers 400 "Gemini models
    require OpenRouter reasoning details to be preserved in each request ... Function call is missing a
    thought_signature in functionCall parts" to a history without one (OpenRouter docs, "Reasoning Tokens":
    "Preserving reasoning blocks"; LibreChat-AI/agents#37, musistudio/claude-code-router#1057). In each assistant
    message with ``tool_calls`` and no such entry (a step made by another model, or carried by a translated client,
    whose history has no place for it) the first call gets one whose ``data`` is the dummy Google documents for calls
    Gemini did not make (``SKIP_THOUGHT_SIGNATURE``), after the message's other details; a message holding Gemini's
    own entry is left as it is. Messages are copied where changed, never changed in place (bugcase 04's kind; s22
    variant 04-orgem-vA). True if changed."""
    return rewritten_in(body, "messages", _dummy_in_details)


def _dummy_in_details(msg: Any) -> Any:
    """``unsigned_steps_skip_validation_in_details`` of one message: a copy with the dummy entry after its
    ``reasoning_details``, or itself when it is no assistant message with calls or holds Gemini's own entry."""
    calls = msg.get("tool_calls") if isinstance(msg, dict) and msg.get("role") == "assistant" else None
    details = msg.get("reasoning_details") if isinstance(msg, dict) else None
    details = details if isinstance(details, list) else []
    first = calls[0] if isinstance(calls, list) and calls and isinstance(calls[0], dict) else None
    if first is None or any(map(_gemini_signed, details)):
        return msg
    entry = {
        "type": "reasoning.encrypted",
        "data": SKIP_THOUGHT_SIGNATURE,
        "id": first.get("id"),
        "format": _GEMINI_FORMAT,
        "index": len(details),
    }
    return {**msg, "reasoning_details": [*details, entry]}


def signatures_into_details(body: dict[str, Any]) -> bool:
    """A Chat Completions body for Gemini on OpenRouter (``gemini_by_name``): each assistant message's thought
    signatures on its calls (``extra_content.google.thought_signature``, where the translators put the signature an
    Anthropic or Responses client carried in a call id: ``_call_signature``; Google's own endpoint reads it there)
    moved to where OpenRouter reads them, the message's ``reasoning_details``, one ``reasoning.encrypted`` entry a
    signed call with the call's id and format ``google-gemini-v1`` after the message's other details
    (``_call_signature.details_entry``; OpenRouter docs, "Reasoning Tokens": "Preserving reasoning blocks"). A
    message that holds Gemini's entries already keeps them and loses only the ``extra_content``. Without it Gemini
    got the dummy on its own call (``unsigned_steps_skip_validation_in_details``: "degraded model performance"; s25
    variants 04-orgem-sig-vG, -vH). Messages and calls are copied where changed, never changed in place. True if
    changed."""
    return rewritten_in(body, "messages", _signatures_moved)


def _signatures_moved(msg: Any) -> Any:
    """``signatures_into_details`` of one message: a copy with its calls' signatures moved, or itself when it is no
    assistant message or none of its calls has ``extra_content``."""
    calls = msg.get("tool_calls") if isinstance(msg, dict) and msg.get("role") == "assistant" else None
    if not isinstance(calls, list) or not any(isinstance(c, dict) and "extra_content" in c for c in calls):
        return msg
    details = d if isinstance(d := msg.get("reasoning_details"), list) else []
    own = any(map(_gemini_signed, details))
    entries: list[dict[str, Any]] = []
    plain: list[Any] = []
    for call in calls:
        if not isinstance(call, dict) or "extra_content" not in call:
            plain.append(call)
            continue
        signature = chat_signature(call)
        if signature is not None and not own:
            entries.append(details_entry(call.get("id"), signature, len(details) + len(entries)))
        plain.append({k: v for k, v in call.items() if k != "extra_content"})
    new = {**msg, "tool_calls": plain}
    if entries:
        new["reasoning_details"] = [*details, *entries]
    return new


def _gemini_signed(detail: Any) -> bool:
    """A ``reasoning_details`` entry holding a Gemini thought signature: ``reasoning.encrypted``, format
    ``google-gemini-v1``, non-empty ``data``."""
    return (
        isinstance(detail, dict)
        and detail.get("type") == "reasoning.encrypted"
        and detail.get("format") == _GEMINI_FORMAT
        and isinstance(data := detail.get("data"), str)
        and bool(data)
    )


def _signed(call: Any) -> bool:
    """A tool call carrying a thought signature (``extra_content.google.thought_signature``, a non-empty string)."""
    extra = call.get("extra_content") if isinstance(call, dict) else None
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return isinstance(signature, str) and bool(signature)


# OpenAI's own models by name (``gpt-4o``, ``gpt-4.1``, ``gpt-5``, ``o3``, ``chatgpt-4o-latest``, ``codex-mini-latest``),
# bare or behind a relay's vendor prefix (``openai/gpt-5``, ``azure/gpt-4.1``); not ``gpt-oss``, the open-weight
# model other servers (vLLM, Groq, Cerebras) serve, which know nothing of ``prompt_cache_key``.
_OPENAI_MODEL = re.compile(r"^(?:gpt-(?!oss)|o[134](?:$|-)|chatgpt-|codex-)")


def openai_by_name(model: str) -> bool:
    """True for a model id that names one of OpenAI's models (``_OPENAI_MODEL``): a relay in front of OpenAI or
    Azure OpenAI (LiteLLM's proxy, Azure's deployments named after the model) passes ``prompt_cache_key`` on,
    and OpenAI routes a session's requests with one key to one prefix cache (OpenAI "Prompt caching"; Azure
    OpenAI "Prompt caching" documents the same parameter; LiteLLM lists it among OpenAI's parameters)."""
    return _OPENAI_MODEL.match(model.rsplit("/", 1)[-1].lower()) is not None


# Model families whose servers take the model's reasoning back as ``reasoning_content`` on assistant messages, by the
# name's last path segment: DeepSeek (required in a thinking-mode tool loop: api-docs.deepseek.com/guides/
# thinking_mode#tool-calls; continuedev/continue#9606, deepseek-ai/DeepSeek-V3#1053), Moonshot's Kimi (its thinking
# models keep reasoning_content across a tool loop: platform.moonshot.ai docs, "kimi-k2-thinking") and Z.ai's GLM
# ("preserved thinking": docs.z.ai, "Thinking Mode").
_REASONING_CONTENT_FAMILIES = ("deepseek", "kimi", "glm")


def keeps_reasoning_content(model: str) -> bool:
    """True for a model id whose server takes the history's reasoning back as ``reasoning_content``
    (``_REASONING_CONTENT_FAMILIES``, behind a vendor prefix too: ``deepseek-ai/DeepSeek-V3.2``, ``moonshotai/kimi-k2``).
    Servers of other models may refuse the unknown field (Groq: "property 'reasoning_content' is unsupported")."""
    return model.rsplit("/", 1)[-1].lower().startswith(_REASONING_CONTENT_FAMILIES)


# Serving platforms that name Claude with their own prefix on their OpenAI-compatible API (Databricks Foundation
# Model APIs: ``databricks-claude-sonnet-4-5``, ``databricks-claude-opus-4-1``).
_CLAUDE_PLATFORMS = ("databricks-claude",)


def claude_by_name(model: str) -> bool:
    """True for a model id that names Claude: ``claude-…`` itself or behind a vendor prefix or an alias mark
    (``anthropic/claude-sonnet-4.5``, ``bedrock/claude-…``, ``~anthropic/claude-sonnet-latest``) and
    ``anthropic/…``. OpenAI-compatible relays in front of Anthropic pass ``cache_control`` on content parts on to
    it (LiteLLM's "Prompt Caching" docs for Anthropic models; OpenRouter's, Vercel AI Gateway's): for a configured
    provider serving such a model the client's markers are its only cache (s18 variant 08-f). Bedrock's ids
    too (``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, ``bedrock/anthropic.claude-…``: LiteLLM passes the
    markers on to Bedrock's Claude; s18 variant 08-l). Case-insensitive (``Claude-Sonnet-4.5``, Poe's and Abacus's
    spelling; ``Anthropic/…``), and under a serving platform's own prefix (``_CLAUDE_PLATFORMS``: Databricks serves
    Claude as ``databricks-claude-sonnet-4-5`` and takes ``cache_control`` on its content parts): s26 variants 08-vQ,
    08-vY (their markers were dropped, so nothing was cached)."""
    bare = model.removeprefix("~").lower()
    bedrock = bedrock_model_id(bare)
    if bedrock is not None:
        return f".{bedrock}".find(".anthropic.claude") != -1
    last = bare.rsplit("/", 1)[-1]
    return bare.startswith("anthropic/") or last.startswith("claude") or last.startswith(_CLAUDE_PLATFORMS)


def no_reasoning_for_unsigned_tool_turn(body: dict[str, Any]) -> bool:
    """Claude on OpenRouter: drop the request's ``reasoning`` / ``reasoning_effort`` when the last assistant
    message calls a tool without Claude-signed ``reasoning_details`` to give back (this gateway's translations never
    carry them; a Chat client may, or may give back another model's unsigned ones: ``_claude_signed``). With thinking on, Anthropic wants that turn to begin with its signed thinking
    and OpenRouter relays the refusal: 400 "Provider returned error", ``metadata.raw`` "Expected `thinking`
    or `redacted_thinking`, but found `text`. When `thinking` is enabled, a final `assistant` message must
    start with a thinking block" (zed-industries/zed#46508, OpenRouterTeam/ai-sdk-provider#177; s14 variant
    04-f). The rule of ``_minted.strip_for_anthropic`` for OpenRouter's chat wire. Changes ``body`` in place
    (top-level keys only); True if it did."""
    if "reasoning" not in body and "reasoning_effort" not in body:
        return False
    messages = body.get("messages")
    last = (
        next(
            (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
            None,
        )
        if isinstance(messages, list)
        else None
    )
    if last is None or not last.get("tool_calls") or _claude_signed(last.get("reasoning_details")):
        return False
    body.pop("reasoning", None)
    body.pop("reasoning_effort", None)
    return True


def claude_tool_ids(body: dict[str, Any]) -> bool:
    """Claude on OpenRouter: when a tool call id is outside Anthropic's pattern (``tool_calls[].id`` and a tool
    message's ``tool_call_id``, as another provider made them: Kimi K2's ``functions.weather:0``) or one call's id is
    another's too (``_ids_one_to_one``), every call id of the history as ``ToolIds`` gives it: those characters as
    ``_`` (``anthropic_tool_id``), and one id per call (two ids made the same, or one id given on two turns, get
    ``_2``, ``_3``, …), the rule of
    ``_minted.strip_for_anthropic`` on the Anthropic wire. OpenRouter hands the ids to Anthropic as they are and
    relays its refusal: 400 "Provider returned error", ``metadata.raw`` "messages.5.content.0.tool_use.id: String
    should match pattern '^[a-zA-Z0-9_-]+$'" (tailcallhq/forgecode#1142; bug33b variant 04p), or "`tool_use` ids
    must be unique" (anomalyco/opencode#1279). Changed messages are copies (``body["messages"]`` a new list); True
    if any changed."""
    messages = body.get("messages")
    if not isinstance(messages, list) or _ids_one_to_one(messages):
        return False
    ids = ToolIds()
    return rewritten_in(
        body, "messages", lambda msg: _claude_ids_of(msg, ids) if isinstance(msg, dict) else msg
    )


def _ids_one_to_one(messages: list[Any]) -> bool:
    """Whether every call id of ``messages`` (``tool_call_id``, ``tool_calls[].id``) is in Anthropic's pattern and no
    call's id is given twice (``claude_tool_ids``' usual case: nothing to change). One id on two turns, all in the
    pattern (a server that numbers calls per answer, ``call_0``) or on two calls of one answer (Xinference,
    xorbitsai/inference#4237), is no usual case (review35)."""
    seen: set[str] = set()
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        call_id = msg.get("tool_call_id")
        if isinstance(call_id, str) and not anthropic_takes_id(call_id):
            return False
        calls = msg.get("tool_calls")
        if not isinstance(calls, list):
            continue
        for call in calls:
            value = call.get("id") if isinstance(call, dict) else None
            if isinstance(value, str):
                if value in seen or not anthropic_takes_id(value):
                    return False
                seen.add(value)
    return True


def _claude_ids_of(msg: dict[str, Any], ids: ToolIds) -> dict[str, Any]:
    """``msg`` with its call ids as ``ids`` gives them: itself when they are unchanged, else a copy."""
    call_id = msg.get("tool_call_id")
    if isinstance(call_id, str) and (plain := ids.result(call_id)) != call_id:
        msg = {**msg, "tool_call_id": plain}
    calls = msg.get("tool_calls")
    if not isinstance(calls, list):
        return msg
    fixed = [
        {**c, "id": given}
        if isinstance(c, dict) and isinstance(c.get("id"), str) and (given := ids.call(c["id"])) != c["id"]
        else c
        for c in calls
    ]
    return msg if all(a is b for a, b in zip(fixed, calls, strict=True)) else {**msg, "tool_calls": fixed}


# OpenRouter's ``reasoning_details[].format`` for Claude's thinking (OpenRouter docs, "Reasoning Tokens",
# reasoning_details array structure: "unknown", "openai-responses-v1", "xai-responses-v1",
# "anthropic-claude-v1", "google-gemini-v1")
_CLAUDE_FORMAT = "anthropic-claude-v1"


def _claude_signed(details: Any) -> bool:
    """True when ``reasoning_details`` hold thinking Claude signed: a ``reasoning.text`` entry with a
    ``signature`` or a ``reasoning.encrypted`` one with ``data`` (Claude's redacted thinking), whose ``format``
    is Claude's or not given. Another model's details (gpt-oss's unsigned ``reasoning.text`` with ``format``
    "unknown", OpenAI's or Gemini's encrypted ones) are none: Anthropic cannot take them back as its signed
    thinking (s17 variant 04-d), and the gateway's own synthetic signature is none either."""
    if not isinstance(details, list):
        return False
    for d in details:
        if not isinstance(d, dict) or d.get("format", _CLAUDE_FORMAT) not in (_CLAUDE_FORMAT, None):
            continue
        proof = d.get("signature") if d.get("type") != "reasoning.encrypted" else d.get("data")
        if (
            isinstance(proof, str)
            and proof
            and proof != SYNTHETIC_SIGNATURE
            and not proof.startswith(MINTED_PREFIX)
        ):
            return True
    return False


class OpenRouterProvider(OpenAICompatProvider):
    max_tokens_field = "max_tokens"
    # 402: its pre-flight credit check states the output the account can still afford ("… or fewer max_tokens.
    # You requested up to 32000 tokens, but can only afford 27342"; OpenRouter docs, "Errors": 402 is credits)
    output_refusal_statuses = (400, 402, 416, 422)
    # OpenRouter restates every vendor's usage in OpenAI's convention (module docstring): grok's reasoning is inside
    relays_vendor_usage = False

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        changed = super().prepare(body, stream, wire)
        model = body.get("model")
        if wire == "openai_chat" and isinstance(model, str) and caches_by_markers(model):
            changed = chat_cache_markers(body) or changed
        if (
            wire == "openai_chat"
            and isinstance(model, str)
            and model.removeprefix("~").startswith("anthropic/")
        ):
            changed = no_reasoning_for_unsigned_tool_turn(body) or changed
            changed = claude_tool_ids(body) or changed
        if wire == "openai_chat" and isinstance(model, str) and openai_by_name(model):
            # OpenRouter hands the history's call ids to OpenAI (or Azure) as they are and relays its refusal
            changed = openai_call_ids(body, wire) or changed
        if wire == "openai_chat" and isinstance(model, str) and gemini_by_name(model):
            changed = signatures_into_details(body) or changed
        if wire == "openai_chat" and isinstance(model, str) and signs_tool_calls(model):
            changed = unsigned_steps_skip_validation_in_details(body) or changed
        usage = body.get("usage")
        if not (isinstance(usage, dict) and usage.get("include") is True):
            # Usage accounting: OpenRouter then reports what it charged (usage.cost).
            body["usage"] = {**(usage if isinstance(usage, dict) else {}), "include": True}
            changed = True
        return changed

    def target(self, model: str) -> Target:
        return Target(
            model=model,
            max_output_tokens=self.output_limit(model),
            max_tokens_field="max_tokens",
            reasoning="openrouter",
            top_k=True,
            cache_markers=caches_by_markers(model),
            # Claude's own signed thinking goes back to it as reasoning_details (``_claude_details``)
            claude_details=model.removeprefix("~").startswith("anthropic/"),
            # Gemini's thought signatures, relayed in reasoning_details, go back to it (``signatures_into_details``)
            thought_signatures=gemini_by_name(model),
        )
