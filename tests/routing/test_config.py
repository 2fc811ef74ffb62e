"""The catalog file: what parses, and what fails with a message naming the key at fault."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from services.gateway.routing.config import (
    CatalogError,
    Price,
    ProviderSpec,
    load_catalog_file,
    parse_catalog,
)
from tests.procs import ROOT

GOOD = """
[aliases]
sonnet = "claude-sonnet-4-5"

[[providers]]
name = "Ollama"
base_url = "http://127.0.0.1:11434/v1/"
regex = "^[a-z0-9.-]+:[a-z0-9.-]+$"
price = { input = 0, output = 0 }

[models."llama-70b"]
ollama = "llama3.3:70b"
openrouter = { model = "meta-llama/llama-3.3-70b-instruct", price = { input = 0.13, output = 0.4 } }
anthropic = false

[prices.openai]
"gpt-4o" = { input = 2, output = 8, cache_read = 1 }
"""


def parse(text: str) -> object:
    return parse_catalog(tomllib.loads(text), "test.toml")


def test_a_full_file_parses() -> None:
    cat = parse_catalog(tomllib.loads(GOOD), "test.toml")
    assert cat.aliases == {"sonnet": "claude-sonnet-4-5"}
    (ollama,) = cat.providers
    assert ollama.name == "ollama" and ollama.base_url == "http://127.0.0.1:11434/v1"
    assert ollama.api_key_env is None and ollama.price == Price(0, 0)
    routes = {r.provider: r for r in cat.models["llama-70b"]}
    assert routes["ollama"].model == "llama3.3:70b" and routes["ollama"].price is None
    assert routes["openrouter"].price == Price(0.13, 0.4)
    assert routes["anthropic"].model is None
    assert cat.prices[("openai", "gpt-4o")] == Price(2, 8, cache_read=1)
    assert cat.provider_names() == {"ollama", "openrouter", "anthropic", "openai"}


def test_price_rates_default_cache_prices_to_input() -> None:
    rates = Price(2, 8).rates("m")
    assert (rates.input.base, rates.output.base, rates.cache_read.base, rates.cache_write.base) == (
        2,
        8,
        2,
        2,
    )
    assert rates.cost(1000, 500) == pytest.approx((2000 + 4000) / 1e6)


@pytest.mark.parametrize(
    ("spec", "served", "not_served"),
    [
        (ProviderSpec("a", "http://x", models=("m1",)), "m1", "m2"),
        (ProviderSpec("a", "http://x", pattern="llama*"), "llama3:8b", "qwen:7b"),
        (
            ProviderSpec("a", "http://x", regex="^[a-z0-9.-]+:[a-z0-9.-]+$"),
            "qwen2.5:7b",
            "anthropic/claude:beta",
        ),
    ],
)
def test_what_a_configured_provider_serves(spec: ProviderSpec, served: str, not_served: str) -> None:
    assert spec.serves(served) and not spec.serves(not_served)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[routes]\n", "unknown key(s) routes"),
        ("[[providers]]\nname = 'x'\n", "base_url"),
        ("[[providers]]\nname = 'x'\nbase_url = 'ftp://x'\nmodels = ['m']\n", "http(s) URL"),
        ("[[providers]]\nname = 'x'\nbase_url = 'http://x'\n", "models`, `pattern` or `regex"),
        ("[[providers]]\nname = 'x y'\nbase_url = 'http://x'\nmodels = ['m']\n", "not a valid provider name"),
        ("[[providers]]\nname = 'x'\nbase_url = 'http://x'\nregex = '('\n", "regex"),
        (
            "[[providers]]\nname = 'x'\nbase_url = 'http://x'\nmodels = ['m']\nkey = 'K'\n",
            "unknown key(s) key",
        ),
        (
            "[[providers]]\nname='x'\nbase_url='http://x'\nmodels=['m']\n[[providers]]\nname='x'\nbase_url='http://y'\n"
            "models=['m']\n",
            "defined twice",
        ),
        ("[prices.openai]\n'gpt-4o' = { input = 1 }\n", "`output` is required"),
        ("[prices.openai]\n'gpt-4o' = { input = -1, output = 1 }\n", "at least 0"),
        ("[prices.openai]\n'gpt-4o' = { input = 1, output = 1, per = 'k' }\n", "unknown key(s) per"),
        ("[models.m]\nopenai = 3\n", "expected a table"),
        ("[models.m]\nopenai = { name = 'x' }\n", "unknown key(s) name"),
        ("[aliases]\nx = ''\n", "non-empty string"),
        (
            "[[providers]]\nname = 'x'\nbase_url = 'http://x'\nmodels = ['m']\nresponses = 'yes'\n",
            "responses",
        ),
    ],
)
def test_mistakes_are_reported_with_their_place(text: str, needle: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse(text)
    assert needle in str(info.value) and "test.toml" in str(info.value)


def test_loading_files(tmp_path: Path) -> None:
    assert load_catalog_file(None).providers == ()
    with pytest.raises(CatalogError, match="No such file"):
        load_catalog_file(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[aliases\n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog_file(str(bad))


def test_the_shipped_example_parses() -> None:
    cat = load_catalog_file(str(ROOT / "catalog.example.toml"))
    assert cat.providers and cat.models and cat.aliases and cat.prices


def test_a_claude_price_without_cache_prices_takes_anthropics_multiples() -> None:
    """s22 variant 06-w5: a catalog price for a Claude model (a negotiated discount) with no cache prices; Anthropic
    prices caching as multiples of base input ("Prompt caching": reads 0.1x, 5-minute writes 1.25x, 1-hour 2x).
    Before, reads and 5-minute writes cost the full input price. Other models keep the input price; given cache
    prices are kept as given."""
    claude = Price(input=2.7, output=13.5).rates("claude-sonnet-4-5")
    assert (claude.cache_read.base, claude.cache_write.base) == (pytest.approx(0.27), pytest.approx(3.375))
    assert claude.cache_write_1h is not None and claude.cache_write_1h.base == pytest.approx(5.4)
    other = Price(input=0.5, output=1.0).rates("qwen3-32b")
    assert (other.cache_read.base, other.cache_write.base, other.cache_write_1h) == (0.5, 0.5, None)
    given = Price(input=2.7, output=13.5, cache_read=0.3, cache_write=3.0).rates("claude-sonnet-4-5")
    assert (given.cache_read.base, given.cache_write.base) == (0.3, 3.0)


def test_a_price_for_claude_under_an_alias_takes_anthropics_multiples() -> None:
    """s23 variant 06-x7: a relay serving Claude as ``sonnet`` (its provider configured ``cache_markers = true``):
    ``claude`` says what the name does not. Before, its cache reads and writes cost the full input price."""
    alias = Price(input=3.0, output=15.0).rates("sonnet", claude=True)
    assert (alias.cache_read.base, alias.cache_write.base) == (pytest.approx(0.3), pytest.approx(3.75))
    assert alias.cache_write_1h is not None and alias.cache_write_1h.base == pytest.approx(6.0)
    unknown = Price(input=3.0, output=15.0).rates("sonnet")
    assert (unknown.cache_read.base, unknown.cache_write.base, unknown.cache_write_1h) == (3.0, 3.0, None)


def test_a_provider_says_it_speaks_the_responses_api() -> None:
    """bill35: ``responses = true`` (Azure OpenAI, a LiteLLM proxy); chat only when it is left out."""
    text = "[[providers]]\nname = 'azure'\nbase_url = 'http://x'\nmodels = ['m']\nresponses = true\n"
    (azure,) = parse_catalog(tomllib.loads(text), "test.toml").providers
    (plain,) = parse_catalog(tomllib.loads(text.replace("responses = true\n", "")), "test.toml").providers
    assert (azure.responses, plain.responses) == (True, False)
