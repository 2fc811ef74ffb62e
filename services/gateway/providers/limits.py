"""Output-token limits per model family, so a translated request never asks for more than the model
allows (Claude Code asks for 32,000–64,000 output tokens; gpt-4o accepts 16,384 and answers 400 above).

Matched by exact name (vendor prefix stripped, dots read as dashes, so OpenRouter's ``anthropic/claude-sonnet-4.5``
is ``claude-sonnet-4-5``), with snapshot dates and version tags read as the same model, never by prefix. Unknown models: no clamp,
unless the catalog file gives a limit (docs/catalog.md, ``max_output_tokens``) or the upstream states one
when it refuses a request (``limit_from_refusal``; the gateway then retries within it, at most twice, and
remembers it when it is the model's own limit rather than what the context window leaves after that request's
prompt, or a cap on requests that are not streamed).
"""

from __future__ import annotations

import re
from collections.abc import Container
from typing import Any, NamedTuple

import orjson

from services.gateway.dialects._error_meaning import ungrouped

# Exact model names (bare, dots read as dashes), each with its vendor's documented output limit; a dated snapshot,
# a cloud's version tag or a relay's variant of one is the same model (``_SAME_MODEL``), any other longer name a
# different one (OpenRouter's ``deepseek/deepseek-chat-v3.1`` is DeepSeek V3.1, not ``deepseek-chat``'s limit; s21
# leads, bugd21 variants 17-h..17-l: a prefix match clamped it, and ``gpt-4.5-preview``, ``o1-preview``,
# ``gemini-2.0-flash-thinking-exp``, ``gpt-5-pro``, to a shorter name's limit)
_LIMITS: dict[str, int] = {
    # OpenAI (platform.openai.com/docs/models: "Max output tokens")
    **dict.fromkeys(
        ("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5-codex", "gpt-5-1", "gpt-5-1-codex"), 128_000
    ),
    **dict.fromkeys(("gpt-5-1-codex-mini", "gpt-5-1-codex-max"), 128_000),
    "gpt-5-pro": 272_000,
    **dict.fromkeys(("gpt-5-chat", "gpt-5-1-chat"), 16_384),
    **dict.fromkeys(("gpt-4-1", "gpt-4-1-mini", "gpt-4-1-nano"), 32_768),
    **dict.fromkeys(("gpt-4o", "gpt-4o-mini", "chatgpt-4o", "gpt-4o-search-preview"), 16_384),
    "gpt-4o-mini-search-preview": 16_384,
    "gpt-4-5": 16_384,
    **dict.fromkeys(("gpt-4-turbo", "gpt-4-turbo-preview"), 4_096),
    "gpt-4": 8_192,
    **dict.fromkeys(("gpt-3-5-turbo", "gpt-3-5-turbo-16k"), 4_096),
    "o1-mini": 65_536,
    "o1-preview": 32_768,
    **dict.fromkeys(("o1", "o1-pro", "o3", "o3-mini", "o3-pro", "o4-mini"), 100_000),
    **dict.fromkeys(("o3-deep-research", "o4-mini-deep-research"), 100_000),
    # Anthropic (docs.anthropic.com, "Models overview"): the first Opus 4 (claude-opus-4-20250514, alias
    # claude-opus-4-0) and Opus 4.1 allow 32k, later Opus, Sonnet 4.x and Haiku 4.5 64k
    **dict.fromkeys(("claude-opus-4", "claude-opus-4-0", "claude-opus-4-1"), 32_000),
    "claude-opus-4-5": 64_000,
    **dict.fromkeys(
        ("claude-sonnet-4", "claude-sonnet-4-0", "claude-sonnet-4-5", "claude-haiku-4-5"), 64_000
    ),
    "claude-3-7-sonnet": 64_000,
    **dict.fromkeys(("claude-3-5-haiku", "claude-3-5-sonnet"), 8_192),
    **dict.fromkeys(("claude-3-haiku", "claude-3-opus"), 4_096),
    # xAI
    **dict.fromkeys(("grok-3", "grok-3-mini", "grok-3-fast", "grok-3-mini-fast"), 131_072),
    # DeepSeek (api-docs.deepseek.com/quick_start/pricing, "Models & Pricing", as of 2026-04-24): deepseek-v4-flash and
    # deepseek-v4-pro "MAX OUTPUT  MAXIMUM: 384K"; deepseek-chat and deepseek-reasoner are kept "for compatibility" as
    # deepseek-v4-flash's non-thinking and thinking modes (the same 384K), retired by DeepSeek on 2026-07-24. Before,
    # V3.x: deepseek-chat [1, 8192], deepseek-reasoner 64K (fix32: the 8192 kept here clamped every translated request
    # to a quarter of what the V4 aliases took). A server still answering to the old names with the old limits (a
    # relay, a self-hosted V3) states it when it refuses, and the gateway learns it (``limit_from_refusal``)
    **dict.fromkeys(("deepseek-v4-flash", "deepseek-v4-pro", "deepseek-chat", "deepseek-reasoner"), 384_000),
    # Google (ai.google.dev/gemini-api/docs/models: "Output token limit")
    **dict.fromkeys(("gemini-2-5-pro", "gemini-2-5-flash", "gemini-2-5-flash-lite"), 65_536),
    **dict.fromkeys(("gemini-2-0-flash", "gemini-2-0-flash-lite"), 8_192),
}
# What names the same model after its name, innermost last (stripped from the end one at a time): a relay's variant
# (OpenRouter's ":free", ":thinking", ":beta"… docs "Model variants"; letters only: Ollama's ":8b" is another size),
# a cloud's version tag (Bedrock's "-v1:0", Vertex AI's "@20241022"), "-latest"/"-beta"/"-preview"/"-exp" aliases,
# a preview's date ("-05-20", "-09-2025"), a dated snapshot ("-20250514", "-2024-08-06", OpenAI's "-0613", Google's
# stable "-001"). A version ("-v3-1", "-4-5", "-1") is never one.
_SAME_MODEL = re.compile(
    r"(?::[a-z]+|-v\d+:\d+|@(?:\d{8}|latest)|-(?:latest|beta|preview|exp)|-\d\d-\d{2,4}|-\d{8}|"
    r"-\d{4}-\d\d-\d\d|-\d{3,4})$"
)


