from __future__ import annotations

from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price, data_snapshot

from shared.pricing import Billed, ModelRates, Pricer, Rate


@pytest.mark.parametrize(
    ("provider", "model", "tokens"),
    [
        ("openai", "gpt-4o", (1000, 500, 200, 0)),
        ("openai", "gpt-4o-mini", (10, 3000, 0, 0)),
        ("anthropic", "claude-sonnet-4-5", (1000, 500, 300, 400)),
        ("anthropic", "claude-sonnet-4-5", (250_000, 500, 300, 400)),  # long-context tier
        ("xai", "grok-4", (1000, 50, 0, 0)),
        ("openrouter", "openai/gpt-4o", (10, 10, 0, 0)),
    ],
)
def test_cost_matches_genai_prices(provider: str, model: str, tokens: tuple[int, int, int, int]) -> None:
    uncached, out, cache_read, cache_write = tokens
    # genai-prices wants the whole prompt as input_tokens; our buckets are disjoint.
    ref = calc_price(
        Usage(
            input_tokens=uncached + cache_read + cache_write,
            output_tokens=out,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        ),
        model_ref=model,
        provider_id=provider,
    ).total_price
    got = Pricer().cost(provider, model, uncached, out, cache_read, cache_write)
    assert got == pytest.approx(float(ref), rel=1e-9)


def test_unknown_model_costs_none_not_zero() -> None:
    assert Pricer().cost("openai", "definitely-not-a-model", 100, 100) is None


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "regional.anthropic.claude-3-5-haiku-20241022-v1:0"),
    ],
)
def test_a_bedrock_id_on_a_configured_provider_gets_bedrock_s_price(model: str, listed: str) -> None:
    """s18 variant 06-k: Claude behind a LiteLLM proxy under a Bedrock id, no price in the catalog file: its
    tokens (1h cache writes too) are priced at Bedrock's own listing (genai-prices' "aws"), not left unpriced."""
    rates = Pricer().rates("litellm", model)
    aws = Pricer().rates("aws", model.rsplit("/", 1)[-1])
    assert rates is not None and aws is not None and rates.model_id == listed
    assert rates == aws and rates.cache_write_1h is not None
    # a local model's name is no Bedrock id: still unpriced
    assert Pricer().rates("ollama", "llama3.1:8b") is None


def test_cached_tokens_are_cheaper_than_input() -> None:
    pricer = Pricer()
    all_input = pricer.cost("openai", "gpt-4o", 1000, 0)
    half_cached = pricer.cost("openai", "gpt-4o", 500, 0, cache_read=500)
    assert all_input is not None and half_cached is not None and half_cached < all_input


def test_override_wins() -> None:
    pricer = Pricer()
    pricer.set_override("openai", "gpt-4o", ModelRates("gpt-4o", Rate(1.0), Rate(2.0), Rate(0.5), Rate(1.0)))
    assert pricer.cost("openai", "gpt-4o", 1_000_000, 1_000_000) == pytest.approx(3.0)


# ---- every billed dimension (issue 10) ------------------------------------------------------------

# Price keys genai-prices has for the supported providers, and how the gateway prices each one.
PRICED_KEYS = {
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_reasoning_mtok",
    "web_searches_kcount",
}
# Dimensions the gateway never carries: audio and image modalities, file search, transcription and speech,
# xAI's voice models (per text message and audio hour): the gateway relays text chat, those counts do not
# reach it.
NOT_CARRIED = {
    "input_image_mtok",
    "cache_image_read_mtok",
    "output_image_mtok",
    "input_audio_mtok",
    "cache_audio_read_mtok",
    "output_audio_mtok",
    "storage_searches_kcount",
    "audio_hours",
    "input_audio_hours",
    "input_mchars",
    "input_text_messages_kcount",
}


def test_every_price_key_of_the_supported_providers_is_priced_or_named_as_not_carried() -> None:
    seen: set[str] = set()
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id not in ("openai", "anthropic", "xai", "x-ai", "openrouter"):
            continue
        for model in provider.models:
            prices = model.prices if isinstance(model.prices, list) else [model.prices]
            for p in prices:
                p = getattr(p, "prices", p)
                seen |= {k for k, v in p.__dict__.items() if v is not None and not k.startswith("_")}
    assert seen - PRICED_KEYS - NOT_CARRIED == set()
    assert {"cache_write_1h_mtok", "web_searches_kcount"} <= seen


