"""The user-editable catalog file (``CATALOG_PATH``, TOML): its shape, parsed and checked.

The format is documented in docs/catalog.md; catalog.example.toml shows every section. Parsing is
pure and strict: a typo fails the gateway at start with the file name and the key at fault, rather than
quietly routing somewhere unexpected. Which provider names exist is checked by the catalog, which knows
them.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.gateway.routing.names import PROVIDER_NAME
from shared.pricing import (
    CLAUDE_CACHE_READ,
    CLAUDE_CACHE_WRITE_1H,
    CLAUDE_CACHE_WRITE_5M,
    ModelRates,
    Rate,
    claude_cache_rate,
)


class CatalogError(ValueError):
    """The catalog file is unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. ``cache_write_1h``: writes with the 1-hour TTL (Anthropic's). A cache price not
    given is, for a Claude model, its multiple of the input price that Anthropic prices every model at (pricing
    page, "Prompt caching": reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x base input; the ratios
    ``shared.pricing.claude_cache_rate`` applies to listings that lack them), and for other models the input
    price (1-hour writes: ``cache_write``). Before, a Claude price in the catalog (a negotiated discount) read
    its cache hits at the full input price (10x) and its 5-minute writes at 1x (s22 variant 06-w5)."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None

    def rates(self, model_id: str, *, claude: bool = False) -> ModelRates:
        """The rates of ``model_id`` at this price; ``claude``: its provider serves Claude whatever the name
        says (``ProviderSpec.cache_markers`` true: a relay's alias such as ``sonnet``; s23 variant 06-x7: its
        cache hits were priced at the full input price, 10x)."""
        input_rate = Rate(self.input)

        def cache(given: float | None, claude_factor: float) -> Rate:
            if given is not None:
                return Rate(given)
            return claude_cache_rate(model_id, input_rate, claude_factor, claude=claude) or input_rate

        return ModelRates(
            model_id=model_id,
            input=input_rate,
            output=Rate(self.output),
            cache_read=cache(self.cache_read, CLAUDE_CACHE_READ),
            cache_write=cache(self.cache_write, CLAUDE_CACHE_WRITE_5M),
            cache_write_1h=Rate(self.cache_write_1h)
            if self.cache_write_1h is not None
            else claude_cache_rate(model_id, input_rate, CLAUDE_CACHE_WRITE_1H, claude=claude),
        )


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """A model's token limits as the catalog file gives them."""

    max_output_tokens: int | None = None
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """An OpenAI-compatible provider added by configuration (Ollama, vLLM, Groq, a company proxy)."""

    name: str
    base_url: str
    api_key_env: str | None = None  # None: the provider needs no key (a local server)
    models: tuple[str, ...] = ()  # exact names it serves
    pattern: str | None = None  # a glob (fnmatch) over model names, e.g. "llama*"
    regex: str | None = None  # a regular expression searched in model names
    price: Price | None = None  # for every model it serves, unless [prices.<name>] says otherwise
    max_tokens_field: str = "max_tokens"
    # Limits of the models it serves (output and context tokens): for all of them, or per model.
    max_output_tokens: int | None = None
    context_window: int | None = None
    limits: dict[str, ModelLimits] = field(default_factory=dict, hash=False)
    # Anthropic ``cache_control`` markers kept on content parts (a relay in front of Claude, as LiteLLM): True or
    # False for every model it serves; None: for the models whose names say Claude (``claude_by_name``)
    cache_markers: bool | None = None
    # The history's thinking goes back as ``reasoning_content`` on assistant messages (``Target.reasoning_content``):
    # True or False for every model it serves; None: for the models whose names say so (``keeps_reasoning_content``)
    reasoning_content: bool | None = None
    # The server speaks OpenAI's Responses API at ``base_url/responses`` besides Chat Completions (Azure OpenAI's
    # v1 API, a LiteLLM proxy, a relay in front of OpenAI): Responses clients pass through to it, and a model it
    # refuses on chat completions as "only supported in v1/responses" is sent there (bill35). False: chat only.
    responses: bool = False

    def output_limit(self, model: str) -> int | None:
        own = self.limits.get(model)
        return (own.max_output_tokens if own else None) or self.max_output_tokens

    def context_limit(self, model: str) -> int | None:
        own = self.limits.get(model)
        return (own.context_window if own else None) or self.context_window

    def serves(self, model: str) -> bool:
        if model in self.models:
            return True
        if self.pattern is not None and fnmatch.fnmatchcase(model, self.pattern):
            return True
        return self.regex is not None and re.search(self.regex, model) is not None


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One provider's entry under ``[models."<name>"]``; ``model`` None means "never this provider"."""

    provider: str
    model: str | None
    price: Price | None = None


@dataclass(frozen=True, slots=True)
class CatalogFile:
    providers: tuple[ProviderSpec, ...] = ()
    models: dict[str, tuple[RouteSpec, ...]] = field(default_factory=dict)  # model name -> its routes
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> model name
    prices: dict[tuple[str, str], Price] = field(default_factory=dict)  # (provider, upstream model)

    def provider_names(self) -> set[str]:
        """Every provider the file mentions (to check them against the known ones)."""
        names = {p for routes in self.models.values() for p in (r.provider for r in routes)}
        return names | {provider for provider, _ in self.prices}


_TOP_LEVEL = {"aliases", "providers", "models", "prices"}
_PROVIDER_KEYS = {
    "name",
    "base_url",
    "api_key_env",
    "models",
    "pattern",
    "regex",
    "price",
    "max_tokens_field",
    "max_output_tokens",
    "context_window",
    "limits",
    "cache_markers",
    "reasoning_content",
    "responses",
}
_LIMIT_KEYS = {"max_output_tokens", "context_window"}
_PRICE_KEYS = {"input", "output", "cache_read", "cache_write", "cache_write_1h"}


def load_catalog_file(path: str | None) -> CatalogFile:
    """Parse the file at ``path``; no path means an empty catalog. Raises ``CatalogError``."""
    if not path:
        return CatalogFile()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"catalog file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog file {path}: not valid TOML: {exc}") from exc
    return parse_catalog(data, source=path)