# A leading dot-joined segment of letters (and hyphens) that names a region or a vendor, not the model: Bedrock's
# "us.anthropic.claude-3-5-haiku-20241022-v1:0", Oracle OCI's "xai.grok-4" (its OpenAI-compatible endpoint's ids;
# anomalyco/models.dev#7087). A model's own dotted version ("gpt-4.1", "claude-sonnet-4.5") has digits before its dot.
_DOT_PREFIX = re.compile(r"^(?:[a-z][a-z-]*\.)+(?=[a-z])")


def bare_model(model: str) -> str:
    """``model`` without what a relay or cloud puts in front of the vendor's own name, lower-cased (pure): the path
    before the last ``/`` (``openrouter``'s ``x-ai/grok-4``, LiteLLM's ``oci/xai.grok-4``) and dot-joined region and
    vendor segments (``_DOT_PREFIX``: ``us.anthropic.claude-…``, ``xai.grok-4``). ``"us.anthropic.claude-3-5-haiku-
    20241022-v1:0"`` → ``"claude-3-5-haiku-20241022-v1:0"``; ``"oci/xai.grok-4"`` → ``"grok-4"``."""
    return _DOT_PREFIX.sub("", model.rsplit("/", 1)[-1].lower())


def max_output_tokens(model: str) -> int | None:
    """The documented output-token limit of ``model`` (any relay's or cloud's name for it, ``bare_model``; dots read
    as dashes), None for a model not in ``_LIMITS``: its exact name, or that name with what names the same model
    after it (``_SAME_MODEL``: snapshot dates, version tags, relay variants). Never a prefix: a longer name is a
    different model (``deepseek-chat-v3.1`` → None, not ``deepseek-chat``'s limit)."""
    name = bare_model(model).replace(".", "-")
    while (limit := _LIMITS.get(name)) is None:
        shorter = _SAME_MODEL.sub("", name, count=1)
        if shorter == name or not shorter:
            return None
        name = shorter
    return limit


