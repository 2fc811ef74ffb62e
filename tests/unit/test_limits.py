from __future__ import annotations

from typing import Any

import pytest

from services.gateway.providers.limits import max_output_tokens
from services.gateway.providers.registry import build_providers
from shared.settings import load_settings


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("gpt-4o-mini", 16_384),
        ("gpt-4o", 16_384),
        ("openai/gpt-4o-mini", 16_384),
        ("gpt-4.1-mini", 32_768),
        ("gpt-5", 128_000),
        ("o3-mini", 100_000),
        ("claude-sonnet-4-5", 64_000),
        ("anthropic/claude-sonnet-4.5", 64_000),
        ("claude-opus-4-1-20250805", 32_000),
        ("claude-opus-4", 32_000),
        ("claude-3-5-haiku-latest", 8_192),
        # cloud ids with dot-joined region and vendor (Bedrock; s20): the vendor's own name decides
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", 8_192),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 64_000),
        ("bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0", 8_192),
        ("no-such-model", None),
    ],
)
def test_limits(model: str, limit: int | None) -> None:
    assert max_output_tokens(model) == limit


def test_translated_requests_are_clamped_to_the_target() -> None:
    providers = build_providers(load_settings({}))
    assert providers["openai"].target("gpt-4o-mini").max_output_tokens == 16_384
    assert providers["openrouter"].target("anthropic/claude-3.5-haiku").max_output_tokens == 8_192
    assert providers["anthropic"].target("claude-3-5-haiku-latest").default_max_tokens == 8_192


# ---- issue 9, kind 6: limits the catalog gives and limits upstreams state -------------------------------

