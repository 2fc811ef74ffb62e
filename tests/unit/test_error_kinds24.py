"""Session 24 (bug24b): error kinds 10, 11 and 17 read as their words say (pure readers, the breaker, the serve loop).

Cohere's overflow counts; an output-limit refusal under a relay's 5xx (no overflow, a limit to retry within); a
quota-exhausted 429 with Retry-After counted toward the breaker."""

from __future__ import annotations

import json

import pytest

from services.gateway.dialects import _error_meaning as em
from services.gateway.dialects import registry
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from services.gateway.providers.limits import StatedLimit, limit_from_refusal
from services.gateway.providers.registry import build_providers
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Answer, Limits
from services.gateway.serve import serve as serve_loop
from shared.settings import load_settings


def body(message: str, **err: object) -> bytes:
    return json.dumps({"error": {"message": message, **err}}).encode()


COHERE_PROMPT = (
    "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4950. Try using a shorter "
    "prompt, or enabling prompt truncating."
)
COHERE_TOTAL = (
    "too many tokens: total number of tokens (prompt and prediction) cannot exceed 8192 - received 12000. Try using a "
    "shorter prompt or a smaller max_tokens value."
)


@pytest.mark.parametrize(
    ("message", "asked", "anthropic_words"),
    [
        (COHERE_PROMPT, None, "prompt is too long: 4950 tokens > 4081 maximum"),
        (COHERE_PROMPT, 32000, "prompt is too long: 4950 tokens > 4081 maximum"),
        # the output asked counted in: the prompt is 12000 - 1000
        (COHERE_TOTAL, 1000, "prompt is too long: 11000 tokens > 8192 maximum"),
        # not known: the whole request's count stands
        (COHERE_TOTAL, None, "prompt is too long: 12000 tokens > 8192 maximum"),
    ],
    ids=["prompt", "prompt-asked", "total-asked", "total-unknown"],
)
def test_cohere_overflow_is_said_with_its_counts(
    message: str, asked: int | None, anthropic_words: str
) -> None:
    """s24 variants 10-cohere-*: Cohere's bare ``{"id", "message"}`` overflow reached Claude Code without its counts."""
    raw = json.dumps({"id": "c0ffee", "message": message}).encode()
    meaning = em.meaning_from_openai(400, raw)
    assert meaning == "context_overflow"
    assert em.words_for_anthropic(meaning, 400, message, asked) == (400, anthropic_words, None)
    if message == COHERE_PROMPT:
        _, said, code = em.words_for_openai(meaning, 400, message, asked)
        assert code == "context_length_exceeded"
        assert said.startswith(
            "This model's maximum context length is 4081 tokens. However, your messages resulted in 4950"
        )


def test_cohere_prompt_and_prediction_refusal_leaves_the_window_less_the_prompt() -> None:
    """s24 variant 17-cohere-total-vA: Claude Code's 32000 over a 50-token prompt: 4096 - 50 for this request only."""
    refusal = COHERE_TOTAL.replace("8192", "4096").replace("12000", "32050")
    assert limit_from_refusal(refusal, 32000) == StatedLimit(4046, lasting=False)
    assert (
        limit_from_refusal(COHERE_TOTAL, 1000) is None
    )  # the prompt alone is past the window: no retry helps


VLLM_OUTPUT = (
    "'max_tokens' or 'max_completion_tokens' is too large: 32000. This model's maximum context length is 32768 tokens "
    "and your request has 1000 input tokens (32000 > 32768 - 1000)."
)
SGLANG_OUTPUT = (
    "litellm.ServiceUnavailableError: OpenAIException - Requested token count exceeds the model's maximum context "
    "length of 16384 tokens. You requested a total of 32050 tokens: 50 tokens from the input messages and 32000 tokens "
    "for the completion."
)
OLD_VLLM_OUTPUT = (
    "This model's maximum context length is 4096 tokens. However, you requested 33000 tokens (1000 in the messages, "
    "32000 in the completion). Please reduce the length of the messages or completion."
)
NEW_VLLM_OUTPUT = (
    "This model's maximum context length is 32768 tokens. However, you requested 32000 output tokens and your prompt "
    "contains at least 769 input tokens, for a total of at least 32769 tokens."
)


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.parametrize(
    "message",
    [VLLM_OUTPUT, SGLANG_OUTPUT, OLD_VLLM_OUTPUT, NEW_VLLM_OUTPUT],
    ids=["vllm", "sglang", "old-vllm", "new-vllm"],
)
def test_an_output_limit_refusal_under_a_5xx_is_no_overflow(status: int, message: str) -> None:
    """s24 variants 10-5xx-output-*: a relay's 5xx around an output-limit refusal whose prompt fits reached Claude Code
    as "prompt is too long" (it compacts a conversation that fits)."""
    assert em.output_budget_refused(message)
    assert em.meaning_from_openai(status, body(message)) != "context_overflow"


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (
            SGLANG_OUTPUT.replace("32050", "172000")
            .replace("16384", "131072")
            .replace("50 tokens", "140000 tokens"),
            "prompt is too long: 140000 tokens > 131072 maximum",
        ),
        (
            OLD_VLLM_OUTPUT.replace("1000 in", "5000 in").replace("32000 in", "28000 in"),
            "prompt is too long: 5000 tokens > 4096 maximum",
        ),
        (
            NEW_VLLM_OUTPUT.replace("769", "40000"),
            "prompt is too long: 40000 tokens > 32768 maximum",
        ),
    ],
    ids=["sglang", "old-vllm", "new-vllm"],
)
def test_the_same_words_with_the_prompt_past_the_window_stay_an_overflow_under_a_5xx(
    message: str, words: str
) -> None:
    """The prompt alone past the window: an overflow whatever the status (s23 variants 10-r, 10-s)."""
    assert not em.output_budget_refused(message)
    meaning = em.meaning_from_openai(503, body(message))
    assert meaning == "context_overflow"
    assert em.words_for_anthropic(meaning, 503, message, 32000)[1] == words


