"""The keep-alive race through the real gateway and recorder: a provider that ends each kept connection when
the next request arrives on it (its keep-alive timeout firing as the gateway wrote, or its per-connection
request limit met), without a byte of an answer. The gateway sends that request once more on a new
connection (``UpstreamPool``'s "Sent again" rule), so the client, an official SDK that does not retry
here, gets its answer, and the ledger records one attempt on that provider that answered: no failed
attempt, no fallback, no charge to the provider's health. Before: the second request failed (502,
``connection_error``) on a healthy provider.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.procs import Stack, stack

COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-race",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


class OneAnswerPerConnection:
    """An HTTP/1.1 origin in a thread that answers the first request on each connection (keep-alive, no
    ``Connection: close``) and ends the connection when the next one arrives, unanswered."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        async def serve() -> None:
            server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await server.serve_forever()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True)
        self.thread.start()
        ready.wait(10)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for answered in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.requests += 1
                if answered:
                    return  # the second request on this connection: ended unanswered
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(COMPLETION), COMPLETION)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture(scope="module")
def origin() -> OneAnswerPerConnection:
    return OneAnswerPerConnection()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, origin: OneAnswerPerConnection) -> Iterator[Stack]:
    with stack(
        tmp_path_factory.mktemp("race"),
        {"openai": f"http://127.0.0.1:{origin.port}/v1"},
        BREAKER_FAILURES="1000",
        RETRY_AFTER_MAX_WAIT="0",
    ) as st:
        yield st


def test_a_request_the_provider_drops_on_a_kept_connection_is_answered(
    gw: Stack, origin: OneAnswerPerConnection
) -> None:
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    for n in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"hello {n}"}]
        )
        assert raw.parse().choices[0].message.content == "hi"
        assert (raw.headers["x-ekai-provider"], raw.headers["x-ekai-attempts"]) == ("openai", "1")
        row = gw.row_for(raw.headers["x-request-id"])
        assert (row["status"], row["provider"], row["attempts"]) == (200, "openai", 1), row
        assert row["error_type"] is None and row["failed_attempts"] in (None, "[]"), row
    # the first request opened connection 1; the second was dropped on it and answered on connection 2;
    # the third was dropped on 2 and answered on 3: each dropped request sent once more, not more
    assert (origin.connections, origin.requests) == (3, 5)
    health = gw.health()["providers"]["openai"]
    assert (health["state"], health["consecutive_failures"]) == ("healthy", 0)
    scrape = httpx.get(gw.gateway_url + "/metrics", timeout=10).text
    assert 'ekai_upstream_sent_again_total{provider="openai"} 2.0' in scrape