def named_in(model: str, names: Container[str]) -> bool:
    """Whether ``model`` is one of ``names`` (bare names, dots read as dashes) as ``max_output_tokens`` matches a
    model: any relay's or cloud's name for it (``bare_model``), its exact name or that name with what names the same
    model after it (``_SAME_MODEL``), never a prefix. ``named_in("gpt-5.1-codex-2025-11-13", {"gpt-5-1-codex"})``
    → True; ``named_in("gpt-5-codex-max", {"gpt-5-codex"})`` → False."""
    name = bare_model(model).replace(".", "-")
    while name not in names:
        shorter = _SAME_MODEL.sub("", name, count=1)
        if shorter == name or not shorter:
            return False
        name = shorter
    return True


# How providers state their output limit when they refuse a request's max_tokens:
_REFUSALS = (
    # DeepSeek: "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]"; a Go validator naming the
    # field by its struct name: "field MaxTokens invalid, should be in [1, 65536]" (agentscope-ai/QwenPaw#5065; s20
    # variants 17-a, 17-b, 17-e: the refusal went back unread)
    re.compile(r"max_?(?:completion_?|output_?)?tokens.{0,60}?\[\s*\d+\s*,\s*(\d+)\s*\]", re.I | re.S),
    # OpenAI: "max_tokens is too large: 32000. This model supports at most 16384 completion tokens"
    re.compile(r"supports at most (\d+) (?:completion|output) tokens", re.I),
    # Anthropic: "max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens for …"
    re.compile(r"max_tokens: \d+ > (\d+), which is the maximum allowed", re.I),
    # Groq and others: "`max_tokens` must be less than or equal to `8192`"; a Zhipu GLM relay: "Exceeding the
    # limiting length: [max_tokens should be less or equal to 131072]" (TokenRhythm/opensquilla#782)
    # and the limit after words: "max_completion_tokens must be less than or equal to the maximum output tokens 16384";
    # Groq's older wording names the model between: "max_tokens for `llama-3.1-8b-instant` must be less than or equal
    # to 8000" (skapadia3214/groq-moa#8; s19 variant 17-e)
    re.compile(
        r"max_(?:completion_)?tokens`?(?: for `[^`]{1,200}`)? (?:must|should) be (?:less than or equal to|less or "
        r"equal to|at most|<=) "
        r"(?:the (?:model'?s )?maximum (?:output|completion) tokens(?: of)? )?`?(\d+)",
        re.I,
    ),
    # FastAPI/pydantic servers and Mistral (422), as ``errors.parse_upstream_error`` words them:
    # "max_tokens: Input should be less than or equal to 4096" (pydantic 1: "ensure this value is …"); the
    # field at the top level only (an entry starts the message or follows "; "): a nested one
    # (``reasoning.max_tokens``, a tool's) is no output limit of the model's
    re.compile(
        r"(?:^|; )max_(?:completion_|output_|new_)?tokens: (?:Input should be|ensure this value is) less than or equal to (\d+)",
        re.I,
    ),
    # Amazon Bedrock (ValidationException, also relayed by LiteLLM and aws-samples/bedrock-access-gateway): "The
    # maximum tokens you requested exceeds the model limit of 8192. Try again with a maximum tokens value that is
    # lower than 8192." (the limit itself is accepted: Bedrock's Claude cap "… model limit of 64000" is 64000)
    re.compile(r"maximum tokens you requested exceeds the model limit of (\d+)", re.I),
    # OpenAI-compatible fronts that check the budget themselves before vLLM: "The given max_tokens exceeds the maximum
    # the model supports: 4096"
    re.compile(r"max_tokens exceeds the maximum the model supports: (\d+)", re.I),
    # OpenAI's parameter validator (code ``integer_above_max_value``; Azure deployments and OpenAI-compatible servers
    # that copy it): "Invalid 'max_tokens': integer above maximum value. Expected a value <= 16384, but got 32000
    # instead." (s19 variants 17-a, 17-b, 17-d); Volcengine Ark (doubao) words its check the same way: "The parameter
    # `max_completion_tokens` specified in the request are not valid: integer above maximum value, expected a value <=
    # 12288, but got 32000 instead." (Gitlawb/openclaude#331; s18 variant 17-j). The field at the top level only: a
    # nested one ('reasoning.max_tokens') is no output limit of the model's
    re.compile(
        r"(?<![\w.])max_(?:completion_|output_)?tokens['`]?(?::| specified in the request (?:are|is) not valid:) "
        r"integer above maximum value[.,] expected a value <= (\d+)",
        re.I,
    ),
    # A range, the value asked in parentheses or not: "max_tokens (current value: 32000) must be between 0 and 4000"
    # (an OpenAI-compatible API's INVALID_REQUEST_BODY; neavo/KeywordGacha#111; s19 variant 17-f)
    re.compile(
        r"(?<![\w.])max_(?:completion_|output_)?tokens`?(?: \([^)]{0,40}\))? (?:must|should) be between \d+ and "
        r"(\d+)",
        re.I,
    ),
    # text-generation-inference (Hugging Face; its ``ValidationError::MaxNewTokens``, a 422 ``{"error": "Input validation
    # error: `max_new_tokens` must be <= 4096. Given: 32000", "error_type": "validation"}``): the server's own cap,
    # ``max_total_tokens - max_input_tokens`` (or its ``max_max_new_tokens``), true of every request. Not its
    # "`inputs` tokens + `max_new_tokens` must be <= N" (the window, read with the prompt below): the lookbehind
    # (s21 variant 17-a)
    re.compile(r"(?<!\+ )`max_new_tokens` must be <= (\d+)", re.I),
    # Ollama Cloud: "max_tokens (384000) exceeds model's maximum output tokens (65536) for model …"
    re.compile(r"exceeds (?:the )?model'?s maximum output tokens \((\d+)\)", re.I),
    # MiniMax (its OpenAI- and Anthropic-compatible APIs, error 2013): "invalid params, model[MiniMax-M2.7] does not
    # support max tokens > 196608 (2013)": the stated number itself is allowed ("> N" refused), the words say "max
    # tokens" with a space (openclaw/openclaw#86116; s35 bug35a variant 17v13: the refusal went back unread)
    re.compile(r"does not support max[ _]?(?:output[ _]?)?tokens? > (\d+)", re.I),
    # vLLM (DeepInfra, NVIDIA NIM): "max_tokens=32000 cannot be greater than max_model_len=max_total_tokens=28672.
    # Please request fewer output tokens." The window itself: no answer is ever longer (the prompt, when it
    # leaves less, is then stated by the context wording below)
    re.compile(
        r"max_(?:completion_)?tokens=\d+ cannot be greater than max_model_len(?:=max_total_tokens)?=(\d+)",
        re.I,
    ),
)
# The same, stated as an exclusive bound (the limit is one less):
_EXCLUSIVE = (
    # OpenAI-compatible servers: "max_completion_tokens must be less than 8192" (digits right after "less than": the
    # inclusive "less than or equal to" is read above)
    re.compile(r"max_(?:completion_)?tokens`? (?:must|should) be less than `?(\d+)", re.I),
    # Gemini on Vertex AI: "it has a maxOutputTokens value of 32000 but the supported range is from 1
    # (inclusive) to 8193 (exclusive)"
    re.compile(
        r"max_?output_?tokens value of \d+ but the supported range is from 1 \(inclusive\) to (\d+) \(exclusive\)",
        re.I,
    ),
    # pydantic: "max_tokens: Input should be less than 4097" (pydantic 1: "ensure this value is less than …"),
    # top level only, as above
    re.compile(
        r"(?:^|; )max_(?:completion_|output_|new_)?tokens: (?:Input should be|ensure this value is) less than (\d+)",
        re.I,
    ),
)
# What is left of the context window after the prompt, as (window, prompt's counts) groups, or named groups
# ``window`` and ``prompt`` where a provider states the prompt first:
_CONTEXT_LEFT = (
    # Anthropic: "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input
    # length or `max_tokens` and try again" (docker/docker-agent#569, continuedev/continue#6080)
    re.compile(r"exceed context limit: (?P<prompt>\d+) \+ [1-9]\d* > (?P<window>\d+)", re.I),
    # SambaNova: "Requested generation length 32000 is not possible! The provided prompt is 769 tokens long, so
    # generating 32000 tokens requires a sequence length of 32769, but the maximum supported sequence length is
    # just 16384!" (cline/cline#294)
    re.compile(
        r"provided prompt is (?P<prompt>\d+) tokens long, so generating [1-9]\d* tokens requires a sequence "
        r"length of \d+, but the maximum supported sequence length is just (?P<window>\d+)",
        re.I,
    ),
    # vLLM (VLLMValidationError, current releases): "You passed 3073 input tokens and requested 32000 output
    # tokens. However, the model's context length is only 32768 tokens, resulting in a maximum input length of
    # 768 tokens."
    re.compile(
        r"you passed (?P<prompt>\d+) input tokens and requested [1-9]\d* output tokens\. However, the model'?s "
        r"context length is only (?P<window>\d+) tokens",
        re.I,
    ),
    # vLLM: "… maximum context length is 8192 tokens and your request has 20 input tokens (32000 > 8192 - 20)"
    re.compile(r"maximum context length is (\d+) tokens and your request has (\d+) input tokens", re.I),
    # vLLM, current releases: "This model's maximum context length is 32768 tokens. However, you requested 32000
    # output tokens and your prompt contains at least 769 input tokens, for a total of at least 32769 tokens."
    re.compile(
        r"maximum context length is (\d+) tokens\. However, you requested \d+ output tokens and your prompt "
        r"contains (?:at least )?(\d+) input tokens",
        re.I,
    ),
    # SGLang (also behind Cloudflare Workers AI): "Requested token count exceeds the model's maximum context length
    # of 16384 tokens. You requested a total of 32050 tokens: 50 tokens from the input messages and 32000 tokens
    # for the completion." (counts sometimes written as floats, "524288.0")
    re.compile(
        r"maximum context length of (\d+) tokens\. You requested a total of [\d.]+ tokens: (\d+)(?:\.0+)? tokens "
        r"from the input messages and [1-9][\d.]* tokens for the completion",
        re.I,
    ),
    # text-generation-inference (Hugging Face, Together): "`inputs` tokens + `max_new_tokens` must be <= 8193.
    # Given: 22 `inputs` tokens and 32000 `max_new_tokens`"
    re.compile(r"max_new_tokens`? must be <= (\d+)\. Given: (\d+) `?inputs`? tokens", re.I),
    # older vLLM, DeepSeek: "maximum context length is 4096 tokens. However, you requested 33000 tokens (1000 in
    # the messages, 32000 in the completion)": only when the completion asked for some (else the prompt overflows);
    # OpenAI's older wording, kept by llama-cpp-python's server and other OpenAI-compatible ones: "maximum context
    # length is 16385 tokens, however you requested 33200 tokens (1200 in your prompt; 32000 for the completion)"
    re.compile(
        r"maximum context length is (\d+) tokens.{0,80}?\((\d+) in (?:the messages, [1-9]\d* in|your prompt; "
        r"[1-9]\d* for) the completion\)",
        re.I | re.S,
    ),
    # OpenRouter: "This endpoint's maximum context length is 32768 tokens. However, you requested about 40000
    # tokens (8000 of text input, 32000 in the output)." (tool and image input, when any, are listed too)
    re.compile(
        r"maximum context length is (\d+) tokens.{0,80}?\((\d+ of text input(?:, \d+ of \w+ input)*), "
        r"[1-9]\d* in the output\)",
        re.I | re.S,
    ),
)
# A cap on requests that are not streamed, not the model's (Fireworks: "Requests with max_tokens > 4096 must have
# stream=true"): this request's retry only, a streamed one may ask for more (s12 variant 17-i)
_UNSTREAMED = re.compile(r"max_tokens > (\d+) must have stream=true", re.I)
# The window and the whole request (prompt + the output asked for), when only that is stated, as (window, whole
# request) groups, or named groups ``window`` and ``requested`` where a provider states the request first. Moonshot
# (Kimi): "Invalid request: Your request exceeded model token limit: 8192 (requested: 32012)"; OpenAI-compatible
# servers that word it as older vLLM without the breakdown: "This model's maximum context length is 131072 tokens.
# However, you requested 351430 tokens. Please reduce the length of the messages or completion." (THUDM/LongBench#104;
# "messages or completion": the count is of both, unlike vLLM's prompt-only "you requested N tokens in the messages,
# Please reduce the length of the messages", which is not matched)
_REQUESTED = (
    re.compile(r"exceeded model token limit: (\d+) \(requested: (\d+)\)", re.I),
    re.compile(
        r"maximum context length is (\d+) tokens\. However, you requested (\d+) tokens\. Please reduce the length "
        r"of the messages or completion",
        re.I,
    ),
    # Cohere: "too many tokens: total number of tokens (prompt and prediction) cannot exceed 4096 - received 32050. Try
    # using a shorter prompt or a smaller max_tokens value." (cohere-ai/sandbox-topically#4; s24 variant 17-cohere-total-vA:
    # the refusal went back unread)
    re.compile(
        r"total number of tokens \(prompt and prediction\) cannot exceed (\d+) - received (\d+)", re.I
    ),
    # Cerebras states the whole request first: "Please reduce the length of the messages or completion. Current length
    # is 32050 while limit is 8192" (prompt 50 + max_tokens 32000; the messages alone fit: s21 variant 17-b)
    re.compile(
        r"reduce the length of the messages or completion\. Current length is (?P<requested>\d+) while limit is "
        r"(?P<window>\d+)",
        re.I,
    ),
)
# What the account's credit affords, for this request only. OpenRouter's pre-flight credit check (402): "This request
# requires more credits, or fewer max_tokens. You requested up to 32000 tokens, but can only afford 27342. To
# increase, visit https://openrouter.ai/settings/credits …" (Gitlawb/openclaude#1125, with Claude Code's 32000)
_AFFORDABLE = re.compile(
    r"fewer max_tokens\. You requested up to \d+ tokens, but can only afford (\d+)", re.I
)
_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class StatedLimit(NamedTuple):
    """An output-token limit read from a refusal. ``lasting``: the model's own limit, true of every later
    request (remember it); else what the context window leaves after *this* request's prompt, good for
    this request's retry only (remembered, it would cap every later answer at that remainder)."""

    tokens: int
    lasting: bool


