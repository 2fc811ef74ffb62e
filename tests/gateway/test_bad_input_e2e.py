"""Hostile and broken input through the real gateway process (issue 11 part 5): every answer is a clear 4xx
in the client's own format (or an upstream-caused 5xx in that shape), never a 500, a hang or a crash, and
the gateway's log never shows a traceback.

Generated bodies go to every generation endpoint: valid requests with one or more fields the gateway reads
swapped for values of the wrong type, random JSON, and bytes that are not JSON at all. The rest are the
classic attacks one by one: deep nesting, bodies over MAX_BODY_BYTES, huge headers, a client that trickles
its body, unknown paths and methods.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.bodies import MAX_JSON_DEPTH
from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack
from tests.unit.test_fuzz_translation import json_values

MAX_BODY = 200_000
BODY_TIMEOUT = 1.0
MODELS = ["gpt-4o-mini", "claude-haiku-4-5", "no-such-model", ""]
MSG = [{"role": "user", "content": "hi"}]
# A valid request per endpoint; the generator breaks them field by field.
BASES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": MSG, "max_tokens": 8},
    "/v1/messages": {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": MSG},
    "/v1/messages/count_tokens": {"model": "claude-haiku-4-5", "messages": MSG},
    "/v1/responses": {"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 8},
    "/v1/responses/compact": {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "hi"}]},
}
ENDPOINTS = list(BASES)
# Every field the gateway's parsers, validators and translators read, top level and one level in.
FIELDS = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "stream",
    "stream_options",
    "system",
    "tools",
    "tool_choice",
    "stop",
    "stop_sequences",
    "temperature",
    "top_p",
    "n",
    "thinking",
    "reasoning",
    "reasoning_effort",
    "response_format",
    "text",
    "metadata",
    "user",
    "input",
    "instructions",
    "previous_response_id",
    "parallel_tool_calls",
    "store",
    "include",
    "output_config",
    "context_management",
    "prompt_cache_key",
    "service_tier",
    "truncation",
    "background",
    "modalities",
    "audio",
    "seed",
]
NESTED = [
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("messages", 0, "content", 0),
    ("messages", 0, "content", 0, "type"),
    ("messages", 0, "tool_calls"),
    ("messages", 0, "tool_call_id"),
    ("messages", 0, "name"),
    ("input", 0, "type"),
    ("input", 0, "content"),
    ("input", 0, "role"),
    ("input", 0, "call_id"),
    ("input", 0, "output"),
    ("tools", 0, "type"),
    ("tools", 0, "function"),
    ("tools", 0, "name"),
    ("tools", 0, "input_schema"),
    ("tools", 0, "parameters"),
    ("tools", 0, "function", "parameters"),
    ("tool_choice", "type"),
    ("tool_choice", "name"),
    ("tool_choice", "function"),
    ("thinking", "type"),
    ("thinking", "budget_tokens"),
    ("reasoning", "effort"),
    ("reasoning", "summary"),
    ("text", "format"),
    ("text", "verbosity"),
    ("stream_options", "include_usage"),
    ("response_format", "type"),
    ("response_format", "json_schema"),
    ("system", 0, "text"),
]


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Put ``value`` at ``path``, building dicts and one-element lists on the way when missing."""
    node: Any = body
    for key, nxt in zip(path, path[1:], strict=False):
        child = node[key] if _has(node, key) else None
        if (
            not isinstance(child, dict | list)
            or (isinstance(nxt, int) and not isinstance(child, list))
            or (isinstance(nxt, str) and not isinstance(child, dict))
        ):
            child = [{}] if isinstance(nxt, int) else {}
            _put(node, key, child)
        if isinstance(child, list) and isinstance(nxt, int) and not child:
            child.append({})
        node = child
    _put(node, path[-1], value)


def _has(node: Any, key: str | int) -> bool:
    return (isinstance(node, dict) and key in node) or (
        isinstance(node, list) and isinstance(key, int) and key < len(node)
    )


