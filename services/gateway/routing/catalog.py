"""Which providers can serve a requested model, under which name, and at what price.

The user-facing rules are in docs/catalog.md. In short, for a requested name:

1. ``provider::model`` (or the ``x-ekai-provider`` header) pins a provider; an alias from the catalog
   file is replaced by its target.
2. A vendor's bare name (``gpt-…``/``o1…``/``chatgpt-…``/``codex-…``, ``claude-…``, ``grok-…``) goes to
   the vendor directly, and to OpenRouter under OpenRouter's name for it (``anthropic/claude-sonnet-4.5``)
   when genai-prices' data shows OpenRouter serves it. A name the data does not know yet still goes to
   the vendor (a new model), never to OpenRouter under a guessed name.
3. ``vendor/model`` goes to OpenRouter as written, and to the vendor directly when it is one of ours and
   its data knows the model (``anthropic/claude-sonnet-4.5`` -> Anthropic ``claude-sonnet-4-5``).
4. Providers the catalog file adds serve the names their ``models``/``pattern``/``regex`` accept;
   ``[models."name"]`` entries add, replace or remove routes; ``[prices.<provider>]`` overrides prices.
5. Only configured providers count. The routes are ranked by ``select.rank``.

Provider names appear here and in ``providers/`` only: the table of vendors below is the one place
that knows who sells which family of models and how OpenRouter spells it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genai_prices import data_snapshot, types

from services.gateway.providers.base import Provider, Route
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.routing.config import CatalogError, CatalogFile, Price, load_catalog_file
from services.gateway.routing.names import (
    PIN_SEPARATOR,
    dashed,
    dotted,
    split_pin,
    undated,
    unique,
    without_point_zero,
)
from services.gateway.routing.select import rank
from shared.pricing import Pricer
from shared.settings import Settings, load_settings


@dataclass(frozen=True, slots=True)
class Vendor:
    """A model maker we can call directly, and how others spell its models."""

    provider: str  # our provider that is this vendor's own API
    prices_id: str  # its provider id in genai-prices
    openrouter: str  # OpenRouter's vendor prefix: "anthropic" in anthropic/claude-sonnet-4.5
    family: re.Pattern[str]  # bare model names that are this vendor's
    dotted: bool  # OpenRouter writes version numbers with dots where the vendor writes dashes


VENDORS = (
    Vendor("openai", "openai", "openai", re.compile(r"^(gpt-|chatgpt-|codex-|o\d)", re.I), dotted=False),
    Vendor("anthropic", "anthropic", "anthropic", re.compile(r"^claude-", re.I), dotted=True),
    Vendor("xai", "x-ai", "x-ai", re.compile(r"^grok-", re.I), dotted=True),
)
AGGREGATOR = "openrouter"
# OpenRouter models missing from genai-prices' snapshot. OpenRouter passes the vendor's list price
# through, so these are priced as the vendor's model.
OPENROUTER_EXTRA = frozenset(
    {"x-ai/grok-4", "x-ai/grok-3", "x-ai/grok-3-mini", "x-ai/grok-code-fast-1", "x-ai/grok-4.1-fast"}
)
# Model ids in the price data that are not chat models (embeddings, speech, images, fine-tune prefixes).
_NOT_CHAT = re.compile(
    r"embedding|tts|whisper|transcri|realtime|audio|image|moderation|davinci|babbage|curie|^ada$|"
    r"computer-use|voice|^ft:|\.ft-|:",
    re.I,
)
MAX_LISTED = 1000  # bound on GET /v1/models
_CACHE_MAX = 4096  # resolved names kept; clients choose names, so the cache is bounded


class UnknownModel(LookupError):
    """No configured provider serves ``model``; ``available`` lists what can be asked for instead, and
    ``configured`` names the configured providers (some serve only names their catalog ``regex`` matches,
    which no list can show)."""

    def __init__(
        self, model: str, available: list[str], reason: str | None = None, configured: tuple[str, ...] = ()
    ) -> None:
        super().__init__(model)
        self.model = model
        self.available = available
        self.reason = reason
        self.configured = configured

    def message(self, shown: int = 50) -> str:
        """The client's 404 message: the model, why it cannot be served (a pinned provider that is not
        configured, ...), and the first ``shown`` names that can be asked for, saying how many more
        ``GET /v1/models`` lists. With none to list, it says whether a provider is configured at all: a
        catalog provider with only a ``regex`` (docs/catalog.md) serves names no list holds."""
        listed = ", ".join(self.available[:shown]) or (
            f"none listed (configured: {', '.join(self.configured)}; a catalog provider's regex matches names "
            "no list holds)"
            if self.configured
            else f"none ({NO_PROVIDER_HINT})"
        )
        if len(self.available) > shown:
            listed += f", and {len(self.available) - shown} more (GET /v1/models)"
        why = f" ({self.reason})" if self.reason else ""
        return f"model {self.model!r} is not available{why}; available models: {listed}"


NO_PROVIDER_HINT = (
    "no provider is configured: set a provider key such as OPENAI_API_KEY or ANTHROPIC_API_KEY and restart, "
    "or add a provider in the catalog file, CATALOG_PATH"
)
"""What a 404 says when no provider is configured at all: how to configure one (README "Quick start")."""


class Catalog:
    """Resolves model names to ranked routes. Built once at start; resolutions are cached."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        pricer: Pricer | None = None,
        settings: Settings | None = None,
        catalog_file: CatalogFile | None = None,
    ) -> None:
        settings = load_settings() if settings is None else settings
        self.providers = dict(providers)
        self.pricer = Pricer() if pricer is None else pricer
        self.policy = settings.routing_policy
        self.order = [*settings.routing_order, *(n for n in providers if n not in settings.routing_order)]
        self.file = load_catalog_file(settings.catalog_path) if catalog_file is None else catalog_file
        self._models = {name.lower(): routes for name, routes in self.file.models.items()}
        self._aliases = {name.lower(): target for name, target in self.file.aliases.items()}
        snapshot = data_snapshot.get_snapshot()
        self._data = {
            pid: snapshot.find_provider(None, pid, None)
            for pid in (*(v.prices_id for v in VENDORS), AGGREGATOR)
        }
        self._overridden: set[tuple[str, str]] = set()
        self._check_file()
        self._cache: dict[str, tuple[Route, ...]] = {}
        self._ranked: dict[str, tuple[Route, ...]] = {}  # resolve(name) ranked: pure, so kept per name
        self._names: list[str] | None = None

    # ---- the interface --------------------------------------------------------------------------

    def configured(self) -> list[Provider]:
        return [p for p in self.providers.values() if p.configured]

    def routes(self, model: str, pin: str | None = None) -> list[Route]:
        """Candidate routes for ``model``, best first. ``pin`` (the ``x-ekai-provider`` header) and a
        ``provider::`` prefix on the name restrict them to one provider. Raises UnknownModel."""
        name = model.strip()
        name_pin, name = split_pin(name) if PIN_SEPARATOR in name else (None, name)
        header_pin = pin.strip().lower() if pin else ""
        if not name_pin and not header_pin:  # the usual request, unpinned: every ranked route
            # the ranked routes kept for the name, looked up here: no call for the usual request
            if candidates := list(self._ranked.get(name) or self._ranked_routes(name)):
                return candidates
        pins = {p for p in (name_pin, header_pin) if p}
        for p in sorted(pins):
            if p not in self.providers or not self.providers[p].configured:
                raise UnknownModel(
                    model, self.model_names(), f"provider {p!r} is not configured", self._names_up()
                )
        # Header and name pins must agree: a route has to satisfy every pin given. Ranking is a stable
        # sort, so filtering the ranked routes gives the ranking of the filtered ones.
        candidates = [r for r in self._ranked_routes(name) if all(r.provider == p for p in pins)]
        if not candidates:
            reason = f"no configured provider serves {name!r}" + (
                f" among {', '.join(sorted(pins))}" if pins else ""
            )
            raise UnknownModel(model, self.model_names(), reason + self._alias_note(name), self._names_up())
        return candidates

    def _names_up(self) -> tuple[str, ...]:
        """The configured providers' names, in configuration order (for an UnknownModel)."""
        return tuple(p.name for p in self.configured())

    def _alias_note(self, name: str) -> str:
        """For an error about ``name``: what the catalog file's alias says it is, and its pinned provider when
        that provider is not configured (its key unset): ``" (an alias of 'openrouter::x', whose provider
        'openrouter' is not configured)"``; empty when ``name`` is no alias."""
        target = self._aliases.get(name.lower())
        if target is None:
            return ""
        pin, _ = split_pin(target)
        usable = pin is None or (pin in self.providers and self.providers[pin].configured)
        return (
            f" (an alias of {target!r}"
            + ("" if usable else f", whose provider {pin!r} is not configured")
            + ")"
        )

    def _ranked_routes(self, name: str) -> tuple[Route, ...]:
        ranked = self._ranked.get(name)
        if ranked is None:
            if len(self._ranked) >= _CACHE_MAX:
                self._ranked.clear()
            ranked = self._ranked[name] = tuple(rank(self.resolve(name), self.policy, self.order))
        return ranked

    def resolve(self, name: str) -> tuple[Route, ...]:
        """Every configured route for ``name``, unranked (cached)."""
        routes = self._cache.get(name)
        if routes is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            routes = tuple(r for r in self._aliased(name) if self._usable(r.provider))
            self._cache[name] = routes
        return routes

    def model_names(self) -> list[str]:
        """What GET /v1/models lists: models configured providers serve (vendors' chat models from the
        price data, OpenRouter's names for them, configured providers' and the file's names). A file's provider
        that serves names by ``pattern`` or ``regex`` lists its ``models`` and the names its ``limits`` and
        ``[prices.<provider>]`` give that it serves: a pattern is no model name (docs/catalog.md)."""
        if self._names is None:
            self._names = self._list_models()
        return self._names

    # ---- resolution ---------------------------------------------------------------------------

    def _aliased(self, name: str) -> list[Route]:
        target = self._aliases.get(name.lower())
        if target is None:
            return self._candidates(name)
        pin, target_name = split_pin(target)
        return [r for r in self._candidates(target_name) if pin is None or r.provider == pin]

    def _candidates(self, name: str) -> list[Route]:
        routes: dict[str, Route] = {}
        vendor: Vendor | None
        if "/" in name:
            prefix, rest = name.split("/", 1)
            vendor = next((v for v in VENDORS if v.openrouter == prefix.lower()), None)
            routes[AGGREGATOR] = self._priced(AGGREGATOR, name, direct=False)
            direct = self._direct(vendor, rest) if vendor else None
            if vendor and direct:
                routes[vendor.provider] = direct
        else:
            vendor = next((v for v in VENDORS if v.family.match(name)), None)
            if vendor is not None:
                # A name the data does not know yet (a new model) still goes to its vendor, unpriced.
                routes[vendor.provider] = self._direct(vendor, name) or Route(vendor.provider, name)
                via = self._via_openrouter(vendor, name)
                if via is not None:
                    routes[AGGREGATOR] = via
        for provider in self.providers.values():
            if isinstance(provider, ConfiguredProvider) and provider.serves(name):
                routes[provider.name] = self._priced(provider.name, name, direct=True)
        for spec in self._models.get(name.lower(), ()):
            if spec.model is None:
                routes.pop(spec.provider, None)
            else:
                routes[spec.provider] = self._priced(
                    spec.provider, spec.model, direct=spec.provider != AGGREGATOR
                )
        return self._vendor_price_for_aggregator(routes, vendor)

    def _vendor_entry(self, vendor: Vendor, name: str) -> tuple[str, types.ModelInfo] | None:
        """The vendor's API name for ``name`` and its price-data entry. A short alias becomes the entry's
        id (``claude-3-5-haiku`` -> ``claude-3-5-haiku-latest``); a dotted spelling becomes dashed
        (``claude-sonnet-4.5`` -> ``claude-sonnet-4-5``); a dated name stays as it is."""
        spellings = unique([name, dashed(name)] if vendor.dotted else [name])
        found = [(s, e) for s in spellings if (e := self._find(vendor.prices_id, s)) is not None]
        for spelling, entry in found:
            if entry.id.lower().startswith(spelling.lower()):
                return entry.id, entry
        for spelling, entry in found:
            if not (vendor.dotted and "." in spelling):
                return spelling, entry
        return found[0] if found else None

    def _direct(self, vendor: Vendor, name: str) -> Route | None:
        found = self._vendor_entry(vendor, name)
        return None if found is None else self._priced(vendor.provider, found[0], direct=True)

    def _via_openrouter(self, vendor: Vendor, name: str) -> Route | None:
        """OpenRouter's route for a vendor's bare name, when OpenRouter is known to serve it."""
        synonyms = [name]
        found = self._vendor_entry(vendor, name)
        if found is not None:
            synonyms += [found[0], found[1].id, *_equals_values(found[1].match)]
        for candidate in _openrouter_spellings(vendor, synonyms):
            upstream = self._openrouter_name(candidate)
            if upstream is not None:
                return self._priced(AGGREGATOR, upstream, direct=False)
        return None

    def _openrouter_name(self, candidate: str) -> str | None:
        if candidate.lower() in OPENROUTER_EXTRA:
            return candidate
        entry = self._find(AGGREGATOR, candidate)
        if entry is None:
            return None
        # A dated alias of an entry is sent as the entry's id, the name OpenRouter lists
        # (anthropic/claude-sonnet-4.5-20250929 -> anthropic/claude-sonnet-4.5).
        return entry.id if entry.id.lower() == undated(candidate).lower() else candidate

    def _vendor_price_for_aggregator(self, routes: dict[str, Route], vendor: Vendor | None) -> list[Route]:
        via, direct = routes.get(AGGREGATOR), routes.get(vendor.provider) if vendor else None
        if via is not None and via.rates is None and direct is not None:
            # the vendor's list price: a catalog file's price for the direct route is the user's own
            # contract with that vendor (or a configured default), no measure of what the aggregator charges
            rates = (
                direct.rates
                if direct.price_source == "prices"
                else self.pricer.list_rates(direct.provider, direct.model)
            )
            if rates is not None:
                routes[AGGREGATOR] = Route(AGGREGATOR, via.model, rates, "vendor", direct=False)
        return list(routes.values())

    def _find(self, prices_id: str, name: str) -> types.ModelInfo | None:
        return self._data[prices_id].find_model(name)

    # ---- prices and configuration -------------------------------------------------------------

    def _priced(self, provider: str, model: str, *, direct: bool) -> Route:
        """A route with the best price known: the catalog file's, then a configured provider's
        default, then genai-prices' data."""
        if (provider, model) in self._overridden:
            return Route(provider, model, self.pricer.rates(provider, model), "catalog", direct)
        default = self._default_price(provider)
        if default is not None:
            return Route(
                provider, model, default.rates(model, claude=self._serves_claude(provider)), "catalog", direct
            )
        rates = self.pricer.rates(provider, model)
        return Route(provider, model, rates, "prices" if rates is not None else "unknown", direct)

    def _default_price(self, provider: str) -> Price | None:
        p = self.providers.get(provider)
        return p.spec.price if isinstance(p, ConfiguredProvider) else None

    def _serves_claude(self, provider: str) -> bool:
        """The catalog file says ``provider`` relays Claude (``cache_markers = true``, docs/catalog.md: "a relay
        in front of Claude"), whatever its model names: its prices without cache rates take Claude's multiples."""
        p = self.providers.get(provider)
        return isinstance(p, ConfiguredProvider) and p.spec.cache_markers is True

    def _usable(self, provider: str) -> bool:
        p = self.providers.get(provider)
        return p is not None and p.configured

    def _check_file(self) -> None:
        unknown = sorted(self.file.provider_names() - set(self.providers))
        if unknown:
            raise CatalogError(
                f"catalog file: unknown provider(s) {', '.join(unknown)}; known: {', '.join(self.providers)}"
            )
        overrides = dict(self.file.prices)
        for routes in self.file.models.values():
            overrides.update({(r.provider, r.model): r.price for r in routes if r.model and r.price})
        for (provider, model), price in overrides.items():
            self.pricer.set_override(
                provider, model, price.rates(model, claude=self._serves_claude(provider))
            )
            self._overridden.add((provider, model))

    # ---- listing ------------------------------------------------------------------------------

    def _list_models(self) -> list[str]:
        names: list[str] = []
        for vendor in VENDORS:
            if self._usable(vendor.provider):
                names += [e.id for e in self._data[vendor.prices_id].models if _listable(e)]
            if self._usable(AGGREGATOR):
                for entry in self._data[AGGREGATOR].models:
                    if entry.id.startswith(vendor.openrouter + "/") and _listable(entry):
                        names += [entry.id, *self._bare_name(vendor, entry.id)]
        for p in self.configured():
            if isinstance(p, ConfiguredProvider):
                names += p.spec.models
                # a glob or a regex is no model name: the names the file gives the provider's models elsewhere
                # (its per-model ``limits``, its ``[prices.<name>]``) that it serves are listed instead
                spec = p.spec
                named = [*spec.limits, *(m for prov, m in self.file.prices if prov == p.name)]
                names += [m for m in named if spec.serves(m)]
        names += [*self.file.models, *self.file.aliases]
        return sorted({n for n in names if self.resolve(n)})[:MAX_LISTED]

    def _bare_name(self, vendor: Vendor, openrouter_id: str) -> list[str]:
        """The vendor's own name for an OpenRouter model, when the vendor's data names it exactly
        (``anthropic/claude-opus-4.1`` -> ``claude-opus-4-1``; ``…-4.6-fast`` is OpenRouter's alone)."""
        found = self._vendor_entry(vendor, openrouter_id.split("/", 1)[1])
        if found is None:
            return []
        name, entry = found
        exact = {entry.id.lower(), *(v.lower() for v in _equals_values(entry.match))}
        return [name] if name.lower() in exact else []


def _openrouter_spellings(vendor: Vendor, synonyms: list[str]) -> list[str]:
    """OpenRouter names to try for a vendor's model, most specific first."""
    out: list[str] = []
    for synonym in synonyms:
        for variant in (synonym, undated(synonym)):
            spelled = dotted(variant) if vendor.dotted else variant
            out += [f"{vendor.openrouter}/{spelled}", f"{vendor.openrouter}/{without_point_zero(spelled)}"]
    return unique(out)


def _equals_values(clause: Any) -> list[str]:
    """The exact names a genai-prices match clause accepts (``equals`` leaves of its or/and tree)."""
    value = getattr(clause, "equals", None)
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    for attr in ("or_", "and_"):
        for part in getattr(clause, attr, None) or ():
            out += _equals_values(part)
    return out


def _listable(entry: types.ModelInfo) -> bool:
    return not entry.deprecated and not _NOT_CHAT.search(entry.id)
