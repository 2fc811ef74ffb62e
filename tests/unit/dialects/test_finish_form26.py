"""A chat-wire translator reads the stream's finish chunk by a form spliced from its first chunk
(``_TextShape.stop``: the role chunk with its ``delta`` empty and its ``finish_reason`` a string), without
parsing it, and ``[DONE]`` before decoding it (``ChatStreamDecoder.feed_frame``, session 26). The client's
bytes and the relay's facts are those of the general path (SSE decoder → decoder ``feed`` → IR deltas →
encoder ``feed``) whatever the first chunk, the finish chunk and the chunks between hold: reasoning, tool
calls with and without Gemini's signatures, refusals, errors, ``CUT_FINISH`` reasons, odd reasons, usage
chunks, paddings, another model, a stream cut anywhere. The encoder's ``message_delta`` templates give
``_frame``'s bytes."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import STOP_FRAME, MessagesStreamEncoder, _frame
from services.gateway.dialects._anthropic_wire import usage_to_anthropic
from services.gateway.dialects._openai_stream import _FIRST_READS, _SPLICED
from services.gateway.dialects.ir import Finish, StopReason, TextDelta, Usage, UsageUpdate
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from tests.text_lanes import run as _run
from tests.text_lanes import same_made_up

CLIENTS = ("anthropic", "openai_responses")
HEAD = b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'
ROLE = b'{"role":"assistant","content":"","refusal":null}'
USUAL = b',"logprobs":null,"finish_reason":null'


def _relays(client: str, include_usage: bool, signed: bool) -> tuple[Translator, Translator]:
    """A relay with every lane and one on the general path (no lane, no tap), their made-up values the same."""
    pair = pairing(client, "openai_chat")  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=include_usage, signed_calls=signed, tools=True)
    fast, general = Translator(pair, view), Translator(pair, view)
    general._run = general._lane = general._tap = general._data_tap = None
    same_made_up(fast, general)
    if hasattr(fast.encoder, "response_id"):
        fast.encoder.response_id = general.encoder.response_id = "resp_1"
    return fast, general


def chunk(
    delta: bytes,
    choice_tail: bytes = USUAL,
    model: bytes = b'"gpt-4o-mini"',
    pad: bytes | None = None,
    top: bytes = b',"usage":null',
) -> bytes:
    """A chunk whose one choice has ``delta`` (JSON text) then ``choice_tail``, in OpenAI's member order."""
    return raw_chunk(delta, choice_tail + b"}]" + top, model, pad)


def raw_chunk(delta: bytes, after: bytes, model: bytes, pad: bytes | None) -> bytes:
    """A chunk with ``delta`` as its one choice's delta and ``after`` after that delta (the choice's other
    members, its end, the chunk's other members)."""
    body = b"{" + HEAD + b'"model":' + model + b',"choices":[{"index":0,"delta":' + delta + after
    if pad is not None:
        body += b',"obfuscation":"' + pad + b'"'
    return b"data: " + body + b"}\n\n"


# the first chunk's choice after its delta: the usual, none, spaced, twice, another object's key of that name
ROLE_TAILS = (
    USUAL,
    USUAL,
    USUAL,
    USUAL,
    b',"logprobs":null',
    b',"logprobs":null,"finish_reason": null',
    b',"finish_reason":null,"finish_reason":null',
    b',"logprobs":{"finish_reason":null},"finish_reason":null',
    b',"finish_reason":null,"logprobs":null',
)
ROLE_TOPS = (
    b',"usage":null',
    b',"usage":null',
    b"",
    b',"finish_reason":null,"usage":null',
    b',"service_tier":"default"',
)
MODELS = (b'"gpt-4o-mini"', b'""', b'"gpt-4o"', b"null")
PADS = (None, b"h8Xa1", b"", b"a b")
BAD_PADS = (b'a"b', b"a\\", b"\\u00e9")  # (not JSON, not JSON, an escape)
REASONS = (
    b'"stop"',
    b'"length"',
    b'"tool_calls"',
    b'"content_filter"',
    b'"function_call"',
    b'"model_length"',
    b'"error"',
    b'"abort"',
    b'"insufficient_system_resource"',
    b'"network_error"',
    b'""',
    b'"st\\u006fp"',
    b'"x y"',
    b'"tab\\there"',
    b'"c\\u006fntent_filter"',
    b'"st\x01op"',
    b"1",
    b"null",
)
SIGNATURE = b',"extra_content":{"google":{"thought_signature":"c2ln"}}'