def _put(node: Any, key: str | int, value: Any) -> None:
    if isinstance(node, list):
        node[min(int(key), len(node) - 1) if node else 0 :] = [value]
    else:
        node[key] = value


@st.composite
def broken_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(ENDPOINTS))
    body = copy.deepcopy(BASES[path])
    body["model"] = draw(st.sampled_from(MODELS[:2]))  # both models: passthrough and translated routes
    if draw(st.booleans()) and not path.endswith("/compact"):
        body["stream"] = True
    where = st.one_of(st.sampled_from(FIELDS).map(lambda f: (f,)), st.sampled_from(NESTED))
    for field_path in draw(st.lists(where, min_size=1, max_size=4)):
        if draw(st.integers(0, 9)) == 0:
            body.pop(str(field_path[0]), None)  # a missing field
        else:
            _set(body, field_path, draw(json_values))
    if draw(st.booleans()):
        body[draw(st.text(min_size=1, max_size=12))] = draw(json_values)  # an unknown field
    if path.endswith("/compact") and body.get("stream") is True:
        body["stream"] = (
            False  # compaction refuses streaming with a 400 since wt-rev8 (8a64185), not here yet
        )
    return path, body


random_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(MODELS), "messages": json_values},
    optional={
        "max_tokens": json_values,
        "stream": st.booleans(),
        "system": json_values,
        "input": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "stop": json_values,
        "thinking": json_values,
    },
)
not_json = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.sampled_from(
        [
            b"{",
            b'{"model": ',
            b"[]",
            b"null",
            b"1",
            b'"s"',
            b'{"model": "a",}',
            b"\xff\xfe{}",
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\xc3\x28"}]}',
            b'{"model": "\xed\xa0\x80"}',
            b"\x00",
            b'{"a": NaN}',
            b'{"a": 1e999}',
        ]
    ),
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fo, fa = FakeProvider.start_in_thread(name="openai"), FakeProvider.start_in_thread(name="anthropic")
    try:
        with stack(
            tmp_path_factory.mktemp("fuzz"),
            {"openai": fo.openai_base_url, "anthropic": fa.base_url},
            MAX_BODY_BYTES=str(MAX_BODY),
            CLIENT_BODY_TIMEOUT=str(BODY_TIMEOUT),
            BREAKER_FAILURES="100000",
        ) as s:
            yield s
    finally:
        fo.stop()
        fa.stop()


@pytest.fixture(scope="module")
def client(gw: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.gateway_url, headers={"x-api-key": "k"}, timeout=30) as c:
        yield c


@pytest.fixture(autouse=True)
def no_traceback(gw: Stack) -> Iterator[None]:
    yield
    log = gw.services["gateway"].log()
    assert "Traceback" not in log and "unhandled error" not in log, log[-5000:]
    assert gw.services["gateway"].proc.poll() is None, "the gateway died"


def assert_clear(path: str, resp: httpx.Response) -> None:
    """A 2xx, a 4xx, or an upstream-caused 502/503/504; errors in the path's own API shape."""
    assert resp.status_code != 500 and resp.status_code < 505, (resp.status_code, resp.text[:2000])
    assert resp.headers.get("x-request-id")
    if resp.status_code < 400:
        if "text/event-stream" not in resp.headers.get("content-type", ""):
            assert isinstance(resp.json(), dict)
        return
    err = resp.json()
    if path.startswith("/v1/messages"):
        assert err["type"] == "error" and isinstance(err["error"]["type"], str), err
        assert isinstance(err["error"]["message"], str) and err["error"]["message"], err
    else:
        assert isinstance(err["error"]["message"], str) and err["error"]["message"], err
        assert "type" in err["error"], err


@settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=broken_requests())
def test_requests_with_wrong_types_missing_and_unknown_fields(client: httpx.Client, case: Any) -> None:
    path, body = case
    assert_clear(
        path, client.post(path, content=orjson.dumps(body), headers={"content-type": "application/json"})
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=random_bodies, path=st.sampled_from(ENDPOINTS))
def test_random_json_bodies(client: httpx.Client, body: dict[str, Any], path: str) -> None:
    assert_clear(path, client.post(path, json=body))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=not_json, path=st.sampled_from(ENDPOINTS))
def test_bodies_that_are_not_a_json_object(client: httpx.Client, raw: bytes, path: str) -> None:
    resp = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert_clear(path, resp)
    assert resp.status_code == 400, resp.text  # never forwarded: not a JSON object (or not UTF-8)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [120, 200, 300, 1000, 5000, 30_000])
@pytest.mark.parametrize("where", ["content", "tool_schema", "metadata"])
def test_deep_nesting(client: httpx.Client, path: str, depth: int, where: str) -> None:
    base = orjson.dumps({**BASES[path], "model": "claude-haiku-4-5" if "chat" in path else "gpt-4o-mini"})
    deep = nested(depth)
    if where == "content":
        raw = base[:-1] + b',"messages":[{"role":"user","content":' + deep + b'}],"input":' + deep + b"}"
    elif where == "tool_schema":
        raw = base[:-1] + (
            b',"tools":[{"type":"function","name":"f","function":{"name":"f","parameters":{"a":'
            + deep
            + b'}},"input_schema":{"type":"object","a":'
            + deep
            + b'},"parameters":{"a":'
            + deep
            + b"}}]}"
        )
    else:
        raw = base[:-1] + b',"metadata":{"a":' + deep + b"}}"
    resp = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert_clear(path, resp)
    if depth > 1024:  # past orjson's recursion limit: refused as not valid JSON
        assert resp.status_code == 400 and "not valid JSON" in resp.text, resp.text
        return
    # Parsed: nothing in the gateway recurses over it (a RecursionError was found here once). What it
    # must re-serialise deeper than orjson writes is a 400; what goes on unchanged is the provider's.
    assert resp.status_code < 500, resp.text
    if depth <= MAX_JSON_DEPTH:
        assert "nested too deeply" not in resp.text, resp.text


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 10, MAX_JSON_DEPTH + 10])
def test_a_body_too_deep_to_reserialise_is_a_400_and_one_passed_on_unchanged_is_not(
    client: httpx.Client, depth: int
) -> None:
    """A translated request (Anthropic client, OpenAI model) carries its tool schema into the body the
    gateway writes: past orjson's 255 levels that is the client's 400. The same schema sent by an OpenAI
    client to an OpenAI model goes on byte for byte, never re-serialised, so the gateway refuses nothing."""
    deep = nested(depth)
    translated = orjson.dumps({**BASES["/v1/messages"], "model": "gpt-4o-mini"})[:-1] + (
        b',"tools":[{"name":"f","input_schema":{"type":"object","a":' + deep + b"}}]}"
    )
    resp = client.post("/v1/messages", content=translated, headers={"content-type": "application/json"})
    if depth > MAX_JSON_DEPTH:
        assert resp.status_code == 400 and "nested too deeply" in resp.text, resp.text
        assert resp.json()["type"] == "error"  # in the client's own format
    else:
        assert resp.status_code == 200, resp.text
    same = orjson.dumps({**BASES["/v1/chat/completions"], "model": "gpt-4o-mini"})[:-1] + (
        b',"metadata":{"a":' + deep + b"}}"
    )
    resp = client.post("/v1/chat/completions", content=same, headers={"content-type": "application/json"})
    assert "nested too deeply" not in resp.text, resp.text


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 10, MAX_JSON_DEPTH + 45])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
def test_a_deep_tool_call_a_translator_serialises_itself_is_a_400_not_a_500(
    client: httpx.Client, path: str, depth: int
) -> None:
    """Translators write some parts themselves (an Anthropic ``tool_use`` input becomes OpenAI chat
    ``arguments`` text; a Responses ``function_call_output`` whose ``content`` is an object becomes text): past orjson's 255 levels
    that is the client's 400 in its own format, not the gateway's 500."""
    deep = b'{"a":' + nested(depth) + b"}"
    if path == "/v1/messages":  # Anthropic client, GPT model: anthropic -> chat
        raw = (
            b'{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"hi"},'
            b'{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":'
            + deep
            + b'}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]}'
        )
    else:  # Responses client, Claude model: responses -> anthropic
        raw = (
            b'{"model":"claude-haiku-4-5","max_output_tokens":8,"input":[{"role":"user","content":"hi"},'
            b'{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},'
            b'{"type":"function_call_output","call_id":"c1","output":{"content":' + deep + b"}}]}"
        )
    resp = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert_clear(path, resp)
    if depth > MAX_JSON_DEPTH:
        assert resp.status_code == 400 and "nested too deeply" in resp.text, resp.text
    else:
        assert resp.status_code < 500 and "nested too deeply" not in resp.text, resp.text


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_max_body_bytes_is_a_413(client: httpx.Client, path: str) -> None:
    body = {**BASES[path], "metadata": {"pad": "x" * (MAX_BODY + 10)}}
    resp = client.post(path, json=body)
    assert resp.status_code == 413, resp.text
    assert_clear(path, resp)
    assert "too large" in resp.text


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_huge_headers_get_a_json_4xx_that_does_not_echo_them(gw: Stack, path: str) -> None:
    secret = "sk-client-credential-in-a-huge-header-" + "s" * 20_000
    for headers in (
        {"x-junk": "a" * 20_000},
        {"x-" + "n" * 20_000: "v"},
        {"authorization": f"Bearer {secret}"},
    ):
        resp = httpx.post(gw.gateway_url + path, json=BASES[path], headers=headers, timeout=10)
        assert resp.status_code == 431, resp.status_code
        assert resp.json()["error"]["message"] == "request line or header too large"
        assert "aaaa" not in resp.text and "nnnn" not in resp.text and "sk-client" not in resp.text
    log = gw.services["gateway"].log()
    assert "431 request line or header too large" in log and "sk-client" not in log and "aaaa" not in log
    many = {f"x-h{i}": "v" * 100 for i in range(300)}  # many headers, each small
    resp = httpx.post(gw.gateway_url + path, json=BASES[path], headers=many, timeout=10)
    assert resp.status_code < 500, resp.text


