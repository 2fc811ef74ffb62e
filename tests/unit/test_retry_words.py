"""``proxy.states_retry_time``: a provider's error message that already says when to retry is not told the
Retry-After wait a second time in an in-stream error (``Proxy._in_client_words``; session 20)."""

from __future__ import annotations

import pytest

from services.gateway.dialects._retry_words import states_retry_time


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("Rate limit reached for gpt-4o. Please try again in 20s.", True),  # OpenAI
        ("Rate limit reached. Please try again in 6ms. Visit https://example/limits", True),
        ("Resource has been exhausted. Please retry in 23.488s.", True),  # Gemini
        ("Too many requests, retry after 30 seconds", True),
        ("Overloaded: try again after 2 minutes", True),
        ("Rate limit reached for gpt-4o-mini (retry after 1 s)", True),  # the gateway's own words
        ("Rate limit reached for gpt-4o-mini", False),
        ("Please try again later.", False),
        ("Rate limit reached (retry after)", False),
    ],
)
def test_states_retry_time(message: str, says: bool) -> None:
    assert states_retry_time(message) is says
