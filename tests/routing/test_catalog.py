"""Catalog resolution: which providers serve a name, under which name, ranked how."""

from __future__ import annotations

import pytest

from services.gateway.providers.base import Route
from services.gateway.routing.catalog import Catalog, UnknownModel
from services.gateway.routing.config import CatalogError
from tests.routing.conftest import MakeCatalog


def routes(catalog: Catalog, model: str, pin: str | None = None) -> list[tuple[str, str]]:
    return [(r.provider, r.model) for r in catalog.routes(model, pin)]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", [("openai", "gpt-4o"), ("openrouter", "openai/gpt-4o")]),
        ("gpt-4o-2024-05-13", [("openai", "gpt-4o-2024-05-13"), ("openrouter", "openai/gpt-4o-2024-05-13")]),
        ("o3-mini", [("openai", "o3-mini"), ("openrouter", "openai/o3-mini")]),
        (
            "claude-sonnet-4-5",
            [("anthropic", "claude-sonnet-4-5"), ("openrouter", "anthropic/claude-sonnet-4.5")],
        ),
        # Dated names: the vendor gets the snapshot asked for; OpenRouter lists the undated id.
        (
            "claude-sonnet-4-5-20250929",
            [("anthropic", "claude-sonnet-4-5-20250929"), ("openrouter", "anthropic/claude-sonnet-4.5")],
        ),
        (
            "claude-haiku-4-5-20251001",
            [("anthropic", "claude-haiku-4-5-20251001"), ("openrouter", "anthropic/claude-haiku-4.5")],
        ),
        # Aliases: -latest, a short alias, a dotted spelling, a dropped .0.
        (
            "claude-3-5-haiku-latest",
            [("anthropic", "claude-3-5-haiku-latest"), ("openrouter", "anthropic/claude-3.5-haiku")],
        ),
        (
            "claude-3-5-haiku",
            [("anthropic", "claude-3-5-haiku-latest"), ("openrouter", "anthropic/claude-3.5-haiku")],
        ),
        (
            "claude-sonnet-4.5",
            [("anthropic", "claude-sonnet-4-5"), ("openrouter", "anthropic/claude-sonnet-4.5")],
        ),
        ("claude-opus-4-0", [("anthropic", "claude-opus-4-0"), ("openrouter", "anthropic/claude-opus-4")]),
        ("claude-opus-4-1", [("anthropic", "claude-opus-4-1"), ("openrouter", "anthropic/claude-opus-4.1")]),
        (
            "claude-3-7-sonnet-20250219",
            [("anthropic", "claude-3-7-sonnet-20250219"), ("openrouter", "anthropic/claude-3.7-sonnet")],
        ),
        ("grok-4", [("xai", "grok-4-0709"), ("openrouter", "x-ai/grok-4")]),
        ("grok-4.20", [("xai", "grok-4.20"), ("openrouter", "x-ai/grok-4.20")]),
        ("grok-code-fast-1", [("xai", "grok-code-fast-1"), ("openrouter", "x-ai/grok-code-fast-1")]),
        # OpenRouter's vendor/model: OpenRouter as written, and the vendor under its own name.
        (
            "anthropic/claude-sonnet-4.5",
            [("anthropic", "claude-sonnet-4-5"), ("openrouter", "anthropic/claude-sonnet-4.5")],
        ),
        (
            "anthropic/claude-3.5-haiku",
            [("anthropic", "claude-3-5-haiku-latest"), ("openrouter", "anthropic/claude-3.5-haiku")],
        ),
        ("openai/gpt-4o", [("openai", "gpt-4o"), ("openrouter", "openai/gpt-4o")]),
        ("x-ai/grok-4.1-fast", [("xai", "grok-4-1-fast-reasoning"), ("openrouter", "x-ai/grok-4.1-fast")]),
        ("google/gemini-2.5-pro", [("openrouter", "google/gemini-2.5-pro")]),
        ("mistralai/some-new-model", [("openrouter", "mistralai/some-new-model")]),
        # A vendor's new name, unknown to the price data, goes to the vendor only.
        ("gpt-9-turbo", [("openai", "gpt-9-turbo")]),
        ("claude-sonnet-9", [("anthropic", "claude-sonnet-9")]),
    ],
)
def test_resolution_with_every_provider_configured(
    make_catalog: MakeCatalog, model: str, expected: list[tuple[str, str]]
) -> None:
    assert routes(make_catalog(), model) == expected