def test_a_400_in_output_limit_words_keeps_its_reading() -> None:
    """At 400 the kind-17 retry answers these words first; what reaches a client keeps the overflow reading."""
    assert em.meaning_from_openai(400, body(VLLM_OUTPUT)) == "context_overflow"


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_that_states_an_output_limit_is_read_for_it(status: int) -> None:
    """s24 variants 17-5xx-vllm-vB, 17-503-litellm-vC: the limit a relay's 5xx states is a limit to retry within."""
    provider = build_providers(load_settings({"OPENAI_API_KEY": "k"}))["openai"]
    assert provider.may_state_output_limit(status)
    assert provider.output_limit_from_error(status, VLLM_OUTPUT, 32000) == StatedLimit(31768, lasting=False)
    litellm = "max_tokens=32000 cannot be greater than max_model_len=max_total_tokens=28672."
    assert provider.output_limit_from_error(status, litellm, 32000) == StatedLimit(28672, lasting=True)
    assert provider.output_limit_from_error(429, VLLM_OUTPUT, 32000) is None
    assert not provider.may_state_output_limit(None)


QUOTA = json.dumps(
    {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
).encode()
XAI_CREDITS = json.dumps(
    {
        "code": "Some resource has been exhausted",
        "error": "Your team 0b1d has either used all available credits.",
    }
).encode()
ANTHROPIC_BILLING = json.dumps(
    {"type": "error", "error": {"type": "billing_error", "message": "Your credit balance is too low."}}
).encode()
RATE_LIMITED = body("Rate limit reached for gpt-4o on requests per min.", code="rate_limit_exceeded")


@pytest.mark.parametrize(
    ("status", "raw", "gone"),
    [
        (429, QUOTA, True),
        (429, XAI_CREDITS, True),
        (429, ANTHROPIC_BILLING, True),
        (429, RATE_LIMITED, False),
        (429, b"not json", False),
        (400, QUOTA, False),
        (None, QUOTA, False),
    ],
    ids=["openai", "xai", "anthropic", "rate-limit", "text", "a-400", "no-status"],
)
def test_quota_exhausted(status: int | None, raw: bytes, gone: bool) -> None:
    assert registry.quota_exhausted(status, raw) is gone


def test_a_counted_429_with_retry_after_counts_and_rests() -> None:
    """s24 variants 11-quota-breaker-vE, 11-xai-credits-breaker-vF (the breaker's part)."""
    health = ProviderHealth(BreakerConfig(failures=2, cooldown_s=30.0))
    health.record_failure("openai", 429, retry_after_s=3600, error_type="insufficient_quota", counted=True)
    state = health.snapshot().get("openai")
    assert state["consecutive_failures"] == 1 and state["state"] == "cooling_down"
    health.record_failure("openrouter", 429, retry_after_s=3600, error_type="rate_limit_exceeded")
    assert health.snapshot().get("openrouter")["consecutive_failures"] == 0  # a rate limit only rests


@pytest.mark.parametrize(("raw", "counted"), [(QUOTA, 1), (RATE_LIMITED, 0)], ids=["quota", "rate-limit"])
async def test_the_serve_loop_counts_a_quota_exhausted_429(raw: bytes, counted: int) -> None:
    """The serve loop hands the breaker what the 429 means: a quota used up counts, a rate limit does not."""
    health = ProviderHealth(BreakerConfig(failures=5, cooldown_s=30.0))
    refusal = UpstreamError(429, "refused", provider="openai", retryable=True, body=raw, retry_after_s=3600)

    async def attempt(route: Route) -> Answer[str] | UpstreamError:
        return refusal

    assert await serve_loop([Route("openai", "gpt-4o")], attempt, health, Limits(3, 10.0)) is refusal
    assert health.snapshot().get("openai")["consecutive_failures"] == counted
