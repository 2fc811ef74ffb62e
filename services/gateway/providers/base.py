"""What the gateway needs to know about an upstream provider: where, how to authenticate, its quirks.

Provider names and quirks live only in this package and in the routing catalog; the proxy core talks
to the ``Provider`` interface. A provider speaks one or more wires (``dialects.formats.Wire``), best
first; the gateway uses the client's own format when the provider speaks it, else the first.
"""

from __future__ import annotations

import email.utils
import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from services.gateway.dialects._prompt_cache import session_from
from services.gateway.dialects.formats import Operation, Wire
from services.gateway.dialects.ir import Usage
from services.gateway.dialects.registry import WIRES
from services.gateway.dialects.translate_request import Target
from services.gateway.providers.limits import (
    StatedLimit,
    bare_model,
    field_from_refusal,
    limit_from_refusal,
    max_output_tokens,
)
from services.gateway.routing.ratelimit_reset import LONGEST_WAIT_S
from shared.pricing import ModelRates

__all__ = ["Operation", "PriceSource", "Provider", "Route", "Wire"]


PriceSource = Literal["prices", "catalog", "vendor", "unknown"]
# The header a provider's own request id goes back under (the gateway's x-request-id / request-id stay).
UPSTREAM_REQUEST_ID = "x-upstream-request-id"
FORWARD_NAMES_KEPT = 512  # response header names a provider's forwarding decision is kept for
TARGETS_KEPT = 1024  # models a provider's translation target is kept for (``target_of``)
# models a provider's learned output-token field and output limit are kept for (``learn_tokens_field``,
# ``learn_output_limit``): the oldest learned is forgotten first (its next request is refused and retried once more)
LEARNED_KEPT = 1024
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Route:
    """One way to serve a request: a provider and the model name that provider knows it by.

    Two routes are equal when provider and model are; the rest is what the router knew when ranking:
    the price (``rates``, and where it came from), and whether the provider is the model's own vendor
    (``direct``) rather than an aggregator.
    """

    provider: str
    model: str
    rates: ModelRates | None = field(default=None, compare=False)
    price_source: PriceSource = field(default="unknown", compare=False)
    direct: bool = field(default=True, compare=False)


