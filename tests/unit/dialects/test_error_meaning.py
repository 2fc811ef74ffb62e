"""Errors keep their meaning across formats (issue 9, kind 4; bugcase 10): every wire's error is read for
what it means and said again in every client format's words."""

from __future__ import annotations

import json

import orjson
import pytest

from services.gateway.dialects import _error_meaning as em
from services.gateway.dialects import registry
from services.gateway.dialects._error_meaning import Meaning, counts_told, stream_error_meaning, ungrouped
from services.gateway.dialects._openai_wire import stream_error_from_openai
from services.gateway.dialects.formats import CLIENT_FORMATS, ClientFormat, Wire
from services.gateway.errors import parse_upstream_error
from services.gateway.routing.ratelimit_reset import body_reset_seconds
from tests.e2e_builders import LLAMACPP_OVERFLOW

OPENAI_OVERFLOW = {
    "error": {
        "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "131072 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
ANTHROPIC_OVERFLOW = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 131072 tokens > 128000 maximum",
    },
}


def openai_error(status: int, code: str | None, message: str = "m") -> bytes:
    return json.dumps({"error": {"message": message, "type": "x", "param": None, "code": code}}).encode()


def anthropic_error(etype: str, message: str = "m") -> bytes:
    return json.dumps({"type": "error", "error": {"type": etype, "message": message}}).encode()


# (wire, status, body) → meaning
UPSTREAM: list[tuple[Wire, int, bytes, Meaning]] = [
    ("openai_chat", 400, json.dumps(OPENAI_OVERFLOW).encode(), "context_overflow"),
    ("openai_responses", 400, json.dumps(OPENAI_OVERFLOW).encode(), "context_overflow"),
    ("anthropic", 400, json.dumps(ANTHROPIC_OVERFLOW).encode(), "context_overflow"),
    (
        "anthropic",
        400,
        anthropic_error(
            "invalid_request_error", "input length and `max_tokens` exceed context limit: 1 + 2 > 3"
        ),
        "context_overflow",
    ),
    ("openai_chat", 429, openai_error(429, "rate_limit_exceeded"), "rate_limit"),
    ("openai_chat", 429, openai_error(429, "insufficient_quota"), "quota_exhausted"),
    ("anthropic", 402, anthropic_error("billing_error"), "quota_exhausted"),
    ("anthropic", 429, anthropic_error("rate_limit_error"), "rate_limit"),
    ("openai_chat", 503, openai_error(503, None), "overloaded"),
    ("anthropic", 529, anthropic_error("overloaded_error"), "overloaded"),
    ("openai_chat", 401, openai_error(401, "invalid_api_key"), "authentication"),
    ("anthropic", 401, anthropic_error("authentication_error"), "authentication"),
    ("openai_responses", 403, openai_error(403, None), "permission"),
    ("anthropic", 403, anthropic_error("permission_error"), "permission"),
    ("openai_chat", 404, openai_error(404, "model_not_found"), "not_found"),
    ("anthropic", 404, anthropic_error("not_found_error"), "not_found"),
    ("openai_chat", 413, openai_error(413, None), "too_large"),
    ("anthropic", 413, anthropic_error("request_too_large"), "too_large"),
    ("openai_chat", 400, openai_error(400, None, "bad tool schema"), "invalid_request"),
    ("anthropic", 500, anthropic_error("api_error"), "server"),
]


@pytest.mark.parametrize(("wire", "status", "body", "meaning"), UPSTREAM)
def test_every_wire_reads_the_meaning(wire: Wire, status: int, body: bytes, meaning: Meaning) -> None:
    assert registry.WIRES[wire].error_meaning(status, body) == meaning


# meaning → (Anthropic status, Anthropic type); (OpenAI status, OpenAI code)
EXPECTED: dict[Meaning, tuple[tuple[int, str], tuple[int, str | None]]] = {
    "context_overflow": ((400, "invalid_request_error"), (400, "context_length_exceeded")),
    "rate_limit": ((429, "rate_limit_error"), (429, "rate_limit_exceeded")),
    "quota_exhausted": ((429, "rate_limit_error"), (429, "insufficient_quota")),
    "overloaded": ((529, "overloaded_error"), (503, "server_error")),
    "authentication": ((401, "authentication_error"), (401, "invalid_api_key")),
    "permission": ((403, "permission_error"), (403, None)),
    "not_found": ((404, "not_found_error"), (404, "model_not_found")),
    "too_large": ((413, "request_too_large"), (413, None)),
}


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
@pytest.mark.parametrize("meaning", list(EXPECTED))
def test_every_client_format_says_it_in_its_words(fmt: ClientFormat, meaning: Meaning) -> None:
    client = registry.client(fmt)
    status, message, code = client.error_words(meaning, 418, "upstream said so")
    status = client.client_status(status)
    body = client.error_body(status, message, code, None, "rid")
    if fmt == "anthropic":
        assert (status, body["error"]["type"]) == EXPECTED[meaning][0]
    else:
        assert (status, body["error"]["code"]) == EXPECTED[meaning][1]


def test_case10_openai_overflow_reaches_claude_code_as_prompt_is_too_long() -> None:
    meaning = registry.WIRES["openai_chat"].error_meaning(400, json.dumps(OPENAI_OVERFLOW).encode())
    status, message, _ = registry.client("anthropic").error_words(
        meaning, 400, OPENAI_OVERFLOW["error"]["message"]
    )
    assert (status, message) == (400, "prompt is too long: 131072 tokens > 128000 maximum")


def test_anthropic_overflow_reaches_openai_clients_with_their_code_and_numbers() -> None:
    message = ANTHROPIC_OVERFLOW["error"]["message"]
    for fmt in ("openai_chat", "openai_responses"):
        status, words, code = registry.client(fmt).error_words("context_overflow", 400, message)  # type: ignore[arg-type]
        assert (status, code) == (400, "context_length_exceeded")
        assert "maximum context length is 128000 tokens" in words and "131072" in words


# Other providers' words for the same overflow (bugcase 10's kind): each must reach Claude Code as
# "prompt is too long", with the numbers when the provider states them.
XAI_OVERFLOW = {
    "code": "Client specified an invalid argument",
    "error": "This model's maximum prompt length is 131072 but the request contains 145213 tokens.",
}
# vLLM's OpenAI-compatible server (s8 variant 10-l): the error object is the body itself, no "error" wrapper.
VLLM_BARE = {
    "object": "error",
    "message": "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens "
    "(8000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
GEMINI_RAW = {
    "error": {
        "code": 400,
        "message": "The input token count (1200345) exceeds the maximum number of tokens allowed (1048576).",
        "status": "INVALID_ARGUMENT",
    }
}
OPENROUTER_WRAPPED = {
    "error": {
        "message": "Provider returned error",
        "code": 400,
        "metadata": {"raw": json.dumps(GEMINI_RAW, indent=2), "provider_name": "Google AI Studio"},
    }
}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (XAI_OVERFLOW, "prompt is too long: 145213 tokens > 131072 maximum"),
        # the counts in fields of the error object (s21 variant 10-a)
        (LLAMACPP_OVERFLOW, "prompt is too long: 40000 tokens > 32768 maximum"),
        (GEMINI_RAW, "prompt is too long: 1200345 tokens > 1048576 maximum"),
        (OPENROUTER_WRAPPED, "prompt is too long: 1200345 tokens > 1048576 maximum"),
        (VLLM_BARE, "prompt is too long: 9000 tokens > 8192 maximum"),
    ],
    ids=["xai", "llama.cpp", "gemini", "openrouter-wrapped-gemini", "vllm-bare"],
)
def test_other_providers_overflow_reaches_claude_code(body: dict[str, object], words: str) -> None:
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    status, said, _ = registry.client("anthropic").error_words(meaning, 400, message)
    assert status == 400 and said.startswith(words)


