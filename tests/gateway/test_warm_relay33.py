"""A translated stream's relay code is run once more in the upstream's wait, on a sample (issue 13, session 33).

``proxy._relay_ahead`` makes the stream's relay in the upstream's wait (session 32), then ``proxy.warm_relay``: a
throwaway relay of the same pairing, view and usage rule reads its wire decoder's sample answer
(``ChatStreamDecoder.warm_read``) whole, so that the code the answer's first read runs is in the CPU's caches when
the answer comes (``bench/stream_pieces.py --cold``). The real gateway app in-process against a scripted OpenAI
chat upstream (``tests/gateway/inproc.py``, real sockets), an Anthropic Messages client: by the time the request
reaches the upstream, the stream's relay and the warm one have been made and the warm one has read its whole
sample (main: one relay, none warm); the client's bytes and the ledger's facts are those of the same streams with
the warm-up off; a warm-up that fails is logged and the request answered as without it; a passthrough makes no
warm relay. A hypothesis property checks the module state the sample leaves (the chat decoder's kept first-chunk
forms, ``_SPLICED`` / ``_FIRST_READS``) changes no later stream's bytes or facts.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway import proxy
from services.gateway.dialects import _openai_stream, registry
from services.gateway.dialects.view import View
from services.gateway.relay import Relay
from tests.gateway.inproc import InProcGateway, Scripted, chat_answer

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
}
BODY = {
    "model": "gpt-4o",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


class Noting(Scripted):
    """The scripted upstream, noting the relays the gateway had made when each request arrived."""

    def __init__(self, made: list[Relay]) -> None:
        super().__init__()
        self.made = made
        # per request: each relay made so far, whether it had seen a token and had read a whole answer
        self.on_arrival: list[list[tuple[Relay, bool, bool]]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.on_arrival.append([(relay, relay.saw_content, relay.complete) for relay in self.made])
        return await super().handle(request)


def _making(made: list[Relay]) -> Any:
    def make(*args: Any) -> Relay:
        relay = real_make(*args)
        made.append(relay)
        return relay

    real_make = proxy.make_relay
    return mock.patch.object(proxy, "make_relay", make)


async def _streams(
    path: str, body: dict[str, Any], n: int
) -> tuple[list[bytes], list[Any], Noting, list[Relay]]:
    """``n`` streams of the same chat answer through the gateway: the client's bytes, the events, the upstream."""
    made: list[Relay] = []
    with _making(made):
        gw = InProcGateway(["openai"])
        gw.upstream = upstream = Noting(made)
        raws: list[bytes] = []
        async with gw:
            for _ in range(n):
                gw.answer(chat_answer(USAGE, stream=True, model="gpt-4o"))  # type: ignore[arg-type]
                status, raw = await gw.post(path, body)
                assert status == 200
                raws.append(raw)
        events = [
            (e.input_tokens, e.output_tokens, e.cache_read_tokens, e.model, e.status) for e in gw.events
        ]
        return raws, events, upstream, made


async def test_the_warm_relay_reads_its_sample_before_the_upstream_answers() -> None:
    raws, events, upstream, made = await _streams("/v1/messages", BODY, 3)
    for n, seen in enumerate(upstream.on_arrival):
        # the stream's relay and the warm one, both made by the time the request reached the upstream
        assert len(seen) == 2 * (n + 1), [type(r).__name__ for r, _, _ in seen]
        (real, real_saw, real_ended), (warm, warm_saw, warm_ended) = seen[-2:]
        assert real.view is warm.view and real.pairing is warm.pairing
        assert not real_saw and not real_ended  # the stream's own relay untouched by the sample
        # the warm one read the whole sample: its token, its finish and its usage (the sample's 12 + 3)
        assert warm_saw and warm_ended and warm.usage is not None and warm.usage.output_tokens == 3
    assert all(b"event: message_stop" in raw and b'"text":"ok"' in raw for raw in raws)
    assert events == [(8, 5, 4, "gpt-4o", 200)] * 3


