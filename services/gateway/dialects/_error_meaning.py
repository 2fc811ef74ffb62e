"""What an upstream error means, and how each client format says it (pure).

Clients act on the meaning of an error, and each format says the same meaning in its own words: Claude
Code compacts the conversation only when the message says "prompt is too long" (Anthropic's wording),
OpenAI clients look for ``code: context_length_exceeded``; SDKs retry on 429/529 by status. When a
request was translated, the gateway reads the upstream's error in its wire's words (``meaning_from_*``)
and says it again in the client's (``words_for_*``). Same-format errors go back untouched (proxy).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import orjson

Meaning = Literal[
    "context_overflow",
    "rate_limit",
    "quota_exhausted",
    "overloaded",
    "authentication",
    "permission",
    "not_found",
    "too_large",
    "invalid_request",
    "server",
]
# (status, message, code) as the client's format says it
Words = tuple[int, str, str | None]

_BY_STATUS: dict[int, Meaning] = {
    401: "authentication",
    403: "permission",
    404: "not_found",
    413: "too_large",
    429: "rate_limit",
    503: "overloaded",
    529: "overloaded",
}
_OVERFLOW = re.compile(
    # Anthropic's words; Z.ai's error 1261 "Prompt too long" (badlogic/pi-mono #9805) and Ollama's "prompt too long;
    # exceeded max context length by N tokens" without the "is" (s23 variants 10-a, 10-n)
    r"prompt (?:is )?too long|exceed(?:s|ed)? (?:the )?context (?:limit|window|length)|maximum context length|"
    r"context[_ ]length[_ ]exceeded|context window|too many (?:input )?tokens|input is too long|"
    # Anthropic's name for a context window the input and output filled, which Z.ai also answers with (as an error
    # code or its text; anomalyco/opencode#18813; s18 variant 10-r)
    r"model_context_window_exceeded|"
    # the closing words of OpenAI's overflow message, which Groq sends alone ("Please reduce the length of the
    # messages or completion.", code context_length_exceeded: letta-ai/letta#1963, OpenHands/OpenHands#1902), so a
    # relay that keeps only the message (not the code) still says an overflow (s28 variant 10-groq-words-no-code)
    r"reduce the length of the messages|"
    # xAI: "This model's maximum prompt length is 131072 but the request contains 145213 tokens."
    r"maximum prompt length|"
    # llama.cpp server: "the request exceeds the available context size" (type exceed_context_size_error)
    r"exceeds? (?:the )?available context size|exceed_context_size|"
    # Gemini: "The input token count (1200345) exceeds the maximum number of tokens allowed (1048576)."
    r"input token count.{0,40}exceeds the maximum number of tokens|"
    # Gemini on Vertex AI: "Unable to submit request because the input token count is 135538 but model only supports
    # up to 131072. Reduce the input token count and try again." (s21 variant 10-g)
    r"input token count is \d+ but (?:the )?model only supports up to|"
    # Hugging Face TGI (422): "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. …"
    r"`?inputs`? tokens \+ `?max_new_tokens`? must be <=|"
    # TGI, the prompt alone (422, its router's ``ValidationError::InputLength``): "Input validation error: `inputs`
    # must have less than 8192 tokens. Given: 9120"
    r"`?inputs`? must have less than \d+ tokens|"
    # LM Studio: "Trying to keep the first 9000 tokens when context the overflows. However, the model is
    # loaded with context length of 8192 tokens, which is not enough." (its wording, typo included); other releases:
    # "… when context overflows. However, the model is loaded with a context length of only 4096 tokens, which is not
    # enough." (n4ze3m/page-assist#356; s18 variant 10-u)
    r"when context (?:the )?overflows|context length of (?:only )?\d+ tokens, which is not enough|"
    # LM Studio, the conversation past the loaded context: "Reached context length of 4096 tokens with model (arch:
    # qwen3vlmoe) that does not currently support mid-generation context overflow. Try reloading with a larger context
    # length or shortening the prompt/chat." (lmstudio-bug-tracker#1251, #1024; s18 variants 10-s, 10-t, 10-z)
    r"reached context length of \d+ tokens|mid-generation context overflow|"
    # LM Studio (other versions): "… tokens to keep from the initial prompt is greater than the context length"
    r"initial prompt is greater than the context length|"
    # vLLM, SGLang, Together: "The input (9000 tokens) is longer than the model's context length (8192 tokens)."
    r"longer than the model'?s (?:maximum )?context length|"
    # OpenAI: "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in …"
    r"input tokens exceed the configured limit|"
    # Poolside: "Input length 131393 exceeds the maximum allowed input length of 131040 tokens."
    r"exceeds the maximum allowed input length|"
    # GitHub Copilot: "prompt token count of 200000 exceeds the limit of 128000"
    r"prompt token count of \d+ exceeds the limit|"
    # Kimi (Moonshot): "Your request exceeded model token limit: 256000 (requested: 300000)"; Salesforce's LLM gateway,
    # present tense: "Request input tokens exceed model token limit. Reduce the input size." (forcedotcom/
    # Einstein-GPT-for-Developers#228; s26 variants 10-input-exceed-model-token-limit-*)
    r"exceed(?:s|ed)? (?:the )?model'?s? token limit|"
    # Ollama: "prompt too long; exceeded max context length by 100918 tokens"
    r"exceeded max context length|"
    # vLLM's input processor: "The decoder prompt (length 40000) is longer than the maximum model length of
    # 32768." (xorbitsai/inference#3785), V1: "Prompt length of 2048 is longer than the maximum model length
    # of 2048." (EleutherAI/lm-evaluation-harness#2880)
    r"longer than the maximum model length|"
    # Alibaba DashScope (OpenAI-compatible mode): "<400> InternalError.Algo.InvalidParameter: Range of input
    # length should be [1, 204800]" (QwenLM/qwen-code#98, #2068)
    r"range of input length should be|"
    # Zhipu GLM (error 1261): "Prompt exceeds max length" (NousResearch/hermes-agent#1877)
    r"prompt exceeds (?:the )?max(?:imum)? length|"
    # SambaNova: "Requested generation length 32000 is not possible! The provided prompt is 40000 tokens long, so
    # generating 32000 tokens requires a sequence length of 72000, but the maximum supported sequence length is
    # just 16384!" (cline/cline#294)
    r"maximum supported sequence length is|"
    # vLLM (VLLMValidationError, current releases): "You passed 40001 input tokens and requested 32000 output
    # tokens. However, the model's context length is only 32768 tokens, resulting in a maximum input length of
    # 768 tokens."
    r"model'?s context length is only \d+|"
    # LM Studio 0.4: "Input does not fit in context length. The input has 31430 tokens, but the context length only
    # supports 30000 tokens." (lmstudio-ai/lmstudio-bug-tracker#2322, told in-band after a 200); its MLX engine:
    # "Context size has been exceeded." (lmstudio-bug-tracker#2339)
    r"does not fit in (?:the )?context (?:length|window|size)|context (?:size|length|window) has been exceeded|"
    # SiliconFlow (code 20015, a top-level message): "length of prompt_tokens (57535) must be less than max_seq_len
    # (32768)." (langgenius/dify#19394)
    r"prompt_tokens \(\d+\) must be less than max_seq_len|"
    # Amazon Nova on Bedrock (a validationException, mid-stream on ConverseStream): "Input Tokens Exceeded: Number of
    # input tokens exceeds maximum length. Please update the input to try again."
    r"number of input tokens exceeds maximum length|"
    # SGLang (its input validation, a 400 or the first event of a stream): "Input length (140000 tokens) exceeds the
    # maximum allowed length (131072 tokens). Use a shorter input or enable --allow-auto-truncate."
    r"input length \(\d+ tokens\) exceeds the maximum allowed length|"
    # TensorRT-LLM (Triton's and NIM's OpenAI-compatible fronts relay it, as a 400 or a 500): "Prompt length (5056)
    # exceeds maximum sequence length (2048)", "Prompt length (200) exceeds maximum input length (1)"
    # (triton-inference-server/tensorrtllm_backend#141, #565)
    r"prompt length \(\d+\) exceeds (?:the )?maximum (?:sequence|input) length|"
    # the DS4 server: "Prompt has 256468 tokens, but the configured context size is 256000 tokens" (digits grouped
    # too: "5,958,968"; earendil-works/pi#6262; s18 variants 10-o..10-q)
    r"prompt has [\d,]+ tokens?, but the configured context size is|"
    # Cerebras: "Please reduce the length of the messages or completion. Current length is 42328 while limit is 40000"
    # (cline/cline#5140, anomalyco/opencode#1551; s19 variants 10-a, 10-b); LiteLLM's proxy names any provider's
    # overflow by its exception class: "litellm.ContextWindowExceededError: litellm.BadRequestError: …" (code "400")
    r"current length is \d+ while limit is \d+|contextwindowexceedederror|"
    # the DS4 server since its PR #150 (antirez/ds4): 400 {"error": {"message": "Prompt tokens (40000) exceeds context
    # size (32768)", "type": "context_exceeded", "n_prompt_tokens": 40000, "n_ctx": 32768}} (its type a word of its own,
    # read here beside the message; s25 variants 10-ds4-*)
    r"exceed(?:s|ed)? (?:the )?context size|\bcontext_exceeded\b|"
    # GitHub Models (its per-request input limit, a 413 with code tokens_limit_reached): "Request body too large for
    # gpt-4o model. Max size: 8000 tokens." (cline/cline#2115; s26 variants 10-ghmodels-*): tokens, not bytes
    r"request body too large for .{1,200}? model\. max size: \d+ tokens",
    re.I | re.S,
)
# The overflow said so plainly that a 5xx status (or an in-band error without a code, read as 500) does not make it a
# server fault: llama.cpp-based servers answer 500 server_error "… the context window is full. Please reduce the input
# size or increase the context window" (ardanlabs/kronk#861; ik_llama.cpp before its PR #2420), LM Studio's in-band
# error above has no code at all; Ollama's OpenAI-compatible endpoint answers every error as type api_error
# (middleware/openai.go ``writeError``) under the status its handler set, 500 for an error it streams without one
# (server/routes.go ``streamResponse``): "prompt too long; exceeded max context length by 65590 tokens" (s23 variants
# 10-a..10-c). Narrower than ``_OVERFLOW``: a server fault may mention a "context window" or
# "too many tokens" in passing, but not that the input does not fit.
_OVERFLOW_EVEN_IF_5XX = re.compile(
    r"prompt (?:is )?too long|context window is full|does not fit in (?:the )?context (?:length|window|size)|"
    r"context (?:size|length|window) has been exceeded|exceed(?:s|ed)? (?:the )?(?:available )?context "
    r"(?:limit|window|length|size)|maximum context length is \d+ tokens|input is too long|"
    r"longer than the (?:model'?s |maximum )(?:maximum )?(?:context|model) length|context_length_exceeded|"
    r"model_context_window_exceeded|"
    r"prompt_tokens \(\d+\) must be less than max_seq_len|number of input tokens exceeds maximum length|"
    r"input length \(\d+ tokens\) exceeds the maximum allowed length|"
    r"prompt length \(\d+\) exceeds (?:the )?maximum (?:sequence|input) length|"
    r"prompt has [\d,]+ tokens?, but the configured context size is|"
    # SGLang's (DeepInfra's) "Requested token count exceeds the model's maximum context length of 131072 tokens." (a
    # LiteLLM 503 relays it so; s23 variant 10-s)
    r"token count exceeds the model'?s maximum context length|"
    # LM Studio's words (above; told in-band too, where an error without a code reads as a 500: s18 variant 10-z)
    r"when context (?:the )?overflows|context length of (?:only )?\d+ tokens, which is not enough|"
    r"reached context length of \d+ tokens|mid-generation context overflow|"
    r"initial prompt is greater than the context length|"
    # Cerebras' words and LiteLLM's class name (above; LiteLLM keeps a 5xx status it was given)
    r"current length is \d+ while limit is \d+|contextwindowexceedederror",
    re.I | re.S,
)
# "… maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens."
# (OpenRouter: "This endpoint's maximum context length is 128000 tokens. However, you requested about 131072 tokens")
_OPENAI_NUMBERS = re.compile(
    r"maximum context length is (\d+) tokens.*?(?:resulted in|requested(?: about)?) (\d+) tokens", re.I | re.S
)
# The input's own share where that wording breaks the request down (the rest is the output asked for, which is no part
# of the prompt): DeepSeek and older vLLM "(133211 in the messages, 8192 in the completion)" (netease-youdao/
# LobsterAI#60), OpenAI's older wording kept by llama-cpp-python "(20200 in your prompt; 32000 for the completion)",
# OpenRouter "(229000 of text input, 2000 of tool input, 32000 in the output)" (every input summed)
_INPUT_SHARE = re.compile(
    r"\((\d+) in (?:the messages|your prompt)[,;]|\(((?:\d+ of [a-z ]{1,20}? input, )+)\d+ in the output\)",
    re.I,
)
# "prompt is too long: 210000 tokens > 200000 maximum"
_ANTHROPIC_NUMBERS = re.compile(r"(\d+) tokens > (\d+) maximum", re.I)
# xAI: "maximum prompt length is 131072 but the request contains 145213 tokens"
_XAI_NUMBERS = re.compile(r"maximum prompt length is (\d+) but the request contains (\d+) tokens", re.I)
# Gemini: "The input token count (1200345) exceeds the maximum number of tokens allowed (1048576)"
_GEMINI_NUMBERS = re.compile(
    r"input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)", re.I
)
# TGI: "… must be <= 8192. Given: 9000 `inputs` tokens and 1024 `max_new_tokens`" (limit, then prompt)
_TGI_NUMBERS = re.compile(r"must be <= (\d+)\. Given: (\d+) `?inputs`? tokens", re.I)
# LM Studio: "keep the first 9000 tokens … loaded with context length of 8192 tokens"
# (or "… a context length of only 4096 tokens": s18 variants 10-u, 10-v)
_LMSTUDIO_NUMBERS = re.compile(
    r"keep the first (\d+) tokens.*?context length of (?:only )?(\d+) tokens", re.I | re.S
)
# The wordings above that state both counts in two groups, in the order ``_stated_numbers`` tries them after
# OpenAI's: (pattern, the group of the tokens asked, the group of the tokens allowed)
_TWO_COUNTS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (_ANTHROPIC_NUMBERS, 1, 2),
    (_XAI_NUMBERS, 2, 1),
    (_GEMINI_NUMBERS, 1, 2),
    (_TGI_NUMBERS, 2, 1),
    (_LMSTUDIO_NUMBERS, 1, 2),
)
# Stated as (tokens asked, tokens allowed), in this order, by vLLM/SGLang/Together ("The input (9000 tokens)
# is longer than the model's context length (8192 tokens)"), Poolside ("Input length 131393 exceeds the
# maximum allowed input length of 131040 tokens"), GitHub Copilot ("prompt token count of 200000 exceeds
# the limit of 128000"), vLLM's input processor ("The decoder prompt (length 40000) is longer than the
# maximum model length of 32768"), SiliconFlow ("length of prompt_tokens (57535) must be less than max_seq_len (32768)")
# and others ("Input length (265330) exceeds model's maximum context length (262144)")
_ASKED_ALLOWED = re.compile(
    r"input \((\d+) tokens\) is longer than the model'?s (?:maximum )?context length \((\d+)|"
    r"input length \(?(\d+)\)? exceeds (?:the )?(?:maximum allowed input length of |model'?s maximum context "
    r"length \()(\d+)|"
    r"prompt token count of (\d+) exceeds the limit of (\d+)|"
    # vLLM: "The decoder prompt (length 40000) is longer than the maximum model length of 32768",
    # "Prompt length of 40000 is longer than the maximum model length of 32768"
    r"(?:prompt \(length |prompt length of )(\d+)\)? is longer than the maximum model length of (\d+)|"
    # llama.cpp: "request (40000 tokens) exceeds the available context size (32768 tokens), try increasing it"
    r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)|"
    # LM Studio 0.4: "The input has 31430 tokens, but the context length only supports 30000 tokens."
    r"input has (\d+) tokens, but the context length only supports (\d+) tokens|"
    # SiliconFlow: "length of prompt_tokens (57535) must be less than max_seq_len (32768)."
    r"prompt_tokens \((\d+)\) must be less than max_seq_len \((\d+)\)|"
    # SGLang: "Input length (140000 tokens) exceeds the maximum allowed length (131072 tokens)."
    r"input length \((\d+) tokens\) exceeds the maximum allowed length \((\d+) tokens\)|"
    # TensorRT-LLM: "Prompt length (40000) exceeds maximum sequence length (32768)" (or "maximum input length")
    r"prompt length \((\d+)\) exceeds (?:the )?maximum (?:sequence|input) length \((\d+)\)|"
    # Mistral: "Prompt contains 40001 tokens and 0 draft tokens, too large for model with 32768 maximum context
    # length" (s18 variant 10-j); with images: "Prompt contains 300000 tokens and 0 images too large for model with
    # 262144 maximum context length" (no comma; badlogic/pi-mono's overflow list; s23 variant 10-o)
    r"prompt contains (\d+) tokens(?: and \d+ (?:draft tokens|images))?,? too large for model with (\d+) maximum "
    r"context length|"
    # llama-cpp-python: "Requested tokens (9123) exceed context window of 8192" (s18 variant 10-k)
    r"requested tokens \((\d+)\) exceed context window of (\d+)|"
    # Ollama: "The prompt is too long: 265392, model maximum context length: 262144" (s18 variant 10-n)
    r"prompt is too long: (\d+), model maximum context length: (\d+)|"
    # DS4: "Prompt has 5,958,968 tokens, but the configured context size is 256,000 tokens" (digits grouped or not)
    r"prompt has ([\d,]+) tokens?, but the configured context size is ([\d,]+)|"
    # LM Studio / llama.cpp: "The number of tokens to keep from the initial prompt is greater than the context length
    # (n_keep: 13055>= n_ctx: 4096)" (Gitlawb/openclaude#353; s18 variant 10-w)
    r"n_keep: (\d+) ?>= ?n_ctx: (\d+)|"
    # Cerebras: "Current length is 42328 while limit is 40000" (s19 variants 10-a, 10-e)
    r"current length is (\d+) while limit is (\d+)|"
    # Gemini on Vertex AI: "the input token count is 135538 but model only supports up to 131072" (s21 variant 10-g)
    r"input token count is (\d+) but (?:the )?model only supports up to (\d+)|"
    # llama.cpp's counts, stated in fields of its error object rather than its message (``counts_told``)
    r"n_prompt_tokens: (\d+), n_ctx: (\d+)|"
    # the counts in parentheses around an "exceeds … context" of the prompt's: DS4 (PR #150) "Prompt tokens (40000)
    # exceeds context size (32768)", ctransformers' "Number of tokens (2662) exceeded maximum context length (512)."
    # (AIAnytime/Zephyr-7B-beta-RAG-Demo#3; s25 variants 10-ds4-*, 10-ctransformers-counts-vH)
    r"(?:prompt tokens|number of tokens) \((\d+)\) exceed(?:s|ed)? (?:the )?(?:maximum )?context (?:size|length) "
    r"\((\d+)\)",
    re.I,
)
# SambaNova: "The provided prompt is 40000 tokens long, … the maximum supported sequence length is just 16384";
# vLLM: "You passed 40001 input tokens … the model's context length is only 32768 tokens" (prompt, window;
# counts to restate only when the prompt is past the window: ``_numbers``)
_PROMPT_WINDOW = re.compile(
    r"provided prompt is (\d+) tokens long.*?maximum supported sequence length is just (\d+)|"
    r"you passed (\d+) input tokens.*?context length is only (\d+) tokens",
    re.I | re.S,
)
# (allowed, asked): Kimi "exceeded model token limit: 256000 (requested: 300000)"; OpenAI "exceed the
# configured limit of 272000 tokens. Your messages resulted in 509178 tokens"; TGI "`inputs` must have less than
# 8192 tokens. Given: 9120"; vLLM "maximum context length is 32768 tokens. However, your request has 40000 input tokens"
_ALLOWED_ASKED = re.compile(
    r"exceeded model token limit: (\d+) \(requested: (\d+)\)|"
    r"configured limit of (\d+) tokens\. Your messages resulted in (\d+) tokens|"
    # TGI: "`inputs` must have less than 8192 tokens. Given: 9120"
    r"`?inputs`? must have less than (\d+) tokens\. Given: (\d+)|"
    # vLLM's input check (NVIDIA's gateway too): "This model's maximum context length is 32768 tokens. However, your
    # request has 40000 input tokens." (or "maximum prompt length … prompt tokens"; s18 variant 10-i). Its output-limit
    # refusal says "… tokens and your request has N input tokens (X > M - N)": not this, and N is within M there.
    r"maximum (?:context|prompt) length is (\d+) tokens\. However, your request has (\d+) (?:input |prompt )?tokens|"
    # vLLM's newest: "This model's maximum context length is 131072 tokens. However, you requested 1000 output tokens
    # and your prompt contains at least 140000 input tokens, for a total of at least 141000 tokens." (AIDotNet/
    # OpenCowork#82; s18 variant 10-x): the prompt's count, restated only when it alone is past the window
    r"maximum context length is (\d+) tokens\. However, you requested \d+ output tokens and your prompt contains "
    r"at least (\d+) input tokens|"
    # SGLang (DeepInfra, Cloudflare Workers AI relay it; counts sometimes floats, "524288.0"): "Requested token count
    # exceeds the model's maximum context length of 131072 tokens. You requested a total of 172000 tokens: 140000
    # tokens from the input messages and 32000 tokens for the completion." (s19 variant 10-g; restated only when the
    # input alone is past the window, else kind 17's retry within what is left)
    r"maximum context length of (\d+)(?:\.0+)? tokens\. You requested a total of [\d.]+ tokens: (\d+)(?:\.0+)? tokens "
    r"from the input messages|"
    # Cohere: "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4950. Try using a
    # shorter prompt, or enabling prompt truncating."; with the output asked counted in ("total number of tokens (prompt
    # and prediction) cannot exceed 2048 - received 6354", cohere-ai/sandbox-topically#4: the whole request, restated
    # as the prompt's by ``_prompt_of_total`` when the output asked is known; s24 variants 10-cohere-*)
    r"total number of tokens (?:in the prompt|\(prompt and prediction\)) cannot exceed (\d+) - received (\d+)",
    re.I,
)

# A 429 that says credits or a spending limit are used up, in words, without OpenAI's insufficient_quota code: xAI
# answers 429 {"code": "Some resource has been exhausted", "error": "Your team <id> has either used all available
# credits or reached its monthly spending limit. …"} (continuedev/continue#10373, #10740). Waiting does not lift
# it. (A 402, OpenRouter's "Insufficient credits", DeepSeek's "Insufficient Balance", is no status the SDKs retry and
# keeps its own meaning.) Not Gemini's "You exceeded your current quota" 429: a per-minute quota whose RetryInfo
# says when to retry.
# The error types and codes that name a quota or credit used up: OpenAI's ``insufficient_quota`` (its error-codes
# guide), Moonshot/Kimi's ``exceeded_current_quota_error`` (its API error table: 429 "You exceeded your current quota,
# please check your plan and billing details", or "Your account … is suspended …": recharge; forum.moonshot.ai/t/244).
# Its message alone does not tell: Gemini words a per-minute quota the same (bug26b variant 11-moonshot-quota-vP: the
# gateway retried it three times and the client's SDK would have retried it again).
_QUOTA_GONE = frozenset(("insufficient_quota", "exceeded_current_quota_error"))
_CREDITS_GONE = re.compile(
    r"used all (?:available |your )?credits|reached (?:its|your|the) (?:monthly )?spending limit|"
    r"insufficient (?:credits|balance|funds)",
    re.I,
)


# A 429 for a request larger than the per-minute token budget itself (OpenAI's rate-limit errors: "Request too large
# for gpt-4o in organization org-… on tokens per min (TPM): Limit 30000, Requested 250011. The input or output tokens
# must be reduced in order to run successfully."; Groq words it so with a 413): no wait admits it, so it is no rate
# limit but a request too large, not to be sent again as it is (s16 variants 11-h, 11-i).
_OVER_THE_LIMIT_ITSELF = re.compile(
    r"request too large for .{0,300}?limit (\d+), requested (\d+)", re.I | re.S
)


# OpenAI's refusal on chat completions of a model it serves on the Responses API only (gpt-5-codex, o3-pro; a
# deployment of one on Azure OpenAI, or the same refusal relayed by LiteLLM or another proxy in front of OpenAI): 404
# "This model is only supported in v1/responses and not in v1/chat/completions." (s34 bug34a variants 18o, 18p)
_RESPONSES_ONLY_REFUSAL = re.compile(r"only supported in v1/responses", re.I)


def served_on_responses_only(message: str) -> Literal["openai_responses"] | None:
    """The wire a chat-completions refusal's ``message`` says its model is served on only: "openai_responses" for
    OpenAI's "only supported in v1/responses" (``_RESPONSES_ONLY_REFUSAL``), whoever relays it; else None. The
    chat wire's ``WireSpec.served_only_on`` (bill35: a property of the wire, not of one provider)."""
    return "openai_responses" if _RESPONSES_ONLY_REFUSAL.search(message) else None