def test_only_configured_providers_count(make_catalog: MakeCatalog) -> None:
    only_router = make_catalog(("openrouter",))
    assert routes(only_router, "gpt-4o") == [("openrouter", "openai/gpt-4o")]
    assert routes(only_router, "claude-sonnet-4-5-20250929") == [
        ("openrouter", "anthropic/claude-sonnet-4.5")
    ]
    with pytest.raises(UnknownModel):
        only_router.routes("gpt-9-turbo")  # a guessed OpenRouter name is never used
    only_anthropic = make_catalog(("anthropic",))
    assert routes(only_anthropic, "anthropic/claude-sonnet-4.5") == [("anthropic", "claude-sonnet-4-5")]
    with pytest.raises(UnknownModel):
        only_anthropic.routes("gpt-4o")


def test_unknown_model_lists_what_is_available(make_catalog: MakeCatalog) -> None:
    with pytest.raises(UnknownModel) as info:
        make_catalog(("openai",)).routes("no-such-model")
    assert info.value.model == "no-such-model"
    assert "gpt-4o" in info.value.available and not any(m.startswith("claude") for m in info.value.available)


def test_nothing_configured_means_nothing_available(make_catalog: MakeCatalog) -> None:
    with pytest.raises(UnknownModel) as info:
        make_catalog(()).routes("gpt-4o")
    assert info.value.available == []


@pytest.mark.parametrize(
    ("model", "pin", "expected"),
    [
        ("openrouter::gpt-4o", None, [("openrouter", "openai/gpt-4o")]),
        ("openrouter::openai/gpt-4o", None, [("openrouter", "openai/gpt-4o")]),
        ("anthropic::anthropic/claude-sonnet-4.5", None, [("anthropic", "claude-sonnet-4-5")]),
        ("gpt-4o", "openrouter", [("openrouter", "openai/gpt-4o")]),
        ("gpt-4o", "OpenAI", [("openai", "gpt-4o")]),
        ("openai::gpt-4o", "openai", [("openai", "gpt-4o")]),
    ],
)
def test_pins(
    make_catalog: MakeCatalog, model: str, pin: str | None, expected: list[tuple[str, str]]
) -> None:
    assert routes(make_catalog(), model, pin) == expected


@pytest.mark.parametrize(
    ("model", "pin", "reason"),
    [
        ("nowhere::gpt-4o", None, "'nowhere' is not configured"),
        ("gpt-4o", "xai", "no configured provider serves 'gpt-4o' among xai"),
        ("openai::gpt-4o", "openrouter", "among openai, openrouter"),  # two pins that disagree
    ],
)
def test_pins_that_cannot_be_served(
    make_catalog: MakeCatalog, model: str, pin: str | None, reason: str
) -> None:
    with pytest.raises(UnknownModel) as info:
        make_catalog().routes(model, pin)
    assert reason in (info.value.reason or "") and info.value.model == model


def test_a_pin_to_an_unconfigured_provider_is_unknown(make_catalog: MakeCatalog) -> None:
    with pytest.raises(UnknownModel):
        make_catalog(("openai",)).routes("anthropic::claude-sonnet-4-5")


def test_cheapest_first_and_ties_go_direct(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        toml="""
[prices.openrouter]
"anthropic/claude-sonnet-4.5" = { input = 1, output = 5 }
"""
    )
    assert routes(catalog, "claude-sonnet-4-5")[0] == ("openrouter", "anthropic/claude-sonnet-4.5")
    cheap = catalog.routes("claude-sonnet-4-5")[0]
    assert cheap.price_source == "catalog" and cheap.rates is not None and cheap.rates.input.base == 1
    # gpt-4o costs the same at OpenAI and OpenRouter: the vendor wins the tie.
    assert routes(catalog, "gpt-4o")[0] == ("openai", "gpt-4o")
    # grok-4's OpenRouter price is missing from the data: it is priced as xAI's and ties.
    grok = catalog.routes("grok-4")
    assert [r.provider for r in grok] == ["xai", "openrouter"] and grok[1].price_source == "vendor"


