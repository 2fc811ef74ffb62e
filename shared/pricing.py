"""Request cost from the prices shipped in `genai-prices` (used offline: its updater is never created).

Looking a model up in genai-prices costs ~100 µs and its Decimal arithmetic ~50 µs, so each
(provider, model) is resolved once into float rates; costing a request is then a few multiplications.
Token buckets are disjoint here (``input_tokens`` excludes cache reads and writes).

Every dimension genai-prices prices for the supported providers' chat models is used: input, output,
cache reads, 5-minute cache writes (``cache_write_mtok``), 1-hour cache writes (``cache_write_1h_mtok``,
2× input at Anthropic), reasoning tokens where they have their own price (``output_reasoning_mtok``),
and web searches (``web_searches_kcount``, USD per thousand). Tiers (a higher price for every token once
the prompt passes a threshold, Anthropic's and Google's long-context prices) apply to all of them.
Audio, image and file-search prices exist for a few OpenAI models; the gateway does not carry those
modalities' counts, so they are not priced.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from genai_prices import data_snapshot, types


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million tokens; ``tiers`` are (input-token threshold, price) from the lowest."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, prompt_tokens: int) -> float:
        price = self.base
        for start, tier_price in self.tiers:
            if prompt_tokens > start:
                price = tier_price
        return price


@dataclass(slots=True)  # not frozen: a frozen __init__ sets each field through object.__setattr__
class Billed:
    """What one model call bills, in disjoint buckets (built twice per priced request: not frozen, which
    made each construction about 2 µs; treat it as a value all the same).

    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written with the 1-hour TTL;
    ``reasoning_tokens`` is the part of ``output_tokens`` spent reasoning (priced apart only where the
    model lists a reasoning price); ``web_search_requests`` are server-side searches, priced per search.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    web_search_requests: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True, slots=True)