def parse_catalog(data: dict[str, Any], source: str = "catalog") -> CatalogFile:
    """Check and convert a parsed TOML document. Raises ``CatalogError`` naming the key at fault."""
    _no_unknown(data, _TOP_LEVEL, source)
    return CatalogFile(
        providers=_providers(data.get("providers", []), source),
        models=_models(data.get("models", {}), f"{source}: [models]"),
        aliases=_aliases(data.get("aliases", {}), f"{source}: [aliases]"),
        prices=_prices(data.get("prices", {}), f"{source}: [prices]"),
    )


def _no_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CatalogError(
            f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: expected a table")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: expected a non-empty string")
    return value.strip()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CatalogError(f"{where}: expected a number of USD per million tokens, at least 0")
    return float(value)


def _price(value: Any, where: str) -> Price:
    table = _table(value, where)
    _no_unknown(table, _PRICE_KEYS, where)
    for required in ("input", "output"):
        if required not in table:
            raise CatalogError(f"{where}: `{required}` is required")
    optional = {
        k: _number(table[k], f"{where}.{k}")
        for k in ("cache_read", "cache_write", "cache_write_1h")
        if k in table
    }
    return Price(
        _number(table["input"], f"{where}.input"), _number(table["output"], f"{where}.output"), **optional
    )


def _provider_name(value: Any, where: str) -> str:
    name = _text(value, where).lower()
    if not PROVIDER_NAME.match(name):
        raise CatalogError(f"{where}: {name!r} is not a valid provider name (letters, digits, '.', '_', '-')")
    return name


def _providers(value: Any, source: str) -> tuple[ProviderSpec, ...]:
    if not isinstance(value, list):
        raise CatalogError(f"{source}: `providers` must be an array of tables ([[providers]])")
    specs: list[ProviderSpec] = []
    for i, item in enumerate(value):
        specs.append(_provider(_table(item, f"{source}: providers[{i}]"), f"{source}: providers[{i}]"))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CatalogError(f"{source}: provider(s) defined twice: {', '.join(duplicates)}")
    return tuple(specs)