def served_anywhere(message: str) -> None:
    """A wire whose refusals never say a model is served on another wire only (``WireSpec.served_only_on``)."""
    return None


def quota_exhausted(status: int | None, body: bytes) -> bool:
    """Whether an upstream error is a 429 that says the account's quota or credit is used up, in either wire's words:
    OpenAI's ``insufficient_quota`` and Moonshot's ``exceeded_current_quota_error`` (code or type: ``_QUOTA_GONE``),
    Anthropic's ``billing_error`` type, xAI's "used all available credits" (``_CREDITS_GONE``). Such a 429 is no rate limit that waiting out its Retry-After lifts: the provider
    cannot serve, and it counts toward its breaker (``ProviderHealth.record_failure``'s ``counted``; s24 variants
    11-quota-breaker-vE, 11-xai-credits-breaker-vF: it was only rested, never counted). A router's 429 that relays the
    provider's own body (OpenRouter's ``error.metadata.raw``, OpenRouter docs, "Errors": a BYOK key's quota at the
    provider behind it) is read as that body, one level deep (s25 variant 11-or-quota-vG)."""
    if status != 429:
        return False
    if (
        meaning_from_openai(status, body) == "quota_exhausted"
        or _error_of(body).get("type") == "billing_error"
    ):
        return True
    raw = _relayed_body(body)
    return raw is not None and (
        meaning_from_openai(status, raw) == "quota_exhausted" or _error_of(raw).get("type") == "billing_error"
    )