class ModelRates:
    model_id: str
    input: Rate
    output: Rate
    cache_read: Rate
    cache_write: Rate  # 5-minute writes (and writes whose TTL is not reported)
    cache_write_1h: Rate | None = None  # None: 1-hour writes cost what other writes cost
    reasoning: Rate | None = None  # None: reasoning tokens cost what other output tokens cost
    web_search: float = 0.0  # USD per search
    # Prompt tokens above which the price is unknown (``Pricer.tier_rates``: a tier's flat price where the
    # standard one steps up at that many); None: known at every size
    known_up_to: int | None = None
    # Audio token rates (genai-prices' ``input_audio_mtok``, ``output_audio_mtok``); None: audio tokens cost what
    # text tokens cost
    input_audio: Rate | None = None
    output_audio: Rate | None = None
    # No rate has tiers: ``price`` reads each ``base`` without calling ``Rate.at`` (set in __post_init__).
    _flat: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = (
            self.input,
            self.output,
            self.cache_read,
            self.cache_write,
            self.cache_write_1h,
            self.reasoning,
        )
        object.__setattr__(self, "_flat", not any(r.tiers for r in rates if r is not None))

    def knows(self, b: Billed) -> bool:
        """The price of ``b`` is known (its prompt within ``known_up_to``)."""
        return self.known_up_to is None or b.prompt_tokens <= self.known_up_to

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
        return self.price(Billed(input_tokens, output_tokens, cache_read, cache_write))

    def price(self, b: Billed) -> float:
        """USD for one call's billed counts."""
        prompt = b.input_tokens + b.cache_read_tokens + b.cache_write_tokens  # b.prompt_tokens
        write_1h = min(max(b.cache_write_1h_tokens, 0), b.cache_write_tokens)
        reasoning = min(max(b.reasoning_tokens, 0), b.output_tokens) if self.reasoning is not None else 0
        if self._flat:
            rates = (self.input.base, self.output.base, self.cache_read.base, self.cache_write.base)
        else:
            rates = (
                self.input.at(prompt),
                self.output.at(prompt),
                self.cache_read.at(prompt),
                self.cache_write.at(prompt),
            )
        tokens = (
            b.input_tokens * rates[0]
            + (b.output_tokens - reasoning) * rates[1]
            + b.cache_read_tokens * rates[2]
            + (b.cache_write_tokens - write_1h) * rates[3]
        )
        if write_1h:
            tokens += write_1h * (self.cache_write_1h or self.cache_write).at(prompt)
        if reasoning and self.reasoning is not None:
            tokens += reasoning * self.reasoning.at(prompt)
        return tokens / 1_000_000 + b.web_search_requests * self.web_search

    def audio_extra(self, audio_input_tokens: int, audio_output_tokens: int) -> float:
        """USD to add to a price reckoned with every token at the text rates, for the audio parts of the input
        and output counts: each audio token at its audio rate instead of the text one (gpt-audio: $32 and $64
        per MTok of audio in and out, against $2.5 and $10 for text; OpenAI pricing, genai-prices). 0 when the
        model lists no audio rate (its audio tokens cost what text tokens cost). Flat rates (no model has
        tiered audio prices)."""
        extra = 0.0
        if audio_input_tokens > 0 and self.input_audio is not None:
            extra += audio_input_tokens * (self.input_audio.base - self.input.base)
        if audio_output_tokens > 0 and self.output_audio is not None:
            extra += audio_output_tokens * (self.output_audio.base - self.output.base)
        return extra / 1_000_000

    def uncached_price(self, b: Billed) -> float:
        """USD for the same call had nothing been read from or written to a prompt cache: every prompt
        token at the input price (same tier: the prompt is as long either way)."""
        plain = Billed(
            input_tokens=b.prompt_tokens,
            output_tokens=b.output_tokens,
            reasoning_tokens=b.reasoning_tokens,
            web_search_requests=b.web_search_requests,
        )
        return self.price(plain)

    def prices(self, b: Billed) -> tuple[float, float]:
        """``(price(b), uncached_price(b))`` in one pass, the same floats to the last bit (the same
        operations in the same order; ``tests/unit/test_pricing.py`` compares them): what a request's
        event needs, without building the uncached ``Billed`` nor resolving the tier twice (issue 13)."""
        return self.prices_of(
            b.input_tokens,
            b.output_tokens,
            b.cache_read_tokens,
            b.cache_write_tokens,
            b.cache_write_1h_tokens,
            b.reasoning_tokens,
            b.web_search_requests,
        )

    def prices_of(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        cache_write_1h_tokens: int,
        reasoning_tokens: int,
        web_search_requests: int,
    ) -> tuple[float, float]:
        """``prices`` of the counts ``Billed`` would hold (same order), without building one where the
        rates are flat and no write is a 1-hour one (most requests; issue 13, session 15: the ``Billed``
        and the helper that made it were two of the event's Python calls). USD, as ``prices``."""
        if not self._flat or cache_write_1h_tokens or cache_write_tokens < 0:
            b = Billed(
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_write_tokens,
                cache_write_1h_tokens,
                reasoning_tokens,
                web_search_requests,
            )
            return self.price(b), self.uncached_price(b)
        prompt = input_tokens + cache_read_tokens + cache_write_tokens
        out = output_tokens
        reasoning = min(max(reasoning_tokens, 0), out) if self.reasoning is not None else 0
        r_in, r_out = self.input.base, self.output.base
        searched = web_search_requests * self.web_search
        tokens = (
            input_tokens * r_in
            + (out - reasoning) * r_out
            + cache_read_tokens * self.cache_read.base
            + cache_write_tokens * self.cache_write.base
        )
        plain = (
            prompt * r_in + (out - reasoning) * r_out + 0 * self.cache_read.base + 0 * self.cache_write.base
        )
        if reasoning and self.reasoning is not None:
            tokens += reasoning * self.reasoning.base
            plain += reasoning * self.reasoning.base
        return tokens / 1_000_000 + searched, plain / 1_000_000 + searched


def _rate(value: Any, fallback: Rate | None = None) -> Rate | None:
    if value is None:
        return fallback
    if isinstance(value, types.TieredPrices):
        return Rate(float(value.base), tuple((int(t.start), float(t.price)) for t in value.tiers))
    return Rate(float(value))


