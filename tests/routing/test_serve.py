"""The serve loop (fallback, skipping, waiting, bounds) through ``Proxy.serve`` with scripted attempts
and no network; the ledger event is built from the recorded attempts by ``event_for``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from services.gateway.calls import Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects.ir import Usage
from services.gateway.errors import ClientError, UpstreamError
from services.gateway.providers.base import Route
from services.gateway.providers.registry import build_providers
from services.gateway.proxy import Proxy
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Answer, Limits, Unfit
from services.gateway.serve import serve as serve_loop
from shared.events import UsageEvent
from shared.pricing import ModelRates, Pricer, Rate
from shared.settings import load_settings

Outcome = str | UpstreamError | Unfit | BaseException | Callable[[Call, Attempt], Any]


def err(status: int | None, provider: str, retry_after: float | None = None) -> UpstreamError:
    retryable = status is None or status in (401, 403, 408, 409, 429) or status >= 500
    return UpstreamError(
        status,
        f"{provider} said {status}",
        provider=provider,
        retryable=retryable,
        error_type="test_error",
        retry_after_s=retry_after,
    )


class ScriptedProxy(Proxy):
    """Each attempt on a provider pops that provider's next outcome."""

    def __init__(self, script: dict[str, list[Outcome]], health: ProviderHealth, **env: str) -> None:
        keys = {f"{n.upper()}_API_KEY": "k" for n in ("openai", "anthropic", "openrouter")}
        settings = load_settings(keys | env)
        limits = Limits(settings.max_attempts, settings.retry_after_max_wait_s)
        super().__init__(None, build_providers(settings, keys), health, limits)  # type: ignore[arg-type]
        self.script = script
        self.tried: list[str] = []

    async def attempt(
        self, request: web.Request, call: Call, route: Route
    ) -> Answer[web.StreamResponse] | UpstreamError | Unfit:
        self.tried.append(route.provider)
        outcome = self.script[route.provider].pop(0)
        if isinstance(outcome, Unfit):
            return outcome  # as Proxy.attempt: nothing sent, nothing recorded
        att = Attempt(route, "openai_chat", False)
        call.attempts.append(att)
        if isinstance(outcome, UpstreamError):
            att.failed(outcome)
            return outcome
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return await outcome(call, att)  # type: ignore[no-any-return]
        att.answered, att.status, att.usage = True, 200, Usage(input_tokens=1_000_000)
        call.answer(200)
        return Answer(web.Response(text=outcome))


def make_call(fmt: str = "openai_chat") -> Call:
    endpoint = registry.ENDPOINTS["/v1/messages" if fmt == "anthropic" else "/v1/chat/completions"]
    call = Call(endpoint, "req_test", {}, time.monotonic(), time.time())
    call.model = "m"
    return call


def ev(call: Call) -> UsageEvent:
    return event_for(call, Pricer(), time.time(), 0.0)


ROUTES = [Route("openai", "gpt-4o"), Route("openrouter", "openai/gpt-4o"), Route("anthropic", "claude")]


@pytest.fixture()
def health() -> ProviderHealth:
    return ProviderHealth(BreakerConfig(failures=2, cooldown_s=30.0))


async def serve(proxy: Proxy, call: Call, routes: list[Route] = ROUTES) -> web.Response:
    response = await proxy.serve(None, call, routes)  # type: ignore[arg-type]
    assert isinstance(response, web.Response)
    return response


async def test_falls_back_and_records_each_failure(health: ProviderHealth) -> None:
    proxy = ScriptedProxy(
        {"openai": [err(503, "openai")], "openrouter": [err(None, "openrouter")], "anthropic": ["ok"]}, health
    )
    call = make_call()
    response = await serve(proxy, call)
    assert response.status == 200 and response.text == "ok"
    assert ev(call).provider == "anthropic" and ev(call).attempts == 3
    assert [(a.provider, a.status) for a in ev(call).failed_attempts] == [
        ("openai", 503),
        ("openrouter", None),
    ]


async def test_the_clients_own_errors_are_not_retried(health: ProviderHealth) -> None:
    proxy = ScriptedProxy({"openai": [err(400, "openai")]}, health)
    call = make_call()
    response = await serve(proxy, call)
    assert response.status == 400 and proxy.tried == ["openai"] and ev(call).attempts == 1
    assert health.snapshot().get("openai")["state"] == "healthy"


async def test_a_bad_request_found_while_translating_is_the_clients(health: ProviderHealth) -> None:
    proxy = ScriptedProxy({"openai": [ClientError(400, "bad tool")]}, health)
    call = make_call()
    with pytest.raises(ClientError):
        await serve(proxy, call)
    assert health.available("openai")
    call.answer(400, "invalid_request_error")
    event = ev(call)  # the provider did not fail: nothing was sent to it
    assert event.attempts == 1 and event.failed_attempts == [] and event.status == 400


def unfit(what: str) -> Unfit:
    return Unfit(ClientError(400, f"{what} cannot be sent to this model"))