def limit_from_refusal(message: str, asked: int | None = None) -> StatedLimit | None:
    """The output-token limit an upstream states when it refuses ``max_tokens``, if it states one.

    ``asked``: the output tokens the refused request asked for (``asked_output_tokens``), for a refusal that
    states only the window and the whole request (Moonshot's ``requested``, prompt + ``max_tokens``): what
    is left is the window minus the prompt, for this request only (s10 variant 17-d). A cap on requests that
    are not streamed (``_UNSTREAMED``), and what the account's credit affords (``_AFFORDABLE``, s14 variant 17-a), are
    for this request only too. A stated number longer than ``int`` reads (``sys.get_int_max_str_digits``, 4300
    digits: ValueError) states no limit: None, never raised (the refusal goes back as it came)."""
    try:
        return _stated_limit(message, asked)
    except ValueError:
        return None


def _stated_limit(message: str, asked: int | None) -> StatedLimit | None:
    message = ungrouped(message)  # "65,536" is one number, not 65 (s23 variant 17-i)
    lower = message.lower()
    if (
        "token" not in lower and "current length" not in lower
    ):  # Cerebras' words name no tokens (``_REQUESTED``)
        return None
    if m := _UNSTREAMED.search(message):
        return StatedLimit(int(m.group(1)), lasting=False) if int(m.group(1)) else None
    if m := _AFFORDABLE.search(message):  # nothing affordable ("can only afford 0"): no retry can help
        return StatedLimit(int(m.group(1)), lasting=False) if int(m.group(1)) else None
    if asked and (m := next(filter(None, (p.search(message) for p in _REQUESTED)), None)):
        window, requested = (m["window"], m["requested"]) if m.re.groupindex else m.groups()
        left = int(window) - (int(requested) - asked)
        return StatedLimit(left, lasting=False) if 0 < left < asked else None
    for pattern in _REFUSALS:
        if m := pattern.search(message):
            tokens = int(m.group(1))
            return StatedLimit(tokens, lasting=True) if tokens else None
    for pattern in _EXCLUSIVE:
        if m := pattern.search(message):
            tokens = int(m.group(1)) - 1
            return StatedLimit(tokens, lasting=True) if tokens > 0 else None
    for pattern in _CONTEXT_LEFT:
        if m := pattern.search(message):
            window, prompt = (m["window"], m["prompt"]) if "window" in pattern.groupindex else m.groups()
            left = int(window) - sum(int(n) for n in re.findall(r"\d+", prompt))  # every input
            return StatedLimit(left, lasting=False) if left > 0 else None
    return None