# Claude's cache prices as multiples of its base input price (Anthropic's pricing page, "Prompt caching":
# cache hits 0.1×, 5-minute writes 1.25×, 1-hour writes 2×; OpenRouter's prompt-caching docs charge the same)
CLAUDE_CACHE_READ, CLAUDE_CACHE_WRITE_5M, CLAUDE_CACHE_WRITE_1H = 0.1, 1.25, 2.0


def claude_cache_rate(model_id: str, input_rate: Rate, factor: float, *, claude: bool = False) -> Rate | None:
    """A cache rate of a Claude model whose listing lacks it: ``factor`` × the input rate, tier by tier.
    genai-prices lists the 1-hour rate for Anthropic's own endpoint only, and no cache price at all for
    OpenRouter's older ``anthropic/…`` models (3.x), which it would then charge at the full input price
    (10× a cache read's). A Claude model is one whose id says so, or (``claude``) one its provider is
    known to serve Claude under another name (a relay's alias such as ``sonnet``). None for other models:
    their missing cache price is the input price."""
    if not claude and "claude" not in model_id.lower():
        return None
    return Rate(input_rate.base * factor, tuple((start, price * factor) for start, price in input_rate.tiers))


# Anthropic's long-context pricing (pricing page, "Long context pricing"): Claude Sonnet 4 and Sonnet 4.5 with the
# 1M-token context window bill EVERY token of a request whose prompt (input + cache reads + cache writes) passes
# 200K at premium rates: input 2× ($3 → $6 per MTok), output 1.5× ($15 → $22.50), and the cache prices stay their
# multiples of input ("prompt caching multipliers apply on top": 5m writes $7.50, 1h writes $12, reads $0.60).
# genai-prices lists the step for ``claude-sonnet-4-5`` at Anthropic, Vertex and OpenRouter, but not for Sonnet 4 at
# any of them nor for Sonnet 4.5 on Bedrock, which then priced a 250K-token prompt at half its bill.
# Bedrock (s31 fix31): the step applies to each listing's own base, so Sonnet 4.5's regional and geo profiles
# (``us.``/``eu.``/…, and the bare id: genai-prices' ``regional.…`` listing, $3.30/$16.50 from the AWS price list API,
# AmazonBedrockFoundationModels us-east-1) cost $6.60/$24.75 per MTok past 200K, and the ``global.`` profile ($3/$15:
# "approximately 10% savings … compared to geographic cross-Region inference", AWS Bedrock user guide,
# global-cross-region-inference.html) $6/$22.50. The Bedrock pricing page (aws.amazon.com/bedrock/pricing) could not be
# read row by row from the stored copies: $6.60/$24.75 is this derivation, not a figure read there.
LONG_CONTEXT_FROM_TOKENS = 200_000
_LONG_CONTEXT_INPUT, _LONG_CONTEXT_OUTPUT = 2.0, 1.5
# Sonnet 4 and 4.5 under their listings' ids: ``claude-sonnet-4-0``, ``claude-sonnet-4-20250514``, ``claude-4-sonnet``
# (Vertex), ``anthropic/claude-sonnet-4`` (OpenRouter), ``…anthropic.claude-sonnet-4-5-20250929-v1:0`` (Bedrock); not
# Sonnet 4.6 (its 1M window is priced flat) nor later
_LONG_CONTEXT_SONNET = re.compile(
    r"claude-(?:sonnet-4(?:[-.](?P<minor>\d+))?|4(?:-(?P<vminor>\d))?-sonnet)(?!\d)", re.I
)


def claude_long_context(rates: ModelRates) -> ModelRates:
    """``rates`` with Anthropic's long-context step (``LONG_CONTEXT_FROM_TOKENS``) added where the listing of a Claude
    Sonnet 4 or 4.5 model lacks it (its input rate has no tiers); any other ``rates`` as they are. The step is
    2× on input and every cache rate, 1.5× on output, from each listing's own base (Bedrock's regional +10% kept)."""
    if rates.input.tiers or not (m := _LONG_CONTEXT_SONNET.search(rates.model_id)):
        return rates
    minor = m.group("minor") or m.group("vminor")
    if minor is not None and minor not in ("0", "5") and len(minor) != 8:  # 8 digits: a date, Sonnet 4's
        return rates

    def stepped(rate: Rate, factor: float) -> Rate:
        return Rate(rate.base, ((LONG_CONTEXT_FROM_TOKENS, rate.base * factor),))

    one_hour = rates.cache_write_1h
    return replace(
        rates,
        input=stepped(rates.input, _LONG_CONTEXT_INPUT),
        output=stepped(rates.output, _LONG_CONTEXT_OUTPUT),
        cache_read=stepped(rates.cache_read, _LONG_CONTEXT_INPUT),
        cache_write=stepped(rates.cache_write, _LONG_CONTEXT_INPUT),
        cache_write_1h=None if one_hour is None else stepped(one_hour, _LONG_CONTEXT_INPUT),
    )