from services.gateway.providers.configured import ConfiguredProvider  # noqa: E402
from services.gateway.providers.limits import (  # noqa: E402
    StatedLimit,
    asked_output_tokens,
    clamp_body,
    limit_from_refusal,
)
from services.gateway.routing.config import CatalogError, parse_catalog  # noqa: E402


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        ("Invalid max_tokens value, the valid range of max_tokens is [1, 8192]", 8192),
        # s10 variants 17-e, 17-i: FastAPI/pydantic servers and Mistral (422), as parse_upstream_error words them
        ("max_tokens: Input should be less than or equal to 4096", 4096),
        ("max_tokens: ensure this value is less than or equal to 2048", 2048),
        ("max_completion_tokens: Input should be less than 8193", 8192),
        # s10 variant 17-h: Gemini on Vertex AI states an exclusive bound
        (
            "Unable to submit request because it has a maxOutputTokens value of 32000 but the supported range is "
            "from 1 (inclusive) to 8193 (exclusive). Update the value and try again.",
            8192,
        ),
        ("temperature: Input should be less than or equal to 2", None),
        # a nested field of that name is no output limit of the model's (cold review of s10 17-e)
        ("reasoning.max_tokens: Input should be less than or equal to 1024", None),
        ("tools.0.max_tokens: Input should be less than 6", None),
        (
            "temperature: Input should be less than 2; max_tokens: Input should be less than or equal to 512",
            512,
        ),
        (
            "max_tokens is too large: 32000. This model supports at most 16384 completion tokens, whereas you provided "
            "32000.",
            16384,
        ),
        (
            "max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens for claude-opus-4-1",
            32000,
        ),
        (
            "`max_tokens` must be less than or equal to `8192`, the maximum value for `max_tokens` is less than the "
            "`context_window` for this model",
            8192,
        ),
        (
            "'max_tokens' or 'max_completion_tokens' is too large: 32000. This model's maximum context length is 8192 "
            "tokens and your request has 20 input tokens (32000 > 8192 - 20).",
            8172,
        ),
        (
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 22 `inputs` tokens "
            "and 32000 `max_new_tokens`",
            8171,
        ),
        (
            "This model's maximum context length is 4096 tokens. However, you requested 33000 tokens (1000 in the "
            "messages, 32000 in the completion). Please reduce the length of the messages or completion.",
            3096,
        ),
        (  # the prompt alone overflows: no smaller max_tokens helps
            "This model's maximum context length is 65536 tokens. However, you requested 70000 tokens (70000 in the "
            "messages, 0 in the completion). Please reduce the length of the messages or completion.",
            None,
        ),
        (
            "This endpoint's maximum context length is 32768 tokens. However, you requested about 40000 tokens "
            "(8000 of text input, 32000 in the output). Please reduce the length of either one, or use the "
            '"middle-out" transform to compress your prompt automatically.',
            24768,
        ),
        (
            "This endpoint's maximum context length is 32768 tokens. However, you requested about 40500 tokens "
            "(8000 of text input, 500 of tool input, 32000 in the output). Please reduce the length of either one",
            24268,
        ),
        (  # the prompt alone overflows
            "This endpoint's maximum context length is 32768 tokens. However, you requested about 40000 tokens "
            "(40000 of text input, 0 in the output).",
            None,
        ),
        # s12 variants 17-a..f: vLLM's current words, SGLang's, vLLM's max_model_len check, Ollama Cloud's
        (
            "This model's maximum context length is 32768 tokens. However, you requested 32000 output tokens and "
            "your prompt contains at least 769 input tokens, for a total of at least 32769 tokens. Please reduce the "
            "length of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=769)",
            31999,
        ),
        (  # the prompt alone overflows
            "This model's maximum context length is 32768 tokens. However, you requested 0 output tokens and your "
            "prompt contains at least 32769 input tokens, for a total of at least 32769 tokens.",
            None,
        ),
        (
            "Requested token count exceeds the model's maximum context length of 16384 tokens. You requested a "
            "total of 32050 tokens: 50 tokens from the input messages and 32000 tokens for the completion.",
            16334,
        ),
        (  # counts written as floats (iFlow's relay of SGLang)
            "Requested token count exceeds the model's maximum context length of 131072 tokens. You requested a "
            "total of 524300.0 tokens: 12 tokens from the input messages and 524288.0 tokens for the completion.",
            131060,
        ),
        (  # the prompt alone overflows
            "Requested token count exceeds the model's maximum context length of 8192 tokens. You requested a "
            "total of 9000 tokens: 9000 tokens from the input messages and 0 tokens for the completion.",
            None,
        ),
        (
            "Upstream error from DeepInfra: max_tokens=32000 cannot be greater than max_model_len=max_total_tokens="
            "28672. Please request fewer output tokens. (parameter=max_tokens, value=32000)",
            28672,
        ),
        ("max_completion_tokens=131072 cannot be greater than max_model_len=128000", 128000),
        (
            "max_tokens (384000) exceeds model's maximum output tokens (65536) for model deepseek-v4-flash:0731",
            65536,
        ),
        # s35 bug35a variant 17v13: MiniMax's error 2013 (openclaw/openclaw#86116), "max tokens" with a space
        ("invalid params, model[MiniMax-M2.7] does not support max tokens > 196608 (2013)", 196608),
        ("invalid params, model[MiniMax-M3] does not support max tokens > 524288", 524288),
        ("invalid params, model[MiniMax-M2.7] does not support tools", None),
        # s16 variants 17-j, 17-k: Amazon Bedrock's ValidationException, as LiteLLM and bedrock-access-gateway relay it
        (
            'litellm.BadRequestError: BedrockException - {"message":"The maximum tokens you requested exceeds the '
            'model limit of 8192. Try again with a maximum tokens value that is lower than 8192."}',
            8192,
        ),
        (
            "An error occurred (ValidationException) when calling the Converse operation: The maximum tokens you "
            "requested exceeds the model limit of 4096. Try again with a maximum tokens value that is lower than 4096.",
            4096,
        ),
        # s16 variant 17-l: an exclusive bound (the limit is one less)
        ("max_completion_tokens must be less than 8192", 8191),
        # s16 variant 17-m: the limit after words
        ("max_completion_tokens must be less than or equal to the maximum output tokens 16384", 16384),
        # s16 variant 17-n: an OpenAI-compatible front that checks max_tokens before vLLM
        ("The given max_tokens exceeds the maximum the model supports: 4096", 4096),
        # s18 variant 17-j: Volcengine Ark's parameter check (Gitlawb/openclaude#331)
        (
            "The parameter `max_completion_tokens` specified in the request are not valid: integer above maximum "
            "value, expected a value <= 12288, but got 32000 instead. Request id: 0217752964393142fa50af54af66c5cf",
            12288,
        ),
        (
            "The parameter `temperature` specified in the request are not valid: integer above maximum value, "
            "expected a value <= 2, but got 5 instead.",
            None,
        ),
        ("messages: roles must alternate", None),
        ("Invalid API key", None),
    ],
)
def test_limit_from_refusal(message: str, limit: int | None) -> None:
    stated = limit_from_refusal(message)
    assert (None if stated is None else stated.tokens) == limit
    if stated is not None:
        # a model's own limit lasts; what the context window leaves after one prompt does not (it would
        # cap every later answer of that model at one request's remainder)
        context_left = "context length" in message or "Given:" in message  # window minus this prompt
        assert stated.lasting is not context_left