def asked_output_tokens(body: bytes) -> int | None:
    """The output tokens an outgoing JSON request body asks for (its first output-token field), else None."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for name in _TOKEN_FIELDS:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def clamp_body(body: dict[str, Any], limit: int) -> bool:
    """Lower every output-token field of an outgoing body to ``limit``; True if one changed.

    A thinking budget nested in the body (``_BUDGETS``: Anthropic's ``thinking.budget_tokens``, OpenRouter's
    ``reasoning.max_tokens``) must stay below the output limit: a budget the clamp left at or above the new limit is
    lowered to one below it, or goes when that is under Anthropic's least budget for a Claude model (``_fit_budgets``:
    which, and what of the object stays). The client's objects are replaced, never changed."""
    changed = False
    for name in _TOKEN_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            body[name] = limit
            changed = True
    if changed:
        _fit_budgets(body)
    return changed


_MIN_THINKING_BUDGET = 1024  # Anthropic: budget_tokens >= 1024
# A thinking budget nested in an outgoing body, as (object, field), which must stay below the output limit:
# * Anthropic ``thinking.budget_tokens``: >= 1024 and < ``max_tokens`` (Anthropic extended thinking docs; else 400
#   "`max_tokens` must be greater than `thinking.budget_tokens`");
# * OpenRouter ``reasoning.max_tokens`` (OpenRouter docs, "Reasoning Tokens", https://openrouter.ai/docs/use-cases/
#   reasoning-tokens: "Directly specifies the maximum number of tokens to use for reasoning", Anthropic-style; for
#   Claude it becomes the ``budget_tokens`` above, so the same rule). s31 fix31: before, a clamped retry on
#   OpenRouter (its 402 "… can only afford N") kept a reasoning budget at or above the new limit.
_BUDGETS = (("thinking", "budget_tokens"), ("reasoning", "max_tokens"))
# What of OpenRouter's ``reasoning`` object asks for reasoning (OpenRouter docs, "Reasoning Tokens": ``enabled``
# "Default: inferred from ``effort`` or ``max_tokens``"); its other members (``exclude``: "All models support this")
# are the client's wishes about the answer, kept when the budget goes
_ASKS_REASONING = ("max_tokens", "enabled", "effort")