# Anthropic's data-residency pricing: a request that ran with ``inference_geo: "us"`` (US-only inference,
# Claude Opus 4.6 and later models) costs 1.1× in every token category; "global" (the default) the list
# price (Anthropic's data-residency and pricing docs; Claude Platform on AWS: "A 1.1x pricing multiplier
# applies"). The answer's ``usage.inference_geo`` says where it ran.
# OpenAI's file search tool: $2.50 per 1,000 calls on top of the tokens (OpenAI pricing, "Built-in tools"; genai-prices
# lists no per-call price for it). One call per ``file_search_call`` item of a Responses answer.
FILE_SEARCH_USD_PER_CALL = 2.50 / 1000

_GEO_MULTIPLIERS = {"us": 1.1}


def geo_multiplier(inference_geo: str | None) -> float:
    """The factor on a request's token prices for where it ran (``usage.inference_geo``); 1.0 when unknown."""
    return _GEO_MULTIPLIERS.get(inference_geo, 1.0) if inference_geo else 1.0


# Anthropic's fast mode (``speed: "fast"``): every token category, cache reads and writes included, costs a
# per-model multiple of the standard rates, tier by tier (the multiplier applies "across the full context
# window"); web searches keep their price, and a request the API served at standard speed (a fallback, or a
# model whose fast mode was removed) is billed at standard. The answer's ``usage.speed`` says which tier
# served it. Sources (fast-mode docs, platform.claude.com/docs/en/build-with-claude/fast-mode, and
# code.claude.com/docs/en/fast-mode, with each model's pricing page):
# - Opus 4.6: 6× ($30 / $150 per MTok). The first fast-mode table read $60 / $225 above 200K input tokens
#   (6× the long-context rates of the time); Opus 4.6 is now listed flat to 1M ($5 / $25, genai-prices
#   too) and fast mode is "a multiplier on standard rates across the full context window, including
#   requests over 200k input tokens", so a fast request above 200K costs $30 / $150 as well.
# - Opus 4.7: 6× ($30 / $150; Claude Code fast-mode docs).
# - Opus 4.8: 2× ($10 / $50; Claude Code fast-mode docs).
# - Opus 5: 2× ($10 / $50; OpenRouter's ``claude-opus-5-fast``: "2x pricing relative to regular Opus 5").
# - Opus 5.5: 2× ($8 / $40 on $4 / $20; LiteLLM's Opus 5.5 notes: "about 2x the base price").
# - Fable 5.2: 2× "across all token types (input, output, 5-minute and 1-hour cache write, and cache hit
#   tokens). Web search tool calls are billed at the standard rate" (Google Cloud's Fable 5.2 model page;
#   $16 / $80 on $8 / $40).
# - Mythos 5.2: 2× (it shares Fable 5.2's specifications and pricing; fast-mode docs list it as supported).
# Keys are Anthropic model ids without a date suffix; dots read as dashes (OpenRouter's ``claude-opus-4.6``).
FAST_MULTIPLIERS = {
    "claude-opus-4-6": 6.0,
    "claude-opus-4-7": 6.0,
    "claude-opus-4-8": 2.0,
    "claude-opus-5": 2.0,
    "claude-opus-5-5": 2.0,
    "claude-fable-5-2": 2.0,
    "claude-mythos-5-2": 2.0,
}
_DATED = re.compile(r"-\d{8}$")