def _relayed_body(body: bytes) -> bytes | None:
    """The provider's error body a router relayed as text in ``error.metadata.raw`` (OpenRouter), else None."""
    try:
        data = unwrapped(error_json(body))
    except orjson.JSONDecodeError:
        return None
    err = data.get("error") if isinstance(data, dict) else None
    metadata = err.get("metadata") if isinstance(err, dict) else None
    raw = metadata.get("raw") if isinstance(metadata, dict) else None
    return raw.encode() if isinstance(raw, str) and raw.strip() else None


def over_the_limit_itself(message: str) -> bool:
    """Whether an error ``message`` says the request alone asks more tokens than the limit it hit allows
    (``_OVER_THE_LIMIT_ITSELF``: "… Limit 30000, Requested 250011")."""
    m = _OVER_THE_LIMIT_ITSELF.search(message)
    try:
        return m is not None and int(m.group(2)) > int(m.group(1))
    except ValueError:  # a number longer than int reads: nothing said
        return False


def retry_advice(meaning: Meaning) -> dict[str, str]:
    """Headers telling the client's SDK whether to retry, for an error that means ``meaning``: an exhausted
    quota or credit (OpenAI ``insufficient_quota``, Anthropic ``billing_error``) is a 429 the SDKs would
    retry by status, but retrying cannot succeed (conformance §1.8, "insufficient_quota … must not be
    retried"; §0, ``x-should-retry: false``, which both SDKs obey: ``_base_client._should_retry``). A context
    overflow too: the same prompt cannot fit on a retry, and an upstream's own ``x-should-retry: true`` sent
    with a 5xx that is said as a 400 overflow (``_OVERFLOW_EVEN_IF_5XX``) would have the SDKs resend it. And a
    request too large (a 413, or a 429 for a request over the per-minute limit itself, ``over_the_limit_itself``):
    the same request is as large on every retry."""
    return (
        {"x-should-retry": "false"} if meaning in ("quota_exhausted", "context_overflow", "too_large") else {}
    )