@st.composite
def middle_chunks(draw: Any, role: tuple[bytes, bytes, bytes, bytes | None]) -> bytes:
    """A chunk between the first and the finish: text (most in the first chunk's form: ``role``, its
    choice's tail, top members, model and padding), reasoning, a refusal, a tool call (signed or not)."""
    tail, top, role_model, pad = role
    kind = draw(st.integers(0, 9))
    if kind > 6:
        text = orjson.dumps(draw(st.text(max_size=6)))
        return raw_chunk(b'{"content":' + text + b"}", tail + b"}]" + top, role_model, pad)
    model = draw(st.sampled_from(MODELS[:1] * 3 + MODELS))
    if kind == 0:
        return chunk(
            b'{"reasoning_content":' + orjson.dumps(draw(st.text(min_size=1, max_size=4))) + b"}", pad=pad
        )
    if kind == 1:
        return chunk(b'{"refusal":"no"}', model=model, pad=pad)
    if kind == 2:
        sign = draw(st.sampled_from((b"", SIGNATURE)))
        call = (
            b'{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}' + sign + b"}"
        )
        return chunk(b'{"tool_calls":[' + call + b"]}", model=model, pad=pad)
    if kind == 3:  # an error mid-stream
        return b'data: {"error":{"message":"boom","type":"server_error"}}\n\n'
    text = orjson.dumps(draw(st.text(max_size=6)))
    return chunk(b'{"content":' + text + b"}", model=model, pad=pad)


@st.composite
def finish_chunks(draw: Any, role: tuple[bytes, bytes, bytes, bytes | None]) -> bytes:
    """A finish chunk: most the first chunk's bytes (``role``: its choice's tail, top members, model and
    padding) with the delta ``{}`` and a ``finish_reason`` null made a reason (the first or the last one
    named, spaced or not), its padding the same, another, none or not JSON; some another chunk altogether
    (a delta, usage in the choice, another model, vendor usage)."""
    tail, top, model, pad = role
    reason = draw(st.sampled_from(REASONS))
    pads = (pad, pad, pad, *PADS, *BAD_PADS)
    if draw(st.integers(0, 3)):
        after = tail + b"}]" + top
        for null in (b'"finish_reason":null', b'"finish_reason": null'):
            at = after.find(null) if draw(st.booleans()) else after.rfind(null)
            if at != -1:
                after = after[:at] + null[:-4] + reason + after[at + len(null) :]
                break
        delta = draw(st.sampled_from((b"{}", b"{}", b"{}", b'{"content":"z"}')))
        said = draw(st.sampled_from((model, model, model, *MODELS)))
        return raw_chunk(delta, after, said, draw(st.sampled_from(pads)))
    delta = draw(st.sampled_from((b"{}", b'{"content":"z"}', b'{"role":"assistant"}')))
    tail = b',"logprobs":null,"finish_reason":' + reason
    tail += draw(st.sampled_from((b"", b',"usage":{"prompt_tokens":4,"completion_tokens":1}')))
    top = draw(st.sampled_from((b',"usage":null', b"", b',"x_groq":{"id":"q"},"usage":null')))
    return chunk(delta, tail, draw(st.sampled_from(MODELS)), draw(st.sampled_from(pads)), top)