def _raw_http(gw: Stack, head: bytes, trickle: bytes, pause: float) -> bytes:
    """Send ``head`` then ``trickle`` one byte every ``pause`` seconds until the gateway answers."""
    host, port = "127.0.0.1", int(gw.env["GATEWAY_PORT"])
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(pause)
        got = b""
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            try:
                got += sock.recv(65536)
            except TimeoutError:
                continue
            if got:
                break
        sock.settimeout(10)
        while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            got += part
        return got


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
def test_a_client_that_trickles_its_body_gets_a_408(gw: Stack, path: str) -> None:
    body = orjson.dumps(BASES[path])
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: k\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    got = _raw_http(gw, head, body, 0.2)  # 20+ s for the whole body at this pace
    assert got.startswith(b"HTTP/1.1 408"), got[:300]  # the body timed out
    payload = orjson.loads(got.split(b"\r\n\r\n", 1)[1])
    assert "CLIENT_BODY_TIMEOUT" in (payload["error"]["message"])
    if path == "/v1/messages":
        assert payload["type"] == "error"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/chat/completions", 405),
        ("PUT", "/v1/messages", 405),
        ("DELETE", "/v1/responses", 405),
        ("GET", "/v1/messages/count_tokens", 405),
        ("POST", "/v1/nope", 404),
        ("POST", "/v1/messages/nope", 404),
        ("GET", "/v1/responses/x/y", 404),
        ("POST", "/v1/models", 405),
        ("PATCH", "/health", 405),
        ("GET", "/%ff%fe", 404),
        ("POST", "/v1/chat/completions/", 404),
    ],
)
def test_unknown_paths_and_methods(client: httpx.Client, method: str, path: str, status: int) -> None:
    resp = client.request(method, path, content=b"{}")
    assert resp.status_code == status, resp.text
    assert_clear(path, resp)