def said_in_client_words(meaning: Meaning, body: bytes, said: Callable[[dict[str, Any]], bool]) -> bool:
    """False when a same-format error body does not say its meaning as that format's clients look for it,
    so it is said again in the client's words rather than passed on: a context overflow whose error
    object fails ``said`` (``overflow_said_by_code`` for OpenAI's formats, ``overflow_said_by_anthropic``).
    Every other body goes back as it came (clients match its wording)."""
    return meaning != "context_overflow" or said(_error_of(body))


def said_keeping_fields(said: dict[str, Any], body: bytes) -> dict[str, Any]:
    """``said`` (a client error body whose ``error`` object says an upstream's error again in the words the client's
    format looks for: ``message``, ``code``) with the other fields of the provider's own error object kept, for a
    same-format error said again (``said_in_client_words`` False: a context overflow without OpenAI's code); pure.

    llama.cpp's server answers a prompt past its context 400 ``{"error": {"code": 400, "message": "the request
    exceeds the available context size, try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens":
    40000, "n_ctx": 32768}}`` (tools/server/README.md, "Error responses"). An OpenAI-format client needs
    ``code: context_length_exceeded`` (the openai SDK's ``e.code``; LangChain and LiteLLM read the code or
    OpenAI's "maximum context length" words, which ``words_for_openai`` gives with the original in parentheses). The
    clients written for llama.cpp read its own ``type`` and its counts' fields (``n_ctx`` to size what they send:
    s32 fix32, code that keys on ``exceed_context_size_error`` or reads ``n_ctx`` from the body); said again from
    the words alone, they lost both. So the provider's ``type``, ``param`` and every field of its own
    (``n_prompt_tokens``, ``n_ctx``, OpenRouter's ``metadata``) stay; ``message`` and ``code`` are the client's words.
    ``said`` as it is when the body holds no error object."""
    err = _error_of(body)
    words = said.get("error")
    if not isinstance(words, dict) or len(err) < 2:  # (a body without an object: only its text, as "message")
        return said
    kept = {**words, **err, "message": words.get("message")}
    if "code" in words:  # (Anthropic's error object has none)
        kept["code"] = words["code"]
    if kept.get("type") is None:
        kept["type"] = words.get("type")
    return {**said, "error": kept}