def closing(model: bytes = b'"gpt-4o-mini"') -> bytes:
    usage = b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}'
    return b"data: {" + HEAD + b'"model":' + model + b',"choices":[],' + usage + b"}\n\ndata: [DONE]\n\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.sampled_from(ROLE_TAILS),
    st.sampled_from(ROLE_TOPS),
    st.sampled_from(MODELS),
    st.sampled_from(PADS),
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from((None, 0, 1, 2)),
)
def test_the_finish_form_gives_the_general_paths_bytes_and_facts(
    data: st.DataObject,
    role_tail: bytes,
    role_top: bytes,
    model: bytes,
    pad: bytes | None,
    cuts: list[int],
    include_usage: bool,
    take_rest: bool,
    signed: bool,
    keep: int | None,
) -> None:
    role = (role_tail, role_top, model, pad)
    middle = data.draw(st.lists(middle_chunks(role), max_size=5))
    finishes = data.draw(st.lists(finish_chunks(role), min_size=1, max_size=2))
    body = (
        chunk(ROLE, role_tail, model, pad, role_top) + b"".join(middle) + b"".join(finishes) + closing(model)
    )
    if keep is not None:  # cut short: before the finish (0), before the usage chunk (1), before [DONE] (2)
        frames = body.split(b"\n\n")[:-1]
        body = b"\n\n".join(frames[: len(frames) - 3 + keep]) + b"\n\n"
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    reads = [body[a:b] for a, b in pairwise(points)]
    for client in CLIENTS:
        fast, general = _relays(client, include_usage, signed)
        assert _run(fast, reads, take_rest) == _run(general, reads, take_rest)


def _mirror(tail: bytes, top: bytes, reason: bytes, last: bool) -> bytes:
    """The first chunk's bytes after its delta (``tail``, ``}]``, ``top``) with its first (or ``last``)
    ``"finish_reason":null`` made ``reason``."""
    after = tail + b"}]" + top
    null = b'"finish_reason":null'
    at = after.rfind(null) if last else after.find(null)
    return after if at == -1 else after[:at] + null[:-4] + reason + after[at + len(null) :]


def test_every_reason_first_chunk_and_padding_give_the_general_paths_bytes_and_facts() -> None:
    """Each reason (usual, ``error``, ``CUT_FINISH``, empty, escaped, not a string) in a finish chunk of the
    first chunk's form, for each first chunk (the usual one, ``finish_reason`` absent, spaced, named twice,
    in another object, at the top), each padding of the finish chunk (the first's, none, another, not
    JSON), the whole answer in one read and one frame a read."""
    for tail in ROLE_TAILS[3:]:
        for top in ROLE_TOPS[1:]:
            for reason in REASONS:
                for pad, finish_pad in (
                    (None, None),
                    (b"p1", b"p2"),
                    (b"p1", None),
                    (b"p1", b'a"b'),
                    (b"p", b"\\"),
                ):
                    for last in (False, True):
                        role = chunk(ROLE, tail, pad=pad, top=top)
                        text = raw_chunk(b'{"content":"hi"}', tail + b"}]" + top, b'"gpt-4o-mini"', pad)
                        finish = raw_chunk(
                            b"{}", _mirror(tail, top, reason, last), b'"gpt-4o-mini"', finish_pad
                        )
                        body = role + text + finish + closing()
                        frames = [f + b"\n\n" for f in body.split(b"\n\n")[:-1]]
                        for reads in ([body], frames):
                            fast, general = _relays("anthropic", True, False)
                            assert _run(fast, reads, False) == _run(general, reads, False), (
                                tail,
                                top,
                                finish,
                            )


