"""How a committed stream reaches the client: one write per upstream read, and the last read's bytes
together with the end of the answer (issue 13: one socket write per relayed event was 38% of the
gateway's CPU on streams)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects.view import View
from services.gateway.providers.base import Provider
from services.gateway.proxy import Proxy, SSEResponse
from services.gateway.relay import Relay, make_relay
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Limits
from services.gateway.upstream import UpstreamClient

PROVIDER = Provider("p", "http://127.0.0.1:9", None)


def chunk(delta: str, finish: str | None = None) -> bytes:
    reason = "null" if finish is None else f'"{finish}"'
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":' + delta.encode() + b',"finish_reason":' + reason.encode() + b"}]}\n\n"
    )


FIRST = chunk('{"role":"assistant","content":"Hi"}')
MORE = chunk('{"content":" there"}')
LAST = chunk("{}", "stop") + b"data: [DONE]\n\n"


class Body:
    """Upstream reads, each one chunk; ``ended`` once the last has been read."""

    def __init__(self, *reads: bytes) -> None:
        self.reads = list(reads)

    def __aiter__(self) -> Body:
        return self

    async def __anext__(self) -> bytes:
        if not self.reads:
            raise StopAsyncIteration
        return self.reads.pop(0)

    @property
    def ended(self) -> bool:
        return not self.reads


class Client:
    """The client's side of the response: every write, in order; ``("eof", data)`` for the last."""

    def __init__(self) -> None:
        self.writes: list[Any] = []

    async def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def write_eof(self, data: bytes = b"") -> None:
        self.writes.append(("eof", data))


def relay_for(client_format: str, committed: bytes = FIRST) -> Relay:
    pair = registry.pairing(client_format, "openai_chat")  # type: ignore[arg-type]
    relay = make_relay(pair, View(model="m"))
    relay.feed(committed)  # what until_committed read: the stream is committed
    return relay


async def pump(relay: Relay, first: bytes, body: Body, provider: Provider = PROVIDER) -> list[Any]:
    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5)  # type: ignore[arg-type]
    proxy = Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))
    call, att = SimpleNamespace(t0=0.0), SimpleNamespace(ttft_ms=None)
    client = Client()
    await proxy._pump(call, att, relay, client, first, body, provider)  # type: ignore[arg-type]
    return client.writes


async def test_each_read_is_one_write_and_the_last_goes_with_the_end() -> None:
    relay = relay_for("openai_chat")
    writes = await pump(relay, FIRST, Body(MORE, LAST))
    assert writes == [FIRST, MORE, ("eof", LAST)]  # passthrough: byte-exact, three writes for three reads
    assert relay.delivered


async def test_an_answer_read_whole_at_commit_is_one_write() -> None:
    relay = relay_for("openai_chat", FIRST + MORE + LAST)
    writes = await pump(relay, FIRST + MORE + LAST, Body())
    assert writes == [("eof", FIRST + MORE + LAST)]
    assert relay.delivered


async def test_translated_reads_are_one_write_each_too() -> None:
    relay = relay_for("anthropic")
    writes = await pump(relay, b"event: message_start\n", Body(MORE + MORE, LAST))
    assert len(writes) == 3 and writes[0] == b"event: message_start\n"
    assert writes[1].count(b"event: content_block_delta") == 2  # two events read at once: one write
    assert writes[2][0] == "eof" and b"event: message_stop" in writes[2][1]


@pytest.mark.parametrize("first", [b"", FIRST])
async def test_the_headers_go_out_with_the_first_bytes(first: bytes) -> None:
    """An ``SSEResponse`` holds its headers until its first write; with nothing to write yet at commit,
    an empty write sends them at once (a client must not wait for its headers on a silent upstream)."""
    assert SSEResponse._send_headers_immediately is False
    relay = relay_for("openai_chat")
    writes = await pump(relay, first, Body(MORE, LAST))
    assert writes[0] == first


async def test_a_key_split_across_two_reads_is_scrubbed_from_what_a_translator_writes() -> None:
    """Each read is scrubbed of the provider key, but a translator joins an event split across reads and
    writes it again whole: its output is scrubbed too (an upstream error event may quote the key)."""
    key = "sk-test-split-secret-0123456789abcdef"
    provider = Provider("p", "http://127.0.0.1:9", key)
    leak = chunk('{"content":"bad key ' + key + '"}')
    cut = leak.index(key.encode()) + len(key) // 2
    writes = await pump(relay_for("anthropic"), b"", Body(leak[:cut], leak[cut:], LAST), provider)
    sent = b"".join(w[1] if isinstance(w, tuple) else w for w in writes)
    assert b"bad key [redacted]" in sent, sent
    assert key.encode() not in sent


async def test_a_translated_answer_read_whole_is_one_write() -> None:
    """A translator stops the read that brings the first token there (``Relay.rest``); when that read
    ended the body, the rest is translated at once and the whole answer goes out with its end in one
    write (session 21: one write and one client wake-up fewer; the first token waits only for the
    rest's translation). The bytes are those of the read translated whole."""
    pair = registry.pairing("anthropic", "openai_chat")
    relay = make_relay(pair, View(model="m"))
    first = relay.feed(FIRST + MORE + LAST)  # what until_committed read and wrote down
    assert relay.has_rest and b"content_block_delta" in first and b"there" not in first
    writes = await pump(relay, first, Body())
    assert len(writes) == 1 and writes[0][0] == "eof"
    whole = make_relay(pair, View(model="m"))
    assert writes[0][1] == whole.feed(FIRST + MORE + LAST) + whole.rest() + whole.finish()
    assert relay.delivered and not relay.has_rest