async def test_a_route_that_cannot_express_the_request_is_passed_over(health: ProviderHealth) -> None:
    """Route order is by price; a cheaper route whose format cannot say the request (an Anthropic-only
    content part for a chat-only provider) must not end the request with a 400 when another can."""
    proxy = ScriptedProxy({"openai": [unfit("image source")], "openrouter": ["ok"]}, health, MAX_ATTEMPTS="1")
    call = make_call()
    response = await serve(proxy, call)
    assert response.status == 200 and proxy.tried == ["openai", "openrouter"]
    assert ev(call).provider == "openrouter" and ev(call).attempts == 1 and ev(call).failed_attempts == []
    assert health.snapshot().get("openai", {"state": "healthy"})["state"] == "healthy"


async def test_when_no_route_can_express_the_request_the_first_refusal_is_the_clients(
    health: ProviderHealth,
) -> None:
    proxy = ScriptedProxy({"openai": [unfit("first")], "openrouter": [unfit("second")]}, health)
    with pytest.raises(ClientError, match="first cannot"):
        await serve(proxy, make_call(), ROUTES[:2])
    assert proxy.tried == ["openai", "openrouter"] and health.available("openai")


async def test_an_unfit_fallback_keeps_the_providers_error(health: ProviderHealth) -> None:
    proxy = ScriptedProxy(
        {"openai": [err(503, "openai")], "openrouter": [unfit("x")], "anthropic": [unfit("y")]}, health
    )
    call = make_call()
    response = await serve(proxy, call)
    assert response.status == 503 and proxy.tried == ["openai", "openrouter", "anthropic"]
    assert ev(call).attempts == 1


async def test_an_unfit_probe_releases_a_half_open_provider() -> None:
    now = [1_000.0]
    health = ProviderHealth(BreakerConfig(failures=1, cooldown_s=30.0), clock=lambda: now[0])
    health.record_failure("openai", 503)
    now[0] += 31  # cooldown over: the next request is the probe
    proxy = ScriptedProxy({"openai": [unfit("x"), "ok"], "openrouter": ["ok"]}, health)
    assert (await serve(proxy, make_call(), ROUTES[:2])).status == 200
    assert proxy.tried == ["openai", "openrouter"]
    assert health.acquire("openai")  # the probe slot is free again: nothing was learnt about openai


async def test_attempts_are_bounded(health: ProviderHealth) -> None:
    proxy = ScriptedProxy(
        {"openai": [err(500, "openai")], "openrouter": [err(502, "openrouter")]}, health, MAX_ATTEMPTS="2"
    )
    call = make_call()
    response = await serve(proxy, call)
    assert response.status == 502 and ev(call).attempts == 2 and proxy.tried == ["openai", "openrouter"]


async def test_providers_with_an_open_breaker_are_skipped(health: ProviderHealth) -> None:
    for _ in range(2):
        health.record_failure("openai", 503)
    proxy = ScriptedProxy({"openrouter": ["ok"]}, health)
    call = make_call()
    assert (await serve(proxy, call)).status == 200
    assert proxy.tried == ["openrouter"] and ev(call).attempts == 1 and ev(call).failed_attempts == []


async def test_when_every_provider_cools_down_the_answer_says_when_to_retry(health: ProviderHealth) -> None:
    for name in ("openai", "openrouter"):
        for _ in range(2):
            health.record_failure(name, 500)
    proxy = ScriptedProxy({}, health)
    call = make_call()
    response = await serve(proxy, call, ROUTES[:2])
    assert response.status == 503 and int(response.headers["retry-after"]) in (29, 30)
    assert b"cooling down" in (response.body or b"") and ev(call).attempts == 0
    assert b"(last error: 500)" in (response.body or b"")  # why it rests, for a wrong key's 401 too
    assert ev(call).error_type == "providers_unavailable" and ev(call).provider is None
    anthropic_call = make_call("anthropic")
    assert (await serve(proxy, anthropic_call, ROUTES[:2])).status == 529  # Anthropic clients' overloaded


async def test_all_rate_limited_is_a_429(health: ProviderHealth) -> None:
    health.record_failure("openai", 429, retry_after_s=20)
    response = await serve(ScriptedProxy({}, health), make_call(), ROUTES[:1])
    assert response.status == 429 and response.headers["retry-after"] in ("19", "20")