def overflow_said_by_code(err: dict[str, Any]) -> bool:
    """OpenAI's clients (the openai SDK's users, Codex) know an overflow by ``code: context_length_exceeded``
    only: not OpenRouter's numeric ``code: 400``, xAI's ``{"code": "Client specified an invalid
    argument"}``, nor Fireworks' "The prompt is too long: …" without a code (s10 variant 10-k)."""
    return err.get("code") == "context_length_exceeded"


def overflow_said_by_anthropic(err: dict[str, Any]) -> bool:
    """Claude Code knows an overflow by its message: "prompt is too long", or "input length and
    `max_tokens` exceed context limit" (which it answers by lowering max_tokens)."""
    message = str(err.get("message") or "")
    return "prompt is too long" in message or "exceed context limit" in message


def told_in_stream(message: str) -> bytes:
    """An error body (``{"error": {"message": …}}``) for an error a provider told inside its stream, where
    no error body came: both wires' readers (``meaning_from_openai``, ``meaning_from_anthropic``) find its
    meaning in it (OpenRouter streams a context overflow as an in-band error chunk after a 200, Anthropic
    as an ``error`` event)."""
    return orjson.dumps({"error": {"message": message}})


# U+FEFF in UTF-8: a byte order mark some relays put before a JSON body (relays written on .NET)
UTF8_BOM = b"\xef\xbb\xbf"


def error_json(body: bytes) -> Any:
    """An error body (status >= 400) parsed as JSON, a leading UTF-8 BOM passed over: RFC 8259 §8.1, a JSON text
    must not begin with one but its parsers "MAY ignore the presence of a byte order mark rather than treating it
    as an error", as the gateway does for answers (``Proxy._answer_object``, s22). Before, such a body was no
    JSON to the error readers (``parse_upstream_error``, ``_error_of``, ``body_reset_seconds``): a translated
    client got the raw body as its message (s23 variant 13-errbom-vC: a Responses client's context overflow
    said ``\ufeff{"error": …}``). Raises ``orjson.JSONDecodeError`` for a body that is not JSON."""
    return orjson.loads(body.removeprefix(UTF8_BOM))


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        data = unwrapped(error_json(body))
    except orjson.JSONDecodeError:
        return {"message": body.decode("utf-8", errors="replace")}
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        inner = provider_message(err)
        return err if inner is None else {**err, "message": inner}
    if isinstance(err, str):
        return {"message": err}
    if isinstance(data, dict) and bare_error(data):
        return data
    # FastAPI's ``{"detail": "<text>"}`` (Triton's OpenAI-compatible front relays TensorRT-LLM's refusal so; s17
    # variant 10-c) or its validation list: their words are the message
    said = validation_message(data) if isinstance(data, dict) else None
    return {"message": said} if said else {}


def unwrapped(data: Any) -> Any:
    """The error body inside a one-element JSON array, else ``data``: Gemini's OpenAI-compatible endpoint
    answers ``[{"error": {"code": 400, "message": …, "status": "INVALID_ARGUMENT"}}]`` (as the openai SDK
    reports it: "Error code: 400 - [{'error': …}]"; s10 variant 10-b). Cloudflare's API envelope
    ``{"errors": [{"code": 8007, "message": …}], "success": false}`` (Workers AI relays the serving engine's
    refusal in that message) becomes ``{"error": <its first entry>}`` (s12 variant 17-e)."""
    if isinstance(data, list) and data and isinstance(data[0], dict) and "error" in data[0]:
        return data[0]
    if isinstance(data, dict) and "error" not in data and isinstance(errors := data.get("errors"), list):
        first = errors[0] if errors else None
        if isinstance(first, dict) and isinstance(first.get("message"), str):
            return {"error": first}
    return data


def counts_told(err: dict[str, Any], message: str) -> str:
    """``message`` with the counts an error object states in fields of its own, where the message does not.

    llama.cpp's server answers a prompt past its context 400 ``{"error": {"code": 400, "message": "the request
    exceeds the available context size, try increasing it", "type": "exceed_context_size_error",
    "n_prompt_tokens": 40000, "n_ctx": 32768}}`` (its server README, "Error responses"): the counts are appended as
    ``" (n_prompt_tokens: 40000, n_ctx: 32768)"``, so an overflow is restated with them for Claude Code ("prompt is
    too long: 40000 tokens > 32768 maximum", which it reads to know how much to compact; s21 variant 10-a).
    ``message`` unchanged without both counts, or when it states the prompt's count already."""
    prompt, window = err.get("n_prompt_tokens"), err.get("n_ctx")
    if (
        type(prompt) is not int
        or type(window) is not int
        or prompt <= 0
        or window <= 0
        or re.search(rf"(?<!\d){prompt}(?!\d)", message) is not None
    ):
        return message
    return f"{message} (n_prompt_tokens: {prompt}, n_ctx: {window})"