def _fit_budgets(body: dict[str, Any]) -> None:
    """Each budget of ``_BUDGETS`` at or above the least output limit the body sends lowered to one below it.
    Below Anthropic's least budget (1024: its ``thinking``, and OpenRouter's ``reasoning`` for a Claude model, which
    OpenRouter hands on as that budget) the budget goes instead, with what asks for thinking, keeping the client's
    other ``reasoning`` members (``exclude``). OpenRouter's other reasoning models take a budget under 1024 (Gemini
    thinking and Qwen models: OpenRouter docs, "Reasoning Tokens", "Max Tokens for Reasoning"): theirs is lowered too.
    Review32: fix31 dropped any ``reasoning`` object under 1024, so a Gemini model thought unbounded (its default,
    dynamic) inside the small limit, and a client's ``exclude: true`` was lost (reasoning shown it had excluded)."""
    limits = [
        v for n in _TOKEN_FIELDS if type(v := body.get(n)) is int
    ]  # the output limits sent (review31: the least)
    if not limits:
        return
    limit = min(limits)
    for holder, field in _BUDGETS:
        outer = body.get(holder)
        if not isinstance(outer, dict) or type(budget := outer.get(field)) is not int or budget < limit:
            continue
        floor = _MIN_THINKING_BUDGET if holder == "thinking" or _names_claude(body) else 1
        if limit - 1 >= floor:
            body[holder] = {**outer, field: limit - 1}
        elif holder == "reasoning" and (rest := {k: v for k, v in outer.items() if k not in _ASKS_REASONING}):
            body[holder] = rest  # no room to think: no budget, the client's other wishes kept
        else:
            del body[holder]  # no room to think: thinking left out, as the translators do