@pytest.mark.parametrize(
    ("provider", "model", "billed"),
    [
        ("anthropic", "claude-sonnet-4-5", Billed(3, 40, 0, 5424, cache_write_1h_tokens=5424)),
        ("anthropic", "claude-sonnet-4-5", Billed(20, 10, 0, 3000, cache_write_1h_tokens=2000)),
        ("anthropic", "claude-sonnet-4-5", Billed(150_000, 1000, 60_000, 2000, cache_write_1h_tokens=1000)),
        ("anthropic", "claude-opus-4-8", Billed(100, 200, 0, 0, web_search_requests=3)),
        ("openai", "gpt-4o", Billed(100, 50, 0, 0, web_search_requests=2)),
    ],
)
def test_price_matches_genai_prices_for_every_dimension(provider: str, model: str, billed: Billed) -> None:
    ref = calc_price(
        Usage(
            input_tokens=billed.prompt_tokens,
            output_tokens=billed.output_tokens,
            cache_read_tokens=billed.cache_read_tokens,
            cache_write_tokens=billed.cache_write_tokens,
            cache_write_1h_tokens=billed.cache_write_1h_tokens,
            web_searches=billed.web_search_requests,
        ),
        model_ref=model,
        provider_id=provider,
    ).total_price
    rates = Pricer().rates(provider, model)
    assert rates is not None and rates.price(billed) == pytest.approx(float(ref), rel=1e-12)


def test_a_separate_reasoning_price_applies_to_reasoning_tokens_only() -> None:
    snapshot = data_snapshot.get_snapshot()
    openrouter = next(p for p in snapshot.providers if p.id == "openrouter")
    model = next(m for m in openrouter.models if getattr(m.prices, "output_reasoning_mtok", None) is not None)
    prices = model.get_prices(datetime.now(timezone.utc))
    rates = Pricer().rates("openrouter", model.id)
    assert rates is not None and rates.reasoning is not None
    got = rates.price(Billed(input_tokens=0, output_tokens=1000, reasoning_tokens=400))
    want = (600 * float(prices.output_mtok) + 400 * float(prices.output_reasoning_mtok)) / 1e6
    assert got == pytest.approx(want, rel=1e-12)


def test_uncached_price_counts_every_prompt_token_as_input() -> None:
    rates = ModelRates("m", Rate(3.0), Rate(15.0), Rate(0.3), Rate(3.75), cache_write_1h=Rate(6.0))
    billed = Billed(100, 10, cache_read_tokens=1000, cache_write_tokens=1000, cache_write_1h_tokens=500)
    # uncached: 2100 × $3 + 10 × $15 = 6450 µ$; cached: 300 + 150 + 300 + 500 × 3.75 + 500 × 6 = 5625 µ$
    assert rates.uncached_price(billed) == pytest.approx(6450e-6)
    assert rates.price(billed) == pytest.approx(5625e-6)


def test_a_tiered_rate_prices_the_whole_call_at_the_prompt_s_tier_and_a_flat_one_at_its_base() -> None:
    tiered = ModelRates(
        "m", Rate(1.0, ((200_000, 2.0),)), Rate(10.0, ((200_000, 15.0),)), Rate(0.1), Rate(1.25)
    )
    flat = ModelRates("m", Rate(1.0), Rate(10.0), Rate(0.1), Rate(1.25))
    small = Billed(input_tokens=100_000, output_tokens=100_000, cache_read_tokens=50_000)  # prompt 150k
    assert (
        tiered.price(small)
        == flat.price(small)
        == (100_000 * 1.0 + 100_000 * 10.0 + 50_000 * 0.1) / 1_000_000
    )
    large = Billed(input_tokens=150_000, output_tokens=100_000, cache_read_tokens=100_000)  # prompt 250k
    assert tiered.price(large) == (150_000 * 2.0 + 100_000 * 15.0 + 100_000 * 0.1) / 1_000_000
    assert flat.price(large) == (150_000 * 1.0 + 100_000 * 10.0 + 100_000 * 0.1) / 1_000_000


def test_claude_on_openrouter_prices_1h_writes_at_twice_input() -> None:
    """s9 variant 06-l: genai-prices lists no 1-hour write price for OpenRouter's ``anthropic/…``
    models; Anthropic's rule (2× input, tier by tier) fills it, so they match Anthropic's own listing."""
    billed = Billed(3, 40, 0, 5424, cache_write_1h_tokens=5424)
    openrouter = Pricer().rates("openrouter", "anthropic/claude-sonnet-4.5")
    anthropic = Pricer().rates("anthropic", "claude-sonnet-4-5")
    assert openrouter is not None and anthropic is not None
    assert openrouter.cache_write_1h == anthropic.cache_write_1h == Rate(6.0, ((200_000, 12.0),))
    assert openrouter.price(billed) == pytest.approx(0.033153, abs=1e-12)
    gpt = Pricer().rates("openrouter", "openai/gpt-4o")
    assert gpt is not None and gpt.cache_write_1h is None  # no 1-hour TTL outside Claude