def bare_error(data: Any) -> bool:
    """An error object at the body's top level, without an ``error`` wrapper: vLLM's OpenAI-compatible
    server answers ``{"object": "error", "message": …, "type": "BadRequestError", "code": 400}`` (s8
    variant 10-l)."""
    return isinstance(data, dict) and "error" not in data and isinstance(data.get("message"), str)


def validation_message(data: dict[str, Any]) -> str | None:
    """The words of a request-validation error from a FastAPI/pydantic server, else None.

    FastAPI answers 422 ``{"detail": [{"loc": ["body", "max_tokens"], "msg": "Input should be less than or
    equal to 4096", ...}]}`` (or ``"detail": "<text>"``); Mistral's API nests the same list in its error
    object: ``{"object": "error", "message": {"detail": [...]}, "type": ...}``. Each entry becomes
    ``"<field>: <msg>"`` (the ``body`` part of ``loc`` left out), entries joined with ``"; "``:
    ``"max_tokens: Input should be less than or equal to 4096"``.
    """
    nested = data.get("message")
    detail = (
        data.get("detail") if "detail" in data else nested.get("detail") if isinstance(nested, dict) else None
    )
    if isinstance(detail, str):
        return detail.strip()[:500] or None
    if not isinstance(detail, list):
        return None
    said = []
    for entry in detail:
        if isinstance(entry, dict) and isinstance(entry.get("msg"), str):
            loc = entry.get("loc")
            where = ".".join(str(x) for x in loc if x != "body") if isinstance(loc, list) else ""
            said.append(f"{where}: {entry['msg']}" if where else entry["msg"])
    return "; ".join(said)[:500] or None


def provider_message(err: dict[str, Any]) -> str | None:
    """The serving provider's own message when a router wrapped it, else None.

    OpenRouter answers ``{"error": {"message": "Provider returned error", "code": 400, "metadata":
    {"raw": "<the provider's error body>", "provider_name": ...}}}`` (OpenRouter docs, "Errors"): the
    meaning (context overflow, say) is only in ``metadata.raw``, itself a JSON error body or plain text.
    Relays of the one-api family answer a generic message and put the provider's words in ``param``
    (``{"message": "Param Incorrect", "type": "upstream_error", "param": "max_tokens is too large: 32000. This
    model supports at most 16384 completion tokens, …"}``; s12 variant 17-h): a ``param`` that is a sentence
    (it has a space; a parameter's name has none) is those words.
    """
    metadata = err.get("metadata")
    raw = metadata.get("raw") if isinstance(metadata, dict) else None
    if not isinstance(raw, str) or not raw.strip():
        param = err.get("param")
        return param.strip()[:500] if isinstance(param, str) and " " in param.strip() else None
    try:
        inner = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.strip()[:500]
    found = inner.get("error") if isinstance(inner, dict) else None
    if isinstance(found, dict) and isinstance(found.get("message"), str):
        return str(found["message"])
    if isinstance(found, str):
        return found
    return raw.strip()[:500]


def _base(status: int) -> Meaning:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return "server" if status >= 500 else "invalid_request"


# Error codes that name a context overflow whatever the message says: OpenAI's, Anthropic's stop-reason name for
# it that Z.ai gives as an error code (s18 variant 10-r), and GitHub Models' for a prompt past its per-request input
# limit, answered with a 413 (s26 variants 10-ghmodels-*)
_OVERFLOW_CODES = frozenset(
    {"context_length_exceeded", "model_context_window_exceeded", "tokens_limit_reached"}
)


def _overflow_even_if_5xx(message: str) -> bool:
    """Whether a 5xx's ``message`` says a context overflow so plainly that the status does not make it a server fault:
    its words (``_OVERFLOW_EVEN_IF_5XX``), or an overflow's words (``_OVERFLOW``) that state a prompt's count past the
    window (``_numbers``): no server fault states those. LiteLLM's proxy keeps the status its fallback ended with and
    relays the serving engine's refusal inside its own: a 503 "litellm.ServiceUnavailableError:
    litellm.MidStreamFallbackError: … OpenAIException - Requested token count exceeds the model's maximum context
    length of 131072 tokens. You requested a total of 172000 tokens: 140000 tokens from the input messages …"
    (badlogic/pi-mono's overflow tests) went to Claude Code as a 529 overloaded_error, retried, never compacted
    (s23 variants 10-r, 10-s)."""
    if _OVERFLOW_EVEN_IF_5XX.search(message):
        return True
    return _OVERFLOW.search(message) is not None and _numbers(message) is not None


# Words that count the output asked (max_tokens) apart from the prompt in a refusal of the two together: vLLM's
# "'max_tokens' or 'max_completion_tokens' is too large: 32000. This model's maximum context length is 32768 tokens and
# your request has 1000 input tokens (32000 > 32768 - 1000)." and "However, you requested 32000 output tokens and your
# prompt contains at least 769 input tokens", its "max_tokens=32000 cannot be greater than max_model_len=…", SGLang's
# "… 50 tokens from the input messages and 32000 tokens for the completion", older vLLM's and DeepSeek's "(1000 in the
# messages, 32000 in the completion)", OpenRouter's "(…, 32000 in the output)"
_OUTPUT_NAMED = re.compile(
    r"max_(?:completion_)?tokens'? (?:or '?max_completion_tokens'? )?is too large|cannot be greater than max_model_len|"
    r"requested \d+ output tokens|tokens for the completion|\d+ (?:in|for) the (?:completion|output)\)|"
    r"\(\d+ > \d+ - \d+\)",
    re.I,
)


def output_budget_refused(message: str) -> bool:
    """Whether ``message`` refuses a request for the output it asked (max_tokens) with a prompt that fits the window:
    its words count the output apart (``_OUTPUT_NAMED``) and the counts it states do not put the prompt alone past the
    window (the input share of "(N in the messages, …)", or ``_numbers``). Not a context overflow when said with a 5xx
    (``meaning_from_openai``): a relay's 500 or 503 around vLLM's or SGLang's output-limit refusal reached Claude Code
    as "prompt is too long", which compacts a conversation that fits (s24 variants 10-5xx-output-*; kind 17's retry
    within the stated limit comes first, ``Provider.output_limit_from_error``). A 400 in these words keeps its reading
    (the kind-17 retry answers it before any client sees it)."""
    if _OUTPUT_NAMED.search(message) is None:
        return False
    plain = ungrouped(message)
    m = _OPENAI_NUMBERS.search(plain)
    share = _INPUT_SHARE.search(plain, m.end()) if m is not None else None
    if m is not None and share is not None:
        try:
            prompt = sum(int(n) for n in re.findall(r"\d+", share.group(1) or share.group(2)))
            return prompt <= int(m.group(1))
        except ValueError:
            return False
    return _numbers(message) is None