@pytest.mark.parametrize(
    ("message", "stated"),
    [
        # s13 variant 17-a: Anthropic (docker/docker-agent#569), the prompt stated first
        (
            "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input length or "
            "`max_tokens` and try again",
            (21041, False),
        ),
        (  # the prompt alone fills the window: no smaller max_tokens helps
            "input length and `max_tokens` exceed context limit: 200000 + 64000 > 200000, decrease input length or "
            "`max_tokens` and try again",
            None,
        ),
        # s13 variant 17-b: SambaNova (cline/cline#294)
        (
            "Requested generation length 32000 is not possible! The provided prompt is 769 tokens long, so "
            "generating 32000 tokens requires a sequence length of 32769, but the maximum supported sequence "
            "length is just 16384!",
            (15615, False),
        ),
        (
            "Requested generation length 32000 is not possible! The provided prompt is 40000 tokens long, so "
            "generating 32000 tokens requires a sequence length of 72000, but the maximum supported sequence "
            "length is just 16384!",
            None,
        ),
        # s13 variant 17-c: vLLM's VLLMValidationError
        (
            "You passed 3073 input tokens and requested 32000 output tokens. However, the model's context length "
            "is only 32768 tokens, resulting in a maximum input length of 768 tokens. Please reduce the length of "
            "the input prompt. (parameter=input_tokens, value=3073)",
            (29695, False),
        ),
        (
            "You passed 40001 input tokens and requested 32000 output tokens. However, the model's context length "
            "is only 32768 tokens, resulting in a maximum input length of 768 tokens.",
            None,
        ),
        # s16 variant 17-h: OpenAI's older wording, kept by llama-cpp-python's server and other compatible ones
        (
            "This model's maximum context length is 16385 tokens, however you requested 33200 tokens (1200 in your "
            "prompt; 32000 for the completion). Please reduce your prompt; or completion length.",
            (15185, False),
        ),
        (  # the prompt alone is past the window: an overflow, no output limit
            "This model's maximum context length is 16385 tokens, however you requested 52000 tokens (20000 in "
            "your prompt; 32000 for the completion). Please reduce your prompt; or completion length.",
            None,
        ),
        # s13 variant 17-d: a Zhipu GLM relay (TokenRhythm/opensquilla#782), the model's own limit
        (
            "{'code': 70000, 'msg': 'Exceeding the limiting length: [max_tokens should be less or equal to 131072]'}",
            (131072, True),
        ),
    ],
    ids=[
        "anthropic",
        "anthropic-prompt-fills",
        "sambanova",
        "sambanova-prompt-over",
        "vllm",
        "vllm-prompt-over",
        "openai-legacy-your-prompt",
        "openai-legacy-prompt-over",
        "glm",
    ],
)
def test_prompt_first_refusals_leave_the_window_minus_the_prompt(
    message: str, stated: tuple[int, bool] | None
) -> None:
    assert limit_from_refusal(message, asked=32000) == stated


def test_a_refusal_stating_the_whole_request_leaves_the_window_minus_the_prompt() -> None:
    """s10 variant 17-d: Moonshot (Kimi) states the window and the whole request (prompt + max_tokens):
    "exceeded model token limit: 8192 (requested: 32012)" with max_tokens 32000 leaves 8192 - 12 = 8180, for
    that request only (the prompt's share changes with every request)."""
    said = "Invalid request: Your request exceeded model token limit: 8192 (requested: 32012)"
    assert limit_from_refusal(said, asked=32000) == (8180, False)
    assert limit_from_refusal(said) is None  # without what was asked, the prompt's share is unknown
    overflow = "Invalid request: Your request exceeded model token limit: 262144 (requested: 269030)"
    assert limit_from_refusal(overflow, asked=1000) is None  # the prompt alone is over the window
    assert asked_output_tokens(b'{"model": "m", "max_tokens": 32000}') == 32000
    assert asked_output_tokens(b'{"max_completion_tokens": 9}') == 9
    assert asked_output_tokens(b'{"max_tokens": true}') is None
    assert asked_output_tokens(b"[1]") is None and asked_output_tokens(b"not json") is None