async def test_a_translated_answer_whose_body_goes_on_sends_its_first_token_before_the_rest() -> None:
    """The same read when the body has not ended (a real provider's stream): the client gets what comes
    up to the first token in one write, the rest of the read in the next (time to first token)."""
    pair = registry.pairing("anthropic", "openai_chat")
    relay = make_relay(pair, View(model="m"))
    first = relay.feed(FIRST + MORE)
    assert relay.has_rest
    writes = await pump(relay, first, Body(LAST))
    assert len(writes) == 3 and writes[0] == first and b" there" in writes[1] and b"Hi" not in writes[1]
    assert writes[2][0] == "eof" and b"message_stop" in writes[2][1]
    assert relay.delivered


async def test_the_first_token_read_after_a_silence_goes_out_before_the_rest_of_its_read() -> None:
    """The first token can come in the pump's own reads (the answer started on a silence): the same
    split there, the time to first token stamped once."""
    relay = make_relay(registry.pairing("anthropic", "openai_chat"), View(model="m"))
    writes = await pump(relay, b"", Body(FIRST + MORE, LAST))
    assert writes[0] == b"" and b"content_block_delta" in writes[1] and b" there" not in writes[1]
    assert b" there" in writes[2] and writes[3][0] == "eof" and b"message_stop" in writes[3][1]


async def test_the_first_token_in_the_bodys_last_read_goes_out_with_the_end() -> None:
    """The answer started on a silence and its first token comes in the read that ends the body: that
    read's bytes go out whole with the end of the answer (no split), the time to first token stamped."""
    pair = registry.pairing("anthropic", "openai_chat")
    relay = make_relay(pair, View(model="m"))
    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5)  # type: ignore[arg-type]
    proxy = Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))
    call, att = SimpleNamespace(t0=0.0), SimpleNamespace(ttft_ms=None)
    client = Client()
    await proxy._pump(call, att, relay, client, b"", Body(FIRST + MORE + LAST), PROVIDER)  # type: ignore[arg-type]
    whole = make_relay(pair, View(model="m"))
    assert client.writes == [b"", ("eof", whole.feed(FIRST + MORE + LAST) + whole.rest() + whole.finish())]
    assert att.ttft_ms is not None and relay.delivered


@pytest.mark.parametrize("goes_on", [False, True])
async def test_a_client_gone_at_the_first_token_still_has_the_reads_usage_decoded(goes_on: bool) -> None:
    """The client hangs up on the first write (the first token's, when the body goes on; the whole
    answer's, when its read ended the body): the rest of that read (the usage chunk with it) is decoded
    all the same, so the ledger gets the answer's usage as when the read was translated whole."""
    usage = (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n'
    )
    relay = make_relay(registry.pairing("anthropic", "openai_chat"), View(model="m"))
    read = FIRST + MORE + chunk("{}", "stop") + usage
    first = relay.feed(read if goes_on else read + b"data: [DONE]\n\n")
    assert relay.has_rest and relay.usage is None

    class Gone(Client):
        async def write(self, data: bytes) -> None:
            raise ConnectionResetError

        async def write_eof(self, data: bytes = b"") -> None:
            raise ConnectionResetError

    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5)  # type: ignore[arg-type]
    proxy = Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))
    call, att = SimpleNamespace(t0=0.0), SimpleNamespace(ttft_ms=None)
    body = Body(b"data: [DONE]\n\n") if goes_on else Body()
    with pytest.raises(ConnectionResetError):
        await proxy._pump(call, att, relay, Gone(), first, body, PROVIDER)  # type: ignore[arg-type]
    assert relay.usage is not None and relay.usage.output_tokens == 4 and not relay.has_rest


ANTHROPIC_ONE_READ = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","type":"message","role":'
    b'"assistant","model":"claude-x","content":[],"usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


class Watching(Client):
    """A client that notes, when its answer ends, whether the relay had decoded the whole read yet."""

    def __init__(self, relay: Relay, gone: bool = False) -> None:
        super().__init__()
        self.relay, self.gone, self.settled_at_eof = relay, gone, None

    async def write_eof(self, data: bytes = b"") -> None:
        self.settled_at_eof = not self.relay.unsettled
        if self.gone:
            raise ConnectionResetError("the client hung up")
        await super().write_eof(data)


@pytest.mark.parametrize("gone", [False, True], ids=["delivered", "client gone"])
async def test_a_whole_answer_ends_before_its_rest_is_decoded_and_is_decoded_after(gone: bool) -> None:
    """Session 21 (``Relay.feed_last``): an Anthropic answer read whole, ended by ``message_stop``, goes out
    in one write that ends the answer while the frames after its first token wait; they are decoded after
    (also when the client is gone), so the ledger's usage and the answer's completion are the whole read's."""
    relay = make_relay(registry.pairing("anthropic", "anthropic"), View(model="m"))
    first = relay.feed_last(ANTHROPIC_ONE_READ)
    assert first == ANTHROPIC_ONE_READ and relay.unsettled
    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5)  # type: ignore[arg-type]
    proxy = Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))
    call, att = SimpleNamespace(t0=0.0), SimpleNamespace(ttft_ms=None)
    client = Watching(relay, gone)
    if gone:
        with pytest.raises(ConnectionResetError):
            await proxy._pump(call, att, relay, client, first, Body(), PROVIDER)  # type: ignore[arg-type]
    else:
        await proxy._pump(call, att, relay, client, first, Body(), PROVIDER)  # type: ignore[arg-type]
        assert client.writes == [("eof", ANTHROPIC_ONE_READ)]
    assert client.settled_at_eof is False  # the answer ended before the rest was decoded
    assert not relay.unsettled and relay.complete and relay.decoder.closed
    assert relay.read_usage().output_tokens == 7  # message_delta's, read after the answer
    assert relay.delivered is not gone