# s10 variants 10-a/b/c: more OpenAI-compatible servers' words for an overflow, and Gemini's array body.
TGI_OVERFLOW = {
    "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. "
    "Given: 9000 `inputs` tokens and 1024 `max_new_tokens`",
    "error_type": "validation",
}
LMSTUDIO_OVERFLOW = {
    "error": "Trying to keep the first 9000 tokens when context the overflows. However, the model is loaded "
    "with context length of 8192 tokens, which is not enough. Try to load the model with a larger context "
    "length, or provide a shorter input"
}


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (422, TGI_OVERFLOW, "prompt is too long: 9000 tokens > 8192 maximum"),
        (400, LMSTUDIO_OVERFLOW, "prompt is too long: 9000 tokens > 8192 maximum"),
        (400, [GEMINI_RAW], "prompt is too long: 1200345 tokens > 1048576 maximum"),
        (
            400,
            {
                "object": "error",
                "message": "The input (9000 tokens) is longer than the model's context length (8192 tokens).",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        (
            400,
            {
                "error": {
                    "message": "Input length 131393 exceeds the maximum allowed input length of 131040 tokens."
                }
            },
            "prompt is too long: 131393 tokens > 131040 maximum",
        ),
        (
            400,
            {"error": {"message": "Input length (265330) exceeds model's maximum context length (262144)."}},
            "prompt is too long: 265330 tokens > 262144 maximum",
        ),
        (
            400,
            {
                "error": {
                    "message": "prompt token count of 200000 exceeds the limit of 128000",
                    "code": "model_max_prompt_tokens_exceeded",
                }
            },
            "prompt is too long: 200000 tokens > 128000 maximum",
        ),
        (
            400,
            {
                "error": {
                    "message": "Your request exceeded model token limit: 256000 (requested: 300000)",
                    "type": "invalid_request_error",
                }
            },
            "prompt is too long: 300000 tokens > 256000 maximum",
        ),
        (
            400,
            {
                "error": {
                    "message": "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted "
                    "in 509178 tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error",
                }
            },
            "prompt is too long: 509178 tokens > 272000 maximum",
        ),
        (
            400,
            {"error": {"message": "prompt too long; exceeded max context length by 100918 tokens"}},
            "prompt is too long: prompt too long; exceeded max context length",
        ),
        (
            400,
            {
                "error": "The number of tokens to keep from the initial prompt is greater than the context length. "
                "Try to load the model with a larger context length, or provide a shorter input"
            },
            "prompt is too long: The number of tokens to keep",
        ),
        # s12 variant 10-a: vLLM's input processor (xorbitsai/inference#3785)
        (
            400,
            {
                "object": "error",
                "message": "The decoder prompt (length 40000) is longer than the maximum model length of 32768. "
                "Make sure that `max_model_len` is no smaller than the number of text tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            "prompt is too long: 40000 tokens > 32768 maximum",
        ),
        # s12 variant 10-b: vLLM V1 (EleutherAI/lm-evaluation-harness#2880)
        (
            400,
            {
                "object": "error",
                "message": "Prompt length of 40000 is longer than the maximum model length of 32768.",
                "type": "BadRequestError",
                "code": 400,
            },
            "prompt is too long: 40000 tokens > 32768 maximum",
        ),
        # s12 variants 10-c/10-d: Alibaba DashScope's compatible mode (QwenLM/qwen-code#98)
        (
            400,
            {
                "error": {
                    "code": "invalid_parameter_error",
                    "param": None,
                    "message": "<400> InternalError.Algo.InvalidParameter: Range of input length should be "
                    "[1, 204800]",
                    "type": "invalid_request_error",
                }
            },
            "prompt is too long: <400> InternalError.Algo.InvalidParameter: Range of input length",
        ),
        # s13 variants 10-a/10-e: Zhipu GLM's error 1261 (NousResearch/hermes-agent#1877)
        (
            400,
            {"error": {"code": "1261", "message": "Prompt exceeds max length"}},
            "prompt is too long: Prompt exceeds",
        ),
        # s13 variants 10-b/10-f: SambaNova (cline/cline#294), the prompt alone past the window
        (
            400,
            {
                "error": {
                    "message": "Requested generation length 1 is not possible! The provided prompt is 4309 tokens "
                    "long, so generating 1 tokens requires a sequence length of 4310, but the maximum supported "
                    "sequence length is just 4096!",
                    "type": "invalid_request_error",
                }
            },
            "prompt is too long: 4309 tokens > 4096 maximum",
        ),
        # s13 variant 10-c: vLLM's VLLMValidationError (current releases)
        (
            400,
            {
                "error": {
                    "message": "You passed 40001 input tokens and requested 32000 output tokens. However, the "
                    "model's context length is only 32768 tokens, resulting in a maximum input length of 768 "
                    "tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=40001)",
                    "type": "BadRequestError",
                    "param": "input_tokens",
                    "code": 400,
                }
            },
            "prompt is too long: 40001 tokens > 32768 maximum",
        ),
        # s13 variants 10-g/10-h: llama.cpp's current words, with its numbers
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "request (40000 tokens) exceeds the available context size (32768 tokens), try "
                    "increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 40000,
                    "n_ctx": 32768,
                }
            },
            "prompt is too long: 40000 tokens > 32768 maximum",
        ),
    ],
    ids=[
        "tgi-422",
        "lm-studio",
        "gemini-openai-compat-array",
        "vllm-sglang-together",
        "poolside",
        "parenthesized-maximum",
        "github-copilot",
        "kimi",
        "openai-configured-limit",
        "ollama",
        "lm-studio-keep",
        "vllm-decoder-prompt",
        "vllm-v1-prompt-length",
        "dashscope",
        "zhipu-1261",
        "sambanova",
        "vllm-you-passed",
        "llama-cpp-numbers",
    ],
)
def test_more_servers_overflow_reaches_claude_code(status: int, body: object, words: str) -> None:
    overflow_as_the_clients_say_it(status, body, words)


def overflow_as_the_clients_say_it(status: int, body: object, words: str) -> int:
    """An OpenAI-compatible server's error ``body`` (JSON) with ``status`` is read as a context overflow;
    an Anthropic client gets a 400 whose message starts with ``words``, a Chat Completions client the code
    ``context_length_exceeded``. Returns the Chat Completions client's status."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert said_status == 400 and said.startswith(words)
    chat_status, _, code = registry.client("openai_chat").error_words(meaning, status, message)
    assert code == "context_length_exceeded"
    return chat_status


def test_an_error_inside_a_json_array_gives_its_own_message() -> None:
    """Gemini's OpenAI-compatible endpoint wraps its error body in an array: its message, not the repr."""
    body = [
        {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}
    ]
    assert parse_upstream_error(json.dumps(body).encode()) == ("Resource has been exhausted", None)
    assert parse_upstream_error(b"[1, 2]") == ("[1, 2]", None)


def test_openrouter_names_the_serving_providers_message() -> None:
    message, _ = parse_upstream_error(json.dumps(OPENROUTER_WRAPPED).encode())
    assert message == GEMINI_RAW["error"]["message"]  # type: ignore[index]
    plain = {
        "error": {
            "message": "Provider returned error",
            "code": 502,
            "metadata": {"raw": "upstream timed out"},
        }
    }
    assert parse_upstream_error(json.dumps(plain).encode())[0] == "upstream timed out"


@pytest.mark.parametrize(
    ("error", "status", "meaning"),
    [
        # xAI / OpenAI-compatible servers: string code, OpenAI's wording (s7 variant 10-i)
        (OPENAI_OVERFLOW["error"], 400, "context_overflow"),
        # the code alone says it
        (
            {"message": "Bad request", "type": "invalid_request_error", "code": "context_length_exceeded"},
            400,
            "context_overflow",
        ),
        ({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}, 429, "rate_limit"),
        ({"message": "Overloaded", "type": "overloaded_error"}, 529, "overloaded"),
        # OpenRouter's numeric code still wins; no code at all is a server error
        ({"message": "Provider returned error", "code": 502}, 502, "server"),
        ({"message": "boom"}, 500, "server"),
    ],
)
def test_an_in_band_error_keeps_its_status_and_meaning(
    error: dict[str, object], status: int, meaning: Meaning
) -> None:
    """An error chunk inside a 200 stream (before the first token the gateway answers it as an HTTP error)
    has the status its string code or type names, so a context overflow told in the stream reaches Claude
    Code as "prompt is too long" and OpenAI clients with code context_length_exceeded, not as a 500."""
    from services.gateway.dialects._openai_wire import stream_error_from_openai

    err = stream_error_from_openai(error)
    assert err.status == status
    assert registry.upstream_error_meaning("openai_chat", err.status, None, err.message) == meaning
    if meaning == "context_overflow":
        anth = registry.client("anthropic").error_words(meaning, err.status, err.message)
        assert anth[0] == 400 and "prompt is too long" in anth[1]
        chat = registry.client("openai_chat").error_words(meaning, err.status, err.message)
        assert chat[0] == 400 and chat[2] == "context_length_exceeded"


LMSTUDIO_DOES_NOT_FIT = (
    "Input does not fit in context length. The input has 31430 tokens, but the context length only supports 30000 "
    "tokens."
)
KRONK_FULL = (
    "chat-streaming-http: stream-response: start-slot: imc decode: imc: failed to decode extension tokens at pos "
    "16384: unable to process request: the context window is full. Please reduce the input size or increase the "
    "context window"
)


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        # LM Studio 0.4 (lmstudio-bug-tracker#2322), its error a bare string here
        (400, {"error": LMSTUDIO_DOES_NOT_FIT}, "prompt is too long: 31430 tokens > 30000 maximum"),
        # LM Studio's MLX engine (lmstudio-bug-tracker#2339)
        (400, {"error": {"message": "Context size has been exceeded."}}, "prompt is too long: Context size"),
        # a llama.cpp-based server's 500 server_error (ardanlabs/kronk#861): the words, not the status, say it
        (
            500,
            {"error": {"message": KRONK_FULL, "type": "server_error", "code": "internal"}},
            "prompt is too long: ",
        ),
        (
            502,
            {"error": {"message": LMSTUDIO_DOES_NOT_FIT}},
            "prompt is too long: 31430 tokens > 30000 maximum",
        ),
        # Ollama's OpenAI-compatible endpoint: type api_error whatever the status, 500 when its handler set none
        # (s23 variants 10-a..10-c)
        (
            500,
            {
                "error": {
                    "message": "prompt too long; exceeded max context length by 65590 tokens",
                    "type": "api_error",
                }
            },
            "prompt is too long: prompt too long; exceeded max context length by 65590 tokens",
        ),
    ],
    ids=["lm-studio-0.4", "lm-studio-mlx", "kronk-500", "lm-studio-502", "ollama-500"],
)
def test_s14_overflow_wordings_and_5xx_overflows_reach_both_formats(
    status: int, body: object, words: str
) -> None:
    """s14 variants 10-a..10-d, 10-f: these fail before the fix (LM Studio's and MLX's words were unknown, and a
    5xx was read as a server fault whatever it said, so Claude Code retried instead of compacting)."""
    assert overflow_as_the_clients_say_it(status, body, words) == 400