def test_a_window_and_total_without_breakdown_leaves_the_window_minus_the_prompt() -> None:
    """s16 variant 17-g: servers that word an over-long request as older vLLM but without its breakdown ("This
    model's maximum context length is 131072 tokens. However, you requested 140000 tokens. Please reduce the
    length of the messages or completion.", THUDM/LongBench#104) state the window and the whole request (prompt
    + max_tokens): with max_tokens 32000 the prompt is 108000 and leaves 23072, for that request only; when the
    prompt alone is over the window (s16 variant 10-i: 351430 requested), no output limit helps (an overflow)."""
    said = (
        "This model's maximum context length is 131072 tokens. However, you requested 140000 tokens. Please "
        "reduce the length of the messages or completion."
    )
    assert limit_from_refusal(said, asked=32000) == (23072, False)
    assert limit_from_refusal(said) is None  # without what was asked, the prompt's share is unknown
    assert limit_from_refusal(said.replace("140000", "351430"), asked=32000) is None
    # vLLM's prompt-only wording (no max_tokens sent) counts the messages alone: no output limit in it
    prompt_only = (
        "This model's maximum context length is 131072 tokens. However, you requested 140000 tokens in the "
        "messages, Please reduce the length of the messages."
    )
    assert limit_from_refusal(prompt_only, asked=32000) is None


def test_clamp_body_lowers_every_output_field() -> None:
    body = {"max_tokens": 32000, "max_completion_tokens": 100, "max_output_tokens": 9000, "model": "m"}
    assert clamp_body(body, 8192)
    assert body == {"max_tokens": 8192, "max_completion_tokens": 100, "max_output_tokens": 8192, "model": "m"}
    assert not clamp_body(body, 8192)


@pytest.mark.parametrize(
    ("thinking", "limit", "expected"),
    [
        # Anthropic refused max_tokens 64000 for claude-opus-4-1 (32000): the budget must stay below the clamp
        ({"type": "enabled", "budget_tokens": 40000}, 32000, {"type": "enabled", "budget_tokens": 31999}),
        ({"type": "enabled", "budget_tokens": 32000}, 32000, {"type": "enabled", "budget_tokens": 31999}),
        ({"type": "enabled", "budget_tokens": 2048}, 32000, {"type": "enabled", "budget_tokens": 2048}),
        ({"type": "enabled", "budget_tokens": 31999}, 1024, None),  # no room for Anthropic's 1024 minimum
        ({"type": "adaptive"}, 8192, {"type": "adaptive"}),
    ],
)
def test_clamp_body_keeps_the_thinking_budget_below_max_tokens(
    thinking: dict[str, Any], limit: int, expected: dict[str, Any] | None
) -> None:
    client = dict(thinking)
    body: dict[str, Any] = {"model": "claude-opus-4-1", "max_tokens": 64000, "thinking": client}
    assert clamp_body(body, limit)
    assert body["max_tokens"] == limit and body.get("thinking") == expected
    assert client == thinking  # the client's own object is never changed (reused across attempts)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # OpenRouter's reasoning budget (``reasoning.max_tokens``), under whichever output field the body asks by
        ({"max_tokens": 64000, "reasoning": {"max_tokens": 40000}}, {"max_tokens": 31999}),
        (
            {"max_completion_tokens": 64000, "reasoning": {"max_tokens": 32000, "exclude": True}},
            {"max_tokens": 31999, "exclude": True},
        ),
        ({"max_tokens": 64000, "reasoning": {"max_tokens": 2048}}, {"max_tokens": 2048}),
        ({"max_tokens": 64000, "reasoning": {"effort": "high"}}, {"effort": "high"}),
    ],
)
def test_clamp_body_keeps_openrouters_reasoning_budget_below_the_limit(
    body: dict[str, Any], expected: dict[str, Any]
) -> None:
    original = body["reasoning"]
    snapshot = dict(original)
    assert clamp_body(body, 32000)
    assert body["reasoning"] == expected
    assert original == snapshot  # the client's object is replaced, never changed (reused across attempts)


