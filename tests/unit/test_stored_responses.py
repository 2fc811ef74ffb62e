"""``stored_responses.holder`` and ``upstream_url``: which provider a stored-response call goes to (pure)."""

from __future__ import annotations

import pytest

from services.gateway.errors import ClientError
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider
from services.gateway.providers.openai_compat import OpenAIProvider, XAIProvider
from services.gateway.stored_responses import CALLS, holder, upstream_url


def providers(*configured: str) -> dict[str, Provider]:
    made: dict[str, Provider] = {
        "openai": OpenAIProvider("openai", "https://api.openai.example/v1", None),
        "second": OpenAIProvider("second", "https://second.example/v1", None),
        "anthropic": AnthropicProvider("anthropic", "https://api.anthropic.example", None),
        "xai": XAIProvider("xai", "https://api.x.example/v1", None),
    }
    for name in configured:
        made[name] = type(made[name])(name, made[name].base_url, f"sk-{name}")
    return made


def test_the_only_responses_provider_holds_every_id() -> None:
    assert holder(providers("openai", "anthropic", "xai"), None).name == "openai"


def test_several_responses_providers_need_the_header() -> None:
    with pytest.raises(ClientError) as several:
        holder(providers("openai", "second"), None)
    assert several.value.status == 400 and "x-ekai-provider" in several.value.message
    assert holder(providers("openai", "second"), "second").name == "second"


def test_no_responses_provider_is_404_and_says_translated_answers_are_not_stored() -> None:
    with pytest.raises(ClientError) as none:
        holder(providers("anthropic", "xai"), None)
    assert none.value.status == 404 and "translated" in none.value.message


@pytest.mark.parametrize("pin", ["anthropic", "xai", "nosuch", "second"])
def test_a_pin_must_be_a_configured_responses_provider(pin: str) -> None:
    with pytest.raises(ClientError) as refused:
        holder(providers("openai", "anthropic", "xai"), pin)
    assert refused.value.status == 400


def test_upstream_urls() -> None:
    openai = providers("openai")["openai"]
    urls = [upstream_url(openai, "resp_1", call, "limit=2" if call.suffix else "") for call in CALLS]
    assert urls == [
        "https://api.openai.example/v1/responses/resp_1",
        "https://api.openai.example/v1/responses/resp_1",
        "https://api.openai.example/v1/responses/resp_1/cancel?limit=2",
        "https://api.openai.example/v1/responses/resp_1/input_items?limit=2",
    ]
    assert [c.method for c in CALLS] == ["GET", "DELETE", "POST", "GET"]