def _names_claude(body: dict[str, Any]) -> bool:
    """The body's model is a Claude model (any host's id: ``anthropic/claude-sonnet-4.5``)."""
    model = body.get("model")
    return isinstance(model, str) and "claude" in model.lower()


# An output-token field the upstream does not take, named in its refusal (the other one is what it takes):
_OTHER_FIELD = {"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}
_FIELD_REFUSALS = (
    # OpenAI's reasoning models (o1, o3, o4-mini, gpt-5), and Azure OpenAI's deployments of them under any name:
    # 400 "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'
    # instead." (code unsupported_parameter; OpenAI API reference, chat ``max_tokens``: "not compatible with o-series
    # models")
    re.compile(r"unsupported parameter: '(max_tokens|max_completion_tokens)'", re.I),
    # Azure OpenAI before api-version 2024-09-01-preview: "Unrecognized request argument supplied:
    # max_completion_tokens"
    re.compile(r"unrecognized request argument supplied: (max_tokens|max_completion_tokens)\b", re.I),
    # pydantic's extra_forbidden (Mistral's 422, FastAPI servers), as ``_error_meaning.validation_message`` words it:
    # "max_completion_tokens: Extra inputs are not permitted" (editor-code-assistant/eca#231, Gitlawb/openclaude#739)
    re.compile(r"(?:^|; )(max_tokens|max_completion_tokens): extra inputs are not permitted", re.I),
    # the same list as Python text in a server's message: "[{'type': 'extra_forbidden', 'loc': ('body',
    # 'max_completion_tokens'), 'msg': 'Extra inputs are not permitted', …}]" (voideditor/void#128)
    re.compile(
        r"'loc': [(\[]'body', '(max_tokens|max_completion_tokens)'[)\]], 'msg': 'Extra inputs are not permitted'",
        re.I,
    ),
)


def field_from_refusal(message: str) -> str | None:
    """The output-token field an upstream takes, when its refusal ``message`` says it does not take the other one
    (``_FIELD_REFUSALS``): ``"max_completion_tokens"`` for "Unsupported parameter: 'max_tokens' …" (OpenAI's and Azure's
    reasoning models), ``"max_tokens"`` for "max_completion_tokens: Extra inputs are not permitted" (Mistral) or
    "Unrecognized request argument supplied: max_completion_tokens" (older Azure OpenAI); None for any other message.
    A limit on the value (``limit_from_refusal``) is another refusal: the field's name stands there."""
    for pattern in _FIELD_REFUSALS:
        if m := pattern.search(message):
            return _OTHER_FIELD[m.group(1).lower()]
    return None


def use_tokens_field(body: dict[str, Any], field: str) -> bool:
    """``body`` (an outgoing Chat Completions body) asking its output tokens by ``field`` (``max_tokens`` or
    ``max_completion_tokens``) rather than the other, in place: the other's value moves to ``field`` (a value
    ``field`` already has wins). True if the body changed; False for a body without the other field, or an unknown
    ``field``."""
    other = _OTHER_FIELD.get(field)
    if other is None or other not in body:
        return False
    value = body.pop(other)
    body.setdefault(field, value)
    return True