CLAUDE_OR = "anthropic/claude-sonnet-4.5"


def test_clamp_body_drops_a_reasoning_budget_with_no_room() -> None:
    body: dict[str, Any] = {"model": CLAUDE_OR, "max_tokens": 64000, "reasoning": {"max_tokens": 31999}}
    assert clamp_body(body, 1024)
    assert body == {"model": CLAUDE_OR, "max_tokens": 1024}


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        # Claude on OpenRouter, no room (under Anthropic's 1024): no budget, the client's ``exclude`` kept (OpenRouter
        # infers ``enabled`` from a budget or an effort only); ``enabled`` goes with the budget
        (
            {"model": CLAUDE_OR, "max_tokens": 32000, "reasoning": {"max_tokens": 31999, "exclude": True}},
            1000,
            {"model": CLAUDE_OR, "max_tokens": 1000, "reasoning": {"exclude": True}},
        ),
        (
            {"model": CLAUDE_OR, "max_tokens": 32000, "reasoning": {"max_tokens": 31999, "enabled": True}},
            1000,
            {"model": CLAUDE_OR, "max_tokens": 1000},
        ),
        # Gemini on OpenRouter takes a budget under 1024: lowered, not dropped (dropped, it thought unbounded)
        (
            {"model": "google/gemini-2.5-flash", "max_tokens": 32000, "reasoning": {"max_tokens": 4000}},
            1000,
            {"model": "google/gemini-2.5-flash", "max_tokens": 1000, "reasoning": {"max_tokens": 999}},
        ),
        # Anthropic's own ``thinking`` under 1024: left out whatever the model's name
        (
            {
                "model": "my-alias",
                "max_tokens": 32000,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
            },
            1000,
            {"model": "my-alias", "max_tokens": 1000},
        ),
        # two output limits: the budget fits the least of them (review31), here the one the clamp did not lower
        (
            {"max_tokens": 5000, "max_completion_tokens": 3000, "reasoning": {"max_tokens": 3500}},
            4000,
            {"max_tokens": 4000, "max_completion_tokens": 3000, "reasoning": {"max_tokens": 2999}},
        ),
    ],
)
def test_review32_a_budget_with_no_room_keeps_what_the_provider_and_client_need(
    body: dict[str, Any], limit: int, expected: dict[str, Any]
) -> None:
    """Review32: fix31 dropped any ``reasoning`` object with a budget under 1024 (Anthropic's least), with the
    client's ``exclude``, and a Gemini model's budget, which OpenRouter takes under 1024 (``_fit_budgets``)."""
    objects = [v for v in body.values() if isinstance(v, dict)]
    copies = [dict(v) for v in objects]
    assert clamp_body(body, limit)
    assert body == expected
    assert objects == copies  # the client's own objects: never changed


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        # review31: a chat client's body to Claude behind LiteLLM, asked by max_completion_tokens (the openai SDK's
        # field), with LiteLLM's ``thinking``: the budget goes below the clamped limit as under max_tokens
        (
            {"max_completion_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 31999}},
            8192,
            {"max_completion_tokens": 8192, "thinking": {"type": "enabled", "budget_tokens": 8191}},
        ),
        # OpenRouter's reasoning.max_tokens (Claude's thinking budget there)
        (
            {"max_tokens": 32000, "reasoning": {"max_tokens": 31999, "exclude": False}},
            8192,
            {"max_tokens": 8192, "reasoning": {"max_tokens": 8191, "exclude": False}},
        ),
        (
            {"max_tokens": 32000, "reasoning": {"max_tokens": 4000}},
            8192,
            {"max_tokens": 8192, "reasoning": {"max_tokens": 4000}},
        ),
        (
            {"model": CLAUDE_OR, "max_tokens": 32000, "reasoning": {"max_tokens": 31999}},
            1024,
            {"model": CLAUDE_OR, "max_tokens": 1024},
        ),  # no room for Claude: left out
        (
            {"max_tokens": 32000, "reasoning": {"effort": "high"}},
            8192,
            {"max_tokens": 8192, "reasoning": {"effort": "high"}},
        ),
    ],
)
def test_clamp_body_fits_a_budget_under_either_chat_field(
    body: dict[str, Any], limit: int, expected: dict[str, Any]
) -> None:
    objects = [v for v in body.values() if isinstance(v, dict)]  # the client's own: never changed
    copies = [dict(v) for v in objects]
    assert clamp_body(body, limit)
    assert body == expected
    assert objects == copies