def _counted(relay: Translator) -> list[str]:
    """The data ``relay``'s decoder is given to parse (``feed_data``), as it goes."""
    parsed: list[str] = []
    feed_data = relay.decoder.feed_data

    def counted(data: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(data)
        return feed_data(data, *args, **kwargs)

    relay.decoder.feed_data = counted  # type: ignore[attr-defined]
    return parsed


def test_the_finish_chunk_and_done_are_not_parsed() -> None:
    """A one-read answer: the first chunk and the usage chunk are parsed, the text and finish chunks and
    ``[DONE]`` not (before session 26 the finish chunk was parsed too), padded or not, and the bytes are
    the general path's (the first stream of its first chunk's form: none kept, session 31's ``_FIRST_READS``)."""
    for pad in (None, b"h8Xa1"):
        _FIRST_READS.clear()
        texts = chunk(b'{"content":"Hello"}', pad=pad) + chunk(b'{"content":" there"}', pad=pad)
        finish = chunk(b"{}", b',"logprobs":null,"finish_reason":"stop"', pad=pad)
        body = chunk(ROLE, pad=pad) + texts + finish + closing()
        fast, general = _relays("anthropic", True, False)
        parsed = _counted(fast)
        assert _run(fast, [body], False) == _run(general, [body], False)
        assert len(parsed) == 2 and '"role"' in parsed[0] and '"choices":[]' in parsed[1]
        assert fast.decoder.done and fast.complete


def test_a_first_chunk_without_a_usual_finish_reason_gives_no_form() -> None:
    """No form when the first chunk's ``finish_reason`` is not one plain key of its choice: absent, spaced,
    named twice (in the choice, or in another object), at the top; the form is learnt when first asked (by the
    first stream of its first chunk's form: later ones find it kept, session 29's ``_SPLICED``, emptied here)."""
    for tail, top, formed in (
        (USUAL, b',"usage":null', True),
        (b',"logprobs":null', b',"usage":null', False),
        (b',"logprobs":null,"finish_reason": null', b',"usage":null', False),
        (b',"finish_reason":null,"finish_reason":null', b',"usage":null', False),
        (b',"logprobs":{"finish_reason":null},"finish_reason":null', b',"usage":null', False),
        (USUAL, b',"finish_reason":null,"usage":null', False),
    ):
        fast, _ = _relays("anthropic", False, False)
        _SPLICED.clear()
        _FIRST_READS.clear()
        fast.feed(chunk(ROLE, tail, top=top))
        lane = fast.decoder._lane
        assert lane is not None and lane.stop is None and lane.first is not None
        finish = raw_chunk(b"{}", _mirror(tail, top, b'"stop"', False), b'"gpt-4o-mini"', None)
        said = lane.finish(finish[6:-2].decode(), "gpt-4o-mini")
        assert (said, lane.stop is not None, lane.first) == (("stop" if formed else None), formed, None), tail


def _message_delta(reason: StopReason, stop_sequence: str | None, usage: Usage | None) -> bytes:
    said = usage_to_anthropic(usage) if usage is not None else usage_to_anthropic(Usage())
    delta = {"stop_reason": reason, "stop_sequence": stop_sequence}
    return _frame({"type": "message_delta", "delta": delta, "usage": said}) + STOP_FRAME


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn")),
    st.one_of(st.none(), st.text(max_size=4)),
    st.one_of(st.none(), st.builds(Usage, st.integers(0, 99), st.integers(0, 99), st.integers(0, 9))),
    st.text(min_size=1, max_size=8),
)
def test_the_message_delta_templates_give_the_frames_bytes(
    reason: StopReason, stop_sequence: str | None, usage: Usage | None, model: str
) -> None:
    """``finish``'s ``message_delta`` (per stop reason from ``_DELTA_HEADS``) and ``message_start`` (its tail per
    model) are ``_frame``'s of the dicts."""
    enc = MessagesStreamEncoder(model, message_id="msg_1")
    start = enc.feed(TextDelta(text="a"))
    assert start.startswith(
        _frame(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_to_anthropic(Usage()),
                },
            }
        )
    )
    if usage is not None:
        enc.feed(UsageUpdate(usage))
    enc.feed(Finish(reason=reason, stop_sequence=stop_sequence))
    told = stop_sequence if reason == "stop_sequence" else None
    assert enc.finish().endswith(_message_delta(reason, told, usage))