async def test_the_answers_are_those_without_the_warm_up() -> None:
    warmed = await _streams("/v1/messages", BODY, 3)
    with mock.patch.object(proxy, "warm_relay", lambda relay, rule: None):
        cold = await _streams("/v1/messages", BODY, 3)
    assert warmed[0] == cold[0] and warmed[1] == cold[1]
    assert len(warmed[3]) == 6 and len(cold[3]) == 3  # (the warm-up's relays, one a stream)


async def test_a_failed_warm_up_is_logged_and_the_stream_answered(caplog: pytest.LogCaptureFixture) -> None:
    def broken(relay: Relay, rule: object) -> None:
        raise RuntimeError("warm-up broken")

    with mock.patch.object(proxy, "warm_relay", lambda relay, rule: None):
        plain = await _streams("/v1/messages", BODY, 2)
    with mock.patch.object(proxy, "warm_relay", broken):
        failed = await _streams("/v1/messages", BODY, 2)
    assert failed[0] == plain[0] and failed[1] == plain[1]
    assert "work left for the upstream wait failed" in caplog.text


async def test_a_passthrough_makes_no_warm_relay() -> None:
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    raws, _, upstream, made = await _streams("/v1/chat/completions", body, 2)
    assert [len(seen) for seen in upstream.on_arrival] == [1, 2] and len(made) == 2
    assert all(b'"content":"ok"' in raw for raw in raws)


# ---- the sample's module state changes no later stream -------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def chat_streams(draw: st.DrawFn) -> bytes:
    """A one-read chat stream of a drawn form: model, fingerprint, tier, texts, finish reason, a usage chunk."""
    model = draw(st.sampled_from(["gpt-4o", "warm-up", "gpt-4o-mini", "m"]))
    base: dict[str, Any] = {
        "id": "chatcmpl-" + draw(st.sampled_from(["a1", "warm0000000000", "x"])),
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
    }
    if draw(st.booleans()):
        base["service_tier"] = "default"
    if draw(st.booleans()):
        base["system_fingerprint"] = draw(st.sampled_from(["fp_warm", "fp_x"]))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice], "usage": None}) + b"\n\n"

    out = chunk({"role": "assistant", "content": "", "refusal": None})
    out += b"".join(chunk({"content": text}) for text in draw(st.lists(_TEXT, min_size=1, max_size=4)))
    out += chunk({}, draw(st.sampled_from(["stop", "length"])))
    usage = {"prompt_tokens": 7, "completion_tokens": draw(st.integers(0, 50)), "total_tokens": 60}
    out += b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
    return out + b"data: [DONE]\n\n"


def _translated(read: bytes) -> tuple[bytes, Any]:
    """An Anthropic client's bytes and facts of a one-read chat stream, as ``_relay_stream`` drives the relay."""
    relay = proxy.make_relay(_PAIR, _VIEW)
    out = relay.feed_last(read)
    if relay.has_rest:
        out += relay.rest()
    if relay.unsettled:
        relay.settle()
    out += relay.finish()
    return out, (relay.usage, relay.decoder.model, relay.complete, relay.error)


_PAIR = registry.pairing("anthropic", "openai_chat")
_VIEW = View(model="claude-haiku-4-5")


def _forget_forms() -> None:
    _openai_stream._SPLICED.clear()
    _openai_stream._FIRST_READS.clear()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_streams())
def test_the_samples_state_changes_no_later_stream(read: bytes) -> None:
    """Each stream read twice (the second by its kept form), once with nothing else read and once with the warm-up
    before each read: the same bytes and facts."""
    _forget_forms()
    plain = [_translated(read), _translated(read)]
    _forget_forms()
    warmed = []
    for _ in range(2):
        relay = proxy.make_relay(_PAIR, _VIEW)
        proxy.warm_relay(relay, relay._usage_rule)
        warmed.append(_translated(read))
    assert warmed == plain