def test_an_in_band_overflow_without_a_code_is_still_an_overflow() -> None:
    """s14 variants 10-a/10-f: LM Studio sends the overflow in-band (``event: error`` after a 200) with no code,
    read as status 500: Claude Code must still get "prompt is too long", Codex code context_length_exceeded."""
    from services.gateway.dialects._openai_wire import stream_error_from_openai

    err = stream_error_from_openai({"message": LMSTUDIO_DOES_NOT_FIT})
    assert err.status == 500
    assert registry.upstream_error_meaning("openai_chat", err.status, None, err.message) == "context_overflow"


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: out of memory while allocating the context window",
        "too many tokens in flight, try again",
        "Internal server error",
    ],
)
def test_a_5xx_that_only_mentions_a_context_is_still_a_server_fault(message: str) -> None:
    """The 5xx reading is narrower than the 4xx one: words that do not say the input does not fit stay a server
    fault (retried, failed over), not a reason to compact."""
    raw = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
    assert registry.WIRES["openai_chat"].error_meaning(500, raw) == "server"


XAI_CREDITS = {
    "code": "Some resource has been exhausted",
    "error": "Your team 16f2151a-40f4-4a80-8ad0-cae00c27e8dd has either used all available credits or reached "
    "its monthly spending limit. To continue making API requests, please purchase more credits or raise your "
    "spending limit.",
}


def test_a_429_that_says_the_credits_are_gone_is_not_retried() -> None:
    """s14 variants 11-a/11-b: xAI's 429 for used-up credits or spending limit (continuedev/continue#10373) has no
    insufficient_quota code; before the fix it read as a rate limit and both SDKs retried it. Gemini's per-minute
    "You exceeded your current quota" 429 stays a rate limit (its RetryInfo says when to retry)."""
    wire = registry.WIRES["openai_chat"]
    meaning = wire.error_meaning(429, json.dumps(XAI_CREDITS).encode())
    assert meaning == "quota_exhausted"
    assert registry.retry_advice(meaning) == {"x-should-retry": "false"}
    gemini = [
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "status": "RESOURCE_EXHAUSTED",
            }
        }
    ]
    assert wire.error_meaning(429, json.dumps(gemini).encode()) == "rate_limit"
    openrouter = {
        "error": {
            "message": "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
            "code": 402,
        }
    }
    assert (
        wire.error_meaning(402, json.dumps(openrouter).encode()) != "quota_exhausted"
    )  # 402 keeps billing_error


def test_only_an_exhausted_quota_tells_clients_not_to_retry() -> None:
    """A 429 that retrying cannot cure (insufficient_quota, billing_error) carries x-should-retry: false,
    which both SDKs obey before looking at the status; an ordinary rate limit is left to the SDK."""
    assert registry.retry_advice("quota_exhausted") == {"x-should-retry": "false"}
    assert registry.retry_advice("rate_limit") == {} and registry.retry_advice("overloaded") == {}


@pytest.mark.parametrize(
    ("wire", "meaning", "body", "kept"),
    [
        ("openai_chat", "context_overflow", json.dumps(OPENAI_OVERFLOW).encode(), True),
        ("openai_responses", "context_overflow", json.dumps(OPENAI_OVERFLOW).encode(), True),
        ("anthropic", "context_overflow", json.dumps(ANTHROPIC_OVERFLOW).encode(), True),
        # OpenRouter's numeric code and xAI's own shape do not say it as clients look for it
        (
            "openai_chat",
            "context_overflow",
            b'{"error": {"code": 400, "message": "maximum context length is 8 tokens"}}',
            False,
        ),
        (
            "openai_chat",
            "context_overflow",
            b'{"code": "Client specified an invalid argument", "error": "maximum prompt length"}',
            False,
        ),
        ("openai_chat", "rate_limit", b'{"error": {"code": 429, "message": "slow down"}}', True),
        ("openai_chat", "context_overflow", json.dumps(VLLM_BARE).encode(), False),
        # s10 variant 10-k: Fireworks says "prompt is too long" without OpenAI's code: OpenAI clients miss it
        (
            "openai_chat",
            "context_overflow",
            b'{"error": {"object": "error", "type": "invalid_request_error", "message": "The prompt is too '
            b'long: 140000, model maximum context length: 131072"}}',
            False,
        ),
        # Anthropic's other overflow wording is Claude Code's own (it lowers max_tokens on it): kept
        (
            "anthropic",
            "context_overflow",
            b'{"type": "error", "error": {"type": "invalid_request_error", "message": "input length and '
            b'`max_tokens` exceed context limit: 188000 + 21333 > 200000"}}',
            True,
        ),
        ("anthropic", "context_overflow", json.dumps(OPENAI_OVERFLOW).encode(), False),
    ],
)
def test_same_format_bodies_are_kept_unless_they_hide_an_overflow(
    wire: Wire, meaning: Meaning, body: bytes, kept: bool
) -> None:
    assert registry.said_in_client_words(wire, meaning, body) is kept


def test_a_bare_error_body_gives_its_own_message_and_type() -> None:
    """s8 variant 10-m: vLLM's bare error shape, any meaning: its message, not the body's repr."""
    message = '"auto" tool choice requires --enable-auto-tool-choice'
    bare = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
    assert parse_upstream_error(json.dumps(bare).encode()) == (message, "BadRequestError")
    assert registry.WIRES["openai_chat"].error_meaning(400, json.dumps(bare).encode()) == "invalid_request"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (  # FastAPI/pydantic 2 (llama-cpp-python, LocalAI and other OpenAI-compatible servers): 422
            {
                "detail": [
                    {
                        "type": "less_than_equal",
                        "loc": ["body", "max_tokens"],
                        "msg": "Input should be less than or equal to 4096",
                        "input": 32000,
                        "ctx": {"le": 4096},
                    }
                ]
            },
            "max_tokens: Input should be less than or equal to 4096",
        ),
        (  # Mistral nests the same list in its error object
            {
                "object": "error",
                "message": {
                    "detail": [
                        {"loc": ["body", "max_tokens"], "msg": "Input should be less than or equal to 8192"},
                        {"loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"},
                    ]
                },
                "type": "invalid_request_error",
            },
            "max_tokens: Input should be less than or equal to 8192; stream_options: Extra inputs are not permitted",
        ),
        ({"detail": "Not Found"}, "Not Found"),
        (  # Gemini's OpenAI-compatible endpoint wraps its error body in a one-element list
            [{"error": {"code": 400, "message": "Bad max_tokens", "status": "INVALID_ARGUMENT"}}],
            "Bad max_tokens",
        ),
        (  # Cloudflare's API envelope (Workers AI relays the engine's refusal in its message; s12 variant 17-e)
            {
                "errors": [{"message": "AiError: AiError: max_tokens too large (82a04848)", "code": 8007}],
                "success": False,
                "result": {},
                "messages": [],
            },
            "AiError: AiError: max_tokens too large (82a04848)",
        ),
        (  # a one-api family relay: generic message, the provider's words in param (s12 variant 17-h)
            {
                "error": {
                    "message": "Param Incorrect",
                    "type": "upstream_error",
                    "param": "max_tokens is too large: 32000. This model supports at most 16384 completion tokens",
                    "code": "400",
                }
            },
            "max_tokens is too large: 32000. This model supports at most 16384 completion tokens",
        ),
    ],
    ids=["fastapi", "mistral", "fastapi-text", "gemini-list", "cloudflare-errors", "relay-words-in-param"],
)
def test_validation_errors_and_listed_bodies_give_their_words(body: object, message: str) -> None:
    """s10 variants 17-e, 17-h, 17-i: the words of these shapes, not the body's Python repr (which hid
    the limit a refusal states from ``limit_from_refusal``)."""
    assert parse_upstream_error(json.dumps(body).encode())[0] == message


