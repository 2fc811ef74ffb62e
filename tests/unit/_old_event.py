"""The ledger event as main built it before issue 13's session 15 (``calls.event_for`` at 56c8414, with its
pricing helpers), kept verbatim (but for ``ModelRates.prices``, spelled as the two calls it equals to the last bit) as the reference ``tests/unit/test_event_row.py`` compares ``row_for`` with."""

from __future__ import annotations

from dataclasses import replace

from services.gateway.calls import MESSAGE_LIMIT, Attempt, Call
from services.gateway.dialects._prompt_cache import writes_all_1h
from services.gateway.dialects.ir import Usage
from shared.events import FailedAttempt, UsageEvent
from shared.pricing import Billed, ModelRates, Pricer, geo_multiplier, speed_multiplier


def event_for(call: Call, pricer: Pricer, finished_at: float, latency_ms: float) -> UsageEvent:
    """The ledger event for a finished call (pure).

    Provider, wire and translation are the last attempt's (the one that answered, or the last tried);
    usage and cost are the answering attempt's. Cost: the catalog file's price when the route was
    priced from it, else ``pricer`` (genai-prices), else the provider's own figure (OpenRouter's
    ``usage.cost``) takes precedence over both; ``None`` when no price is known (never a silent 0); 0 when
    no upstream was called at all.
    Cache writes reported without their TTL split are 1-hour ones when the client's request marked every
    breakpoint ``ttl: "1h"`` (``_prompt_cache.writes_all_1h``); a split the provider reported stands.
    """
    last = call.attempts[-1] if call.attempts else None
    answered: Attempt | None = None
    disconnected = False
    failed: list[FailedAttempt] = []
    for a in call.attempts:  # one plain pass (a next/any/list comprehension each were 2-3 calls per request)
        if a.answered and answered is None:
            answered = a
        disconnected = disconnected or a.client_disconnected
        if a.error is not None:  # not one the gateway refused itself, or one cut off by the client
            failed.append(
                FailedAttempt(a.route.provider, a.status, a.error_type or "error", a.message[:MESSAGE_LIMIT])
            )
    usage = (answered.usage if answered else None) or Usage()
    if usage.iterations:
        if any(_unsplit_writes(it.usage) for it in usage.iterations) and writes_all_1h(call.body):
            usage = _iterations_write_1h(usage)  # iterations reported without a split (s14 variant 28-a)
    elif _unsplit_writes(usage) and writes_all_1h(call.body):
        usage = replace(
            usage, cache_write_1h_tokens=usage.cache_write_tokens
        )  # no split reported (OpenRouter)
    # No upstream attempt (the gateway refused the request itself: unknown model, bad input, a budget):
    # nothing was billed, a known $0, not an unknown price
    cost: float | None = None if call.attempts else 0.0
    savings: float | None = None
    if answered is not None:
        cost, savings = _cost(answered, usage, pricer)
    return UsageEvent(
        request_id=call.request_id,
        endpoint=call.endpoint.path,
        client_format=call.fmt,
        model=call.model,
        started_at=call.started_at,
        finished_at=finished_at,
        provider=last.route.provider if last else None,
        provider_format=last.wire if last else None,
        translated=last.translated if last else False,
        served_model=answered.served_model if answered else None,
        status=call.status or 500,
        error_type=call.error_type if call.status else (call.error_type or "internal_error"),
        streamed=call.stream,
        # no attempt: a 499 is the gateway's own, a client gone before any upstream answer could be
        client_disconnected=disconnected or (last is None and call.status == 499),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        ttft_ms=answered.ttft_ms if answered else None,
        attempts=len(call.attempts),
        failed_attempts=failed,
        api_key_name=call.api_key_name,
        session_id=call.session_id,
        agent_id=call.agent_id,
        client=call.client,
        request_class=call.request_class,
        budget_alert=call.budget_alert,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        web_search_requests=usage.web_search_requests,
        cache_savings_usd=savings,
    )


def _billed(u: Usage, searches: int) -> Billed:
    # positional, in Billed's field order (input, output, cache read, cache write, 1-hour writes,
    # reasoning, searches): once per priced request, and keywords are matched one by one
    return Billed(
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.cache_write_1h_tokens,
        u.reasoning_tokens,
        searches,
    )


def _times(geo: float, fast: float | None) -> float | None:
    """The two price factors stacked; None when the speed's is unknown."""
    return None if fast is None else geo * fast


def _unsplit_writes(usage: Usage) -> bool:
    """Cache writes reported without any TTL split (the provider's own split wins: bug8a variant 06-f)."""
    return bool(usage.cache_write_tokens) and not usage.cache_write_1h_tokens and not usage.cache_write_split