def test_catalog_file_limits() -> None:
    spec = parse_catalog(
        {
            "providers": [
                {
                    "name": "house",
                    "base_url": "http://h/v1",
                    "models": ["a", "b"],
                    "max_output_tokens": 4096,
                    "context_window": 32768,
                    "limits": {"b": {"max_output_tokens": 1024, "context_window": 8192}},
                }
            ]
        }
    ).providers[0]
    provider = ConfiguredProvider(spec, None)
    assert provider.target("a").max_output_tokens == 4096 and provider.target("b").max_output_tokens == 1024
    assert (spec.context_limit("a"), spec.context_limit("b")) == (32768, 8192)
    assert provider.target("deepseek-chat").max_output_tokens == 4096  # the file wins over the family table
    with pytest.raises(CatalogError, match="max_output_tokens"):
        parse_catalog(
            {"providers": [{"name": "h", "base_url": "http://h", "models": ["a"], "max_output_tokens": 0}]}
        )
    with pytest.raises(CatalogError, match="unknown key"):
        parse_catalog(
            {
                "providers": [
                    {"name": "h", "base_url": "http://h", "models": ["a"], "limits": {"a": {"output": 5}}}
                ]
            }
        )


def test_a_stated_limit_is_learned_and_the_lowest_wins() -> None:
    provider = build_providers(load_settings({}))["openai"]
    assert provider.target("gpt-4o-mini").max_output_tokens == 16_384
    assert provider.output_limit_from_error(400, "This model supports at most 4096 completion tokens") == (
        4096,
        True,
    )
    assert provider.output_limit_from_error(429, "This model supports at most 4096 completion tokens") is None
    provider.learn_output_limit("gpt-4o-mini", 4096)
    provider.learn_output_limit("gpt-4o-mini", 8192)
    assert provider.target("gpt-4o-mini").max_output_tokens == 4096
    assert provider.known_output_limit("gpt-4o") is None


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        (
            "deepseek-chat",
            384_000,
        ),  # DeepSeek-V4-Flash's compatibility names since 2026-04-24 (fix32; was 8192)
        ("deepseek-reasoner", 384_000),
        ("deepseek-v4-flash", 384_000),
        ("deepseek-v4-pro", 384_000),
        ("gemini-2.5-pro", 65_536),
    ],
)
def test_more_families(model: str, limit: int) -> None:
    assert max_output_tokens(model) == limit


def test_a_cap_on_unstreamed_requests_is_for_that_request_only() -> None:
    """s12 variant 17-i: Fireworks refuses a request that is not streamed above 4096 output tokens; the retry
    asks for 4096, but the model's limit is not that (a streamed request may ask for more)."""
    assert limit_from_refusal("Requests with max_tokens > 4096 must have stream=true") == StatedLimit(
        4096, False
    )


OPENROUTER_AFFORD = (
    "This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, but can only "
    "afford {n}. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account"
)


def test_what_openrouters_credit_affords_is_for_that_request_only() -> None:
    """s14 variants 17-a/17-f: OpenRouter's 402 credit check states the output the account can afford
    (Gitlawb/openclaude#1125, Claude Code's 32000): a retry within it, for that request only (the credit moves);
    "can only afford 0" leaves nothing to retry with. Only OpenRouter reads its 402 so; another provider's 402
    states no output limit."""
    assert limit_from_refusal(OPENROUTER_AFFORD.format(n=27342)) == StatedLimit(27342, False)
    assert limit_from_refusal(OPENROUTER_AFFORD.format(n=0)) is None
    providers = build_providers(
        load_settings({"OPENROUTER_API_KEY": "k", "OPENAI_API_KEY": "k", "OPENROUTER_BASE_URL": "http://o"})
    )
    message = OPENROUTER_AFFORD.format(n=27342)
    assert providers["openrouter"].output_limit_from_error(402, message, 32000) == StatedLimit(27342, False)
    assert 402 in providers["openrouter"].output_refusal_statuses
    assert providers["openai"].output_limit_from_error(402, message, 32000) is None
    assert 402 not in providers["openai"].output_refusal_statuses


