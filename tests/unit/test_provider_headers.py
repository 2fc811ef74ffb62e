"""Provider.response_headers: which of a provider's answer headers go back to the client."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from services.gateway.providers import base
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import UPSTREAM_REQUEST_ID
from services.gateway.providers.openai_compat import OpenAIProvider


def answer_headers(**extra: str) -> CIMultiDict[str]:
    headers = CIMultiDict(
        {
            "Content-Type": "application/json",
            "X-RateLimit-Remaining-Requests": "499",
            "Retry-After": "1.5",
            "Set-Cookie": "session=1",
            "Request-Id": "req_abc",
        }
    )
    headers.update(extra)
    return headers


def test_rate_limit_retry_and_request_id_headers_go_back_the_same_on_every_answer() -> None:
    p = OpenAIProvider("openai", "https://api.openai.com/v1", "sk-test")
    expected = {
        "x-ratelimit-remaining-requests": "499",
        "retry-after": "2",
        UPSTREAM_REQUEST_ID: "req_abc",
    }
    assert p.response_headers(answer_headers()) == expected
    assert p.response_headers(answer_headers()) == expected  # names seen before: the kept decision
    assert (
        p.response_headers(answer_headers(**{"X-Request-Id": "req_first"}))[UPSTREAM_REQUEST_ID]
        == "req_first"
    )


def test_kept_names_are_bounded_and_a_name_past_the_bound_is_still_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "FORWARD_NAMES_KEPT", 3)
    p = OpenAIProvider("openai", "https://api.openai.com/v1", "sk-test")
    many = CIMultiDict({f"X-Junk-{i}": "v" for i in range(10)})
    many["x-ratelimit-limit-tokens"] = "1000"
    assert p.response_headers(many) == {"x-ratelimit-limit-tokens": "1000"}
    assert len(p._forward_names) == 3
    assert p.response_headers(many) == {"x-ratelimit-limit-tokens": "1000"}


def test_anthropic_forwards_every_anthropic_header_and_never_the_clients_key_on_every_request() -> None:
    p = AnthropicProvider("anthropic", "https://api.anthropic.com", "sk-ant-provider")
    client = CIMultiDict(
        {
            "Anthropic-Version": "2023-01-01",
            "anthropic-beta": "prompt-caching-2024-07-31",
            "x-api-key": "sk-client-own",
            "Authorization": "Bearer sk-client-own",
            "Anthropic-Empty": "",
            "User-Agent": "claude-cli",
        }
    )
    expected = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "anthropic-version": "2023-01-01",
        "anthropic-beta": "prompt-caching-2024-07-31",
        "x-api-key": "sk-ant-provider",
    }
    assert p.headers(client) == expected
    assert p.headers(client) == expected  # names seen before: the kept decision
    assert p.headers(CIMultiDict({"user-agent": "x"}))["anthropic-version"] == "2023-06-01"


def test_anthropic_kept_client_names_are_bounded_and_a_name_past_the_bound_is_still_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "FORWARD_NAMES_KEPT", 3)
    p = AnthropicProvider("anthropic", "https://api.anthropic.com", None)
    many = CIMultiDict({f"X-Junk-{i}": "v" for i in range(10)})
    many["Anthropic-Beta"] = "b"
    assert p.headers(many)["anthropic-beta"] == "b"
    assert len(p._client_names) == 3
    assert p.headers(many)["anthropic-beta"] == "b"


def test_a_proxys_prefixed_copies_of_the_retry_headers_are_read_and_forwarded() -> None:
    """s17 variants 11-a/11-b: LiteLLM's proxy relays an upstream 429's retry and rate-limit headers only as
    ``llm_provider-<name>`` (BerriAI/litellm#21553): the client got a 429 without ``retry-after`` and the
    gateway rested the provider blind. They count under their own names; the proxy's own word wins."""
    from services.gateway.providers.base import relayed_headers
    from services.gateway.routing.health import retry_after_seconds

    p = OpenAIProvider("litellm", "http://litellm:4000/v1", None)
    raw = CIMultiDict(
        {
            "Content-Type": "application/json",
            "llm_provider-retry-after": "45",
            "LLM_Provider-X-RateLimit-Remaining-Requests": "0",
            "x-litellm-call-id": "abc",
        }
    )
    headers = relayed_headers(raw)
    assert p.response_headers(headers) == {"retry-after": "45", "x-ratelimit-remaining-requests": "0"}
    assert retry_after_seconds(headers, 429) == 45.0
    tokens = CIMultiDict(
        {
            "llm_provider-x-ratelimit-remaining-tokens": "0",
            "llm_provider-x-ratelimit-reset-tokens": "1m0s",
            "llm_provider-x-ratelimit-remaining-requests": "499",
            "llm_provider-x-ratelimit-reset-requests": "120ms",
        }
    )
    assert retry_after_seconds(relayed_headers(tokens), 429) == 60.0  # the exhausted tokens window
    own = relayed_headers(CIMultiDict({"Retry-After": "3", "llm_provider-retry-after": "45"}))
    assert retry_after_seconds(own, 429) == 3.0
    plain = CIMultiDict({"Retry-After": "3"})
    assert relayed_headers(plain) is plain  # nothing prefixed: the answer's own headers, untouched


@pytest.mark.parametrize(
    ("value", "relayed"),
    [
        ("2.5", "3"),
        ("-5", "0"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "0"),
        ("nan", None),
        ("1e999", None),
        ("soon", None),
    ],
)
def test_a_retry_after_goes_back_as_whole_seconds_or_not_at_all(value: str, relayed: str | None) -> None:
    """RFC 9110 §10.2.3 (delay-seconds: a non-negative integer); an unreadable value is dropped, never a 500
    (s22 variant 11-w5)."""
    p = OpenAIProvider("openai", "https://api.openai.com/v1", "sk-test")
    assert p.response_headers(CIMultiDict({"Retry-After": value})).get("retry-after") == relayed
