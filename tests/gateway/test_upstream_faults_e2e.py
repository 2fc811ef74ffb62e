"""What a misbehaving provider does to the real gateway and recorder processes (issue 15).

Three fakes (OpenAI, Anthropic, xAI) sit behind one gateway running at DEBUG. Each test sets one fault
on a fake, sends one request and checks three things tied to that request's id: what the client got
(status, shape, content type), what the ledger recorded, and that the provider's key reached neither.
Timeouts fire on stalls that never end, so no test depends on the machine's speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider, provider_urls, running
from tests.procs import Stack, stack, wait_until

CLIENT_KEY = "sk-client-faults-not-forwarded"
PROVIDER_KEY = {name: f"sk-test-{name}-secret-key" for name in ("openai", "anthropic", "xai")}
# Stalls never end, so these fire whatever the machine's speed; they are long enough for a healthy answer.
TIMEOUTS = {"UPSTREAM_FIRST_BYTE_TIMEOUT": "3", "UPSTREAM_CHUNK_TIMEOUT": "1.5"}
ENV = {
    **TIMEOUTS,
    "LOG_LEVEL": "DEBUG",
    "BREAKER_FAILURES": "1000",
    "RETRY_AFTER_MAX_WAIT": "0",
    "MAX_ATTEMPTS": "1",
}
ANT_HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
OAI_HEADERS = {"authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with running("openai", "anthropic", "xai") as fps:
        yield fps


@pytest.fixture(autouse=True)
def clean_fakes(fakes: dict[str, FakeProvider]) -> None:
    for fp in fakes.values():
        fp.reset()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("faults"), provider_urls(fakes), **ENV) as st:
        yield st


# (client format, model, the fake that serves it): both passthroughs and both translations
EVERY_PAIRING = [
    ("openai", "gpt-4o-mini", "openai"),
    ("anthropic", "claude-haiku-4-5", "anthropic"),
    ("anthropic", "gpt-4o-mini", "openai"),
    ("openai", "claude-haiku-4-5", "anthropic"),
]


def chat(gw: Stack, model: str, *, stream: bool = False, **extra: Any) -> httpx.Response:
    body = {
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "one two three four"}],
        **extra,
    }
    return httpx.post(gw.gateway_url + "/v1/chat/completions", json=body, headers=OAI_HEADERS, timeout=30)


def messages(gw: Stack, model: str, *, stream: bool = False) -> httpx.Response:
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    return httpx.post(gw.gateway_url + "/v1/messages", json=body, headers=ANT_HEADERS, timeout=30)


def expect(client: str, status: int) -> int:
    """The status a client gets: Anthropic clients get 529 for an overloaded or failing upstream (their SDKs
    retry it)."""
    return 529 if client == "anthropic" and status in (502, 503) else status


def assert_no_key(gw: Stack, *texts: str) -> None:
    """Neither the provider keys nor the client's reached the client, the logs or the ledger."""
    ledger = json.dumps(gw.rows())
    for key in (*PROVIDER_KEY.values(), CLIENT_KEY):
        for where, text in [("client", t) for t in texts] + [("logs", gw.logs()), ("ledger", ledger)]:
            assert key not in text, f"{key} reached the {where}"