@pytest.mark.parametrize(
    ("or_model", "anthropic_model"),
    [
        ("anthropic/claude-3.7-sonnet", "claude-3-7-sonnet-20250219"),
        ("anthropic/claude-3.5-haiku", "claude-3-5-haiku-20241022"),
    ],
)
def test_claude_3_on_openrouter_prices_cache_reads_and_writes_as_anthropic(
    or_model: str, anthropic_model: str
) -> None:
    """bug8a variants 06-a/06-b: genai-prices lists no cache price for OpenRouter's Claude 3.x models, so
    their cache reads cost the full input price (10× Anthropic's) and 5-minute writes the input price
    (not 1.25×). Anthropic's multiples of the input rate fill them: the rates match Anthropic's listing."""
    openrouter = Pricer().rates("openrouter", or_model)
    anthropic = Pricer().rates("anthropic", anthropic_model)
    assert openrouter is not None and anthropic is not None
    assert openrouter.cache_read.base == pytest.approx(anthropic.cache_read.base, rel=1e-12)
    assert openrouter.cache_write.base == pytest.approx(anthropic.cache_write.base, rel=1e-12)
    assert anthropic.cache_read.base == pytest.approx(anthropic.input.base * 0.1, rel=1e-12)
    reads = Billed(100, 50, cache_read_tokens=10_000)
    assert openrouter.price(reads) == pytest.approx(anthropic.price(reads), rel=1e-12)
    gpt = Pricer().rates("openrouter", "openai/gpt-4o")
    assert gpt is not None and gpt.cache_read.base == 1.25  # others keep their own listing


# ---- catalog-file prices and Anthropic's 1-hour cache writes (s13 variant 06-b) ---------------------------


def test_a_claude_price_override_prices_1h_writes_at_twice_its_input() -> None:
    """A catalog file's price for a Claude model states input, output and the (5-minute) cache write; its
    1-hour writes cost 2x the overridden input (Anthropic's ratio for every model), not the 5-minute price."""
    from services.gateway.routing.config import parse_catalog

    file = parse_catalog(
        {"prices": {"anthropic": {"claude-sonnet-4-5": {"input": 2, "output": 10, "cache_write": 2.5}}}}
    )
    rates = file.prices[("anthropic", "claude-sonnet-4-5")].rates("claude-sonnet-4-5")
    billed = Billed(input_tokens=100, output_tokens=50, cache_write_tokens=1400, cache_write_1h_tokens=1000)
    assert rates.price(billed) == pytest.approx((100 * 2 + 400 * 2.5 + 1000 * 4 + 50 * 10) / 1e6)
    # OpenRouter's name for it too; a stated 1-hour price wins; other models keep one write price
    assert file.prices[("anthropic", "claude-sonnet-4-5")].rates("anthropic/claude-sonnet-4.5").price(
        billed
    ) == pytest.approx(0.0057)
    stated = parse_catalog(
        {"prices": {"anthropic": {"claude-x": {"input": 2, "output": 10, "cache_write_1h": 5}}}}
    ).prices[("anthropic", "claude-x")]
    assert stated.rates("claude-x").price(Billed(cache_write_tokens=1000, cache_write_1h_tokens=1000)) == (
        pytest.approx(0.005)
    )
    other = parse_catalog(
        {"prices": {"groq": {"llama": {"input": 1, "output": 1, "cache_write": 3}}}}
    ).prices[("groq", "llama")]
    assert other.rates("llama").price(Billed(cache_write_tokens=1000, cache_write_1h_tokens=1000)) == (
        pytest.approx(0.003)
    )