def _iterations_write_1h(usage: Usage) -> Usage:
    """``usage`` whose iterations that reported cache writes without a TTL split count them as 1-hour writes
    (every breakpoint of the request asked 1 hour; each iteration is priced on its own in ``_cost``)."""
    iterations = tuple(
        replace(it, usage=replace(it.usage, cache_write_1h_tokens=it.usage.cache_write_tokens))
        if _unsplit_writes(it.usage)
        else it
        for it in usage.iterations
    )
    return replace(
        usage,
        iterations=iterations,
        cache_write_1h_tokens=sum(it.usage.cache_write_1h_tokens for it in iterations),
    )


def _cost(attempt: Attempt, usage: Usage, pricer: Pricer) -> tuple[float | None, float | None]:
    """(cost, cache savings) of the answering attempt; None where a price is unknown.

    Rates: the route's own when it was priced from the catalog file (the price this request is charged
    at) or as its vendor's model (an OpenRouter model missing from the price data: OpenRouter passes the
    vendor's list price through, ``routing.catalog``), else genai-prices for the route's model; an iteration that ran on another model is priced at that
    model's genai-prices rates at the same provider. Each iteration is priced on its own (its own tier);
    web searches are counted for the whole request and priced at the route's model. The provider's own
    figure (OpenRouter's, what the user pays), when reported, is the cost; the savings still come from
    the rates, so they read the same on every provider. Tokens of a request that ran with US-only inference
    (Anthropic's ``usage.inference_geo: "us"``) cost ``shared.pricing.geo_multiplier`` times the rates, and
    tokens served in fast mode (``usage.speed: "fast"``) ``shared.pricing.speed_multiplier`` times them (the
    factors stack; searches keep their price); a fast request on a model whose fast price is unknown has
    no token cost (None, never the standard price). An answer served at an OpenAI service tier
    (``service_tier`` "flex", "priority") is priced at that tier's rates (``Pricer.tier_rates``; the
    standard ones where the price data has none for the model and tier); one served at a tier without a
    per-token price ("scale", ``shared.pricing.UNPRICED_TIERS``) has no cost (None: "without a price").
    """
    route = attempt.route
    own: ModelRates | None
    if route.price_source in ("catalog", "vendor") and route.rates is not None:
        own = route.rates
    elif usage.service_tier is None:
        own = pricer.rates(route.provider, route.model)
    else:  # the OpenAI service tier's price (flex, priority), the standard one when it has none
        own = pricer.tier_rates(route.provider, route.model, usage.service_tier)
    geo = geo_multiplier(usage.inference_geo)  # US-only inference costs more on every token
    if not usage.iterations:  # one part: priced at once, without the sums over parts below
        # so does fast mode (no call when the speed is not stated: most answers)
        fast = 1.0 if usage.speed is None else speed_multiplier(route.model, usage.speed)
        if own is None or fast is None:
            return usage.provider_cost_usd, None
        billed = _billed(usage, usage.web_search_requests)
        # a tier's price beyond the prompt size its data covers (``ModelRates.knows``, without its call)
        if own.known_up_to is not None and billed.prompt_tokens > own.known_up_to:
            return usage.provider_cost_usd, None
        price, plain = own.price(billed), own.uncached_price(billed)  # = prices(billed) (test_pricing)
        if geo * fast != 1.0:  # on the tokens, not on the searches
            g = geo * fast
            searched = billed.web_search_requests * own.web_search
            price, plain = (price - searched) * g + searched, (plain - searched) * g + searched
        saved = plain - price
        return (price if usage.provider_cost_usd is None else usage.provider_cost_usd), saved
    parts: list[tuple[ModelRates | None, Billed, float | None]] = [
        (
            own if it.model in (None, route.model) else pricer.rates(route.provider, it.model),
            _billed(it.usage, 0),
            _times(geo, speed_multiplier(it.model or route.model, usage.speed)),
        )
        for it in usage.iterations
    ]
    parts.append((own, Billed(web_search_requests=usage.web_search_requests), 1.0))  # searches: not tokens
    cost: float | None = None
    savings: float | None = None
    if all(rates is not None and g is not None and rates.knows(b) for rates, b, g in parts):
        prices = [
            (rates.price(b) * g, rates.uncached_price(b) * g)
            for rates, b, g in parts
            if rates is not None and g is not None
        ]
        cost = sum(p for p, _ in prices)
        savings = sum(u - p for p, u in prices)
    if usage.provider_cost_usd is not None:
        cost = usage.provider_cost_usd
    return cost, savings