def test_ordered_policy_follows_routing_order(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(ROUTING_POLICY="ordered", ROUTING_ORDER="openrouter,openai")
    assert routes(catalog, "gpt-4o") == [("openrouter", "openai/gpt-4o"), ("openai", "gpt-4o")]
    assert routes(catalog, "claude-haiku-4-5")[0] == ("openrouter", "anthropic/claude-haiku-4.5")


LOCAL = """
[aliases]
sonnet = "claude-sonnet-4-5"
cheap = "openrouter::openai/gpt-4o-mini"
Local-Qwen = "qwen2.5:7b"

[[providers]]
name = "ollama"
base_url = "http://127.0.0.1:11434/v1"
regex = "^[a-z0-9._-]+:[a-z0-9._-]+$"
models = ["gpt-4o-mini"]
price = { input = 0, output = 0 }

[[providers]]
name = "groq"
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_API_KEY"
models = ["llama-3.3-70b-versatile"]

[models."llama-3.3-70b"]
groq = "llama-3.3-70b-versatile"
openrouter = { model = "meta-llama/llama-3.3-70b-instruct", price = { input = 0.13, output = 0.40 } }

[models."gpt-4o"]
openrouter = false

[prices.groq]
"llama-3.3-70b-versatile" = { input = 0.59, output = 0.79 }
"""


def test_configured_providers_aliases_and_file_routes(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(toml=LOCAL, GROQ_API_KEY="gsk-test")
    assert routes(catalog, "sonnet") == routes(catalog, "claude-sonnet-4-5")
    assert routes(catalog, "SONNET") == routes(catalog, "claude-sonnet-4-5")
    assert routes(catalog, "cheap") == [("openrouter", "openai/gpt-4o-mini")]
    assert routes(catalog, "local-qwen") == [("ollama", "qwen2.5:7b")]
    assert routes(catalog, "llama3.1:8b") == [("ollama", "llama3.1:8b")]
    # Free at the local server, so first; the file's price of 0 is marked as the catalog's.
    mini = catalog.routes("gpt-4o-mini")
    assert [r.provider for r in mini] == ["ollama", "openai", "openrouter"] and mini[
        0
    ].price_source == "catalog"
    assert routes(catalog, "gpt-4o") == [("openai", "gpt-4o")]  # openrouter = false
    assert routes(catalog, "llama-3.3-70b") == [
        ("openrouter", "meta-llama/llama-3.3-70b-instruct"),
        ("groq", "llama-3.3-70b-versatile"),
    ]
    with pytest.raises(UnknownModel):
        catalog.routes("anthropic/claude-3.7-sonnet:thinking", "ollama")  # the regex wants no slash


def test_a_provider_whose_key_variable_is_unset_is_not_configured(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(toml=LOCAL)
    assert routes(catalog, "llama-3.3-70b") == [("openrouter", "meta-llama/llama-3.3-70b-instruct")]
    assert "groq" not in [p.name for p in catalog.configured()]


def test_the_file_cannot_name_unknown_providers(make_catalog: MakeCatalog) -> None:
    with pytest.raises(CatalogError, match="unknown provider.*grok"):
        make_catalog(toml='[models."x"]\ngrok = "x"\n')


def test_the_file_cannot_redefine_a_built_in_provider(make_catalog: MakeCatalog) -> None:
    with pytest.raises(CatalogError, match="built in"):
        make_catalog(toml='[[providers]]\nname = "openai"\nbase_url = "http://x"\nmodels = ["m"]\n')


def test_model_list_is_bounded_and_everything_in_it_resolves(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(toml=LOCAL)
    names = catalog.model_names()
    assert 50 < len(names) <= 1000 and names == sorted(set(names))
    for expected in (
        "gpt-4o",
        "claude-sonnet-4-5",
        "grok-4.20",
        "anthropic/claude-sonnet-4.5",
        "openai/gpt-4o",
        "sonnet",
        "llama-3.3-70b",
        "gpt-4o-mini",
    ):
        assert expected in names
    assert not [n for n in names if "embedding" in n or "tts" in n or "whisper" in n or n.endswith(":batch")]
    assert all(catalog.resolve(n) for n in names)


def test_with_only_openrouter_claude_names_are_listed_for_claude_code(make_catalog: MakeCatalog) -> None:
    names = make_catalog(("openrouter",)).model_names()
    assert "claude-sonnet-4-5" in names and "anthropic/claude-sonnet-4.5" in names
    assert "claude-opus-4-6-fast" not in names  # OpenRouter's own variant has no Anthropic name
    assert not [n for n in names if n.startswith(("google/", "meta-llama/"))]  # routable, not listed


def test_routes_compare_by_provider_and_model() -> None:
    assert Route("openai", "gpt-4o") == Route("openai", "gpt-4o", None, "catalog", False)


def test_resolutions_are_cached_and_bounded(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(("openai",))
    first = catalog.resolve("gpt-4o")
    assert catalog.resolve("gpt-4o") is first
    for i in range(5000):
        catalog.resolve(f"gpt-x-{i}")
    assert len(catalog._cache) <= 4096


def test_a_ranking_is_computed_once_per_name_and_pins_filter_it(make_catalog: MakeCatalog) -> None:
    """Ranking is pure, so the catalog keeps it per name (issue 13: it was sorted again per request);
    a pin filters the kept ranking, which is the ranking of the pinned routes."""
    catalog = make_catalog()
    first = catalog.routes("gpt-4o")
    assert [r.provider for r in first] == ["openai", "openrouter"]
    first.clear()  # the caller's list is its own: the kept ranking is untouched
    assert catalog.routes("gpt-4o") == catalog.routes("gpt-4o") != []
    assert catalog.routes("gpt-4o", "openrouter") == [
        r for r in catalog.routes("gpt-4o") if r.provider == "openrouter"
    ]
    assert list(catalog._ranked) == ["gpt-4o"]


def test_a_catalog_price_for_the_vendor_is_not_the_aggregators(make_catalog: MakeCatalog) -> None:
    """grok-4 at OpenRouter has no price in the data and takes xAI's list price; a catalog file's price for
    the xAI route (the user's own contract) is not what OpenRouter charges: it still takes the list price."""
    listed = make_catalog().routes("grok-4")
    assert listed[1].provider == "openrouter" and listed[1].price_source == "vendor"
    catalog = make_catalog(
        toml="""
[prices.xai]
"grok-4-0709" = { input = 0.01, output = 0.02 }
"""
    )
    via = next(r for r in catalog.routes("grok-4") if r.provider == "openrouter")
    assert via.price_source == "vendor" and via.rates == listed[1].rates and via.rates is not None
    assert via.rates.input.base == 3.0  # not the contract's 0.01


def test_the_404_message_says_why_and_how_many_more(make_catalog: MakeCatalog) -> None:
    """A pinned provider without a key is named as the reason; a list cut at 50 says how many more
    ``GET /v1/models`` has."""
    catalog = make_catalog()
    with pytest.raises(UnknownModel) as caught:
        catalog.routes("nosuch::gpt-4o")
    said = caught.value.message()
    assert said.startswith("model 'nosuch::gpt-4o' is not available (provider 'nosuch' is not configured); ")
    names = catalog.model_names()
    assert len(names) > 50 and said.endswith(f", and {len(names) - 50} more (GET /v1/models)")
    # no provider at all: the message says how to configure one (README "Quick start")
    assert UnknownModel("m", []).message() == (
        "model 'm' is not available; available models: none (no provider is configured: set a provider key "
        "such as OPENAI_API_KEY or ANTHROPIC_API_KEY and restart, or add a provider in the catalog file, "
        "CATALOG_PATH)"
    )
    assert UnknownModel("m", [], configured=("ollama",)).message() == (  # a regex-only catalog provider
        "model 'm' is not available; available models: none listed (configured: ollama; a catalog provider's "
        "regex matches names no list holds)"
    )


def test_an_alias_whose_provider_is_not_configured_says_so(make_catalog: MakeCatalog) -> None:
    """The error names what the alias stands for and the provider it pins, when that provider has no key
    (before: "no configured provider serves 'cheap-gpt'", which left the user to find the alias)."""
    toml = '[aliases]\ncheap-gpt = "openrouter::openai/gpt-4o-mini"\nsonnet = "claude-sonnet-4-5"\n'
    catalog = make_catalog(("openai",), toml=toml)
    with pytest.raises(UnknownModel) as info:
        catalog.routes("cheap-gpt")
    assert info.value.reason == (
        "no configured provider serves 'cheap-gpt' (an alias of 'openrouter::openai/gpt-4o-mini', whose "
        "provider 'openrouter' is not configured)"
    )
    with pytest.raises(UnknownModel) as info:
        catalog.routes("sonnet")  # no pin in the alias: only what it stands for
    assert info.value.reason == "no configured provider serves 'sonnet' (an alias of 'claude-sonnet-4-5')"