def test_an_affordable_output_too_long_to_read_states_no_limit() -> None:
    """Review of s14 variant 17-a: "can only afford N" with more digits than ``int`` reads (4300:
    ValueError) states no limit (the 402 goes back), never raises."""
    assert limit_from_refusal(OPENROUTER_AFFORD.format(n="9" * 5000), 32000) is None


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        # OpenAI's parameter validator (code integer_above_max_value), as an Azure deployment or an OpenAI-compatible
        # server that copies it answers (s19 variants 17-a, 17-b, 17-d)
        (
            "Invalid 'max_tokens': integer above maximum value. Expected a value <= 16384, but got 32000 instead.",
            16384,
        ),
        (
            "Invalid 'max_completion_tokens': integer above maximum value. Expected a value <= 8192, but got 32000 "
            "instead.",
            8192,
        ),
        (
            "Invalid 'max_output_tokens': integer above maximum value. Expected a value <= 128000, but got 200000 "
            "instead.",
            128000,
        ),
        # Groq's older wording, the model named between the field and the bound (skapadia3214/groq-moa#8; s19 17-e)
        ("max_tokens for `llama-3.1-8b-instant` must be less than or equal to 8000", 8000),
        # a range with the value asked in parentheses (neavo/KeywordGacha#111; s19 variant 17-f)
        ("max_tokens (current value: 32000) must be between 0 and 4000 ", 4000),
        ("max_completion_tokens must be between 1 and 16384", 16384),
        # another parameter's bound, or a nested one (a tool's, reasoning's), is no output limit of the model's
        ("temperature (current value: 5) must be between 0 and 2", None),
        ("reasoning.max_tokens must be between 1024 and 4096", None),
        (
            "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 25 instead.",
            None,
        ),
        (
            "Invalid 'reasoning.max_tokens': integer above maximum value. Expected a value <= 4096, but got 8000 "
            "instead.",
            None,
        ),
    ],
    ids=[
        "max-tokens",
        "max-completion-tokens",
        "max-output-tokens",
        "groq-for-model",
        "between-current-value",
        "between",
        "other-parameter-between",
        "nested-field-between",
        "other-parameter",
        "nested-field",
    ],
)
def test_s19_openais_validator_words_state_the_output_limit(message: str, limit: int | None) -> None:
    """s19 variants 17-a, 17-b, 17-d: "Invalid 'max_tokens': integer above maximum value. Expected a value <= N, but
    got M instead." (OpenAI's validator; Volcengine Ark's words are a copy) stated no limit: Claude Code's and
    Codex's requests to such a server failed with the 400 instead of being asked again within N. s19 variants 17-e,
    17-f: Groq's "max_tokens for `<model>` must be ..." and "max_tokens (current value: N) must be between 0 and M"
    neither."""
    stated = limit_from_refusal(message)
    assert (None if stated is None else stated.tokens) == limit
    assert stated is None or stated.lasting


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        ("field MaxTokens invalid, should be in [1, 65536]", 65536),
        ("field MaxCompletionTokens invalid, should be in [1, 8192]", 8192),
        ("field Temperature invalid, should be in [0, 2]", None),
    ],
    ids=["max-tokens", "max-completion-tokens", "other-field"],
)
def test_s20_a_go_struct_field_name_states_the_output_limit(message: str, limit: int | None) -> None:
    """s20 variants 17-a, 17-b, 17-e: "field MaxTokens invalid, should be in [1, 65536]" (agentscope-ai/QwenPaw#5065)
    stated no limit: the range wording knew only ``max_tokens`` spelled with underscores."""
    stated = limit_from_refusal(message)
    assert (None if stated is None else stated.tokens) == limit