def speed_multiplier(model: str, speed: str | None) -> float | None:
    """The factor on a request's token prices for the speed tier that served it (``usage.speed``).

    1.0 when the speed is not stated or is not "fast" (standard, or a fast request that fell back). For
    "fast", ``FAST_MULTIPLIERS`` of ``model`` (an Anthropic id, dated or not, with or without a
    ``vendor/`` prefix); None when the model's fast price is not known, so the cost is unknown rather than
    understated.
    """
    if speed != "fast":
        return 1.0
    name = _DATED.sub("", model.rsplit("/", 1)[-1].lower().replace(".", "-"))
    return FAST_MULTIPLIERS.get(name)


# OpenAI's Scale Tier: capacity bought ahead in units of tokens per minute, billed per unit and term (OpenAI,
# "Scale Tier"; its overflow is served, and stated, as "default"). A request served at it has no per-token
# price, and genai-prices has no variant for it: pricing its tokens at the standard rates would state a cost
# nobody pays per request, so its cost is unknown (None), as a fast-mode request on a model without a fast
# price is.
UNPRICED_TIERS = frozenset({"scale"})


class Pricer:
    """Resolves and caches per-model rates. Thread-safe; misses are cached too."""

    def __init__(self, overrides: dict[tuple[str, str], ModelRates] | None = None) -> None:
        self._cache: dict[tuple[str, str], ModelRates | None] = dict(overrides or {})
        self._tiers: dict[tuple[str, str, str], ModelRates | None] = {}
        self._overridden: set[tuple[str, str]] = set(overrides or {})
        self._lock = threading.Lock()

    def rates(self, provider: str, model: str) -> ModelRates | None:
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = _lookup(provider, model)
        with self._lock:
            self._cache[key] = found
        return found

    def tier_rates(self, provider: str, model: str, service_tier: str) -> ModelRates | None:
        """``model``'s rates at the OpenAI service tier that served a request (``service_tier`` of the
        answer: "flex", "priority", "scale", "default", "auto").

        genai-prices' price variant ``when={"service_tier": tier}`` for the model, priced like ``rates``
        (OpenAI pricing page, "Flex" / "Priority" tabs: flex is about half, priority about 1.7-2x). A tier
        without such a variant for the model ("default", "auto", an unknown tier, a provider that lists
        none) gets ``rates(provider, model)``, the standard price, as do models an override prices.
        Resolved once per (provider, model, tier).

        None (the price unknown: the ledger's ``cost_usd`` null, never the standard price) for a tier whose
        tokens have no per-token price (``UNPRICED_TIERS``), unless an override prices the model. A tier's
        flat price for a model whose standard price steps up with the prompt (gpt-5.4 and gpt-5.5 above
        272K input tokens: "billed at the long-context rates") is known only below the step
        (``ModelRates.known_up_to``): the price data does not say the tier's long-context price.
        """
        key = (provider, model, service_tier)
        try:
            return self._tiers[key]
        except KeyError:
            pass
        overridden = (provider, model) in self._overridden
        found = None if overridden else _lookup(provider, model, service_tier)
        if found is None and (overridden or service_tier not in UNPRICED_TIERS):
            found = self.rates(provider, model)
        elif found is not None:
            found = _within_standard_steps(found, self.rates(provider, model))
        with self._lock:
            self._tiers[key] = found
        return found

    def list_rates(self, provider: str, model: str) -> ModelRates | None:
        """``provider``'s own list price for ``model`` from the price data, whatever override is set (a
        catalog file's price is one user's contract, not the list price)."""
        return _lookup(provider, model)

    def set_override(self, provider: str, model: str, rates: ModelRates) -> None:
        with self._lock:
            self._cache[(provider, model)] = rates
            self._overridden.add((provider, model))
            self._tiers = {k: v for k, v in self._tiers.items() if k[:2] != (provider, model)}

    def cost(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> float | None:
        """USD for one request, or None when the model's price is unknown (never a silent 0)."""
        rates = self.rates(provider, model)
        if rates is None:
            return None
        return rates.cost(input_tokens, output_tokens, cache_read, cache_write)


def _within_standard_steps(tier: ModelRates, standard: ModelRates | None) -> ModelRates:
    """``tier`` known only up to ``standard``'s first input-price step when ``tier``'s input price has none
    (``ModelRates.known_up_to``)."""
    if standard is None or not standard.input.tiers or tier.input.tiers:
        return tier
    return replace(tier, known_up_to=standard.input.tiers[0][0])


# An Amazon Bedrock model id, maybe behind a cross-region prefix (us., eu., apac., global., …) and as the last
# part of a path or ARN (LiteLLM's ``bedrock/us.anthropic.claude-…``, ``…:inference-profile/us.anthropic.…``):
# ``<vendor>.<model>-v<N>[:<M>]`` (Bedrock's "Supported foundation models" and "inference profiles" tables).
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2,6}\.)?[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9.-]*-v\d+(?::\d+)?$")
BEDROCK_PRICES_ID = "aws"  # genai-prices' provider id for Amazon Bedrock