def test_an_overflow_whose_numbers_are_too_long_to_read_keeps_its_words() -> None:
    """Review of s12 (10-a): a number past Python's int-conversion limit (4300 digits) in an overflow's
    wording is no count to restate: the client gets the provider's own words, not a 500 (ValueError)."""
    huge = "9" * 5000
    message = f"The decoder prompt (length {huge}) is longer than the maximum model length of 32768."
    raw = json.dumps({"object": "error", "message": message, "type": "BadRequestError", "code": 400}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    said_status, said, _ = registry.client("anthropic").error_words(meaning, 400, message)
    assert said_status == 400 and said == f"prompt is too long: {message}"
    _, said, code = registry.client("openai_chat").error_words(meaning, 400, message)
    assert code == "context_length_exceeded" and said == message


@pytest.mark.parametrize(
    "message",
    [
        # SambaNova (cline/cline#294): the prompt fits; the output asked for does not
        "Requested generation length 32000 is not possible! The provided prompt is 769 tokens long, so generating "
        "32000 tokens requires a sequence length of 32769, but the maximum supported sequence length is just 16384!",
        # vLLM's VLLMValidationError, the prompt within the window
        "You passed 3073 input tokens and requested 32000 output tokens. However, the model's context length is "
        "only 32768 tokens, resulting in a maximum input length of 768 tokens.",
    ],
    ids=["sambanova", "vllm-you-passed"],
)
def test_a_prompt_within_the_window_is_not_restated_as_past_it(message: str) -> None:
    """Review of bug10b (16a5167): SambaNova's and vLLM's wordings state the prompt and the window whether or
    not the prompt alone is past it; when it is not (the output asked for is what does not fit, and the
    gateway's retry within the window could not help), "prompt is too long: 769 tokens > 16384 maximum" is
    false on its face (Claude Code reads the gap between the two to size its compaction): the client gets
    the provider's own words, which say both counts, as "prompt is too long: …", and OpenAI clients the
    message as it came."""
    raw = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    said_status, said, _ = registry.client("anthropic").error_words(meaning, 400, message)
    assert said_status == 400 and said == f"prompt is too long: {message}"
    _, said, code = registry.client("openai_chat").error_words(meaning, 400, message)
    assert code == "context_length_exceeded" and said == message


def test_an_overflow_tells_clients_not_to_retry() -> None:
    """Review of s14 variant 10-c: a 5xx that says the context is full is a 400 overflow to the client; the
    upstream's ``x-should-retry: true`` (sent with its 500) must be overridden, or both SDKs resend the same
    prompt (``_base_client._should_retry`` reads the header before the status)."""
    meaning = registry.WIRES["openai_chat"].error_meaning(
        500, b'{"error": {"code": 500, "message": "the context window is full", "type": "server_error"}}'
    )
    assert meaning == "context_overflow"
    assert registry.retry_advice(meaning) == {"x-should-retry": "false"}


SILICONFLOW_MAX_SEQ = "length of prompt_tokens (57535) must be less than max_seq_len (32768)."


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # SiliconFlow's own shape: a top-level message and a numeric code (langgenius/dify#19394)
        (400, {"code": 20015, "message": SILICONFLOW_MAX_SEQ, "data": None}),
        (400, {"error": {"code": 20015, "message": SILICONFLOW_MAX_SEQ}}),
        # relayed by a server that says every upstream refusal as a 5xx
        (500, {"error": {"message": SILICONFLOW_MAX_SEQ, "type": "server_error"}}),
    ],
    ids=["siliconflow-400", "siliconflow-error-object", "siliconflow-500"],
)
def test_s15_siliconflow_max_seq_len_is_an_overflow_in_both_formats(status: int, body: object) -> None:
    """s15 variants 10-a, 10-b: SiliconFlow's "length of prompt_tokens (N) must be less than max_seq_len (M)" was
    passed on as a plain 400 (Claude Code did not compact, Codex saw no context_length_exceeded)."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert said_status == 400 and said.startswith("prompt is too long: 57535 tokens > 32768 maximum")
    for fmt in ("openai_chat", "openai_responses"):
        chat_status, _, code = registry.client(fmt).error_words(meaning, status, message)
        assert chat_status == 400 and code == "context_length_exceeded"


SILICONFLOW_AT_MAX = "length of prompt_tokens (32768) must be less than max_seq_len (32768)."


def test_equal_counts_are_not_restated_as_more_than_the_maximum() -> None:
    """SiliconFlow refuses a prompt of exactly max_seq_len tokens ("must be less than"): an overflow, but
    "32768 tokens > 32768 maximum" (or OpenAI's "maximum ... 32768 ... resulted in 32768") would be false;
    the provider's own words are passed on instead."""
    raw = json.dumps({"code": 20015, "message": SILICONFLOW_AT_MAX, "data": None}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    _, said, _ = registry.client("anthropic").error_words(meaning, 400, message)
    assert said == f"prompt is too long: {SILICONFLOW_AT_MAX}"
    for fmt in ("openai_chat", "openai_responses"):
        _, said, code = registry.client(fmt).error_words(meaning, 400, message)
        assert said == SILICONFLOW_AT_MAX and code == "context_length_exceeded"


def test_s15_siliconflow_in_band_refusal_is_an_overflow() -> None:
    """s15 variant 10-f: the same words told in-band after a 200 (read as 500: no HTTP status) stay an overflow."""
    from services.gateway.dialects._openai_wire import stream_error_from_openai

    err = stream_error_from_openai({"code": 20015, "message": SILICONFLOW_MAX_SEQ})
    assert registry.upstream_error_meaning("openai_chat", err.status, None, err.message) == "context_overflow"


TGI_INPUTS = "Input validation error: `inputs` must have less than 8192 tokens. Given: 9120"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, {"error": TGI_INPUTS, "error_type": "validation"}),  # TGI's own shape (a top-level string)
        (400, {"error": {"message": TGI_INPUTS, "type": "invalid_request_error"}}),  # relayed as OpenAI's
    ],
    ids=["tgi-422", "tgi-relayed-400"],
)
def test_s16_tgi_inputs_must_have_less_than_is_an_overflow_in_both_formats(status: int, body: object) -> None:
    """s16 variant 10-h: text-generation-inference refuses a prompt longer than its window (router validation,
    ``InputLength``) with "`inputs` must have less than N tokens. Given: M"; it went back as a plain 422 (Codex saw
    no context_length_exceeded, Claude Code no "prompt is too long")."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert said_status == 400 and said.startswith("prompt is too long: 9120 tokens > 8192 maximum")
    for fmt in ("openai_chat", "openai_responses"):
        chat_status, _, code = registry.client(fmt).error_words(meaning, status, message)
        assert chat_status == 400 and code == "context_length_exceeded"


NOVA_INPUT_EXCEEDED = (
    "The model returned the following errors: Input Tokens Exceeded: Number of input tokens exceeds maximum length. "
    "Please update the input to try again."
)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            400,
            {
                "error": {
                    "message": "litellm.BadRequestError: BedrockException - " + NOVA_INPUT_EXCEEDED,
                    "code": "400",
                }
            },
        ),
        # told in-band after a 200, without a code: read as a 500
        (500, {"error": {"message": NOVA_INPUT_EXCEEDED}}),
    ],
    ids=["relayed-400", "in-band"],
)
def test_s16_bedrock_nova_input_tokens_exceeded_is_an_overflow(status: int, body: object) -> None:
    """s16 variants 10-m, 10-n: Amazon Nova's "Input Tokens Exceeded: Number of input tokens exceeds maximum length"
    (Bedrock validationException, relayed by LiteLLM or in-band) went back as a plain 400 or a 500."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert said_status == 400 and said.startswith("prompt is too long")
    for fmt in ("openai_chat", "openai_responses"):
        assert registry.client(fmt).error_words(meaning, status, message)[2] == "context_length_exceeded"


TPM_TOO_LARGE = (
    "Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 250011. The "
    "input or output tokens must be reduced in order to run successfully."
)


def test_s16_a_429_for_a_request_over_the_limit_itself_is_too_large_and_not_retried() -> None:
    """s16 variants 11-h, 11-i: OpenAI's 429 "Request too large … Limit 30000, Requested 250011" cannot be lifted by
    waiting; it was said as a rate limit, so both SDKs (and the gateway itself) retried it. It means a request too
    large: 413 for an Anthropic client, x-should-retry: false for every client, not sent again to that provider.
    A request within the limit ("Limit 30000, Requested 900") stays a rate limit."""
    from services.gateway.errors import UpstreamError
    from services.gateway.serve import told_not_to_retry

    body = {
        "error": {"message": TPM_TOO_LARGE, "type": "tokens", "param": None, "code": "rate_limit_exceeded"}
    }
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(429, raw)
    assert meaning == "too_large"
    assert registry.retry_advice(meaning) == {"x-should-retry": "false"}
    assert registry.client("anthropic").error_words(meaning, 429, TPM_TOO_LARGE)[0] == 413
    assert told_not_to_retry(
        UpstreamError(429, "openai: " + TPM_TOO_LARGE, provider="openai", retryable=True)
    )
    fits = TPM_TOO_LARGE.replace("Requested 250011", "Requested 900")
    assert registry.WIRES["openai_chat"].error_meaning(429, raw.replace(b"250011", b"900")) == "rate_limit"
    assert not told_not_to_retry(UpstreamError(429, "openai: " + fits, provider="openai", retryable=True))