def _provider(item: dict[str, Any], where: str) -> ProviderSpec:
    _no_unknown(item, _PROVIDER_KEYS, where)
    name = _provider_name(item.get("name"), f"{where}.name")
    where = f"{where} ({name})"
    base_url = _text(item.get("base_url"), f"{where}.base_url")
    if not base_url.startswith(("http://", "https://")):
        raise CatalogError(f"{where}.base_url: expected an http(s) URL, got {base_url!r}")
    models = item.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise CatalogError(f"{where}.models: expected an array of model names")
    regex = item.get("regex")
    if regex is not None:
        try:
            re.compile(_text(regex, f"{where}.regex"))
        except re.error as exc:
            raise CatalogError(f"{where}.regex: {exc}") from exc
    pattern = _text(item["pattern"], f"{where}.pattern") if "pattern" in item else None
    if not models and pattern is None and regex is None:
        raise CatalogError(
            f"{where}: give `models`, `pattern` or `regex` so the gateway knows what it serves"
        )
    field_name = item.get("max_tokens_field", "max_tokens")
    if field_name not in ("max_tokens", "max_completion_tokens"):
        raise CatalogError(f"{where}.max_tokens_field: expected max_tokens or max_completion_tokens")
    cache_markers = item.get("cache_markers")
    if cache_markers is not None and not isinstance(cache_markers, bool):
        raise CatalogError(f"{where}.cache_markers: expected true or false")
    reasoning_content = item.get("reasoning_content")
    if reasoning_content is not None and not isinstance(reasoning_content, bool):
        raise CatalogError(f"{where}.reasoning_content: expected true or false")
    responses = item.get("responses", False)
    if not isinstance(responses, bool):
        raise CatalogError(f"{where}.responses: expected true or false")
    return ProviderSpec(
        name=name,
        base_url=base_url.rstrip("/"),
        api_key_env=_text(item["api_key_env"], f"{where}.api_key_env") if "api_key_env" in item else None,
        models=tuple(models),
        pattern=pattern,
        regex=regex,
        price=_price(item["price"], f"{where}.price") if "price" in item else None,
        max_tokens_field=field_name,
        max_output_tokens=_tokens(item.get("max_output_tokens"), f"{where}.max_output_tokens"),
        context_window=_tokens(item.get("context_window"), f"{where}.context_window"),
        limits={
            _text(model, f"{where}.limits"): _limits(spec, f'{where}.limits."{model}"')
            for model, spec in _table(item.get("limits", {}), f"{where}.limits").items()
        },
        cache_markers=cache_markers,
        reasoning_content=reasoning_content,
        responses=responses,
    )


def _tokens(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CatalogError(f"{where}: expected a whole number of tokens, at least 1")
    return value


def _limits(value: Any, where: str) -> ModelLimits:
    table = _table(value, where)
    _no_unknown(table, _LIMIT_KEYS, where)
    return ModelLimits(
        _tokens(table.get("max_output_tokens"), f"{where}.max_output_tokens"),
        _tokens(table.get("context_window"), f"{where}.context_window"),
    )


def _models(value: Any, where: str) -> dict[str, tuple[RouteSpec, ...]]:
    out: dict[str, tuple[RouteSpec, ...]] = {}
    for model, routes in _table(value, where).items():
        here = f'{where} "{model}"'
        out[_text(model, here)] = tuple(
            _route(_provider_name(provider, here), spec, f"{here}.{provider}")
            for provider, spec in _table(routes, here).items()
        )
    return out


def _route(provider: str, spec: Any, where: str) -> RouteSpec:
    if spec is False:
        return RouteSpec(provider, None)
    if isinstance(spec, str):
        return RouteSpec(provider, _text(spec, where))
    table = _table(spec, where)
    _no_unknown(table, {"model", "price"}, where)
    price = _price(table["price"], f"{where}.price") if "price" in table else None
    return RouteSpec(provider, _text(table.get("model"), f"{where}.model"), price)


def _aliases(value: Any, where: str) -> dict[str, str]:
    return {
        _text(alias, where): _text(target, f"{where}.{alias}")
        for alias, target in _table(value, where).items()
    }


def _prices(value: Any, where: str) -> dict[tuple[str, str], Price]:
    out: dict[tuple[str, str], Price] = {}
    for provider, models in _table(value, where).items():
        name = _provider_name(provider, where)
        for model, price in _table(models, f"{where}.{provider}").items():
            out[(name, _text(model, f"{where}.{provider}"))] = _price(price, f'{where}.{provider}."{model}"')
    return out