def bedrock_model_id(model: str) -> str | None:
    """The Bedrock model id ``model`` names (``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` from itself, from
    ``bedrock/us.anthropic.…`` or an inference-profile ARN), or None for a name of another shape (``claude-…``,
    ``llama3.1:8b``, ``openai/gpt-4o``)."""
    last = model.rsplit("/", 1)[-1].strip().lower()
    return last if _BEDROCK_ID.match(last) else None


def _lookup(provider: str, model: str, service_tier: str | None = None) -> ModelRates | None:
    """``provider``'s price of ``model`` from genai-prices, None when unknown. With ``service_tier``, the
    price of its ``service_tier`` variant, None when the model has no variant with prices for that tier.

    A Bedrock model id (``bedrock_model_id``) that ``provider``'s listing lacks (a LiteLLM or other relay in
    front of Bedrock, configured in the catalog file without a price) gets Bedrock's own listing: the price its
    tokens are billed at (a cross-region ``us.`` profile at Bedrock's regional rates; s18 variant 06-k: Claude's
    1h cache writes under a Bedrock id were unpriced, cost null)."""
    snapshot = data_snapshot.get_snapshot()
    try:
        found_provider, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        bedrock = bedrock_model_id(model)
        if bedrock is None or provider == BEDROCK_PRICES_ID:
            return None
        try:
            found_provider, info = snapshot.find_provider_model(bedrock, None, BEDROCK_PRICES_ID, None)
        except LookupError:
            return None
    # variants only for the provider's own listing, not a model found at another provider (as genai-prices'
    # own ``calc_price`` with a ``price_context``)
    if service_tier is not None and not any(info is m for m in found_provider.models):
        return None
    now = datetime.now(timezone.utc)
    if service_tier is None:
        prices = info.get_prices(now)
    else:
        when = {"service_tier": service_tier}
        if not any(v.when == when and any(vars(v.prices).values()) for v in info.price_variants or ()):
            return None
        prices = info.get_prices(now, when)
    input_rate = _rate(prices.input_mtok)
    output_rate = _rate(prices.output_mtok)
    if input_rate is None or output_rate is None:
        return None
    # genai-prices charges uncached-input price when a model lists no cache price (but Claude's are known).
    cache_write = (
        _rate(prices.cache_write_mtok)
        or _rate(prices.cache_write_5m_mtok)
        or claude_cache_rate(info.id, input_rate, CLAUDE_CACHE_WRITE_5M)
        or input_rate
    )
    cache_read = (
        _rate(prices.cache_read_mtok)
        or claude_cache_rate(info.id, input_rate, CLAUDE_CACHE_READ)
        or input_rate
    )
    searches = prices.web_searches_kcount
    return claude_long_context(
        ModelRates(
            model_id=info.id,
            input=input_rate,
            output=output_rate,
            cache_read=cache_read,
            cache_write=cache_write,
            cache_write_1h=_rate(prices.cache_write_1h_mtok)
            or claude_cache_rate(info.id, input_rate, CLAUDE_CACHE_WRITE_1H),
            reasoning=_rate(prices.output_reasoning_mtok),
            web_search=float(searches) / 1000
            if searches is not None and not isinstance(searches, types.TieredPrices)
            else 0.0,
            input_audio=_rate(prices.input_audio_mtok),
            output_audio=_rate(prices.output_audio_mtok),
        )
    )