class Provider:
    """Base class. Subclasses set ``wires`` and override the hooks that differ."""

    wires: tuple[Wire, ...] = ("openai_chat",)
    # Response headers clients act on (retry decisions, quota displays), forwarded on every answer.
    forwarded_response_headers: tuple[str, ...] = ("retry-after", "retry-after-ms", "x-should-retry")
    forwarded_response_prefixes: tuple[str, ...] = ("x-ratelimit-", "anthropic-ratelimit-")
    request_id_headers: tuple[str, ...] = ("x-request-id", "request-id")
    # The statuses of refusals that may state an output limit (``output_limit_from_error``): Scaleway's Generative
    # APIs refuse a max_completion_tokens above the model's with 416 "Range Not Satisfiable - max_completion_tokens is
    # limited for this model" (its "Fixing common issues" page; s20 variant 17-c)
    output_refusal_statuses: tuple[int, ...] = (400, 416, 422)
    # Whether this provider's usage is the serving model's vendor's own counts, relayed as that vendor made them (a
    # relay such as LiteLLM's proxy or new-api, a company proxy), so the vendor's convention applies (``usage_rule``);
    # False for one that restates every vendor's usage in its own convention (OpenRouter)
    relays_vendor_usage = True
    # The request header by which this provider keeps a conversation on one server's prompt cache
    # (``conversation_id``), or None when it has none
    conversation_header: str | None = None

    def __init__(self, name: str, base_url: str, api_key: str | None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key  # never logged, never put into events or errors
        self._key_bytes = api_key.encode() if api_key else b""  # scrub_bytes runs on every stream chunk
        self._learned_limits: dict[str, int] = {}  # model → output limit the provider stated when refusing
        # model → the output-token field it takes, said in a refusal (``learn_tokens_field``); read as an attribute
        # (an empty dict is falsy: a passthrough request makes no call for it, ``Proxy._build``)
        self.learned_fields: dict[str, str] = {}
        # response header name as received → its lower-case form if forwarded, else None (``_forwarded``)
        self._forward_names: dict[str, str | None] = {}
        # model → ``target(model)`` (``target_of``); read by ``Proxy._build`` before it calls ``target_of`` (session 35)
        self.kept_targets: dict[str, Target] = {}
        self._usage_rules: dict[str, Callable[[Usage], Usage]] = {}  # model → ``usage_rule(model)``

    def __repr__(self) -> str:  # keeps the key out of any accidental log line
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    def url(self, op: Operation) -> str:
        raise NotImplementedError

    def headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        """Upstream headers, built from scratch: the client's own credential is never forwarded."""
        raise NotImplementedError

    def conversation_id(self, client_headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
        """The conversation a request belongs to, for ``conversation_header``: the client's own header of that
        name, else the body's ``prompt_cache_key`` (OpenAI's name for the same routing, which Responses
        clients such as Codex send), else the client's session header (Claude Code's
        ``X-Claude-Code-Session-Id``: ``session_from``); None when nothing names it. At most 256 characters."""
        name = self.conversation_header
        for found in (
            client_headers.get(name) if name is not None else None,
            body.get("prompt_cache_key"),
            session_from(client_headers).id,
        ):
            if (
                isinstance(found, str)
                and (value := found.strip()[:256])
                and value.isascii()
                and value.isprintable()
            ):
                return value  # (a header value: printable ASCII only)
        return None

    def response_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers of this provider's answer (success or error) that go back to the client: its
        rate-limit and retry headers verbatim (``retry-after`` as whole seconds, which is what every
        client parses), and its request id under ``UPSTREAM_REQUEST_ID``."""
        out: dict[str, str] = {}
        known = self._forward_names
        for name, value in headers.items():
            low = known[name] if name in known else self._forwarded(name)
            if low:
                out[low] = value
        if "retry-after" in out:
            # a value no client can read ("soon", "nan", "1e999") is dropped, not relayed: the gateway's
            # own wait (``Proxy._error_response``) or the client's backoff then applies (s22 variant 11-w5)
            if (whole := _whole_seconds(out["retry-after"])) is None:
                del out["retry-after"]
            else:
                out["retry-after"] = whole
        for id_header in self.request_id_headers:
            request_id = headers.get(id_header)
            if request_id:
                out[UPSTREAM_REQUEST_ID] = request_id
                break
        return out

    def _forwarded(self, name: str) -> str | None:
        """``name`` lower-cased if ``response_headers`` forwards it, else None; kept for the next answer
        (a provider sends the same few names every time; at most ``FORWARD_NAMES_KEPT`` are kept)."""
        low = name.lower()
        keep = low in self.forwarded_response_headers or low.startswith(self.forwarded_response_prefixes)
        if len(self._forward_names) < FORWARD_NAMES_KEPT:
            self._forward_names[name] = low if keep else None
        return low if keep else None

    def speaks(self, wire: Wire) -> bool:
        return wire in self.wires

    # whether some of this provider's models take one wire only (``only_wire``): True for a provider that speaks
    # more than one wire (OpenAI; a configured server that speaks the Responses API too); False spares every
    # other provider's attempt the calls
    wires_by_model: bool = False

    def only_wire(self, model: str) -> Wire | None:
        """The one wire ``model`` is served on when this provider serves it on fewer than ``wires`` (one learned
        from a refusal: ``learn_only_wire``; OpenAI's Responses-only models by name too), else None: the client's
        pairing stands (``registry.choose_wire``)."""
        return self._only_wires.get(model)

    def learn_only_wire(self, model: str, message: str) -> Wire | None:
        """The wire a refusal's ``message`` says ``model`` takes only, when this provider speaks it: read by the wire
        the refusal came on (``WireSpec.served_only_on``: the chat wire's 404 "only supported in v1/responses",
        OpenAI's, or relayed by Azure OpenAI or LiteLLM), not by the provider (bill35: only OpenAI's own provider
        learned it). Remembered for ``only_wire`` (at most ``LEARNED_KEPT`` models, the oldest forgotten first);
        None when the message says no such thing, or names a wire this provider does not speak (then the refusal
        stands: no wire here would serve the model)."""
        for wire in self.wires:
            only = WIRES[wire].served_only_on(message)
            if only is not None and only != wire and only in self.wires:
                break
        else:
            return None
        learned = self._only_wires
        learned.pop(model, None)
        if len(learned) >= LEARNED_KEPT:
            del learned[next(iter(learned))]
        learned[model] = only
        return only

    @functools.cached_property
    def _only_wires(self) -> dict[str, Wire | None]:
        """The wire each model is served on only (None: any), by model: learned, or known by name (a subclass's
        ``only_wire``)."""
        return {}

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        """Apply provider quirks to an outgoing body in place. Returns True if it changed anything."""
        return False

    def target(self, model: str) -> Target:
        """What a translator needs to know about ``model`` on this provider."""
        return Target(model=model, max_output_tokens=self.output_limit(model))

    def target_of(self, model: str) -> Target:
        """``target(model)``, kept per model: what every translated request on this provider asks for, the
        same answer until an output limit is learned (``learn_output_limit`` forgets them all). A subclass
        overrides ``target``, never this. A ``Target`` is frozen: the one kept is shared by the requests.
        At most ``TARGETS_KEPT`` models are kept (beyond them ``target`` runs each time). Issue 13, session
        18: ``target`` took 15-45 Python calls per translated request (the family limit's prefix search,
        ``dataclasses.replace``)."""
        found = self.kept_targets.get(model)
        if found is None:
            found = self.target(model)
            if (learned := self.learned_fields.get(model)) is not None and learned != found.max_tokens_field:
                found = replace(found, max_tokens_field=learned)
            if len(self.kept_targets) < TARGETS_KEPT:
                self.kept_targets[model] = found
        return found

    # ---- output-token limits (providers/limits.py) -------------------------------------------------

    def configured_output_limit(self, model: str) -> int | None:
        """A limit the configuration gives (the catalog file), if any."""
        return None

    def known_output_limit(self, model: str) -> int | None:
        """A limit known for sure: stated by this provider when it refused a request, or configured.
        Applied even to untranslated bodies (``Proxy._build``'s passthrough), and the only limit applied to them.

        The family table (``limits.max_output_tokens``: a vendor's documented limit) is not applied up front to a
        passthrough body (fix32): a client's ``max_tokens`` that the provider takes must reach it untouched
        (conformance: passthrough untouched when client and provider speak the same format), and a documented limit
        goes stale without a sign. DeepSeek documented ``deepseek-chat`` at [1, 8192] until 2026-04-24, then served
        the name as DeepSeek-V4-Flash with "MAXIMUM: 384K" (api-docs.deepseek.com/quick_start/pricing) until it
        retired it on 2026-07-24; a clamp from the old entry would have cut every such answer to 8192 tokens
        without a refusal to correct it. A body the provider refuses states its limit instead: one refusal, one
        retry within it (``Proxy._within_output_limit``), remembered here for every later request. The client is
        not told of that clamp beyond what any clamp tells: an answer it cut says ``finish_reason: "length"``
        (docs/catalog.md, "Output limits")."""
        return self._learned_limits.get(model) or self.configured_output_limit(model)

    def output_limit(self, model: str) -> int | None:
        """The most ``model`` may be asked to write here: known for sure, else its family's."""
        return self.known_output_limit(model) or max_output_tokens(model)

    def may_state_output_limit(self, status: int | None) -> bool:
        """Whether an error of ``status`` may be this provider refusing a request's max_tokens: its refusal statuses
        (``output_refusal_statuses``: 400, 422, …), or a 5xx: relays answer a server's refusal with the status their
        own fallback ended on (LiteLLM's 503 ServiceUnavailableError around vLLM's "max_tokens=32000 cannot be greater
        than max_model_len=…=28672", a proxy's 500 around vLLM's "'max_tokens' … is too large"; s24 variants
        17-5xx-vllm-vB, 17-503-litellm-vC: the stated limit went unread, the client got a 529 or "prompt is too
        long"). Only the limit such an error states is acted on (``output_limit_from_error``)."""
        return status is not None and (status in self.output_refusal_statuses or status >= 500)

    def output_limit_from_error(
        self, status: int | None, message: str, asked: int | None = None
    ) -> StatedLimit | None:
        """The limit this provider stated when refusing a request's max_tokens (``may_state_output_limit``:
        400/422, or a relay's 5xx), if any; ``asked``: the output tokens that request asked for
        (``limits.limit_from_refusal``)."""
        return limit_from_refusal(message, asked) if self.may_state_output_limit(status) else None

    def tokens_field_from_error(self, status: int | None, message: str) -> str | None:
        """The output-token field this provider takes for a model, when it refused a request for naming the other
        (``limits.field_from_refusal``: "Unsupported parameter: 'max_tokens' …", "max_completion_tokens: Extra inputs
        are not permitted") with one of its refusal statuses (``output_refusal_statuses``); else None."""
        return field_from_refusal(message) if status in self.output_refusal_statuses else None

    def learn_tokens_field(self, model: str, field_name: str) -> None:
        """Remember the output-token field ``model`` takes here (``max_tokens`` or ``max_completion_tokens``): every
        later request for it, translated (``target_of``) or not (``Proxy._build``, ``learned_fields``), asks by that
        field. An Azure deployment of a reasoning model carries a name of its owner's choosing, so only the refusal
        tells (s26 variants 17-azure-*); Mistral refuses the other field (s26 variants 17-mistral-*). At most
        ``LEARNED_KEPT`` models are remembered (a pattern-served provider sees any name a client sends: unbounded,
        each refused name grew the dict for good; session 27)."""
        _learn(self.learned_fields, model, field_name)
        self.kept_targets.clear()  # a target holds the field

    def learn_output_limit(self, model: str, limit: int) -> None:
        """Remember a limit the provider stated (the lowest one wins), for at most ``LEARNED_KEPT`` models."""
        known = self._learned_limits.get(model)
        _learn(self._learned_limits, model, limit if known is None else min(known, limit))
        self.kept_targets.clear()  # a target holds the output limit

    def usage(self, usage: Usage) -> Usage:
        """This provider's usage convention applied to what the wire's reader made of its ``usage``.

        The wire readers follow the wire owner's convention (OpenAI's for the chat and Responses wires,
        Anthropic's for Messages); a provider that counts differently on the same wire says so here,
        with its source. Returns a new value (never mutates: streams re-apply it to cumulative usage).

        Base rule: reasoning is inside ``completion_tokens`` (OpenAI's convention), unless the upstream's
        own ``total_tokens`` shows it outside (prompt + completion + reasoning = total), as Gemini's
        OpenAI-compatible endpoint and other servers count it, or, without a total that tells, the counts
        can only mean outside (more reasoning than completion tokens): then it is added to the output
        (``reasoning_as_output``).
        """
        return reasoning_as_output(usage, False)  # (by position: a keyword costs a dict)

    def usage_rule(self, model: str) -> Callable[[Usage], Usage]:
        """The usage convention for answers of ``model`` (the name this provider serves it by): ``usage``, unless the
        model's vendor counts differently on the same wire and this provider relays its counts as they were made
        (``relays_vendor_usage``): xAI's models (``reasoning_outside_by_vendor``) behind LiteLLM's proxy, new-api or
        another relay keep xAI's convention, reasoning outside ``completion_tokens``, where the answer's own total
        does not say (s19 variants 29-a, 29-b, 29-d: a relay that drops ``total_tokens``, reasoning 150 below
        completion 600, was billed 600 output tokens for 750). Kept per model (at most ``TARGETS_KEPT``)."""
        rule = self._usage_rules.get(model)
        if rule is None:
            rule = (
                _reasoning_outside
                if self.relays_vendor_usage and reasoning_outside_by_vendor(model)
                else self.usage
            )
            if len(self._usage_rules) < TARGETS_KEPT:
                self._usage_rules[model] = rule
        return rule

    def scrub(self, text: str) -> str:
        """Remove this provider's key from text that may reach a client, a log or the ledger."""
        if self._api_key and self._api_key in text:
            return text.replace(self._api_key, "[redacted]")
        return text

    def scrub_bytes(self, data: bytes) -> bytes:
        """``scrub`` for relayed stream bytes (an upstream's in-stream error may quote the key)."""
        key = self._key_bytes
        # ``find``, not ``in``: ``bytes.__contains__`` first tries its argument as an integer (a byte
        # value) and builds, then drops, a TypeError for a bytes needle (~1k instructions a read, callgrind)
        return data.replace(key, b"[redacted]") if key and data.find(key) != -1 else data


def reasoning_as_output(usage: Usage, outside_by_default: bool) -> Usage:
    """``usage`` with its reasoning tokens counted in ``output_tokens`` when the upstream counted them
    outside ``completion_tokens`` (pure).

    Where the upstream put them is read from its ``total_tokens`` when that tells (prompt + completion +
    reasoning = total: outside; prompt + completion = total: inside); otherwise from the counts themselves
    when they can only mean outside: more reasoning than completion tokens (inside, ``completion_tokens``
    would include them and never be the smaller: a relay in front of xAI that drops ``total_tokens``, s14
    variant 29-c); otherwise the provider's documented convention (``outside_by_default``) decides.
    Returns ``usage`` itself when nothing is added.

    Reasoning the answer does not count at all is read from the total too: with no ``reasoning_tokens``, a
    ``total_tokens`` above prompt + completion holds output left out of ``completion_tokens``, the model's
    thoughts (Gemini's thinking tokens relayed on this wire by servers that map only its visible output to
    ``completion_tokens``: mozilla-ai/any-llm#1291 "prompt=20 completion=151 total=553", CLIProxyAPI#5733; Gemini
    bills thoughts as output; s18 variant 29-f): the difference is added to the output as its reasoning. Only when
    the answer states no reasoning count (``Usage.counts_beside_stated``): one that says 0 thought nothing, and what
    its total holds beyond is another count (Gemini's tool-use prompt tokens when it grounds a thinking-free answer;
    Perplexity's citation and reasoning tokens, which a relay may add to the total), never output (bugd21 variants
    29-f..29-h: priced as output).
    """
    reasoning = usage.reasoning_tokens
    if not reasoning:
        total, prompt = usage.reported_total_tokens, usage.prompt_tokens
        if (
            total is None or not prompt or usage.counts_beside_stated
        ):  # a bare total counts nothing to compare
            return usage
        hidden = total - prompt - usage.output_tokens
        if hidden <= 0:
            return usage
        return replace(usage, output_tokens=usage.output_tokens + hidden, reasoning_tokens=hidden)
    outside = outside_by_default
    total, counted = usage.reported_total_tokens, usage.prompt_tokens + usage.output_tokens
    if total == counted + reasoning:
        outside = True
    elif total == counted:
        outside = False
    elif reasoning > usage.output_tokens:
        outside = True
    return replace(usage, output_tokens=usage.output_tokens + reasoning) if outside else usage


def reasoning_outside_by_vendor(model: str) -> bool:
    """Whether ``model``'s vendor counts reasoning outside ``completion_tokens`` on the OpenAI wire: xAI's Grok models
    (docs.x.ai, "Reasoning": "reasoning token consumption is counted separately from ``completion_tokens``, but
    included in ``total_tokens``"), by name, with or without a relay's vendor prefix (``xai/grok-4``, ``x-ai/…``) or a
    cloud's dot-joined one (Oracle OCI's ``xai.grok-4``, LiteLLM's ``oci/xai.grok-4``: ``limits.bare_model``; s20
    variants 29-a..29-c, 29-e: billed 600 output tokens for 750)."""
    return bare_model(model).startswith("grok")


def _reasoning_outside(usage: Usage) -> Usage:
    """xAI's convention (``reasoning_as_output`` with reasoning outside unless the answer's total says otherwise)."""
    return reasoning_as_output(usage, outside_by_default=True)


# Prefixes under which a proxy between the gateway and the provider relays the provider's own response headers:
# LiteLLM's proxy re-sends them as ``llm_provider-<name>`` (its "Response headers" docs; an upstream 429's
# ``retry-after`` and ``x-ratelimit-*`` only so: BerriAI/litellm#21553; s17 variants 11-a, 11-b).
RELAY_PREFIXES = ("llm_provider-",)


def relayed_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with each header a proxy relayed under a prefix (``RELAY_PREFIXES``) also under its own name,
    lower-cased, where the answer has none of that name itself (the proxy's own word wins); ``headers``
    unchanged when none is prefixed (the usual answer). For error answers: the retry and rate-limit headers a
    client and the gateway act on (``retry-after``, ``x-ratelimit-*``) are then read and forwarded."""
    if not any(name.lower().startswith(RELAY_PREFIXES) for name in headers):
        return headers
    out = {name.lower(): value for name, value in headers.items()}
    for name, value in list(out.items()):
        for prefix in RELAY_PREFIXES:
            if name.startswith(prefix) and len(name) > len(prefix):
                out.setdefault(name[len(prefix) :], value)
    return out


def _whole_seconds(value: str) -> str | None:
    """A Retry-After value (seconds, possibly fractional or negative, or an HTTP date) as whole seconds, rounded
    up, at least 0 (RFC 9110 §10.2.3: delay-seconds is a non-negative integer); None when it is neither form, not
    finite ("soon", "nan", "1e999": s22 variant 11-w5, a 500 before) or longer than any provider's window
    (``ratelimit_reset.LONGEST_WAIT_S``: "1e20", relayed as a 21-digit wait before; fix28)."""
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if not seconds <= LONGEST_WAIT_S:  # NaN and inf too
        return None
    return str(max(0, math.ceil(seconds)))


def _learn(learned: dict[str, _V], model: str, value: _V) -> None:
    """``learned[model] = value``, kept last (the most recently learned); the oldest entry forgotten first when
    ``LEARNED_KEPT`` models are known already (a dict keeps insertion order)."""
    learned.pop(model, None)
    if len(learned) >= LEARNED_KEPT:
        del learned[next(iter(learned))]
    learned[model] = value