def meaning_from_openai(status: int, body: bytes) -> Meaning:
    """An OpenAI-shaped error (chat completions, Responses, OpenAI-compatible servers)."""
    err = _error_of(body)
    code, message = str(err.get("code") or ""), str(err.get("message") or "")
    etype = str(err.get("type") or "")
    if (
        code in _OVERFLOW_CODES
        or (status in (400, 413, 422) and _OVERFLOW.search(f"{message} {etype}"))
        or (status >= 500 and _overflow_even_if_5xx(message) and not output_budget_refused(message))
    ):
        return "context_overflow"
    if code in _QUOTA_GONE or etype in _QUOTA_GONE:
        return "quota_exhausted"
    if status in (413, 429) and over_the_limit_itself(message):
        return "too_large"
    if status == 429 and _CREDITS_GONE.search(message):
        return "quota_exhausted"
    if (
        status == 429
        and (raw := _relayed_body(body)) is not None
        and meaning_from_openai(status, raw) == "quota_exhausted"
    ):
        return "quota_exhausted"  # OpenRouter relaying the provider's insufficient_quota (s25 variant 11-or-quota-vG)
    if code == "rate_limit_exceeded":
        return "rate_limit"
    if code == "invalid_api_key":
        return "authentication"
    if code == "model_not_found":
        return "not_found"
    return _base(status)


_ANTHROPIC_TYPES: dict[str, Meaning] = {
    "rate_limit_error": "rate_limit",
    "billing_error": "quota_exhausted",
    "overloaded_error": "overloaded",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
    "api_error": "server",
}


def meaning_from_anthropic(status: int, body: bytes) -> Meaning:
    """An Anthropic-shaped error (``{"type": "error", "error": {"type", "message"}}``)."""
    err = _error_of(body)
    etype, message = str(err.get("type") or ""), str(err.get("message") or "")
    if status == 400 and _OVERFLOW.search(message):
        return "context_overflow"
    return _ANTHROPIC_TYPES.get(etype) or _base(status)


# Wordings whose "requested" count is the whole request, the prompt and the output asked for (max_tokens) summed:
# Kimi/Moonshot "exceeded model token limit: 262144 (requested: 269030)" (MoonshotAI/kimi-cli#2011: the context
# under half full; MoonshotAI-Cookbook#18: max_tokens counts in the length), OpenAI's and OpenRouter's "However, you
# requested (about) N tokens". (allowed, requested). Not llama-cpp-python's "Requested tokens (N)": the prompt alone.
_REQUESTED_TOTAL = re.compile(
    r"exceeded model token limit: (\d+) \(requested: (\d+)\)|"
    # Cohere, "(prompt and prediction)": the prompt and max_tokens summed (s24 variant 10-cohere-total-vC)
    r"total number of tokens \(prompt and prediction\) cannot exceed (\d+) - received (\d+)|"
    r"maximum context length is (\d+) tokens.*?However, you requested(?: about)? (\d+) tokens",
    re.I | re.S,
)
# The same, the whole request stated first (requested, allowed): Cerebras "Please reduce the length of the messages or
# completion. Current length is 32050 while limit is 8192" (prompt 50 + max_tokens 32000; s21 variant 17-b)
_REQUESTED_TOTAL_FIRST = re.compile(
    r"reduce the length of the messages or completion\. Current length is (\d+) while limit is (\d+)", re.I
)


def _prompt_of_total(message: str, asked_output: int | None) -> tuple[int, int] | None:
    """(prompt, allowed) where ``message`` states the whole request's count (``_REQUESTED_TOTAL``) and the
    request asked for ``asked_output`` tokens (its max_tokens, ``limits.asked_output_tokens``): the prompt is
    the stated count less that, when it alone is past the window (the whole request stated first too:
    ``_REQUESTED_TOTAL_FIRST``); else None (the whole count stands: the
    output asked for is what did not fit, kind 17's retry within what is left comes first). s20 variant 10-e."""
    if asked_output is None or asked_output <= 0:
        return None
    if m := _REQUESTED_TOTAL.search(message):
        allowed, requested = [int(g) for g in m.groups() if g is not None]
    elif m := _REQUESTED_TOTAL_FIRST.search(message):
        requested, allowed = int(m.group(1)), int(m.group(2))
    else:
        return None
    prompt = requested - asked_output
    return (prompt, allowed) if prompt > allowed else None


# A thousands separator between digits: "262,144" (followed by exactly three digits, so "[1, 8192]" and "(1,8192"
# are no grouping)
_GROUPED = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def ungrouped(message: str) -> str:
    """``message`` with the thousands separators of its numbers taken out: "262,144 tokens" reads "262144 tokens".

    Servers group the digits of the counts they state ("Input length 300000 exceeds the maximum allowed input length
    of 262,144 tokens.", badlogic/pi-mono's overflow list; DS4's "5,958,968"): a pattern that reads ``\\d+`` stopped
    at the comma and took 262 for the window (Claude Code told "300000 tokens > 262 maximum"; s23 variant 10-p),
    and a stated output cap of "65,536" would be learned as 65. Only a comma between a digit and exactly three
    more is taken out."""
    return _GROUPED.sub("", message) if "," in message else message


def _numbers(message: str, asked_output: int | None = None) -> tuple[int, int] | None:
    """(tokens asked, tokens allowed) when the message states them and the prompt is past the window
    (asked > allowed: the restatements say "N tokens > M maximum", "resulted in N tokens" against a maximum of
    M); None otherwise, so the provider's own words stand: SiliconFlow's "prompt_tokens (32768) must be less
    than max_seq_len (32768)" is an overflow whose counts are equal, and "32768 tokens > 32768 maximum" would
    be false on its face. None too when a number is longer than ``int`` reads
    (``sys.get_int_max_str_digits``, 4300 digits: ValueError): no count to restate. ``asked_output``: the
    output tokens the refused request asked for, when known: a count stated for prompt and output together
    is restated as the prompt's (``_prompt_of_total``)."""
    message = ungrouped(message)
    try:
        numbers = _stated_numbers(message)
        if numbers is not None and _INPUT_SHARE.search(message) is None:
            numbers = _prompt_of_total(message, asked_output) or numbers
    except ValueError:
        return None
    return numbers if numbers is not None and numbers[0] > numbers[1] else None


