"""``Translator._deltas`` notes and writes each delta in one pass (session 33): it gives a client exactly the bytes,
and the relay exactly the facts, of the two-pass way it replaced (``Relay._observe`` over the list, the reasoning
filter for a client that did not ask for it, then the encoder's ``feed`` of each), for any list of deltas a
decoder may give, every client format, reasoning asked or not, usage given or made when read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import ir
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.providers.limits import asked_output_tokens
from services.gateway.relay import _CONTENT, _REASONING, Translator
from services.gateway.routing.health import retry_after_seconds
from tests.text_lanes import same_made_up

# (client, wire): each client format, over a wire it is translated from
PAIRS = (("openai_chat", "anthropic"), ("openai_responses", "anthropic"), ("anthropic", "openai_chat"))
SENT = b'{"model":"m","max_tokens":64,"messages":[]}'


def _rule(usage: ir.Usage) -> ir.Usage:
    """A provider's usage rule that changes every usage (so a usage written unruled shows in the bytes)."""
    return replace(usage, output_tokens=usage.output_tokens + 1000)


class _TwoPass(Translator):
    """The relay as it was before session 33 (``Relay._observe`` over the list, then the reasoning filter, then a
    ``feed`` of each), kept here as the reference."""

    __slots__ = ()

    def _deltas(self, deltas: list[ir.Delta]) -> bytes:
        out = deltas
        for i, d in enumerate(deltas):
            kind = type(d)
            if kind is ir.KeepAlive:
                continue
            self.events += 1
            if type(d) is ir.UsageUpdate:
                if out is deltas:
                    out = list(deltas)
                rule = self._usage_rule
                out[i] = ir.UsageUpdate(rule(d.usage)) if d.make is None else _later(d, rule)
                continue
            if kind is ir.MessageStart:
                self._opened = True
                continue
            self.started = True
            if kind in _CONTENT:
                self.saw_content = True
            elif type(d) is ir.StreamError:
                self.error = d
                if self.sent:
                    d.asked_output = asked_output_tokens(self.sent)
                d.message = self.pairing.client.said_with_wait(
                    d.message, retry_after_seconds({}, d.status, d.body)
                )
        if not self.view.reasoning:
            out = [d for d in out if type(d) not in _REASONING]
        return b"".join([self.encoder.feed(d) for d in out])


def _later(update: ir.UsageUpdate, rule: Callable[[ir.Usage], ir.Usage]) -> ir.UsageUpdate:
    return ir.UsageUpdate.later(lambda: rule(update.usage))


# One delta, made afresh for each relay (``_observe`` rewrites an error's words in place)
Make = Callable[[], ir.Delta]


def _usage(given_now: bool, out: int) -> Make:
    usage = ir.Usage(input_tokens=12, output_tokens=out, reasoning_tokens=out // 3)
    if given_now:
        return lambda: ir.UsageUpdate(usage)
    return lambda: ir.UsageUpdate.later(lambda: usage)


@st.composite
def batches(draw: Any) -> list[list[Make]]:
    """A stream's deltas as a decoder gives them, read by read: maybe a ``MessageStart``, then lists of any kind
    (tool calls started before their arguments), maybe a finish, maybe an error."""
    made: list[list[Make]] = []
    calls = 0
    if draw(st.booleans()):
        made.append([lambda: ir.MessageStart(id="msg_1", model="claude-haiku-4-5")])
    for _ in range(draw(st.integers(0, 5))):
        batch: list[Make] = []
        for kind in draw(st.lists(st.integers(0, 9), max_size=5)):
            text = draw(st.sampled_from(("", "a", "hé", 'q"\\')))
            if kind == 0:
                batch.append(lambda t=text: ir.TextDelta(text=t))
            elif kind == 1:
                batch.append(lambda t=text: ir.ReasoningDelta(text=t))
            elif kind == 2:
                batch.append(lambda: ir.SignatureDelta(signature="sig"))
            elif kind == 3:
                batch.append(lambda: ir.RedactedThinking(data="enc"))
            elif kind == 4:
                batch.append(lambda i=calls: ir.ToolCallStart(index=i, id=f"call_{i}", name="f"))
                calls += 1
            elif kind == 5 and calls:
                batch.append(lambda i=calls - 1: ir.ToolArgsDelta(index=i, fragment='{"a":1}'))
            elif kind == 6:
                batch.append(ir.KeepAlive)
            elif kind in (7, 8):
                batch.append(_usage(kind == 7, draw(st.integers(0, 50))))
        made.append(batch)
    end = draw(st.integers(0, 2))
    if end == 1:
        made.append([lambda: ir.Finish(reason="end_turn"), _usage(draw(st.booleans()), 9)])
    elif end == 2:
        made.append([lambda: ir.StreamError(status=429, type="rate_limit_error", message="slow down")])
    return made


def _facts(relay: Translator) -> tuple[Any, ...]:
    return (relay.events, relay.started, relay.saw_content, repr(relay.error), relay._opened)


def _run(relay: Translator, made: list[list[Make]]) -> tuple[list[bytes], list[Any]]:
    out, seen = [], []
    for batch in made:
        out.append(relay._deltas([make() for make in batch]))
        seen.append(_facts(relay))
    out.append(relay.encoder.finish())  # (the relay's ``finish`` closes only what its decoder finished)
    return out, seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.sampled_from(PAIRS), st.booleans())
def test_one_pass_gives_the_two_pass_bytes_and_facts(
    made: list[list[Make]], pair: tuple[str, str], reasoning: bool
) -> None:
    client, wire = pair
    p = pairing(client, wire)  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=True, reasoning=reasoning)
    one, two = Translator(p, view, _rule), _TwoPass(p, view, _rule)
    same_made_up(one, two)
    for name, value in (("response_id", "resp_1"), ("message_id", "msg_1")):  # (made up when not given)
        if hasattr(one.encoder, name):
            setattr(one.encoder, name, value)
            setattr(two.encoder, name, value)
    one.sent = two.sent = SENT
    assert _run(one, made) == _run(two, made)


def test_the_properties_see_usage_and_reasoning() -> None:
    """The cases above reach what they test: a ruled usage in the bytes, reasoning written only when asked."""
    p = pairing("openai_chat", "anthropic")
    deltas: list[Make] = [
        lambda: ir.MessageStart(id="msg_1", model="m"),
        lambda: ir.ReasoningDelta(text="hmm"),
        lambda: ir.TextDelta(text="hi"),
        lambda: ir.Finish(reason="end_turn"),
        _usage(False, 5),
    ]
    for reasoning in (True, False):
        relay = Translator(p, View(model="m", include_usage=True, reasoning=reasoning), _rule)
        out = b"".join(_run(relay, [deltas])[0])
        assert b'"completion_tokens":1005' in out
        assert (b"hmm" in out) is reasoning
        assert (relay.events, relay.started, relay.saw_content) == (5, True, True)