def test_prices_gives_price_and_uncached_price_to_the_last_bit() -> None:
    """``ModelRates.prices`` (one pass, the request's event) against the two calls it replaces, over
    every OpenAI, Anthropic, xAI and OpenRouter model the price data lists (flat and tiered rates, with
    and without a reasoning price) and counts in every bucket, zeros and odd ones included."""
    snapshot = data_snapshot.get_snapshot()
    pricer = Pricer()
    counts = [
        Billed(19, 10),
        Billed(0, 0),
        Billed(1000, 500, 200, 0),
        Billed(3, 40, 0, 5424, cache_write_1h_tokens=5424),
        Billed(150_000, 1000, 60_000, 2000, cache_write_1h_tokens=1000),
        Billed(250_001, 77, 13, 7, reasoning_tokens=30),
        Billed(100, 1000, reasoning_tokens=400, web_search_requests=3),
        Billed(7, 5, reasoning_tokens=9),  # more reasoning than output (clipped)
        Billed(1, 2, 3, -4),  # nonsense counts take the long way, with the same answer
    ]
    checked = 0
    for provider in snapshot.providers:
        if provider.id not in ("openai", "anthropic", "xai", "openrouter"):
            continue
        for model in provider.models:
            rates = pricer.rates(provider.id, model.id)
            if rates is None:
                continue
            for b in counts:
                assert rates.prices(b) == (rates.price(b), rates.uncached_price(b)), (model.id, b)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-4-20250514"),
        ("anthropic", "claude-sonnet-4-0"),
        ("openrouter", "anthropic/claude-sonnet-4"),
        ("google", "claude-sonnet-4@20250514"),
        ("aws", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ],
)
def test_sonnet_4_prompts_past_200k_take_the_long_context_rates(provider: str, model: str) -> None:
    """bug29c variants 06-sonnet4-long-context-*: Anthropic's pricing page ("Long context pricing") bills every token
    of a Sonnet 4 / 4.5 request whose prompt (input + cache reads + writes) passes 200K at $6 input, $22.50 output,
    the cache prices their multiples ($0.60 reads, $7.50 5-minute and $12 1-hour writes). genai-prices lists that
    step for Sonnet 4.5 only: a 250K-token Sonnet 4 prompt cost half its bill ($0.78 for $1.545)."""
    rates = Pricer().rates(provider, model)
    assert rates is not None
    assert rates.price(Billed(250_000, 2000)) == pytest.approx(1.545, abs=1e-12)
    # past 200K together: 5000 input + 196,000 1-hour writes, 100 out → 30,000 + 2,352,000 + 2,250 µ$
    writes = Billed(5000, 100, 0, 196_000, cache_write_1h_tokens=196_000)
    assert rates.price(writes) == pytest.approx(2.38425, abs=1e-12)
    reads = Billed(10_000, 0, 195_000, 1000)  # 205K: reads at $0.60, 5-minute writes at $7.50
    assert rates.price(reads) == pytest.approx((10_000 * 6 + 195_000 * 0.6 + 1000 * 7.5) / 1e6, abs=1e-12)
    assert rates.price(Billed(199_000, 2000)) == pytest.approx((199_000 * 3 + 2000 * 15) / 1e6, abs=1e-12)


def test_long_context_step_leaves_other_models_and_listed_steps_alone() -> None:
    """Sonnet 4.5's own listed step is kept (Bedrock's, unlisted, follows its regional +10% base); Sonnet 4.6 (1M
    priced flat), Opus and Claude 3.7 Sonnet get none."""
    pricer = Pricer()
    listed = pricer.rates("anthropic", "claude-sonnet-4-5")
    assert listed is not None and listed.output == Rate(15.0, ((200_000, 22.5),))
    bedrock = pricer.rates("aws", "anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert bedrock is not None and bedrock.input == Rate(3.3, ((200_000, 6.6),))
    for model in ("claude-sonnet-4-6", "claude-opus-4-1", "claude-3-7-sonnet-latest", "claude-haiku-4-5"):
        rates = pricer.rates("anthropic", model)
        assert rates is not None and not rates.input.tiers and not rates.output.tiers, model


@pytest.mark.parametrize(
    ("model", "long_input", "long_output"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 6.6, 24.75),  # a geo profile: the regional +10% base
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", 6.6, 24.75),  # in-region
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 6.0, 22.5),  # global: Anthropic's own rates
    ],
)
def test_bedrock_sonnet_45_long_context_by_profile(model: str, long_input: float, long_output: float) -> None:
    """s31 fix31 (``shared/pricing.py``, the long-context comment): past 200K, 2× input and 1.5× output on each Bedrock
    listing's own base: $6.60/$24.75 per MTok for the regional and geo profiles, $6/$22.50 for ``global.``."""
    rates = Pricer().rates("aws", model)
    assert rates is not None
    assert rates.input.tiers == ((200_000, pytest.approx(long_input)),)
    assert rates.output.tiers == ((200_000, pytest.approx(long_output)),)