@pytest.mark.parametrize(
    ("message", "asked", "stated"),
    [
        # TGI's own cap (ValidationError::MaxNewTokens): the server's, true of every request
        (
            "Input validation error: `max_new_tokens` must be <= 4096. Given: 32000",
            32000,
            StatedLimit(4096, True),
        ),
        # TGI's window wording is not its cap: what the prompt leaves, this request only
        (
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 22 `inputs` tokens "
            "and 32000 `max_new_tokens`",
            32000,
            StatedLimit(8171, False),
        ),
        # Cerebras counts prompt and max_tokens together, and names no tokens
        (
            "Please reduce the length of the messages or completion. Current length is 32050 while limit is 8192",
            32000,
            StatedLimit(8142, False),
        ),
        # ... and when the prompt alone is past the window, no retry can help
        (
            "Please reduce the length of the messages or completion. Current length is 72328 while limit is 40000",
            32000,
            None,
        ),
    ],
    ids=["tgi-max-new-tokens", "tgi-window", "cerebras-whole-request", "cerebras-prompt-overflow"],
)
def test_s21_tgi_cap_and_cerebras_whole_request_limits(
    message: str, asked: int, stated: StatedLimit | None
) -> None:
    """s21 variants 17-a, 17-b."""
    assert limit_from_refusal(message, asked) == stated


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        # a longer name is another model: no clamp (was the shorter name's limit by prefix)
        ("deepseek/deepseek-chat-v3.1", None),
        ("deepseek/deepseek-chat-v3-0324", None),
        ("deepseek-chat-v3.1:free", None),
        ("gemini-2.0-flash-thinking-exp-01-21", None),
        ("o3-mini-high", None),
        ("gpt-4o-audio-preview", None),
        # the shorter name's own limit was lower than the model's: its own now
        ("openai/gpt-4.5-preview", 16_384),
        ("o1-preview-2024-09-12", 32_768),
        ("gpt-5-pro", 272_000),
        ("gpt-5-chat-latest", 16_384),
        # the same model under a snapshot date, version tag or relay variant
        ("deepseek-chat", 384_000),
        ("gpt-4o-2024-08-06", 16_384),
        ("gpt-4-0613", 8_192),
        ("gemini-2.0-flash-001", 8_192),
        ("google/gemini-2.5-flash-preview-09-2025", 65_536),
        ("anthropic/claude-3.7-sonnet:thinking", 64_000),
        ("claude-opus-4-20250514", 32_000),
        ("claude-opus-4-5-20251101", 64_000),
        ("x-ai/grok-3-mini-beta", 131_072),
        ("llama3:8b", None),
    ],
)
def test_bugd21_a_longer_name_is_another_model(model: str, limit: int | None) -> None:
    """bugd21 variants 17-h..17-j: exact names and what names the same model, never a prefix."""
    assert max_output_tokens(model) == limit


@pytest.mark.parametrize(
    ("message", "stated"),
    [
        ("Invalid max_tokens value, the valid range of max_tokens is [2, 2048]", StatedLimit(2048, True)),
        ("max_output_tokens must be in [16, 8192]", StatedLimit(8192, True)),
        ("max_tokens (current value: 32000) must be between 2 and 4096", StatedLimit(4096, True)),
    ],
    ids=["range-from-2", "range-from-16", "between-from-2"],
)
def test_bugd21_a_range_is_read_whatever_its_lower_bound(message: str, stated: StatedLimit) -> None:
    """bugd21 variant 17-k: a range's upper bound is the limit whatever the lower (Qianfan's "[2, 2048]")."""
    assert limit_from_refusal(message, 32000) == stated


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        ("max_tokens must be less than or equal to 65,536", 65536),
        ("max_tokens is too large: 200,000. This model supports at most 128,000 completion tokens", 128000),
        ("Invalid max_tokens value, the valid range of max_tokens is [1, 8,192]", 8192),
        ("Invalid max_tokens value, the valid range of max_tokens is [1,8192]", 8192),
    ],
)
def test_s23_a_cap_with_grouped_digits_is_the_whole_number(message: str, limit: int) -> None:
    """s23 variant 17-i: a cap whose digits are grouped ("65,536") was read up to the comma and learned as a lasting
    limit of 65 tokens (every later answer of the model cut at 65). A range's comma is no grouping."""
    stated = limit_from_refusal(message)
    assert stated is not None and stated.tokens == limit