def _stated_numbers(message: str) -> tuple[int, int] | None:
    if m := _OPENAI_NUMBERS.search(message):
        # the prompt's count, not the whole request's, where the wording says how much of it was input and that is
        # past the window (s20 variants 10-a..10-c: "prompt is too long: 141403 tokens > 131072 maximum" for a
        # 133211-token prompt); a prompt within it keeps the whole request's count (the output asked for is what did
        # not fit: kind 17's retry within what is left comes first)
        share = _INPUT_SHARE.search(message, m.end())
        if share is not None:
            prompt = sum(int(n) for n in re.findall(r"\d+", share.group(1) or share.group(2)))
            if prompt > int(m.group(1)):
                return prompt, int(m.group(1))
        return int(m.group(2)), int(m.group(1))
    for pattern, asked, allowed in _TWO_COUNTS:
        if m := pattern.search(message):
            return int(m.group(asked)), int(m.group(allowed))
    if m := _ASKED_ALLOWED.search(message):
        # grouped digits ("5,958,968", DS4) are one count
        asked, allowed = [int(g.replace(",", "")) for g in m.groups() if g is not None]
        return asked, allowed
    if m := _PROMPT_WINDOW.search(message):
        # stated whether or not the prompt alone is past the window: within it, the output asked for is what
        # did not fit, and ``_numbers`` restates none (not "prompt is too long: 769 tokens > 16384 maximum")
        asked, allowed = [int(g) for g in m.groups() if g is not None]
        return asked, allowed
    if m := _ALLOWED_ASKED.search(message):
        allowed, asked = [int(g) for g in m.groups() if g is not None]
        return asked, allowed
    return None


_ANTHROPIC_STATUS: dict[Meaning, int] = {
    "context_overflow": 400,
    "rate_limit": 429,
    "quota_exhausted": 429,
    "overloaded": 529,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "too_large": 413,
}


def words_for_anthropic(
    meaning: Meaning, status: int, message: str, asked_output: int | None = None
) -> Words:
    """Anthropic's status and wording; context overflow as "prompt is too long: N tokens > M maximum".
    ``asked_output``: the refused request's output tokens asked for (max_tokens), None when unknown: a
    count the message states for prompt and output together is restated as the prompt's (``_numbers``)."""
    if meaning == "context_overflow":
        numbers = _numbers(message, asked_output)
        if numbers is not None:
            message = f"prompt is too long: {numbers[0]} tokens > {numbers[1]} maximum"
        elif "prompt is too long" not in message:
            message = f"prompt is too long: {message}"
    return _ANTHROPIC_STATUS.get(meaning, status), message, None


_OPENAI_WORDS: dict[Meaning, tuple[int, str | None]] = {
    "context_overflow": (400, "context_length_exceeded"),
    "rate_limit": (429, "rate_limit_exceeded"),
    "quota_exhausted": (429, "insufficient_quota"),
    "overloaded": (503, None),
    "authentication": (401, "invalid_api_key"),
    "permission": (403, None),
    "not_found": (404, "model_not_found"),
    "too_large": (413, None),
}


# OpenAI's documented ``error.code`` for a status when the meaning names none: OpenAI's error-codes guide (S9:
# 401 "Incorrect API key provided" is ``invalid_api_key``, 429 "Rate limit reached" ``rate_limit_exceeded``, 500
# "The server had an error" ``server_error``) and the openai SDK's ``ResponseError.code`` (``server_error``,
# ``rate_limit_exceeded``); conformance §1.8. Other statuses (400, 403, 404, 408, 413) carry no code, as OpenAI's own
# generic answers of those statuses do (``"code": null``); a gateway error that has one of its own says it.
_OPENAI_STATUS_CODES: dict[int, str] = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def openai_code(status: int, meaning: Meaning | None = None) -> str | None:
    """OpenAI's ``error.code`` for an error of ``status`` and ``meaning`` (the one table every OpenAI-shape error
    the gateway makes reads: HTTP bodies, chat's in-stream ``{"error": …}``): the meaning's own code
    (``context_length_exceeded``, ``insufficient_quota``, ``model_not_found``, …), else the status's
    (``_OPENAI_STATUS_CODES``), else ``server_error`` for 5xx, else None."""
    named = _OPENAI_WORDS[meaning][1] if meaning is not None and meaning in _OPENAI_WORDS else None
    return named or _OPENAI_STATUS_CODES.get(status) or ("server_error" if status >= 500 else None)


def words_for_openai(meaning: Meaning, status: int, message: str, asked_output: int | None = None) -> Words:
    """OpenAI's status, code (``openai_code``) and (for context overflow) wording; ``asked_output`` as
    ``words_for_anthropic``."""
    if meaning == "context_overflow":
        numbers = _numbers(message, asked_output)
        if numbers is not None and "maximum context length" not in message:
            message = (
                f"This model's maximum context length is {numbers[1]} tokens. However, your messages "
                f"resulted in {numbers[0]} tokens. ({message})"
            )
    new_status = _OPENAI_WORDS[meaning][0] if meaning in _OPENAI_WORDS else status
    return new_status, message, openai_code(new_status, meaning)


def stream_error_meaning(status: int, message: str) -> Meaning:
    """What an error told inside a stream means, from its status and message (no error body came)."""
    return meaning_from_openai(status, told_in_stream(message))


def overflow_told_whole(message: str, body: bytes) -> str | None:
    """The words of a whole answer's error that says a context overflow though its status says none (a 200's
    ``{"error": …}``, a failed Response's ``error``: ``body``, its JSON; ``message``, its wire reader's words), else
    None. An overflow by its words (``stream_error_meaning``) or its code (``_OVERFLOW_CODES``, as an HTTP error's:
    ``meaning_from_openai``); the words are ``message`` with OpenAI's overflow code joined (``_OPENAI_WORDS``) when
    they do not say it, since the client's error is worded from them (Codex compacts on ``context_length_exceeded``;
    ``Proxy._error_told_inside``, s29 fix29). s31 fix31: moved here from the proxy, where the code was hard-coded and
    only ``context_length_exceeded`` was read (a failed Response's ``model_context_window_exceeded`` was a 502)."""
    code = _OPENAI_WORDS["context_overflow"][1] or ""
    if (
        stream_error_meaning(500, message) != "context_overflow"
        and _error_of(body).get("code") not in _OVERFLOW_CODES
    ):
        return None
    return message if code in message else f"{message} ({code})"


def stream_words_for_anthropic(
    status: int, etype: str, message: str, asked_output: int | None = None
) -> tuple[str, str]:
    """(type, message) of the Anthropic ``error`` event telling a translated stream's error: a context
    overflow as ``invalid_request_error`` "prompt is too long: …" (Claude Code compacts on that wording);
    anything else as it came. ``asked_output`` as ``words_for_anthropic``'s (``StreamError.asked_output``)."""
    meaning = stream_error_meaning(status, message)
    if meaning != "context_overflow":
        return etype, message
    return "invalid_request_error", words_for_anthropic(meaning, status, message, asked_output)[1]


def stream_words_for_openai(
    status: int, etype: str, message: str, asked_output: int | None = None
) -> tuple[str, str, str | None]:
    """(type, message, code) of the OpenAI in-stream error (a chat ``{"error": …}`` chunk, a Responses
    ``response.failed``): a context overflow with ``code: context_length_exceeded`` and OpenAI's wording;
    anything else with its type and message as they came and OpenAI's code for its meaning and status
    (``openai_code``: a 429 is ``rate_limit_exceeded``, as OpenAI's own). ``asked_output`` as
    ``words_for_openai``'s."""
    meaning = stream_error_meaning(status, message)
    if meaning != "context_overflow":
        return etype, message, openai_code(status, meaning)
    _, words, code = words_for_openai(meaning, status, message, asked_output)
    return "invalid_request_error", words, code
