"""Session 33 (fix33): the reviewers' leftovers from session 32, end to end.

Item 1, a keep-alive write stalled while the next route's headers came: a stream an earlier route began
(``Call.opened``: route A refused after the gateway had opened the client's answer) awaits route B's headers in
``Proxy._send_keeping_alive``, writing keep-alives; the client, its receive window tiny, reads nothing, so a
keep-alive's write waits for room (aiohttp drains once 64 KiB were written). B's headers come meanwhile (the send is
done), then the client hangs up: the stalled write ends in a plain ``ConnectionError("Connection lost")`` (aiohttp's
``BaseProtocol.connection_lost``), not the ``ConnectionResetError`` an unstalled write raises. Before: that error
escaped the request (a 500 on the ledger for a client that left) and B's response was never released: its
connection stayed open, the provider generating for nobody until its answer's end. Now the request is the client's
hang-up (499) and B's connection is closed at once (the upstream's next write finds it gone).

Real gateway and recorder processes, the scripted upstream, a raw socket as the client that stops reading (no SDK
can be made to stop reading with a tiny receive window).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, provider
from tests.procs import Stack, wait_until
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(catalog_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    # A and B both serve "stall-m", A cheaper (tried first). STREAM_KEEPALIVE_S tiny: the keep-alives follow one
    # another as fast as the loop turns, so the client's unread window and the gateway's socket buffers fill in
    # about a second, and a keep-alive's write then waits for room
    cat = catalog(
        provider("stalla", "stall-m", price=(1.0, 1.0)), provider("stallb", "stall-m", price=(2.0, 2.0))
    )
    with catalog_stack(
        "fix33-stall", cat, STREAM_KEEPALIVE_S="0.000001", BREAKER_FAILURES="1000", RETRY_AFTER_MAX_WAIT="0"
    ) as st:
        yield st


def _send_queue(local_port: int, peer_port: int) -> int | None:
    """The kernel's count of bytes the gateway's socket (``local_port`` → the client's ``peer_port``) holds
    unacknowledged (``/proc/net/tcp``'s ``tx_queue``), None when there is no such socket."""
    want = (f"{local_port:04X}", f"{peer_port:04X}")
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if (fields[1].split(":")[1], fields[2].split(":")[1]) == want:
                return int(fields[4].split(":")[0], 16)
    return None


def _stalled(gateway_port: int, client_port: int) -> bool:
    """The gateway's socket to the client stopped taking bytes: its send queue is full and stays so (ten looks a
    tenth of a second apart: its user-space buffer fills a drain's 64 KiB in a few hundredths, then the write
    waits)."""
    first = _send_queue(gateway_port, client_port)
    if not first:
        return False
    for _ in range(10):
        time.sleep(0.1)
        if _send_queue(gateway_port, client_port) != first:
            return False
    return True


def test_a_keepalive_write_stalled_when_the_next_routes_headers_came_releases_them(
    gw: Stack, up: ScriptedUpstream
) -> None:
    gate = threading.Event()
    up.script("/stalla/v1/chat/completions", json_answer({"error": {"message": "overloaded"}}, 503))
    # B's headers held until the client's keep-alive write is stalled; then a stream that would go on for a minute
    ticks: list[bytes | Pause] = [b": tick\n\n", Pause(0.1)] * 600
    up.script("/stallb/v1/chat/completions", sse(ticks, gate=gate))
    body = {
        "model": "stall-m",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    raw = json.dumps(body).encode()
    head = (
        "POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\nx-request-id: fix33-stall\r\nContent-Length: {len(raw)}\r\n\r\n"
    )
    port = int(gw.env["GATEWAY_PORT"])
    client = socket.socket()
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: the window stays tiny
        client.connect(("127.0.0.1", port))
        client.sendall(head.encode() + raw)
        wait_until(lambda: up.seen("/stallb/v1/chat/completions"), 30)
        wait_until(lambda: _stalled(port, client.getsockname()[1]), 60, 0.0)
        gate.set()  # B's headers come while the keep-alive's write waits
        b = up.seen("/stallb/v1/chat/completions")[0]
        # B's head reaches the gateway before the client leaves (were it later, B's send would be cancelled,
        # nothing left open, and the row alone would tell the escaped error from the hang-up)
        time.sleep(0.5)
    finally:
        gate.set()
        client.close()  # unread bytes in its buffer: the kernel resets the connection
    # B's connection closed by the gateway (its next tick found it gone), long before its minute is up
    wait_until(b.done.is_set, 10)
    assert b.cut
    row = gw.row_for("fix33-stall", 30)
    assert (row["status"], row["error_type"], row["attempts"]) == (499, "client_disconnected", 2), row


# ---- items 2-4: a second stack, the usual timings -----------------------------------------------------------------

LLAMA = "/llama/v1/chat/completions"
SLOWERR = "/slowerr/v1/chat/completions"
SPARE = "/spare/v1/chat/completions"
KEEPALIVE_S = 0.5
# llama.cpp's server (tools/server, ``server_sent_event(sink, "error", error_data)``): the error ending a stream is an
# ``error:`` line, its value the error object (tools/server/README.md, "Error responses")
LLAMACPP_OVERFLOW = {
    "code": 400,
    "message": "the request exceeds the available context size, try increasing it",
    "type": "exceed_context_size_error",
    "n_prompt_tokens": 40000,
    "n_ctx": 32768,
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw2(catalog_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    cat = catalog(
        provider("llama", "local-qwen", price=(0.0, 0.0)),
        provider("slowerr", "slow-m", price=(1.0, 1.0)),
        provider("spare", "slow-m", price=(2.0, 2.0)),
    )
    with catalog_stack(
        "fix33-words",
        cat,
        STREAM_KEEPALIVE_S=str(KEEPALIVE_S),
        BREAKER_FAILURES="1000",
        RETRY_AFTER_MAX_WAIT="0",
    ) as st:
        yield st


def _overflow_fields(said: object) -> tuple[object, ...]:
    assert isinstance(said, dict), said
    return (said.get("type"), said.get("n_prompt_tokens"), said.get("n_ctx"))


def test_llamacpps_error_line_unended_is_read(gw2: Stack, up: ScriptedUpstream) -> None:
    """Item 3: the body ends right after the ``error:`` line's JSON, without its line break (a proxy trimming the
    body's end; session 32's ``SSEDecoder.ends_whole`` read only an unended ``data:`` line). Before: the error was
    lost, the stream "ended before its first token", a 502 for a refusal of the request (400 overflow)."""
    up.script(LLAMA, sse([b"error: " + json.dumps(LLAMACPP_OVERFLOW).encode()]))
    with openai.OpenAI(base_url=gw2.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="local-qwen", messages=HI, stream=True, extra_headers={"x-request-id": "fix33-unended"}
            )
    assert refused.value.code == "context_length_exceeded"
    assert _overflow_fields(refused.value.body) == ("exceed_context_size_error", 40000, 32768)
    assert gw2.row_for("fix33-unended")["status"] == 400


def test_a_llamacpp_overflow_inside_a_begun_stream_keeps_its_fields(gw2: Stack, up: ScriptedUpstream) -> None:
    """Item 4: llama.cpp silent past a keep-alive period (a long prompt's processing: the client's stream begins,
    comments), then its overflow ``error:`` event: told in the stream as the ``data: {"error": …}`` chunk the openai
    SDK raises on, OpenAI's code and words, and llama.cpp's own ``type``, ``n_prompt_tokens``, ``n_ctx`` kept as
    fields (``_error_meaning.said_keeping_fields``, as for the whole 400). Before: only in the message's words."""
    error_line = b"error: " + json.dumps(LLAMACPP_OVERFLOW).encode() + b"\n\n"
    up.script(LLAMA, sse([Pause(KEEPALIVE_S * 3), error_line, b"data: [DONE]\n\n"]))
    with openai.OpenAI(base_url=gw2.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.APIError) as failed:
            stream = client.chat.completions.create(
                model="local-qwen", messages=HI, stream=True, extra_headers={"x-request-id": "fix33-inside"}
            )
            for _ in stream:
                pass
    said = failed.value.body
    assert isinstance(said, dict) and said.get("code") == "context_length_exceeded", said
    assert _overflow_fields(said) == ("exceed_context_size_error", 40000, 32768)
    assert gw2.row_for("fix33-inside")["status"] == 400


# The error body that never ends: its status line and a first piece, then a byte a second (a relay that flushed the
# head of a 503 and trickles, a server wedged mid-write: the chunk timeout, the default 120 s, never fires between
# two reads); the gateway closing the connection ends it (the next write finds it gone)
NEVER_ENDING: list[bytes | Pause] = [
    b'{"error": {"message": "upstream overloaded, ',
    *[Pause(1.0), b" "] * 300,
]


def test_an_error_body_that_never_ends_falls_back_well_before_the_chunk_timeout(
    gw2: Stack, up: ScriptedUpstream
) -> None:
    """Item 2, a plain (non-streamed) request: the first route's 503 body stalls after its first bytes; read up to
    ``ERROR_BODY_TIMEOUT_S`` (10 s), not the 120 s chunk timeout, then the status stands (retryable: the next route
    answers), the attempt on the ledger with its status. Before: the client heard nothing for 120 s (here its 40 s
    timeout ended it). The SDK's timeout is the test's bound, not a timed assertion."""
    up.script(SLOWERR, Answer(body=NEVER_ENDING, status=503))
    up.script(SPARE, json_answer(_chat_whole("From the spare.")))
    with openai.OpenAI(base_url=gw2.gateway_url + "/v1", api_key="k", max_retries=0, timeout=40) as client:
        answer = client.chat.completions.create(
            model="slow-m", messages=HI, extra_headers={"x-request-id": "fix33-slow-body"}
        )
    assert answer.choices[0].message.content == "From the spare."
    row = gw2.row_for("fix33-slow-body")
    assert (row["status"], row["provider"], row["attempts"]) == (200, "spare", 2), row
    first = up.seen(SLOWERR)[0]
    wait_until(first.done.is_set, 10)  # the stalled body's connection closed by the gateway, not kept


def test_an_error_body_that_never_ends_alone_is_told_in_the_clients_format(
    gw2: Stack, up: ScriptedUpstream
) -> None:
    """The same with no other route (pinned): the 503 in the client's format (Anthropic's ``overloaded_error``)
    with what came of the provider's words, and that its body did not end."""
    up.script(SLOWERR, Answer(body=NEVER_ENDING, status=503))
    claude = anthropic.Anthropic(base_url=gw2.gateway_url, api_key="k", max_retries=0, timeout=40)
    with pytest.raises(anthropic.APIStatusError) as failed:
        claude.messages.create(
            model="slowerr::slow-m",
            max_tokens=64,
            messages=HI,  # type: ignore[arg-type]
            extra_headers={"x-request-id": "fix33-slow-body-alone"},
        )
    assert failed.value.status_code == 529, failed.value  # Anthropic's overloaded status for an upstream 503
    assert "upstream overloaded" in failed.value.message and "did not end" in failed.value.message
    row = gw2.row_for("fix33-slow-body-alone")
    assert (row["status"], row["provider"], row["attempts"]) == (529, "slowerr", 1), row  # as told


def _chat_whole(text: str) -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    return {"id": "c33", "object": "chat.completion", "model": "slow-m", "choices": [choice], "usage": usage}
