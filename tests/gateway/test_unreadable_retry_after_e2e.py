"""A provider's Retry-After that no client can read is dropped, not relayed and never a 500 (s22 variant 11-w5).

RFC 9110 §10.2.3: Retry-After is an HTTP-date or delay-seconds (a non-negative integer). A server behind a proxy
answered 429 with ``retry-after: nan`` / ``1e999`` (the gateway crashed rounding them up: a 500) or ``soon``
(relayed as it came). The SDKs read a number or a date and fall back to their own backoff otherwise
(``_calculate_retry_timeout``); the client gets the provider's 429 in its own format, without the header.
``providers.base._whole_seconds``, ``routing.health._retry_after``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

OPENAI = "/openai/chat/completions"
LIMITED = {
    "object": "error",
    "message": "Too many requests",
    "type": "TooManyRequests",
    "param": None,
    "code": 429,
}
pytestmark = pytest.mark.usefixtures("fresh_up")
# the last: a date whose year no C long holds (health._retry_after raised OverflowError: a 500, review22)
UNREADABLE = ["nan", "1e999", "soon", "Mon, 01 Jan 9999999999999999999 00:00:00 GMT"]


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    with stack(tmp_path, {"openai": f"{up.url}/openai"}, RETRY_AFTER_MAX_WAIT="0") as st:
        yield st


@pytest.mark.parametrize("value", UNREADABLE)
def test_an_anthropic_client_gets_the_429_without_an_unreadable_retry_after(
    gw: Stack, up: ScriptedUpstream, value: str
) -> None:
    for _ in range(4):
        up.script(OPENAI, json_answer(LIMITED, 429, headers={"retry-after": value}))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(
            model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    said = caught.value.response.headers.get("retry-after")
    assert said is None or said.isdigit(), said
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


@pytest.mark.parametrize("value", UNREADABLE)
def test_an_openai_client_gets_the_429_without_an_unreadable_retry_after(
    gw: Stack, up: ScriptedUpstream, value: str
) -> None:
    for _ in range(4):
        up.script(OPENAI, json_answer(LIMITED, 429, headers={"retry-after": value}))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    said = caught.value.response.headers.get("retry-after")
    assert said is None or said.isdigit(), said
