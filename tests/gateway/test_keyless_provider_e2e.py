"""A catalog provider declared without ``api_key_env`` is a server that needs no key (docs/catalog.md): the
gateway sends it none, and the fake, started as such a local server, answers (newcomer review, session 11:
the fake asked every caller for a key, so a keyless catalog entry could not be tried against it).
Real processes: recorder and gateway; the fake in a thread; the official openai SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack

CATALOG = """
[[providers]]
name = "local"
base_url = "{url}"
models = ["local-llama"]
price = {{ input = 0.2, output = 0.6 }}
"""


@pytest.fixture(scope="module")
def local() -> Iterator[FakeProvider]:
    fp = FakeProvider.start_in_thread(name="local", require_key=False)
    try:
        yield fp
    finally:
        fp.stop()


@pytest.fixture(scope="module")
def gw(local: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("keyless")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(url=local.openai_base_url))
    with stack(tmp, CATALOG_PATH=str(catalog)) as st:  # no provider key at all in the environment
        yield st


def test_a_keyless_catalog_provider_is_configured_and_answers(gw: Stack, local: FakeProvider) -> None:
    assert httpx.get(gw.gateway_url + "/health").json()["providers"]["local"]["configured"] is True
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client-unused", max_retries=0)
    plain = client.chat.completions.with_raw_response.create(
        model="local-llama", messages=[{"role": "user", "content": "keyless plain"}]
    )
    assert "keyless plain" in (plain.parse().choices[0].message.content or "")
    stream = client.chat.completions.create(
        model="local-llama", stream=True, messages=[{"role": "user", "content": "keyless stream"}]
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "keyless stream" in text
    seen = [r for r in local.requests if r.path.endswith("/chat/completions")]
    assert len(seen) == 2
    for r in seen:  # the gateway sends no credential of its own, and never the client's
        assert "authorization" not in r.headers and "x-api-key" not in r.headers
    row = gw.row_for(plain.headers["x-request-id"])
    assert row["provider"] == "local" and row["status"] == 200 and row["cost_usd"] > 0


def test_the_fake_still_refuses_a_keyless_request_unless_it_is_a_local_server(local: FakeProvider) -> None:
    body = {"model": "local-llama", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(local.openai_base_url + "/chat/completions", json=body).status_code == 200
    vendor = FakeProvider.start_in_thread(name="openai")
    try:
        refused = httpx.post(vendor.openai_base_url + "/chat/completions", json=body)
    finally:
        vendor.stop()
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