def test_nothing_was_answered_with_a_500_in_the_ledger(gw: Stack, client: httpx.Client) -> None:
    # Runs last in the module: every request above left its row; none says the gateway failed itself.
    assert_clear("/v1/chat/completions", client.post("/v1/chat/completions", json={"model": 1}))
    gw.settle()  # every row is in the ledger
    rows = gw.rows("status = 500 OR error_type = 'internal_error'")
    assert not rows, rows[:3]


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ],
)
def test_malformed_http_is_a_json_400(gw: Stack, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", int(gw.env["GATEWAY_PORT"])), timeout=10) as sock:
        sock.sendall(raw)
        got = b""
        while part := sock.recv(65536):
            got += part
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400", got[:300]
    assert orjson.loads(body)["error"]["message"] == "malformed HTTP request"


# Translated routes (the client's API differs from the provider's): an optional field of the wrong type is
# a 400 in the client's format naming the field, as the client's own provider answers it, not a request
# sent on without it (passthrough routes leave such fields to the provider, which checks them itself).
WRONG_TYPES = [
    ("/v1/messages", "gpt-4o-mini", "system", 5),
    ("/v1/messages", "gpt-4o-mini", "tools", "x"),
    ("/v1/messages", "gpt-4o-mini", "tools", [1]),
    ("/v1/messages", "gpt-4o-mini", "tool_choice", "auto"),  # Anthropic's is an object
    ("/v1/messages", "gpt-4o-mini", "stop_sequences", "END"),
    ("/v1/messages", "gpt-4o-mini", "temperature", "0.5"),
    ("/v1/messages", "gpt-4o-mini", "max_tokens", True),
    ("/v1/messages", "gpt-4o-mini", "top_k", 1.5),
    ("/v1/messages", "gpt-4o-mini", "thinking", "on"),
    ("/v1/messages", "gpt-4o-mini", "metadata", []),
    ("/v1/chat/completions", "claude-haiku-4-5", "tools", "x"),
    ("/v1/chat/completions", "claude-haiku-4-5", "tool_choice", 5),
    ("/v1/chat/completions", "claude-haiku-4-5", "stop", 5),
    ("/v1/chat/completions", "claude-haiku-4-5", "stop", ["END", 1]),
    ("/v1/chat/completions", "claude-haiku-4-5", "temperature", "0.5"),
    ("/v1/chat/completions", "claude-haiku-4-5", "max_tokens", "8"),
    ("/v1/chat/completions", "claude-haiku-4-5", "max_completion_tokens", 8.5),
    ("/v1/chat/completions", "claude-haiku-4-5", "response_format", "json"),
    ("/v1/chat/completions", "claude-haiku-4-5", "stream_options", True),
    ("/v1/chat/completions", "claude-haiku-4-5", "parallel_tool_calls", "yes"),
]


@pytest.mark.parametrize(("path", "model", "field", "value"), WRONG_TYPES)
def test_a_translated_request_with_an_optional_field_of_the_wrong_type_is_a_400(
    client: httpx.Client, path: str, model: str, field: str, value: Any
) -> None:
    body = {**BASES[path], "model": model}
    assert client.post(path, json=body).status_code == 200  # the route translates, and serves this body
    resp = client.post(path, json={**body, field: value})
    assert resp.status_code == 400, resp.text
    assert_clear(path, resp)
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"].startswith(f"{field}: "), err
    if path == "/v1/chat/completions":
        assert err["param"] == field


def test_a_base_url_off_by_v1_gets_a_hint_in_the_sdks_own_shape(gw: Stack) -> None:
    """The Anthropic SDK given ``…/v1`` (it adds /v1 itself) and the OpenAI SDK given the host alone: a
    404 in the SDK's own error shape that names the path meant and the base URL to use."""
    a = anthropic.Anthropic(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as aerr:
        a.messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    body = aerr.value.body
    assert isinstance(body, dict) and body["type"] == "error", body
    assert "did you mean /v1/messages?" in body["error"]["message"]
    o = openai.OpenAI(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(openai.NotFoundError) as oerr:
        o.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "did you mean /v1/chat/completions?" in str(oerr.value)


# An output-token limit beyond a signed 64-bit integer (orjson gives one beyond 64 bits as a float): the
# client format's own 400 naming the field, on passthrough and translated routes alike
# (``_request_common.check_token_limit_range``); before, a translated route said "Input should be a valid
# integer" of an integer and a chat passthrough clamped it to the model's limit and served it.
HUGE_LIMITS = [
    ("/v1/chat/completions", "gpt-4o-mini", "max_tokens"),
    ("/v1/chat/completions", "gpt-4o-mini", "max_completion_tokens"),
    ("/v1/chat/completions", "claude-haiku-4-5", "max_completion_tokens"),
    ("/v1/messages", "claude-haiku-4-5", "max_tokens"),
    ("/v1/messages", "gpt-4o-mini", "max_tokens"),
    ("/v1/responses", "gpt-4o-mini", "max_output_tokens"),
    ("/v1/responses", "claude-haiku-4-5", "max_output_tokens"),
]


@pytest.mark.parametrize(
    "number", [b"1180591620717411303424", b"9223372036854775808", b"1e30"], ids=["2**70", "2**63", "1e30"]
)
@pytest.mark.parametrize(("path", "model", "field"), HUGE_LIMITS)
def test_an_output_token_limit_beyond_64_bits_is_a_400_naming_the_field(
    client: httpx.Client, path: str, model: str, field: str, number: bytes
) -> None:
    body = {k: v for k, v in BASES[path].items() if k not in ("max_tokens", "max_output_tokens")}
    body = {**body, "model": model, field: 123454321}
    assert client.post(path, json={**body, field: 8}).status_code == 200  # the route serves the field
    raw = orjson.dumps(body).replace(b"123454321", number)
    resp = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert_clear(path, resp)
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error", err
    range_words = f"{field}: integer above maximum value, expected a value <= {2**63 - 1}"
    if path == "/v1/messages" and number != b"9223372036854775808":
        # Anthropic's Pydantic (strict) word for a float; orjson gives one past 64 bits as a float
        range_words = "max_tokens: Input should be a valid integer"
    assert err["message"] == range_words, err
    if path != "/v1/messages":
        assert err["param"] == field


def test_an_output_token_limit_within_64_bits_is_still_clamped_and_served(client: httpx.Client) -> None:
    """The other side: the largest signed 64-bit integer is a limit the gateway clamps to the model's."""
    body = {**BASES["/v1/chat/completions"], "max_tokens": 2**63 - 1}
    assert client.post("/v1/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_a_body_its_content_encoding_cannot_decode_is_a_400(
    gw: Stack, client: httpx.Client, path: str, encoding: str
) -> None:
    """``Content-Encoding: gzip`` (or deflate) on a body that is not: a 400 in the path's own shape that says
    so, not a 500 with a traceback in the log (aiohttp's decompression error escaped ``read_json``, and its
    lingering read of the rest raised it again); the answer says ``Connection: close`` (the gateway ends that
    connection, so a client must not send its next request on it), and the next request is served as usual."""
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "input": "hi"}'
    resp = client.post(
        path, content=body, headers={"content-type": "application/json", "content-encoding": encoding}
    )
    assert resp.status_code == 400, (resp.status_code, resp.text[:500])
    assert_clear(path, resp)
    assert encoding in resp.json()["error"]["message"], resp.text
    assert resp.headers.get("connection") == "close", resp.headers
    assert client.get("/health").status_code == 200
