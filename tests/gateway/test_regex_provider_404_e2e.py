"""The 404 for an unknown model when the only configured provider is a catalog provider with a ``regex`` (Ollama
in catalog.example.toml): its models match a pattern, so ``GET /v1/models`` lists none. The message said
"available models: none (no provider is configured)" while the gateway had just logged "providers configured:
ollama"; it now names the configured provider. Real gateway and recorder, the fake provider, the official SDKs.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack

CATALOG = """
[[providers]]
name = "local"
base_url = "{url}/v1"
regex = "^[a-z0-9._-]+:[a-z0-9._-]+$"
price = {{ input = 0, output = 0 }}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fake = FakeProvider.start_in_thread(name="local", require_key=False)  # Ollama wants no key
    tmp = tmp_path_factory.mktemp("regex404")
    (tmp / "catalog.toml").write_text(CATALOG.format(url=fake.base_url))
    try:
        with stack(tmp, None, CATALOG_PATH=str(tmp / "catalog.toml")) as st:  # no provider key at all
            yield st
    finally:
        fake.stop()


def test_an_unmatched_name_names_the_configured_regex_provider(gw: Stack) -> None:
    oai = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0)
    said = oai.chat.completions.create(model="llama3.2:3b", messages=[{"role": "user", "content": "hi"}])
    assert "fake-local" in (said.choices[0].message.content or "")  # the provider is there and serves
    assert oai.models.list().data == []  # a pattern lists nothing
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    message = caught.value.message
    assert "no provider is configured" not in message, message
    assert "available models: none listed (configured: local; a catalog provider's regex" in message, message
    ant = anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught_ant:
        ant.messages.create(model="llama3.2", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert "configured: local" in caught_ant.value.message, caught_ant.value.message