SGLANG_INPUT_LENGTH = (
    "Input length (140000 tokens) exceeds the maximum allowed length (131072 tokens). Use a shorter input or enable "
    "--allow-auto-truncate."
)


@pytest.mark.parametrize(
    ("status", "body", "asked", "allowed"),
    [
        # SGLang's 400 (its validate_input_length; vLLM-style error body)
        (
            400,
            {
                "object": "error",
                "message": SGLANG_INPUT_LENGTH,
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            140000,
            131072,
        ),
        # SGLang told it in-band after its 200 (the first event of the stream): read as a 500 without a code
        (
            500,
            {"error": {"message": SGLANG_INPUT_LENGTH, "object": "error", "type": "BAD_REQUEST"}},
            140000,
            131072,
        ),
        # TensorRT-LLM behind Triton's OpenAI-compatible front (tensorrtllm_backend#141)
        (400, {"detail": "Prompt length (40000) exceeds maximum sequence length (32768)"}, 40000, 32768),
        # TensorRT-LLM's other wording, answered as a 500 (tensorrtllm_backend#565)
        (
            500,
            {
                "error": {
                    "message": "Encountered an error when fetching new request: Prompt length (9000) exceeds "
                    "maximum input length (8192)",
                    "type": "InternalServerError",
                    "code": 500,
                }
            },
            9000,
            8192,
        ),
    ],
    ids=["sglang-400", "sglang-in-band", "trtllm-sequence-400", "trtllm-input-500"],
)
def test_s17_sglang_and_tensorrt_llm_prompt_length_is_an_overflow_in_both_formats(
    status: int, body: object, asked: int, allowed: int
) -> None:
    """s17 variants 10-a..10-e: SGLang's "Input length (N tokens) exceeds the maximum allowed length (M tokens)" and
    TensorRT-LLM's "Prompt length (N) exceeds maximum sequence length (M)" / "... maximum input length (M)" went back
    as a plain 400 or a 500 (Claude Code saw no "prompt is too long", Codex no context_length_exceeded)."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert (said_status, said) == (400, f"prompt is too long: {asked} tokens > {allowed} maximum")
    for fmt in ("openai_chat", "openai_responses"):
        chat_status, _, code = registry.client(fmt).error_words(meaning, status, message)
        assert chat_status == 400 and code == "context_length_exceeded"


@pytest.mark.parametrize(
    ("status", "body", "asked", "allowed"),
    [
        # vLLM's current input check (serving_engine, _validate_input / _create_tokens_prompt), NVIDIA's gateway too
        (
            400,
            {
                "object": "error",
                "message": "This model's maximum context length is 32768 tokens. However, your request has 40000 "
                "input tokens. Please reduce the length of the input messages.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            40000,
            32768,
        ),
        # a vLLM build with a prompt limit of its own
        (
            400,
            {
                "error": {
                    "message": "This model's maximum prompt length is 8192 tokens. However, your request has 9000 "
                    "prompt tokens. Please reduce the length of the prompt.",
                    "type": "BadRequestError",
                }
            },
            9000,
            8192,
        ),
        # Mistral's API (its error object bare, code "3051"), with and without the draft tokens
        (
            400,
            {
                "object": "error",
                "message": "Prompt contains 40001 tokens and 0 draft tokens, too large for model with 32768 maximum "
                "context length",
                "type": "invalid_request_message_error",
                "param": None,
                "code": "3051",
            },
            40001,
            32768,
        ),
        (
            400,
            {
                "error": {
                    "message": "Prompt contains 300000 tokens, too large for model with 131072 maximum context length"
                }
            },
            300000,
            131072,
        ),
        # llama-cpp-python's server (its Llama raises ValueError: a 500)
        (
            500,
            {
                "error": {
                    "message": "Requested tokens (9123) exceed context window of 8192",
                    "type": "internal_server_error",
                }
            },
            9123,
            8192,
        ),
    ],
    ids=["vllm-request-has", "vllm-prompt-length", "mistral-draft", "mistral", "llama-cpp-python-500"],
)
def test_s18_overflow_counts_are_restated_for_claude_code(
    status: int, body: object, asked: int, allowed: int
) -> None:
    """s18 variants 10-i/10-j/10-k: vLLM's "maximum context length is M tokens. However, your request has N input
    tokens", Mistral's "Prompt contains N tokens …, too large for model with M maximum context length" and
    llama-cpp-python's "Requested tokens (N) exceed context window of M" were overflows but reached Claude Code as
    "prompt is too long: <their words>", without the counts its compaction reads ("prompt is too long: N tokens > M
    maximum", Claude Code's parsePromptTooLongTokenCounts)."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert (said_status, said) == (400, f"prompt is too long: {asked} tokens > {allowed} maximum")
    chat_status, _, code = registry.client("openai_chat").error_words(meaning, status, message)
    assert chat_status == 400 and code == "context_length_exceeded"


@pytest.mark.parametrize(
    "message",
    [
        # vLLM's output-limit refusal: the prompt (5000) fits the window (8192); max_tokens does not
        "'max_tokens' or 'max_completion_tokens' is too large: 4096. This model's maximum context length is 8192 "
        "tokens and your request has 5000 input tokens (4096 > 8192 - 5000).",
    ],
)
def test_s18_a_prompt_within_the_window_stays_in_its_own_words(message: str) -> None:
    """The vLLM counts read for s18's restatement name a prompt within the window here: no "N tokens > M maximum"."""
    said_status, said, _ = registry.client("anthropic").error_words("context_overflow", 400, message)
    assert said == f"prompt is too long: {message}"


@pytest.mark.parametrize(
    ("status", "body", "asked", "allowed"),
    [
        # Ollama's own words (its daemon, and its OpenAI endpoint): already "prompt is too long", counts in its form
        (
            400,
            {"error": {"message": "The prompt is too long: 265392, model maximum context length: 262144"}},
            265392,
            262144,
        ),
        (
            400,
            {"error": "The prompt is too long: 208863, model maximum context length: 202752"},
            208863,
            202752,
        ),
        # the DS4 server (earendil-works/pi#6262), plain and with grouped digits
        (
            400,
            {
                "error": {
                    "message": "Prompt has 256468 tokens, but the configured context size is 256000 tokens"
                }
            },
            256468,
            256000,
        ),
        (
            400,
            {
                "error": {
                    "message": "Prompt has 5,958,968 tokens, but the configured context size is 256,000 tokens",
                    "type": "invalid_request_error",
                }
            },
            5958968,
            256000,
        ),
        (
            500,
            {
                "error": {
                    "message": "Prompt has 256468 tokens, but the configured context size is 256000 tokens"
                }
            },
            256468,
            256000,
        ),
    ],
    ids=["ollama", "ollama-bare", "ds4", "ds4-grouped-digits", "ds4-500"],
)
def test_s18_ollama_and_ds4_overflows_reach_claude_code_with_their_counts(
    status: int, body: object, asked: int, allowed: int
) -> None:
    """s18 variants 10-n..10-q: Ollama's "The prompt is too long: N, model maximum context length: M" reached Claude
    Code as it came (its "prompt is too long" found, the counts not in the form its compaction reads); DS4's "Prompt
    has N tokens, but the configured context size is M tokens" was no overflow at all (a plain 400: Claude Code did
    not compact, Codex got no context_length_exceeded), and its grouped digits ("5,958,968") are counts too."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert (said_status, said) == (400, f"prompt is too long: {asked} tokens > {allowed} maximum")
    for fmt in ("openai_chat", "openai_responses"):
        chat_status, _, code = registry.client(fmt).error_words(meaning, status, message)
        assert chat_status == 400 and code == "context_length_exceeded"


def test_s18_grouped_digits_within_the_window_are_not_restated() -> None:
    message = "Prompt has 1,000 tokens, but the configured context size is 256,000 tokens"
    said_status, said, _ = registry.client("anthropic").error_words("context_overflow", 400, message)
    assert said == f"prompt is too long: {message}"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": {"code": "model_context_window_exceeded", "message": "Request failed"}}),
        (400, {"error": {"code": "1261", "message": "model_context_window_exceeded"}}),
        (
            500,
            {"error": {"type": "model_context_window_exceeded", "message": "model_context_window_exceeded"}},
        ),
    ],
    ids=["code", "message", "500"],
)
def test_s18_model_context_window_exceeded_is_an_overflow(status: int, body: object) -> None:
    """s18 variant 10-r: Anthropic's name for a context window the request filled (its stop reason), which Z.ai answers
    with as an error code or text (anomalyco/opencode#18813), was a plain 400 / 500 for Claude Code and Codex."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert said_status == 400 and said.startswith("prompt is too long")
    _, _, code = registry.client("openai_responses").error_words(meaning, status, message)
    assert code == "context_length_exceeded"


def test_s18_an_in_band_model_context_window_exceeded_is_an_overflow() -> None:
    err = stream_error_from_openai({"code": "model_context_window_exceeded", "message": "Request failed"})
    assert err.status == 400
    assert stream_error_meaning(err.status, err.message) == "context_overflow"


_LMSTUDIO_REACHED = (
    "Reached context length of 4096 tokens with model (arch: qwen3vlmoe) that does not currently support "
    "mid-generation context overflow. Try reloading with a larger context length or shortening the prompt/chat."
)


@pytest.mark.parametrize(
    ("message", "counts"),
    [
        # LM Studio (lmstudio-bug-tracker#1251, #1024): the conversation past the loaded context, no prompt count
        (_LMSTUDIO_REACHED, None),
        # LM Studio's other release wording (n4ze3m/page-assist#356): "when context overflows", "a context length
        # of only N"
        (
            "Trying to keep the first 6547 tokens when context overflows. However, the model is loaded with a "
            "context length of only 4096 tokens, which is not enough. Try to load the model with a larger context "
            "length, or provide a shorter input.",
            (6547, 4096),
        ),
        # cline/cline#3664: "context the overflows" (detected before) with "of only N" (counts were not restated)
        (
            "Trying to keep the first 10136 tokens when context the overflows. However, the model is loaded with "
            "context length of only 7866 tokens, which is not enough.",
            (10136, 7866),
        ),
        # Gitlawb/openclaude#353
        (
            "The number of tokens to keep from the initial prompt is greater than the context length (n_keep: "
            "13055>= n_ctx: 4096). Try to load the model with a larger context length, or provide a shorter input.",
            (13055, 4096),
        ),
        # vLLM's newest wording (AIDotNet/OpenCowork#82), the prompt alone past the window
        (
            "This model's maximum context length is 131072 tokens. However, you requested 1000 output tokens and "
            "your prompt contains at least 140000 input tokens, for a total of at least 141000 tokens. Please "
            "reduce the length of the input prompt or the number of requested output tokens. "
            "(parameter=input_tokens, value=140000)",
            (140000, 131072),
        ),
    ],
    ids=[
        "lmstudio-reached",
        "lmstudio-overflows-only",
        "lmstudio-the-overflows-only",
        "n-keep",
        "vllm-at-least",
    ],
)
def test_s18c_lmstudio_and_vllm_overflows_reach_claude_code_with_their_counts(
    message: str, counts: tuple[int, int] | None
) -> None:
    """s18 variants 10-s..10-x: LM Studio's "Reached context length of N tokens …" and "… when context overflows …
    a context length of only N tokens" were plain 400s (Claude Code did not compact, Codex got no
    context_length_exceeded); the counts of "of only N", "n_keep: N>= n_ctx: M" and vLLM's "your prompt contains
    at least N input tokens" were not restated in the form Claude Code's compaction reads."""
    raw = json.dumps({"error": message}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    said_status, said, _ = registry.client("anthropic").error_words(meaning, 400, message)
    want = (
        f"prompt is too long: {counts[0]} tokens > {counts[1]} maximum"
        if counts
        else f"prompt is too long: {message}"
    )
    assert (said_status, said) == (400, want)
    for fmt in ("openai_chat", "openai_responses"):
        chat_status, _, code = registry.client(fmt).error_words(meaning, 400, message)
        assert chat_status == 400 and code == "context_length_exceeded"


def test_s18c_lmstudio_overflow_told_in_band_is_an_overflow() -> None:
    """s18 variant 10-z: LM Studio's error chunk after the 200 has no code (read as a 500): its words still say the
    conversation does not fit, so Claude Code gets "prompt is too long" rather than an api_error."""
    err = stream_error_from_openai({"message": _LMSTUDIO_REACHED})
    assert err.status == 500
    assert stream_error_meaning(err.status, err.message) == "context_overflow"


def test_s18c_vllm_prompt_within_the_window_is_not_restated() -> None:
    """vLLM's newest wording with the prompt inside the window (the output asked for is what did not fit): no
    "N tokens > M maximum" that would be false on its face."""
    message = (
        "This model's maximum context length is 262144 tokens. However, you requested 128000 output tokens and "
        "your prompt contains at least 134145 input tokens, for a total of at least 262145 tokens."
    )
    _, said, _ = registry.client("anthropic").error_words("context_overflow", 400, message)
    assert said == f"prompt is too long: {message}"


_CEREBRAS = (
    "Please reduce the length of the messages or completion. Current length is 42328 while limit is 40000"
)
_LITELLM_CEREBRAS = (
    "litellm.ContextWindowExceededError: litellm.BadRequestError: CerebrasException - Please reduce the length of the "
    "messages or completion. Current length is 69553 while limit is 65536. Received Model Group=qwen-3-coder-480b\n"
    "Available Model Group Fallbacks=None"
)


@pytest.mark.parametrize(
    ("status", "body", "counts"),
    [
        # Cerebras (cline/cline#5140, anomalyco/opencode#1551), its bare error object with a code
        (
            400,
            {
                "message": _CEREBRAS,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
            (42328, 40000),
        ),
        # the same words without the code (a relay that drops it)
        (
            400,
            {"error": {"message": _CEREBRAS, "type": "invalid_request_error", "code": None}},
            (42328, 40000),
        ),
        # LiteLLM's proxy: its exception class names the meaning, its code is the status as a string
        (
            400,
            {"error": {"message": _LITELLM_CEREBRAS, "type": None, "param": None, "code": "400"}},
            (69553, 65536),
        ),
        # LiteLLM's class name alone, over words that say nothing of a context (and as a 500: LiteLLM keeps the
        # upstream's status, some servers answer an overflow with one)
        (
            500,
            {
                "error": {
                    "message": "litellm.ContextWindowExceededError: litellm.InternalServerError: Request failed",
                    "type": None,
                    "param": None,
                    "code": "500",
                }
            },
            None,
        ),
    ],
    ids=["cerebras", "cerebras-no-code", "litellm-cerebras", "litellm-class-only-500"],
)
def test_s19_cerebras_and_litellm_overflows_reach_claude_code_and_codex(
    status: int, body: dict[str, object], counts: tuple[int, int] | None
) -> None:
    """s19 variants 10-a, 10-b, 10-e: Cerebras' "Current length is N while limit is M" was no overflow without its
    code (Codex got no context_length_exceeded) and its counts were not restated for Claude Code; LiteLLM's
    ``ContextWindowExceededError`` (its proxy's word for any provider's overflow) was not read."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert said_status == 400
    if counts:
        assert said == f"prompt is too long: {counts[0]} tokens > {counts[1]} maximum"
    else:
        assert said.startswith("prompt is too long")
    for fmt in ("openai_chat", "openai_responses"):
        assert registry.client(fmt).error_words(meaning, status, message)[2] == "context_length_exceeded"


def test_s19_cerebras_overflow_told_in_band_is_an_overflow() -> None:
    """Cerebras' words in an error chunk after a 200 (no code: read as a 500) still say the request does not fit."""
    err = stream_error_from_openai({"message": _CEREBRAS})
    assert stream_error_meaning(err.status, err.message) == "context_overflow"


@pytest.mark.parametrize(
    ("message", "counts"),
    [
        (
            "Requested token count exceeds the model's maximum context length of 131072 tokens. You requested a total "
            "of 172000 tokens: 140000 tokens from the input messages and 32000 tokens for the completion. Please "
            "reduce the number of tokens in the input messages or the completion to fit within the limit.",
            (140000, 131072),
        ),
        # counts written as floats (as SGLang's refusals relayed by Cloudflare Workers AI are)
        (
            "Requested token count exceeds the model's maximum context length of 524288.0 tokens. You requested a "
            "total of 600000.0 tokens: 568000.0 tokens from the input messages and 32000.0 tokens for the completion.",
            (568000, 524288),
        ),
        # the input inside the window: the completion asked for is what did not fit (kind 17 retries it), no counts
        (
            "Requested token count exceeds the model's maximum context length of 32768 tokens. You requested a total "
            "of 64120 tokens: 120 tokens from the input messages and 64000 tokens for the completion.",
            None,
        ),
    ],
    ids=["input-past-the-window", "float-counts", "input-within-the-window"],
)
def test_s19_sglang_requested_token_count_reaches_claude_code_with_its_counts(
    message: str, counts: tuple[int, int] | None
) -> None:
    """s19 variant 10-g: SGLang's "Requested token count exceeds the model's maximum context length of M tokens. You
    requested a total of T tokens: N tokens from the input messages and X tokens for the completion." with the input
    alone past the window reached Claude Code as "prompt is too long: <its words>", without the counts its compaction
    reads."""
    raw = json.dumps({"object": "error", "message": message, "type": "BadRequestError", "code": 400}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    _, said, _ = registry.client("anthropic").error_words(meaning, 400, message)
    want = (
        f"prompt is too long: {counts[0]} tokens > {counts[1]} maximum"
        if counts
        else f"prompt is too long: {message}"
    )
    assert said == want


@pytest.mark.parametrize(
    ("message", "counts"),
    [
        # DeepSeek (netease-youdao/LobsterAI#60, code "invalid_request_error")
        (
            "This model's maximum context length is 131072 tokens. However, you requested 141403 tokens (133211 in the "
            "messages, 8192 in the completion). Please reduce the length of the messages or completion.",
            (133211, 131072),
        ),
        # OpenRouter: every kind of input summed, the output left out
        (
            "This endpoint's maximum context length is 200000 tokens. However, you requested about 263000 tokens "
            "(229000 of text input, 2000 of tool input, 32000 in the output). Please reduce the length of either one.",
            (231000, 200000),
        ),
        # OpenAI's older wording, kept by llama-cpp-python's server
        (
            "This model's maximum context length is 16385 tokens, however you requested 52200 tokens (20200 in your "
            "prompt; 32000 for the completion). Please reduce your prompt; or completion length.",
            (20200, 16385),
        ),
    ],
    ids=["deepseek", "openrouter", "llama-cpp-python"],
)
def test_s20_an_overflow_breakdown_restates_the_prompts_own_count(
    message: str, counts: tuple[int, int]
) -> None:
    """s20 variants 10-a..10-c: where the wording breaks the request down, Claude Code is told the prompt's count
    ("prompt is too long: 133211 tokens > 131072 maximum"), not prompt plus the output asked for (141403), which
    overstated how much it had to compact."""
    raw = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    said = registry.client("anthropic").error_words(meaning, 400, message)[1]
    assert said == f"prompt is too long: {counts[0]} tokens > {counts[1]} maximum"


def test_s20_a_breakdown_with_the_prompt_inside_the_window_keeps_the_whole_requests_count() -> None:
    """The prompt (120000) fits the window (131072): what did not fit is the output asked for (kind 17's retry comes
    first); told to Claude Code all the same, the whole request's count stays (as before s20)."""
    message = (
        "This model's maximum context length is 131072 tokens. However, you requested 135000 tokens (120000 in the "
        "messages, 15000 in the completion). Please reduce the length of the messages or completion."
    )
    said = registry.client("anthropic").error_words("context_overflow", 400, message)[1]
    assert said == "prompt is too long: 135000 tokens > 131072 maximum"


def test_a_whole_request_count_is_restated_as_the_prompts_when_max_tokens_is_known() -> None:
    """s20 variant 10-e: "requested" counts prompt and output asked for together (Kimi; OpenRouter without a
    breakdown): with the refused request's max_tokens known, the prompt's count when it alone is past the window;
    a prompt within it, or no max_tokens known, keeps the stated count."""
    kimi = "Invalid request: Your request exceeded model token limit: 262144 (requested: 300000)"
    words = registry.client("anthropic").error_words
    assert (
        words("context_overflow", 400, kimi, 4096)[1] == "prompt is too long: 295904 tokens > 262144 maximum"
    )
    assert words("context_overflow", 400, kimi)[1] == "prompt is too long: 300000 tokens > 262144 maximum"
    assert (
        words("context_overflow", 400, kimi, 64000)[1] == "prompt is too long: 300000 tokens > 262144 maximum"
    )
    router = (
        "This endpoint's maximum context length is 128000 tokens. However, you requested about 140000 tokens."
    )
    assert (
        words("context_overflow", 400, router, 8000)[1]
        == "prompt is too long: 132000 tokens > 128000 maximum"
    )
    _, said, code = registry.client("openai_chat").error_words("context_overflow", 400, kimi, 4096)
    assert code == "context_length_exceeded" and "resulted in 295904 tokens" in said


@pytest.mark.parametrize(
    ("err", "said"),
    [
        (LLAMACPP_OVERFLOW["error"], "prompt is too long: 40000 tokens > 32768 maximum"),
        # without both counts: the words as they came
        (
            {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_ctx": 32768,
            },
            "prompt is too long: the request exceeds the available context size, try increasing it",
        ),
        # a count that is no int (a bool, a string) states nothing
        (
            {
                "message": "the request exceeds the available context size",
                "n_prompt_tokens": True,
                "n_ctx": "32768",
            },
            "prompt is too long: the request exceeds the available context size",
        ),
    ],
    ids=["llamacpp-fields", "one-count-only", "not-ints"],
)
def test_s21_llamacpp_counts_in_fields_are_restated(err: dict[str, object], said: str) -> None:
    """s21 variant 10-a: llama.cpp states an overflow's counts in ``n_prompt_tokens`` / ``n_ctx``, not its message."""
    raw = json.dumps({"error": err}).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    assert registry.client("anthropic").error_words(meaning, 400, message, 32000)[1] == said


def test_s21_cerebras_whole_request_overflow_tells_the_prompts_count() -> None:
    """s21 variant 17-b: Cerebras' "Current length" counts max_tokens too; the prompt alone past the window is told
    as its own count (72328 - 32000 asked = 40328), the whole count without the output asked (s19's cases)."""
    message = (
        "Please reduce the length of the messages or completion. Current length is 72328 while limit is 40000"
    )
    said = registry.client("anthropic").error_words("context_overflow", 400, message, 32000)[1]
    assert said == "prompt is too long: 40328 tokens > 40000 maximum"


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (
            "Unable to submit request because the input token count is 135538 but model only supports up to 131072. "
            "Reduce the input token count and try again.",
            "prompt is too long: 135538 tokens > 131072 maximum",
        ),
        (
            "input token count is 140000 but the model only supports up to 131072",
            "prompt is too long: 140000 tokens",
        ),
    ],
    ids=["vertex", "vertex-the-model"],
)
def test_s21_vertex_gemini_overflow_wording(message: str, said: str) -> None:
    """s21 variant 10-g: Gemini on Vertex AI's overflow words."""
    raw = json.dumps([{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(400, raw)
    assert meaning == "context_overflow"
    text, _ = parse_upstream_error(raw)
    assert registry.client("anthropic").error_words(meaning, 400, text)[1].startswith(said)


def test_counts_told_reads_the_prompts_count_as_a_whole_number() -> None:
    """A message that states another number holding the prompt's digits ("4096" for a prompt of 40) does not state
    the prompt's count: the fields' counts are still appended (review s21: a substring test took it as stated)."""
    err = {"n_prompt_tokens": 40, "n_ctx": 32}
    assert (
        counts_told(err, "context is 4096 at most")
        == "context is 4096 at most (n_prompt_tokens: 40, n_ctx: 32)"
    )
    assert counts_told(err, "the prompt has 40 tokens") == "the prompt has 40 tokens"


# ---- OpenAI's error.code for every error the gateway makes (one table: ``openai_code``) -----------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, None),
        (401, "invalid_api_key"),
        (403, None),
        (404, None),
        (408, None),
        (413, None),
        (429, "rate_limit_exceeded"),
        (499, None),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (504, "server_error"),
        (529, "server_error"),
    ],
)
def test_openai_code_by_status(status: int, code: str | None) -> None:
    """OpenAI's error-codes guide and the SDK's ``ResponseError.code``: the chat body, the chat in-stream error
    and the Responses error body all say it (a 429 was ``code: null`` on the chat path)."""
    assert em.openai_code(status) == code
    for fmt in ("openai_chat", "openai_responses"):
        body = registry.error_response_body(fmt, status, "m")  # type: ignore[arg-type]
        assert body["error"]["code"] == code
    chat_frame = registry.client("openai_chat").stream_error(status, "m")
    # a 404 told inside a stream means an unknown model (``stream_error_meaning``), as a translated 404 does
    expected = "model_not_found" if status == 404 else code
    assert orjson.loads(chat_frame.removeprefix(b"data: "))["error"]["code"] == expected


def test_a_meanings_own_code_wins_and_an_errors_own_code_is_kept() -> None:
    assert em.openai_code(429, "quota_exhausted") == "insufficient_quota"
    assert em.openai_code(400, "context_overflow") == "context_length_exceeded"
    assert em.openai_code(503, "overloaded") == "server_error"
    body = registry.error_response_body("openai_chat", 408, "slow body", code="request_timeout")
    assert body["error"]["code"] == "request_timeout"


def test_responses_failed_codes_stay_within_the_sdks_response_error_codes() -> None:
    """``response.failed`` says only codes the SDK's ``ResponseError`` lists, plus Codex's overflow code."""
    from services.gateway.dialects._responses_wire import error_code_for_status

    assert error_code_for_status(429, "insufficient_quota") == "rate_limit_exceeded"
    assert error_code_for_status(401, "invalid_api_key") == "server_error"
    assert error_code_for_status(400, "context_length_exceeded") == "context_length_exceeded"


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        # Z.ai's error 1261 (badlogic/pi-mono #9805): "Prompt too long", without Anthropic's "is"
        (
            400,
            {"error": {"code": "1261", "message": "Prompt too long"}},
            "prompt is too long: Prompt too long",
        ),
        # Ollama's OpenAI-compatible endpoint, told in-band (no status: read as a 500)
        (
            500,
            {"error": {"message": "prompt too long; exceeded max context length by 4 tokens"}},
            "prompt is too long: prompt too long; exceeded max context length by 4 tokens",
        ),
        # Mistral's wording with images beside the prompt's tokens, no comma (badlogic/pi-mono's overflow list)
        (
            400,
            {
                "error": {
                    "message": "Prompt contains 300000 tokens and 0 images too large for model with 262144 maximum "
                    "context length"
                }
            },
            "prompt is too long: 300000 tokens > 262144 maximum",
        ),
        # the window's digits grouped (badlogic/pi-mono's overflow list): 262144, not 262
        (
            400,
            {
                "error": {
                    "message": "Input length 300000 exceeds the maximum allowed input length of 262,144 tokens."
                }
            },
            "prompt is too long: 300000 tokens > 262144 maximum",
        ),
        (
            400,
            {
                "error": {
                    "message": "The input (1,200,000 tokens) is longer than the model's context length (1,048,576 tokens)."
                }
            },
            "prompt is too long: 1200000 tokens > 1048576 maximum",
        ),
    ],
    ids=["zai-1261", "ollama-in-band", "prompt-contains-images", "grouped-window", "grouped-both"],
)
def test_s23_overflow_wordings_and_grouped_counts(status: int, body: object, words: str) -> None:
    """s23 variants 10-n..10-p: Z.ai's "Prompt too long" was no overflow (Claude Code got it as it came: no
    compaction; Codex no ``context_length_exceeded``); a count whose digits are grouped ("262,144") was read up to
    the comma, so Claude Code was told "300000 tokens > 262 maximum" (it compacts by the counts it is told); the
    images wording's counts were not restated."""
    raw = json.dumps(body).encode()
    meaning = registry.WIRES["openai_chat"].error_meaning(status, raw)
    assert meaning == "context_overflow"
    message, _ = parse_upstream_error(raw)
    said_status, said, _ = registry.client("anthropic").error_words(meaning, status, message)
    assert (said_status, said) == (400, words)
    chat_status, _, code = registry.client("openai_chat").error_words(meaning, status, message)
    assert chat_status == 400 and code == "context_length_exceeded"


def test_ungrouped_takes_out_thousands_separators_only() -> None:
    """A comma between a digit and exactly three more digits is a thousands separator; a range's or a list's comma
    is not."""
    assert ungrouped("5,958,968 tokens > 256,000") == "5958968 tokens > 256000"
    assert (
        ungrouped("the valid range of max_tokens is [1, 8192]")
        == "the valid range of max_tokens is [1, 8192]"
    )
    assert ungrouped("[1,8192]") == "[1,8192]"
    assert ungrouped("(133211 in the messages, 8192 in the completion)") == (
        "(133211 in the messages, 8192 in the completion)"
    )
    assert ungrouped("1,2345 and 12,34") == "1,2345 and 12,34"


SGLANG_TOTAL = (
    "Requested token count exceeds the model's maximum context length of 131072 tokens. You requested a total of "
    "172000 tokens: 140000 tokens from the input messages and 32000 tokens for the completion. Please reduce the "
    "number of tokens in the input messages or the completion to fit within the limit."
)
LITELLM_FALLBACK = (
    "litellm.ServiceUnavailableError: litellm.MidStreamFallbackError: litellm.APIConnectionError: "
    "APIConnectionError: OpenAIException - "
)


@pytest.mark.parametrize(
    ("status", "message", "words"),
    [
        (503, LITELLM_FALLBACK + SGLANG_TOTAL, "prompt is too long: 140000 tokens > 131072 maximum"),
        (
            503,
            LITELLM_FALLBACK
            + "Requested token count exceeds the model's maximum context length of 131072 tokens.",
            "prompt is too long: " + LITELLM_FALLBACK,
        ),
        (
            500,
            "Invalid request: Your request exceeded model token limit: 262144 (requested: 300000)",
            "prompt is too long: 300000 tokens > 262144 maximum",
        ),
        (
            502,
            "The input token count (1196265) exceeds the maximum number of tokens allowed (1048575)",
            "prompt is too long: 1196265 tokens > 1048575 maximum",
        ),
    ],
    ids=["litellm-503-counts", "litellm-503-words", "kimi-500", "gemini-502"],
)
def test_s23_a_5xx_stating_a_prompt_past_the_window_is_an_overflow(
    status: int, message: str, words: str
) -> None:
    """s23 variants 10-r, 10-s: LiteLLM's proxy relays an engine's overflow under the 503 its fallback ended with
    (badlogic/pi-mono's overflow tests): read as overloaded, Claude Code retried instead of compacting. An
    overflow's words that state a prompt's count past the window are no server fault at any status."""
    body = {"error": {"message": message, "type": None, "param": None, "code": str(status)}}
    assert overflow_as_the_clients_say_it(status, body, words) == 400


def test_s23_a_5xx_whose_counts_are_within_the_window_stays_a_server_fault() -> None:
    """The counts must show the prompt past the window: a 5xx stating counts that fit is no overflow by its numbers."""
    raw = json.dumps(
        {"error": {"message": "Your request exceeded model token limit: 262144 (requested: 1000)"}}
    ).encode()
    assert registry.WIRES["openai_chat"].error_meaning(500, raw) == "server"


def test_s23_litellms_in_band_string_code_is_the_status() -> None:
    """s23 variants 10-q, 10-t: LiteLLM's proxy streams ``{"error": ProxyException.to_dict()}`` whose ``code`` is
    ``str(status)``: ``"400"`` is the status 400 (it read as 500); three digits only, 400-599."""
    said = {
        "message": "litellm.BadRequestError: OpenAIException - " + SGLANG_TOTAL,
        "type": "None",
        "param": "None",
    }
    assert stream_error_from_openai({**said, "code": "400"}).status == 400
    assert stream_error_from_openai({**said, "code": "429"}).status == 429
    assert stream_error_from_openai({**said, "code": "4000"}).status == 500
    assert stream_error_from_openai({**said, "code": "200"}).status == 500
    err = stream_error_from_openai({**said, "code": "400"})
    assert registry.upstream_error_meaning("openai_chat", err.status, None, err.message) == "context_overflow"


def test_error_bodies_after_a_byte_order_mark_are_read_as_json() -> None:
    """s23 variant 13-errbom-vC: every reader of an error body passes a leading UTF-8 BOM over (RFC 8259 §8.1):
    the message and type (``parse_upstream_error``), the meaning (``meaning_from_openai``) and a 429's reset in its
    body (``body_reset_seconds``, Google's RetryInfo) are those of the body without it."""
    bom = b"\xef\xbb\xbf"
    overflow = orjson.dumps(
        {"error": {"message": "Bad request", "code": "context_length_exceeded", "type": "x"}}
    )
    retry = orjson.dumps(
        [
            {
                "error": {
                    "code": 429,
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
                }
            }
        ]
    )
    assert parse_upstream_error(bom + overflow) == parse_upstream_error(overflow) == ("Bad request", "x")
    assert (
        em.meaning_from_openai(400, bom + overflow)
        == em.meaning_from_openai(400, overflow)
        == "context_overflow"
    )
    assert body_reset_seconds(bom + retry, 0.0) == body_reset_seconds(retry, 0.0) == 7.0


@pytest.mark.parametrize(
    ("message", "error", "expected"),
    [
        # by its code, the words joined with OpenAI's overflow code (Codex compacts on it)
        (
            "Failed.",
            {"code": "context_length_exceeded", "message": "Failed."},
            "Failed. (context_length_exceeded)",
        ),
        ("Failed.", {"code": "model_context_window_exceeded"}, "Failed. (context_length_exceeded)"),
        # by its words, the code already said: as it came
        (
            "context_length_exceeded: input too long",
            {"message": "context_length_exceeded: input too long"},
            "context_length_exceeded: input too long",
        ),
        ("Internal failure.", {"code": "server_error", "message": "Internal failure."}, None),
    ],
)
def test_s31_overflow_told_whole_reads_every_overflow_code(
    message: str, error: dict[str, str], expected: str | None
) -> None:
    body = orjson.dumps({"object": "response", "status": "failed", "error": error})
    assert em.overflow_told_whole(message, body) == expected


def test_said_keeping_fields_keeps_the_providers_own_fields() -> None:
    """fix32 item 2: a same-format overflow said again keeps llama.cpp's type and counts beside OpenAI's code and
    words; an Anthropic error object gets no ``code``; a body without an error object leaves the words as they are."""
    from services.gateway.dialects._error_meaning import said_keeping_fields

    body = orjson.dumps(LLAMACPP_OVERFLOW)
    said = {
        "error": {
            "message": "M",
            "type": "invalid_request_error",
            "param": None,
            "code": "context_length_exceeded",
        }
    }
    assert said_keeping_fields(said, body) == {
        "error": {
            "message": "M",
            "type": "exceed_context_size_error",
            "param": None,
            "code": "context_length_exceeded",
            "n_prompt_tokens": 40000,
            "n_ctx": 32768,
        }
    }
    anthropic_said = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: x"},
    }
    kept = said_keeping_fields(
        anthropic_said, orjson.dumps({"type": "error", "error": {"type": "x", "message": "y"}})
    )
    assert kept == {"type": "error", "error": {"type": "x", "message": "prompt is too long: x"}}
    assert said_keeping_fields(said, b"upstream text") is said