async def test_a_short_retry_after_on_the_only_route_is_waited_out() -> None:
    """On an injected clock: the loop sleeps exactly the Retry-After, then tries the route again."""
    now = [1_000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    health = ProviderHealth(BreakerConfig(failures=2, cooldown_s=30.0), clock=lambda: now[0])
    outcomes: list[Answer[str] | UpstreamError] = [err(429, "openai", retry_after=0.2), Answer("ok")]
    tried: list[str] = []

    async def attempt(route: Route) -> Answer[str] | UpstreamError:
        tried.append(route.provider)
        return outcomes.pop(0)

    assert await serve_loop(ROUTES[:1], attempt, health, Limits(3, 10.0), sleep) == "ok"
    assert tried == ["openai", "openai"] and slept == [pytest.approx(0.2)]


async def test_a_short_retry_after_with_should_not_retry_is_not_retried() -> None:
    """s10 variant 11-j: a 429 with Retry-After 1 and ``x-should-retry: false``: the provider is not asked
    again for this request (the gateway was asking up to MAX_ATTEMPTS times); another route still may be."""
    health = ProviderHealth(BreakerConfig(failures=5, cooldown_s=30.0))
    refusal = err(429, "openai", retry_after=0.01)
    refusal.headers = {"x-should-retry": "false", "retry-after": "1"}
    tried: list[str] = []

    async def attempt(route: Route) -> Answer[str] | UpstreamError:
        tried.append(route.provider)
        return refusal if route.provider == "openai" else Answer("ok")

    assert await serve_loop(ROUTES[:1], attempt, health, Limits(4, 10.0)) is refusal
    assert tried == ["openai"]
    health, tried[:] = ProviderHealth(BreakerConfig(failures=5, cooldown_s=30.0)), []
    assert await serve_loop(ROUTES[:2], attempt, health, Limits(4, 10.0)) == "ok"
    assert tried == ["openai", "openrouter"]


async def test_a_short_retry_after_goes_behind_the_other_routes(health: ProviderHealth) -> None:
    proxy = ScriptedProxy({"openai": [err(429, "openai", retry_after=0.1)], "openrouter": ["ok"]}, health)
    assert (await serve(proxy, make_call(), ROUTES[:2])).status == 200
    assert proxy.tried == ["openai", "openrouter"]


async def test_a_long_retry_after_is_returned_with_its_header(health: ProviderHealth) -> None:
    proxy = ScriptedProxy({"openai": [err(429, "openai", retry_after=30)]}, health)
    call = make_call()
    response = await serve(proxy, call, ROUTES[:1])
    assert response.status == 429 and response.headers["retry-after"] == "30" and ev(call).attempts == 1


async def test_a_cancelled_probe_is_released(health: ProviderHealth) -> None:
    clock = [1000.0]
    health = ProviderHealth(BreakerConfig(failures=1, cooldown_s=5), clock=lambda: clock[0])
    health.record_failure("openai", 503)
    clock[0] += 5
    proxy = ScriptedProxy({"openai": [asyncio.CancelledError()]}, health)
    with pytest.raises(asyncio.CancelledError):
        await serve(proxy, make_call(), ROUTES[:1])
    assert health.acquire("openai")  # the next request may probe at once


async def test_a_stream_that_broke_after_its_first_byte_counts_against_the_provider(
    health: ProviderHealth,
) -> None:
    async def broken(call: Call, att: Attempt) -> Answer[web.StreamResponse]:
        att.answered = True
        call.answer(502, "api_error")
        return Answer(web.Response(text="partial"), (502, "api_error"))

    proxy = ScriptedProxy({"openai": [broken, broken]}, health)
    for _ in range(2):
        assert (await serve(proxy, make_call(), ROUTES[:1])).text == "partial"  # no fallback
    assert not health.available("openai")


async def test_a_catalog_price_is_the_one_charged(health: ProviderHealth) -> None:
    rates = ModelRates("gpt-4o", Rate(1.0), Rate(2.0), Rate(1.0), Rate(1.0))
    proxy = ScriptedProxy({"openai": ["ok"]}, health)
    call = make_call()
    await serve(proxy, call, [Route("openai", "gpt-4o", rates, "catalog")])
    assert ev(call).cost_usd == pytest.approx(1.0)  # 1M input tokens at the catalog's $1/M
    genai = ScriptedProxy({"openai": ["ok"]}, health)
    call = make_call()
    await serve(genai, call, [Route("openai", "gpt-4o")])
    assert ev(call).cost_usd == pytest.approx(2.5)  # genai-prices' gpt-4o input rate


async def test_the_real_attempt_says_unfit_for_a_request_its_format_cannot_express(
    health: ProviderHealth,
) -> None:
    """``Proxy.attempt`` itself: an Anthropic request with an image given by file id cannot be sent as
    OpenAI chat; nothing is sent (no upstream client at all here), nothing recorded, the refusal kept."""
    keys = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}
    settings = load_settings(keys)
    proxy = Proxy(None, build_providers(settings, keys), health, Limits(3, 1.0))  # type: ignore[arg-type]
    call = make_call("anthropic")
    image = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    call.body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [image]}]}
    outcome = await proxy.attempt(None, call, Route("openai", "gpt-4o"))  # type: ignore[arg-type]
    assert isinstance(outcome, Unfit) and isinstance(outcome.error, ClientError)
    assert outcome.error.status == 400 and "cannot be sent to this model" in str(outcome.error)
    assert call.attempts == []


async def test_an_unfit_route_does_not_say_when_to_retry(health: ProviderHealth) -> None:
    """[unfit, rate-limited for 40 s]: the answer is the rate-limited route's 429 with its Retry-After,
    not a 503 "retry in 0 s" from the route that can never serve the request."""
    health.record_failure("openrouter", 429, retry_after_s=40)
    proxy = ScriptedProxy({"openai": [unfit("x")]}, health)
    call = make_call()
    response = await serve(proxy, call, ROUTES[:2])
    assert response.status == 429 and response.headers["retry-after"] in ("39", "40")
    assert proxy.tried == ["openai"] and b"openai" not in (response.body or b"")
