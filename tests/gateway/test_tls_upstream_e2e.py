"""Providers over TLS, as the real ones are: the gateway process talks https to fake OpenAI and Anthropic
servers whose certificate it trusts through ``SSL_CERT_FILE`` (the system trust store's override, which
``UpstreamPool``'s default context honours), from the official SDKs, passthrough and translated, plain and
streamed; each request is in the ledger. A gateway that does not trust the certificate answers the client
with a clear upstream error in the client's own format, and no key shows in it."""

from __future__ import annotations

import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fake_provider import FakeProvider, provider_urls
from tests.procs import Stack, stack

CLIENT_KEY = "sk-client-key-not-forwarded"


@pytest.fixture(scope="module")
def fakes(tls_cert: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_cert)
    started = {
        name: FakeProvider.start_in_thread(name, ssl_context=context) for name in ("openai", "anthropic")
    }
    try:
        yield started
    finally:
        for fake in started.values():
            fake.stop()


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, Any], tls_cert: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    urls = provider_urls(fakes)
    assert all(url.startswith("https://") for url in urls.values())
    with stack(tmp_path_factory.mktemp("tls-stack"), urls, SSL_CERT_FILE=str(tls_cert[0])) as st:
        yield st


def test_passthrough_and_translated_over_tls(gw: Stack, fakes: dict[str, Any]) -> None:
    oai = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    ant = anthropic.Anthropic(base_url=gw.gateway_url, api_key=CLIENT_KEY, max_retries=0)
    ids: list[str] = []

    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello tls"}]
    )
    assert "hello tls" in (raw.parse().choices[0].message.content or "")
    ids.append(raw.headers["x-request-id"])

    with oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream tls"}], stream=True
    ) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        ids.append(stream.response.headers["x-request-id"])
    assert "stream tls" in text

    with ant.messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "claude tls"}]
    ) as ms:
        assert "claude tls" in ms.get_final_text()
        ids.append(ms.response.headers["x-request-id"])

    raw2 = ant.messages.with_raw_response.create(  # translated: an Anthropic client on an OpenAI model
        model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "across tls"}]
    )
    assert "across tls" in "".join(b.text for b in raw2.parse().content if b.type == "text")
    ids.append(raw2.headers["x-request-id"])

    rows = [gw.row_for(i) for i in ids]
    assert [r["status"] for r in rows] == [200, 200, 200, 200]
    assert [r["provider"] for r in rows] == ["openai", "openai", "anthropic", "openai"]
    assert all(r["input_tokens"] > 0 and r["output_tokens"] > 0 for r in rows)
    assert len(fakes["openai"].requests) >= 3 and len(fakes["anthropic"].requests) >= 1
    for fake in fakes.values():  # the gateway's own key went upstream, never the client's
        assert all(CLIENT_KEY not in str(r.headers) for r in fake.requests)


def test_an_untrusted_certificate_is_a_clear_error(
    fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    urls = provider_urls({"openai": fakes["openai"]})
    with stack(tmp_path_factory.mktemp("untrusted"), urls) as st:  # no SSL_CERT_FILE: the system's CAs
        oai = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == 502
        body = info.value.body
        assert isinstance(body, dict) and "CERTIFICATE_VERIFY_FAILED" in str(body)
        assert "sk-test-openai-secret-key" not in str(body) and "sk-test-openai-secret-key" not in st.logs()
        request_id = info.value.response.headers["x-request-id"]
        row = st.row_for(request_id)
        assert (row["status"], row["error_type"]) == (502, "connection_error")


def test_the_fake_provider_process_serves_https_as_the_readme_walks_it(tls_cert: tuple[Path, Path]) -> None:
    """README "Providers over https": ``python -m tests.fake_provider --tls-cert … --tls-key …`` serves https
    that a client trusting the certificate reads (and prints its https base URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_provider", "--name", "openai", "--api-key", "sk-t"]
        + ["--tls-cert", str(tls_cert[0]), "--tls-key", str(tls_cert[1])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on https://127.0.0.1:" in line, line
        base = line.split()[-1]
        request = urllib.request.Request(
            base + "/v1/chat/completions",
            data=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}',
            headers={"content-type": "application/json", "authorization": "Bearer sk-t"},
        )
        trusted = ssl.create_default_context(cafile=str(tls_cert[0]))
        with urllib.request.urlopen(request, context=trusted, timeout=60) as resp:
            assert b"Hello from fake-openai" in resp.read()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