def sse_events(text: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of every SSE frame; data that is not JSON stays a string."""
    out: list[tuple[str | None, Any]] = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            joined = "\n".join(data)
            try:
                out.append((name, json.loads(joined)))
            except ValueError:
                out.append((name, joined))
    return out


# ---- a provider that quotes the key it received ---------------------------------------------------


@pytest.mark.parametrize(
    ("client", "model", "fake"),
    [
        ("openai", "gpt-4o-mini", "openai"),  # passthrough: the provider's own body goes back
        ("anthropic", "claude-haiku-4-5", "anthropic"),  # passthrough
        ("anthropic", "gpt-4o-mini", "openai"),  # translated: the message is carried into the client's shape
    ],
)
def test_a_key_quoted_in_an_error_body_is_redacted(
    gw: Stack, fakes: dict[str, FakeProvider], client: str, model: str, fake: str
) -> None:
    fakes[fake].set_fault("status:401,echo-key")
    resp = chat(gw, model) if client == "openai" else messages(gw, model)
    assert resp.status_code == 401
    assert "[redacted]" in resp.json()["error"]["message"]  # the fake did quote it; the gateway scrubbed it
    row = gw.row_for(resp.headers["x-request-id"])
    assert row["status"] == 401
    assert_no_key(gw, resp.text)


@pytest.mark.parametrize("early", [True, False], ids=["before-content", "after-content"])
@pytest.mark.parametrize(
    ("client", "model", "fake"),
    EVERY_PAIRING,
)
def test_a_key_quoted_in_an_in_stream_error_is_redacted(
    gw: Stack, fakes: dict[str, FakeProvider], client: str, model: str, fake: str, early: bool
) -> None:
    fakes[fake].set_fault("error-mid-stream,echo-key" + (",early" if early else ""))
    resp = chat(gw, model, stream=True) if client == "openai" else messages(gw, model, stream=True)
    row = gw.row_for(resp.headers["x-request-id"])
    assert row["status"] >= 500 and row["streamed"] == 1
    assert (resp.status_code >= 500) is early  # before any content the gateway can still answer an error
    assert "[redacted]" in resp.text  # the quoted key reached the gateway and was replaced
    assert_no_key(gw, resp.text)


@pytest.mark.parametrize(("model", "fake"), [("gpt-4o-mini", "openai"), ("claude-haiku-4-5", "anthropic")])
def test_an_in_stream_error_has_openais_four_error_fields(
    gw: Stack, fakes: dict[str, FakeProvider], model: str, fake: str
) -> None:
    """After content, a chat stream's error is an SSE `{"error": {...}}`: the same message, type, param and
    code as every other OpenAI error, passed through or translated (from Anthropic's `error` event)."""
    fakes[fake].set_fault("error-mid-stream")
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model=model, stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    with pytest.raises(openai.APIError) as err:
        for _ in stream:
            pass
    assert isinstance(err.value.body, dict) and set(err.value.body) == {"message", "type", "param", "code"}


# ---- answers that are not answers -----------------------------------------------------------------


@pytest.mark.parametrize("fault", ["body:not-json", "body:array"])
@pytest.mark.parametrize(
    ("client", "model", "fake"),
    [
        ("openai", "gpt-4o-mini", "openai"),
        ("anthropic", "claude-haiku-4-5", "anthropic"),
        ("anthropic", "gpt-4o-mini", "openai"),
    ],
)
def test_a_200_that_is_not_a_json_object_is_a_502_in_the_clients_shape(
    gw: Stack, fakes: dict[str, FakeProvider], fault: str, client: str, model: str, fake: str
) -> None:
    fakes[fake].set_fault(fault)
    resp = chat(gw, model) if client == "openai" else messages(gw, model)
    assert resp.status_code == expect(client, 502) and resp.headers["content-type"].startswith(
        "application/json"
    )
    body = resp.json()
    assert body["error"]["message"] and ("type" in body) is (client == "anthropic")
    row = gw.row_for(resp.headers["x-request-id"])
    assert (row["status"], row["error_type"]) == (expect(client, 502), "bad_response")


@pytest.mark.parametrize(
    ("client", "model", "fake"),
    EVERY_PAIRING,
)
def test_an_html_error_page_is_wrapped_in_the_clients_error_shape(
    gw: Stack, fakes: dict[str, FakeProvider], client: str, model: str, fake: str
) -> None:
    fakes[fake].set_fault("status:503:html,echo-key")
    resp = chat(gw, model) if client == "openai" else messages(gw, model)
    assert resp.status_code == expect(client, 503) and resp.headers["content-type"].startswith(
        "application/json"
    )
    body = resp.json()  # never HTML labelled application/json
    assert isinstance(body, dict) and isinstance(body["error"], dict)
    if client == "anthropic":
        assert body["type"] == "error" and body["error"]["type"]
    assert "Service unavailable" in body["error"]["message"] and "[redacted]" in body["error"]["message"]
    row = gw.row_for(resp.headers["x-request-id"])
    assert row["status"] == expect(client, 503)
    assert_no_key(gw, resp.text)


# ---- stalls and cut streams -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "model", "fake"),
    [
        ("openai", "gpt-4o-mini", "openai"),
        ("anthropic", "gpt-4o-mini", "openai"),
        ("anthropic", "claude-haiku-4-5", "anthropic"),
    ],
)
def test_a_body_that_stalls_after_its_headers_times_out(
    gw: Stack, fakes: dict[str, FakeProvider], client: str, model: str, fake: str
) -> None:
    fakes[fake].set_fault("stall")
    resp = chat(gw, model) if client == "openai" else messages(gw, model)
    assert resp.status_code == expect(client, 502) and resp.json()["error"]["message"]
    row = gw.row_for(resp.headers["x-request-id"])
    assert (row["status"], row["error_type"]) == (expect(client, 502), "broken_response")
    # the gateway let go of the stalled answer (the fake sees its handler cancelled a moment later)
    assert wait_until(lambda: fakes[fake].last_request.client_disconnected, 10)


@pytest.mark.parametrize(
    ("client", "model", "fake"),
    EVERY_PAIRING,
)
@pytest.mark.parametrize("fault", ["stall-mid-stream", "break-mid-stream", "no-close"])
def test_a_stream_that_breaks_after_it_began_ends_with_an_error_event(
    gw: Stack, fakes: dict[str, FakeProvider], client: str, model: str, fake: str, fault: str
) -> None:
    fakes[fake].set_fault(fault)
    resp = chat(gw, model, stream=True) if client == "openai" else messages(gw, model, stream=True)
    assert resp.status_code == 200  # committed: the first tokens went out
    events = sse_events(resp.text)
    if client == "openai":
        content = [
            e
            for _, e in events
            if isinstance(e, dict) and e.get("choices") and e["choices"][0].get("delta", {}).get("content")
        ]
        errors = [e for _, e in events if isinstance(e, dict) and "error" in e]
    else:
        content = [e for n, e in events if n == "content_block_delta"]
        errors = [e for n, e in events if n == "error"]
    assert content, resp.text
    assert len(errors) == 1 and errors[0]["error"]["message"], resp.text
    assert events[-1][1] == errors[0] or client == "openai" and events[-1][1] == "[DONE]", resp.text
    row = gw.row_for(resp.headers["x-request-id"])
    assert row["streamed"] == 1 and row["status"] == 502
    if fault == "stall-mid-stream":
        assert wait_until(lambda: fakes[fake].last_request.client_disconnected, 10)


def test_a_stream_that_stalls_after_its_headers_falls_to_a_502(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    fakes["anthropic"].set_fault("stall")
    resp = messages(gw, "claude-haiku-4-5", stream=True)
    assert resp.status_code == 529 and resp.json()["type"] == "error"
    row = gw.row_for(resp.headers["x-request-id"])
    assert (row["status"], row["error_type"], row["streamed"]) == (529, "broken_stream", 1)


# ---- refused before any provider is asked ---------------------------------------------------------


def test_a_request_translation_refuses_is_a_400_and_reaches_no_provider(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    content = [
        {"type": "text", "text": "listen"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ]
    resp = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        headers=OAI_HEADERS,
        timeout=30,
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": content}]},
    )
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert "audio" in err["message"] and err["param"] == "messages[0].content.1"
    assert not fakes["anthropic"].requests
    row = gw.row_for(resp.headers["x-request-id"])
    assert (
        row["status"] == 400 and row["attempts"] == 0
    )  # nothing was sent: the route was passed over as unfit


# ---- xAI behind a translated request --------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_client_is_served_by_xai(
    gw: Stack, fakes: dict[str, FakeProvider], stream: bool
) -> None:
    resp = messages(gw, "grok-4", stream=stream)
    assert resp.status_code == 200, resp.text
    sent = fakes["xai"].last_request
    assert (
        sent.path == "/v1/chat/completions"
        and sent.headers["authorization"] == f"Bearer {PROVIDER_KEY['xai']}"
    )
    assert sent.json["max_tokens"] == 64 and "max_completion_tokens" not in sent.json
    if stream:
        text = "".join(
            e["delta"].get("text", "") for n, e in sse_events(resp.text) if n == "content_block_delta"
        )
        assert sse_events(resp.text)[-1][0] == "message_stop"
    else:
        text = "".join(b["text"] for b in resp.json()["content"] if b["type"] == "text")
    assert "Hello from fake-xai: one two three four" in text
    row = gw.row_for(resp.headers["x-request-id"])
    assert (row["provider"], row["translated"], row["status"]) == ("xai", 1, 200)
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0


# ---- models and count_tokens ----------------------------------------------------------------------


def test_one_model_in_both_shapes_and_an_unknown_one(gw: Stack) -> None:
    url = gw.gateway_url + "/v1/models/"
    assert httpx.get(url + "gpt-4o").json() == {
        "id": "gpt-4o",
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "ekai",
    }
    ant = httpx.get(url + "claude-haiku-4-5", headers=ANT_HEADERS).json()
    assert (ant["type"], ant["id"]) == ("model", "claude-haiku-4-5")
    assert httpx.get(url + "openai::gpt-4o").json()["id"] == "openai::gpt-4o"  # a pin is a model id too
    missing = httpx.get(url + "no-such-model-z")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    missing = httpx.get(url + "no-such-model-z", headers=ANT_HEADERS)
    assert missing.status_code == 404 and missing.json()["type"] == "error"


def test_the_anthropic_model_list_pages(gw: Stack) -> None:
    url = gw.gateway_url + "/v1/models"
    everything = [
        m["id"] for m in httpx.get(url, params={"limit": "1000"}, headers=ANT_HEADERS).json()["data"]
    ]
    assert len(everything) >= 3
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": "2", **({"after_id": after} if after else {})}
        page = httpx.get(url, params=params, headers=ANT_HEADERS).json()
        ids = [m["id"] for m in page["data"]]
        assert 1 <= len(ids) <= 2 and (page["first_id"], page["last_id"]) == (ids[0], ids[-1])
        seen += ids
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == everything
    before = httpx.get(url, params={"before_id": everything[2]}, headers=ANT_HEADERS).json()
    assert [m["id"] for m in before["data"]] == everything[:2]
    bad = httpx.get(url, params={"limit": "lots"}, headers=ANT_HEADERS)
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["message"]


def count(gw: Stack, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        gw.gateway_url + "/v1/messages/count_tokens", json=body, headers=ANT_HEADERS, timeout=30
    )


def test_count_tokens_refuses_a_request_without_model_or_messages(gw: Stack) -> None:
    for body, field in [({"messages": []}, "model"), ({"model": "claude-haiku-4-5"}, "messages")]:
        resp = count(gw, body)
        assert resp.status_code == 400 and resp.json()["error"]["message"].startswith(field)
    resp = httpx.post(gw.gateway_url + "/v1/messages/count_tokens", content=b"{oops", headers=ANT_HEADERS)
    assert resp.status_code == 400 and resp.json()["type"] == "error"


def test_count_tokens_passes_a_4xx_on_and_estimates_after_a_5xx(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "abcd" * 10}]}
    fakes["anthropic"].set_fault("status:400")
    refused = count(gw, body)
    assert refused.status_code == 400 and "fake-anthropic" in refused.json()["error"]["message"]
    fakes["anthropic"].set_fault("status:529")
    estimated = count(gw, body)
    assert estimated.status_code == 200 and estimated.json() == {"input_tokens": 10}
    fakes["anthropic"].set_fault("break-before-first-byte")
    assert count(gw, body).json() == {"input_tokens": 10}
    # each was asked of the provider first; the third, dropped unanswered on a kept connection, was sent once
    # more on a new one (UpstreamPool's "Sent again" rule) and dropped there too: then estimated
    requests = fakes["anthropic"].requests
    assert len(requests) == 4 and [r.dropped for r in requests] == [False, False, True, True]
