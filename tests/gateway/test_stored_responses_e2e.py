"""The Responses API's stored-response endpoints through the real gateway and recorder processes.

The official openai SDK calls ``responses.retrieve``, ``.delete``, ``.cancel`` and ``.input_items.list``
on the gateway; the fake OpenAI provider (``tests/fake/stored.py``) keeps the responses its
``POST /v1/responses`` made, as OpenAI does with ``store``. The calls must reach the provider untouched,
with its key and never the client's, from any worker (``GATEWAY_WORKERS=2``), and answer OpenAI-shape
errors when nothing can hold the id (docs/responses.md, "Stored responses").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from shared.events import keyed_event_id
from tests.fake_provider import FakeProvider, provider_urls, running
from tests.openai_clients import spread_openai
from tests.procs import Stack, stack

CLIENT_KEY = "sk-stored-client-key-not-forwarded"
PROVIDER_KEY = "sk-test-openai-secret-key"  # tests.procs.stack's key for the openai provider


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with running("anthropic", "openai") as fps:
        yield fps


@pytest.fixture(autouse=True)
def clean_fakes(fakes: dict[str, FakeProvider]) -> None:
    for fp in fakes.values():
        fp.clear_fault()
        fp.requests.clear()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # two workers: a call lands on either, and a response made through one is found through the other
    with stack(tmp_path_factory.mktemp("stored"), provider_urls(fakes), GATEWAY_WORKERS="2") as st:
        yield st


def sdk(gw: Stack, **headers: str) -> openai.OpenAI:
    return spread_openai(gw, CLIENT_KEY, **headers)


def test_retrieve_input_items_and_delete_reach_the_provider_untouched(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    fp = fakes["openai"]
    assert gw.health()["worker"]["of"] == 2  # the stack really runs two workers on the port
    with sdk(gw) as client:
        created = client.responses.create(model="gpt-4o-mini", input="remember the word teal")
        for _ in range(4):  # several connections, both workers: nothing is held in a worker's memory
            got = client.responses.retrieve(created.id)
            assert got.id == created.id and got.status == "completed"
            assert got.output_text == created.output_text
        items = client.responses.input_items.list(created.id)
        assert [i.type for i in items.data] == ["message"]
        assert items.data[0].content[0].text == "remember the word teal"  # type: ignore[union-attr]
        deleted = client.responses.delete(created.id)
        assert deleted is None  # the SDK returns nothing for a delete; the provider's answer is below
        with pytest.raises(openai.NotFoundError) as gone:
            client.responses.retrieve(created.id)
    assert "not found" in gone.value.message and "(fake-openai)" in gone.value.message  # the provider's words
    calls = [(r.method, r.path) for r in fp.requests]
    assert calls[-3:] == [
        ("GET", f"/v1/responses/{created.id}/input_items"),
        ("DELETE", f"/v1/responses/{created.id}"),
        ("GET", f"/v1/responses/{created.id}"),
    ]
    for call in fp.requests:
        assert call.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
        assert CLIENT_KEY not in json.dumps(call.headers)


def test_query_string_and_answer_bytes_pass_through(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    with sdk(gw) as client:
        created = client.responses.create(model="gpt-4o-mini", input="hi")
    url = f"{gw.gateway_url}/v1/responses/{created.id}/input_items?limit=5&order=asc&include[]=x"
    answer = httpx.get(url, headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert answer.status_code == 200
    assert answer.headers["x-ekai-provider"] == "openai"
    assert answer.headers["x-upstream-request-id"].startswith("req_fake")  # the provider's id, forwarded
    sent = fakes["openai"].last_request
    assert sent.query == {"limit": "5", "order": "asc", "include[]": "x"}
    assert answer.json()["object"] == "list" and answer.json()["first_id"]


def test_a_streamed_retrieve_relays_the_providers_events(gw: Stack) -> None:
    with sdk(gw) as client:
        created = client.responses.create(model="gpt-4o-mini", input="stream it back")
        events = list(client.responses.retrieve(created.id, stream=True))
    assert [e.type for e in events] == ["response.in_progress", "response.completed"]
    assert events[-1].response.id == created.id  # type: ignore[union-attr]
    assert events[-1].response.output_text == created.output_text  # type: ignore[union-attr]


def test_background_response_is_cancelled_or_finished(gw: Stack) -> None:
    with sdk(gw) as client:
        queued = client.responses.create(model="gpt-4o-mini", input="slow", background=True)
        assert queued.status == "queued"
        cancelled = client.responses.cancel(queued.id)
        assert cancelled.status == "cancelled" and cancelled.id == queued.id
        other = client.responses.create(model="gpt-4o-mini", input="later", background=True)
        assert client.responses.retrieve(other.id).status == "in_progress"  # the fake: one poll in progress
        done = client.responses.retrieve(other.id)
        assert done.status == "completed" and done.usage is not None and done.usage.output_tokens > 0
        sync = client.responses.create(model="gpt-4o-mini", input="now")
        with pytest.raises(openai.BadRequestError) as refused:  # the provider's own 400, passed through
            client.responses.cancel(sync.id)
    assert "synchronous" in refused.value.message


def test_stored_calls_publish_no_ledger_event(gw: Stack) -> None:
    with sdk(gw) as client:
        created = client.responses.create(model="gpt-4o-mini", input="one event")
        retrieved = client.responses.with_raw_response.retrieve(created.id)
        cancel_rid = "stored-cancel-no-event"
        with pytest.raises(openai.BadRequestError):
            client.responses.cancel(created.id, extra_headers={"x-request-id": cancel_rid})
    rid = retrieved.headers["x-request-id"]
    gw.settle()
    assert gw.rows("request_id IN (?, ?)", (rid, cancel_rid)) == []


def test_unknown_and_malformed_ids(gw: Stack) -> None:
    with sdk(gw) as client:
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve("resp_nosuchresponse")
        with pytest.raises(openai.BadRequestError) as bad:
            client.responses.retrieve("bad id!")
    assert bad.value.body["param"] == "response_id"  # type: ignore[index]


def test_pinned_provider_must_store_responses(gw: Stack) -> None:
    with sdk(gw, **{"x-ekai-provider": "anthropic"}) as client:
        with pytest.raises(openai.BadRequestError) as translated:
            client.responses.retrieve("resp_abc")
    assert "translated responses are not stored" in translated.value.message
    with sdk(gw, **{"x-ekai-provider": "xai"}) as client:
        with pytest.raises(openai.BadRequestError) as unset:
            client.responses.retrieve("resp_abc")
    assert unset.value.code == "provider_not_configured"
    with sdk(gw, **{"x-ekai-provider": "openai"}) as client:
        created = client.responses.create(model="gpt-4o-mini", input="pinned")
        assert client.responses.retrieve(created.id).id == created.id


def test_keys_never_in_errors_or_logs(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    fakes["openai"].set_fault("status:401,echo-key")  # a careless provider quotes the key it got
    with sdk(gw) as client:
        with pytest.raises(openai.AuthenticationError) as refused:
            client.responses.retrieve("resp_abc")
    text = json.dumps(refused.value.body) + refused.value.message
    assert "[redacted]" in text, text
    assert PROVIDER_KEY not in text and CLIENT_KEY not in text
    logs = gw.logs()
    assert PROVIDER_KEY not in logs and CLIENT_KEY not in logs


def test_websocket_upgrade_still_426(gw: Stack) -> None:
    answer = httpx.get(
        gw.gateway_url + "/v1/responses",
        headers={"Upgrade": "websocket", "Connection": "Upgrade", "authorization": f"Bearer {CLIENT_KEY}"},
    )
    assert answer.status_code == 426


def test_no_responses_provider_is_a_clear_404(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running("anthropic") as fps, stack(tmp_path_factory.mktemp("claude-only"), provider_urls(fps)) as st:
        with sdk(st) as client:
            with pytest.raises(openai.NotFoundError) as missing:
                client.responses.retrieve("resp_abc")
    assert "translated from another provider's answer are not stored" in missing.value.message
    assert missing.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_client_gone_during_a_slow_streamed_retrieve(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    """The client hangs up while the provider still streams its retrieve (held before the terminal event,
    released once the client is gone): the gateway ends the relay quietly, no unhandled ConnectionResetError
    (aiohttp's "Cannot write to closing transport"), and the terminal event it still read is recorded."""
    fp = fakes["openai"]
    with sdk(gw) as client:
        queued = client.responses.create(model="gpt-4o-mini", input="hang up on the stream", background=True)
        assert client.responses.retrieve(queued.id).status == "in_progress"  # the fake: done at the next
    fp.set_fault("hold-mid-stream", times=1)
    url = f"{gw.gateway_url}/v1/responses/{queued.id}?stream=true"
    with httpx.stream("GET", url, headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=30) as answer:
        first = next(answer.iter_raw())
        assert b"response.in_progress" in first
    # gone: give the gateway's loop a moment to read the hang-up before the rest comes (a precondition,
    # not a measurement: were it late, the gateway's write would just succeed into the dead socket)
    time.sleep(0.5)
    httpx.post(fp.base_url + "/_fake/release")
    row = gw.wait_rows("event_id = ?", (keyed_event_id("openai", queued.id),))[0]  # the relay is done
    gw.settle()
    assert row["endpoint"] == "/v1/responses/{response_id}" and bool(row["streamed"])
    logs = gw.logs()
    assert "unhandled error" not in logs and "ConnectionResetError" not in logs, logs


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [("GET", "", 405), ("DELETE", "", 405), ("POST", "/cancel", 404), ("GET", "/input_items", 404)],
)
def test_the_compact_endpoint_is_no_stored_response(
    gw: Stack, fakes: dict[str, FakeProvider], method: str, suffix: str, status: int
) -> None:
    """``/v1/responses/compact`` is OpenAI's compaction endpoint (``POST`` only; API reference "Compact a
    response"), never a response id (``resp_…``): a GET or DELETE of it is a 405 naming POST, a call under
    it a 404, in OpenAI's error shape, and nothing reaches the provider."""
    answer = httpx.request(
        method,
        f"{gw.gateway_url}/v1/responses/compact{suffix}",
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
    )
    assert answer.status_code == status
    error = answer.json()["error"]
    assert "/v1/responses/compact" in error["message"] and error["type"] == "invalid_request_error"
    if status == 405:
        assert answer.headers["Allow"] == "POST" and "use POST" in error["message"]
    assert [r.path for r in fakes["openai"].requests] == []


def test_the_sdk_sees_a_clear_error_for_retrieve_compact(gw: Stack) -> None:
    with sdk(gw) as client, pytest.raises(openai.APIStatusError) as refused:
        client.responses.retrieve("compact")
    assert refused.value.status_code == 405 and "use POST" in refused.value.message
