"""One client call and its upstream attempts, and the pure function that makes its ledger event.

The handler creates a ``Call`` when a request arrives; each upstream attempt appends an ``Attempt``
(what happened on that route: status, error, usage, served model, time to first token); the proxy sets
the status the client finally got. ``event_for`` then builds the ``UsageEvent`` in one place
(code-review example 3): acks, new ledger columns and metrics have one place to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.gateway.attribution import from_headers
from services.gateway.dialects._prompt_cache import writes_all_1h
from services.gateway.dialects.formats import ClientFormat, Wire
from services.gateway.dialects.ir import Usage, summed
from services.gateway.dialects.registry import ENDPOINTS, WIRES, Endpoint
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from shared.events import (
    FIELD_NAMES,
    SCHEMA_VERSION,
    BilledAttempt,
    FailedAttempt,
    Row,
    UsageEvent,
    keyed_event_id,
    new_event_id,
)
from shared.pricing import (
    FILE_SEARCH_USD_PER_CALL,
    Billed,
    ModelRates,
    Pricer,
    geo_multiplier,
    speed_multiplier,
)

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 300  # characters of a failed attempt's message kept in the ledger
_NO_USAGE = Usage()  # a call without usage (never mutated: ``replace`` makes a new one)


@dataclass(slots=True)
class Attempt:
    """One upstream attempt on one route.

    ``status``: for an attempt that answered the client, 200; for a failed one, the provider's HTTP
    status (None when there was no answer: connection error, timeout).
    """

    route: Route
    wire: Wire
    translated: bool
    answered: bool = False  # this attempt's answer went to the client
    status: int | None = None
    error_type: str | None = None
    message: str = ""
    error: UpstreamError | None = None
    usage: Usage | None = None
    served_model: str | None = None
    ttft_ms: float | None = None
    client_disconnected: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # the provider's forwarded response headers
    # the request body sent (JSON bytes; b"" for an attempt told again): its output tokens asked for restate an
    # overflow whose count includes them (``limits.asked_output_tokens``, read only when an error is restated)
    sent: bytes = b""
    # ``usage`` not read yet: the answer's usage as this reads it when the event is built (``row_for``), off
    # the answer's path (a passthrough plain answer: ``Proxy._relay_json``; session 19). ``usage`` set wins.
    read_usage: Callable[[], Usage] | None = None

    def failed(self, exc: UpstreamError) -> None:
        self.status, self.error_type, self.message, self.error = (
            exc.upstream_status,
            exc.error_type,
            exc.message,
            exc,
        )


@dataclass(slots=True)
class Call:
    """One client request: what it asked (filled in as parsing goes), its attempts and its outcome."""

    endpoint: Endpoint
    request_id: str
    headers: Mapping[str, str]
    t0: float  # time.monotonic() at arrival
    started_at: float  # unix seconds at arrival
    body: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    model: str = ""  # the model name the client asked for
    stream: bool = False
    include_usage: bool = False
    reasoning: bool = True
    attempts: list[Attempt] = field(default_factory=list)
    status: int = 0  # the HTTP status the client got
    error_type: str | None = None
    # The client's stream, begun for a route that then failed before its first token, which a later route
    # continues (``proxy.OpenStream``; None: no stream begun)
    opened: Any = None
    # What opens that stream for the route last sent while none is begun (``proxy.Unopened``): the gateway's own
    # wait for a resting provider (``Proxy._wait``) begins it when the client's silence reaches a keep-alive period
    unopened: Any = None
    # Attribution (services/gateway/attribution.py, auth.py): who sent it, and a budget alert it carries.
    api_key_name: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    client: str | None = None
    request_class: str | None = None
    budget_alert: str | None = None
    # True: the four attribution fields above are not filled in; ``row_for`` reads them from ``headers``
    # (``attribution.from_headers``) when it builds the event, off the request's path (``handlers.generate``;
    # session 19). Nothing else reads them.
    attribution_pending: bool = False

    @property
    def fmt(self) -> ClientFormat:
        return self.endpoint.format

    def answer(self, status: int, error_type: str | None = None) -> None:
        """Record what the client got."""
        self.status, self.error_type = status, error_type


def row_for(call: Call, pricer: Pricer, finished_at: float, latency_ms: float) -> Row:
    """The ledger event for a finished call (pure), as the tuple of its values in ``FIELD_NAMES`` order
    (the ledger's column order; ``failed_attempts`` a list of ``FailedAttempt``): what the publisher
    encodes (``shared.events.encode_values``) and the metrics count (``GatewayMetrics.observe_row``),
    with no ``UsageEvent`` built and read back field by field (issue 13, session 15: about a third of the
    event's Python calls). A new event id each call (``new_event_id``), except for usage billed once under a
    key (``Usage.billed_once_as``: a background Responses answer in a terminal status), whose event id is
    ``keyed_event_id(provider, key)``: every event that carries those tokens (the create call's stream, each
    retrieve or cancel, from any worker) is the same row to the recorder (docs/responses.md).

    Provider, wire and translation are the answering attempt's (its bytes reached the client), else the last
    tried; usage, cost and served model are the answering attempt's. Cost: the catalog file's price when the route was
    priced from it, else ``pricer`` (genai-prices), else the provider's own figure (OpenRouter's
    ``usage.cost``) takes precedence over both; ``None`` when no price is known (never a silent 0); 0 when
    no upstream was called at all. A failed attempt whose answer said its usage (an answer the server cut, then
    another route tried) was billed by its provider: its tokens and cost go in its ``BilledAttempt`` and its cost
    is added to the event's (the request's whole cost; its token columns stay the answer's, so the buckets stay
    disjoint); None when either price is unknown. Session 27. When no attempt answered, the event's input and
    output tokens are those its provider (the last tried) billed (fix28; one such attempt: its usage whole;
    several: every bucket summed, ``_usage_of``, bill35), so a provider's token counts never hold another's; the
    others' are in their ``BilledAttempt`` (session 28). Cache writes reported without their TTL split are 1-hour
    ones when the client's request marked every breakpoint ``ttl: "1h"`` (``_with_ttl``), in each attempt's usage
    before it is priced (the answer's and each billed failed attempt's: bill35); a split the provider reported
    stands.
    """
    attempts = call.attempts
    last = attempts[-1] if attempts else None
    answered: Attempt | None = None
    disconnected = False
    failed: list[FailedAttempt] = []
    spent: float | None = 0.0  # what the failed attempts with usage cost (None: one's price is unknown)
    billed_usage: list[tuple[str, Usage]] | None = None  # (provider, usage) of each billed failed attempt
    for a in attempts:  # one plain pass (a next/any/list comprehension each were 2-3 calls per request)
        if a.answered and answered is None:
            answered = a
        disconnected = disconnected or a.client_disconnected
        if a.error is not None:  # not one the gateway refused itself, or one cut off by the client
            if not a.answered and (a.usage is not None or a.read_usage is not None):
                # a cut answer's tokens (the provider bills them), its writes' TTL as the request asked before
                # they are priced, as the answer's are (bill35: they were priced at the 5-minute rate)
                said = _with_ttl(_failed_usage(a, call.request_id), call.body)
                billed = _failed_billed(a, said, pricer)
                spent = None if spent is None or billed.cost_usd is None else spent + billed.cost_usd
                failed.append(billed)
                billed_usage = [*(billed_usage or ()), (a.route.provider, said)]
                continue
            failed.append(
                FailedAttempt(a.route.provider, a.status, a.error_type or "error", a.message[:MESSAGE_LIMIT])
            )
    usage = None
    if answered is not None:
        usage = answered.usage
        if usage is None and (read := answered.read_usage) is not None:
            # a deferred usage read (``Attempt.read_usage``; ``_read_usage`` inlined, a call less an event).
            # A reader that fails (a bug: the readers take any JSON) costs the row its token counts, never
            # the row itself: the ledger keeps the request (logged). Read once, then dropped: a reader holds
            # its attempt (``whole_answer.read_answer``'s partial), a reference cycle that only the garbage
            # collector would free, a young collection every ~1,500 requests at one connection on the plain
            # passthrough paths (session 27, docs/benchmarks.md: ``bench/tail_counts.py``)
            answered.read_usage = None
            try:
                usage = answered.usage = read()
            except Exception:
                log.exception("could not read the usage of request %s; recorded without it", call.request_id)
    if answered is None and billed_usage and last is not None:
        # none answered: what the row's provider (the last tried) billed is the row's usage (fix28), so a
        # provider's token counts never carry another's; every billed attempt's cost is in cost_usd below and
        # its tokens in its BilledAttempt (review28)
        usage = _usage_of(last.route.provider, billed_usage)
    usage = usage or _NO_USAGE
    if usage.cache_write_tokens or usage.iterations:  # (no call for an answer without cache writes: most)
        usage = _with_ttl(usage, call.body)
    # No upstream attempt (the gateway refused the request itself: unknown model, bad input, a budget):
    # nothing was billed, a known $0, not an unknown price
    cost: float | None = None if attempts else 0.0
    savings: float | None = None
    status = call.status
    if answered is not None:
        cost, savings = _cost(answered, usage, pricer)
        served, ttft = answered.served_model, answered.ttft_ms
    else:
        served = ttft = None
    if spent != 0.0 and attempts:  # failed attempts the providers billed: the request's cost includes them
        cost = None if spent is None or (cost is None and answered is not None) else (cost or 0.0) + spent
    provider: str | None = None
    wire: str | None = None
    translated = False
    # the provider whose bytes the client got: the answering attempt's, not always the last (a cut answer held
    # while later routes failed: ``Proxy._held_answer``; session 27), else the last tried
    if (shown := answered or last) is not None:
        provider, wire, translated = shown.route.provider, shown.wire, shown.translated
    else:
        disconnected = status == 499  # the gateway's own 499: a client gone before any upstream answer
    if call.attribution_pending:
        who = from_headers(call.headers)
        session_id, agent_id, client, request_class = (
            who.session_id,
            who.agent_id,
            who.client,
            who.request_class,
        )
    else:
        session_id, agent_id, client, request_class = (
            call.session_id,
            call.agent_id,
            call.client,
            call.request_class,
        )
    once = usage.billed_once_as
    return (
        call.request_id,
        call.endpoint.path,
        call.endpoint.format,
        call.model,
        new_event_id() if once is None or answered is None else keyed_event_id(answered.route.provider, once),
        SCHEMA_VERSION,
        call.started_at,
        finished_at,
        provider,
        wire,
        translated,
        served,
        status or 500,
        call.error_type if status else (call.error_type or "internal_error"),
        call.stream,
        disconnected,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        cost,
        latency_ms,
        ttft,
        len(attempts),
        failed,
        call.api_key_name,
        session_id,
        agent_id,
        client,
        request_class,
        call.budget_alert,
        usage.cache_write_1h_tokens,
        usage.web_search_requests,
        savings,
    )


def _check_row_for() -> None:
    """Fail the import, not a ledger row, when ``row_for``'s hand-written tuple is not ``FIELD_NAMES``' order:
    a field added to ``UsageEvent`` without its place in ``row_for``, or two values swapped.

    Builds the row of one call answered by one attempt whose text fields each hold their own field's name and
    whose numbers (tokens by kind, searches, cost, times, attempts) and flags are distinct, and checks the
    row's length and that each of those values stands at its field's position (``FIELD_NAMES.index``), equal
    and of the same type (``True`` is not the attempt count 1). Cache savings (unpriced: None) and event id
    and schema version (not the call's) are not probed. Raises ``ImportError`` (not an assert: it must hold
    under ``python -O``).
    """
    endpoint = next(iter(ENDPOINTS.values()))
    probe = Call(endpoint, "request_id", {}, 0.0, 1.5, model="model", stream=False)
    probe.api_key_name, probe.session_id, probe.agent_id = "api_key_name", "session_id", "agent_id"
    probe.client, probe.request_class, probe.budget_alert = "client", "request_class", "budget_alert"
    usage = Usage(
        11, 12, 13, 14, 15, provider_cost_usd=0.25, cache_write_1h_tokens=16, web_search_requests=17
    )
    usage = replace(usage, cache_write_split=True)  # the provider's own TTL split: kept as it is
    wire = next(iter(WIRES))
    probe.attempts.append(
        Attempt(Route("provider", "model"), wire, True, True, 200, usage=usage, served_model="served_model")
    )
    probe.attempts[0].ttft_ms = 4.5
    probe.answer(7, "error_type")
    row = row_for(probe, Pricer(), 2.5, 3.5)
    texts = ("request_id", "model", "error_type", "api_key_name", "session_id", "agent_id", "client")
    expected: dict[str, object] = {
        name: name for name in (*texts, "provider", "served_model", "request_class", "budget_alert")
    }
    expected.update(
        endpoint=endpoint.path,
        client_format=endpoint.format,
        provider_format=wire,
        started_at=1.5,
        finished_at=2.5,
        latency_ms=3.5,
        ttft_ms=4.5,
        status=7,
        translated=True,
        streamed=False,
        input_tokens=11,
        output_tokens=12,
        cache_read_tokens=13,
        cache_write_tokens=14,
        reasoning_tokens=15,
        cache_write_1h_tokens=16,
        web_search_requests=17,
        cost_usd=0.25,
        attempts=1,
    )
    wrong = [
        name
        for name, value in expected.items()
        if len(row) != len(FIELD_NAMES)
        or type(row[FIELD_NAMES.index(name)]) is not type(value)
        or row[FIELD_NAMES.index(name)] != value
    ]
    if wrong:
        raise ImportError(
            f"calls.row_for's values are not in shared.events.FIELD_NAMES order ({len(row)} values for "
            f"{len(FIELD_NAMES)} fields; misplaced: {wrong}): update row_for"
        )


class EventBuilder:
    """``event_for``: a finished call's ledger event (pure), ``row_for``'s values as a ``UsageEvent``.

    Its ``as_row`` is ``row_for``: given ``build=event_for``, the publisher builds each batched event as its
    row (``EventPublisher.build_waiting``), and whatever calls ``event_for`` (the settle path, tests) gets
    the event."""

    __slots__ = ()
    as_row = staticmethod(row_for)

    def __call__(self, call: Call, pricer: Pricer, finished_at: float, latency_ms: float) -> UsageEvent:
        return UsageEvent(*row_for(call, pricer, finished_at, latency_ms))


event_for = EventBuilder()


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


def _failed_usage(a: Attempt, request_id: str) -> Usage:
    """The usage a failed attempt's answer said (``Attempt.usage``, else ``read_usage`` read once and dropped:
    a reader holds its attempt, a reference cycle); no usage when its reader fails (logged)."""
    usage = a.usage
    if usage is None and (read := a.read_usage) is not None:
        a.read_usage = None
        try:
            usage = a.usage = read()
        except Exception:
            log.exception("could not read a failed attempt's usage of request %s", request_id)
    return usage or _NO_USAGE


def _with_ttl(usage: Usage, body: Mapping[str, Any]) -> Usage:
    """``usage`` with cache writes reported without any TTL split (``_unsplit_writes``; OpenRouter's chat usage,
    an Anthropic answer without ``cache_creation``) counted as 1-hour writes when the client's request ``body``
    marked every breakpoint ``ttl: "1h"`` (``_prompt_cache.writes_all_1h``; Anthropic, "Prompt caching": a marker
    without ``ttl`` writes for 5 minutes), per iteration when it has them (s14 variant 28-a); else ``usage``
    itself. A split the provider reported stands (bug8a variant 06-f). Applied to every attempt's usage before it
    is priced, the answer's and each billed failed attempt's (bill35)."""
    if usage.iterations:
        if any(_unsplit_writes(it.usage) for it in usage.iterations) and writes_all_1h(body):
            return _iterations_write_1h(usage)
    elif usage.cache_write_tokens and _unsplit_writes(usage) and writes_all_1h(body):
        return replace(usage, cache_write_1h_tokens=usage.cache_write_tokens)
    return usage


def _usage_of(provider: str, billed: list[tuple[str, Usage]]) -> Usage | None:
    """What ``provider``'s billed attempts said, as one usage: one attempt's usage whole; several, every bucket
    summed (``ir.summed``: input, output, cache reads, cache writes and their 1-hour part, reasoning, searches;
    bill35: only input and output were, the row's cache columns 0 while its cost counted them); None when it
    billed none. Each usage is already as priced (``_with_ttl``)."""
    mine = [u for p, u in billed if p == provider]
    if len(mine) == 1:
        return mine[0]
    if not mine:
        return None
    return summed(mine)


def _failed_billed(a: Attempt, usage: Usage, pricer: Pricer) -> BilledAttempt:
    """A failed attempt whose answer said its ``usage`` (a cut answer: ``_failed_usage``, its writes' TTL as priced:
    ``_with_ttl``) as the ledger's ``BilledAttempt``, with its tokens in every bucket and its cost (``_cost``, the
    answering attempt's rules)."""
    cost, _ = _cost(a, usage, pricer)
    message = a.message[:MESSAGE_LIMIT]
    error_type = a.error_type or "error"
    return BilledAttempt(
        a.route.provider,
        a.status,
        error_type,
        message,
        usage.input_tokens,
        usage.output_tokens,
        cost,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.cache_write_1h_tokens,
        usage.reasoning_tokens,
    )


def _cost(attempt: Attempt, usage: Usage, pricer: Pricer) -> tuple[float | None, float | None]:
    """(cost, cache savings) of the answering attempt; None where a price is unknown.

    Rates: the route's own when it was priced from the catalog file (the price this request is charged
    at) or as its vendor's model (an OpenRouter model missing from the price data: OpenRouter passes the
    vendor's list price through, ``routing.catalog``), else genai-prices for the route's model; an iteration that ran on another model is priced at that
    model's genai-prices rates at the same provider. Each iteration is priced on its own (its own tier);
    web searches are counted for the whole request and priced at the route's model, file search calls (a Responses
    answer's ``file_search_call`` items) at ``shared.pricing.FILE_SEARCH_USD_PER_CALL``. The provider's own
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
    # US-only inference costs more on every token (no call when where it ran is not stated: most answers)
    geo = 1.0 if usage.inference_geo is None else geo_multiplier(usage.inference_geo)
    if not usage.iterations:  # one part: priced at once, without the sums over parts below
        # so does fast mode (no call when the speed is not stated: most answers)
        fast = 1.0 if usage.speed is None else speed_multiplier(route.model, usage.speed)
        if own is None or fast is None:
            return usage.provider_cost_usd, None
        # a tier's price beyond the prompt size its data covers (``ModelRates.knows``, without its call)
        if (
            own.known_up_to is not None
            and usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens > own.known_up_to
        ):
            return usage.provider_cost_usd, None
        searches = usage.web_search_requests
        # the counts as they are, in Billed's order (no Billed built: ``ModelRates.prices_of``)
        price, plain = own.prices_of(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.cache_write_1h_tokens,
            usage.reasoning_tokens,
            searches,
        )
        if usage.audio_input_tokens or usage.audio_output_tokens:  # audio at its own rates (s17 variant 28-a)
            audio = own.audio_extra(usage.audio_input_tokens, usage.audio_output_tokens)
            price, plain = price + audio, plain + audio
        if geo * fast != 1.0:  # on the tokens, not on the searches
            g = geo * fast
            searched = searches * own.web_search
            price, plain = (price - searched) * g + searched, (plain - searched) * g + searched
        if usage.file_search_calls:  # per call, as searches (s20 variants 28-a, 28-b)
            fee = usage.file_search_calls * FILE_SEARCH_USD_PER_CALL
            price, plain = price + fee, plain + fee
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
        # file search calls per call on top, as on the one-part path (api-conformance.md: billed per call)
        cost = sum(p for p, _ in prices) + usage.file_search_calls * FILE_SEARCH_USD_PER_CALL
        savings = sum(u - p for p, u in prices)
    if usage.provider_cost_usd is not None:
        cost = usage.provider_cost_usd
    return cost, savings


_check_row_for()  # at the end: row_for's helpers below it are defined by now
