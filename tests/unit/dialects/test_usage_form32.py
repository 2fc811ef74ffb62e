"""The chat decoder's usage chunk read by its kept form (session 32, issue 13: ``ChatStreamDecoder._kept_usage``).

A stream's usage chunk that differs from an earlier stream's only in its opening's id and ``created``, its padding's
string and its counts is read without a parse: the relay's bytes and facts, the decoder's usage, model and tier must
be those of the general path (no tap, no lane), which parses every chunk. Forms the argument refuses (a backslash, a
key twice, white space, a float, a negative count, a list in the usage, a choice) are read the general way."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _openai_stream
from services.gateway.dialects._anthropic_stream import _usage_json
from services.gateway.dialects._anthropic_wire import usage_to_anthropic
from services.gateway.dialects._openai_stream import _FIRST_READS, _SPLICED, _USAGE_FORMS, ChatStreamDecoder
from services.gateway.dialects.ir import Usage
from services.gateway.relay import Translator
from tests.text_lanes import relay_reads
from tests.unit.dialects.test_chat_batch27 import CLIENTS, _relays
from tests.unit.dialects.test_finish_form26 import ROLE, chunk

TEXTS = chunk(b'{"content":"Hello"}') + chunk(b'{"content":" there"}')
FINISH = chunk(b"{}", b',"logprobs":null,"finish_reason":"stop"')
DONE = b"data: [DONE]\n\n"
OPENING = b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'
# usage chunks after their opening, ``%d`` for each count (OpenAI's, then shapes around it)
OPENAI = (
    b'"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[],"usage":{'
    b'"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d,'
    b'"audio_tokens":%d},"completion_tokens_details":{"reasoning_tokens":%d,"audio_tokens":%d,'
    b'"accepted_prediction_tokens":%d,"rejected_prediction_tokens":%d}}'
)
PLAIN = b'"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d'
FORMS = (
    OPENAI,
    OPENAI + b',"obfuscation":"k2Xd"',  # padded
    OPENAI.replace(b'"service_tier":"default",', b""),  # the tier from the first chunk
    OPENAI.replace(b'"service_tier":"default"', b'"service_tier":null'),
    OPENAI.replace(b'"gpt-4o-mini"', b"null"),  # no model named: the decoder's stays
    OPENAI.replace(b'"gpt-4o-mini"', b'""'),
    OPENAI.replace(b'"gpt-4o-mini"', b'"gpt-4o-2024-08-06"'),  # another model: learnt
    OPENAI.replace(b'"choices":[],', b""),
    b'"model":"m","choices":[],"usage":{' + PLAIN + b"}",
    b'"model":"m","choices":[],"seed":%d,"usage":{' + PLAIN + b'},"x":{"n":%d}',  # counts outside the usage
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"prompt_tokens_details":null,"flag":true}',
    b'"model":"m","choices":[],"usage":{}',
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"cost":0.5}',  # a float: refused
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"cost":-%d}',  # a negative count: refused
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"prompt_tokens":%d}',  # a key twice: refused
    b'"model":"m","choices":[],"usage":{"completion_tokens":%d,' + PLAIN + b"}",  # ... the other way round
    b'"model":"m","choices":[],"usage": {' + PLAIN + b"}",  # white space: refused
    b'"model":"m","choices":[],"usage":{"prompt\\u005ftokens":%d,"completion_tokens":%d}',  # an escape
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"list":[%d]}',  # a list in the usage: refused
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"cached_tokens":%d,"cache_creation_input_tokens":%d}',
    b'"model":"m","choices":[{"index":0,"delta":{},"finish_reason":null}],"usage":{' + PLAIN + b"}",
    b'"model":"m","choices":[],"usage":{' + PLAIN + b',"model":"n"}',  # a "model" key inside: not the chunk's
    b'"model":"m","choices":[],"error":null,"usage":{' + PLAIN + b"}",
    # a key twice, the first not a count: the parse's order is not the text's (refused by the dumps test alone)
    b'"model":"m","choices":[],"usage":{"prompt_tokens":null,"completion_tokens":%d,"prompt_tokens":%d}',
)
FIRSTS = (chunk(ROLE), chunk(ROLE, top=b',"service_tier":"flex","usage":null'))


def _usage_chunk(form: bytes, counts: list[int], opening: bytes = OPENING, pad: bytes = b"k2Xd") -> bytes:
    body = form.replace(b'"obfuscation":"k2Xd"', b'"obfuscation":"' + pad + b'"')
    return b"data: {" + opening + body % tuple(counts[: form.count(b"%d")]) + b"}\n\n"


def _stream(first: bytes, usage: bytes) -> bytes:
    return first + TEXTS + FINISH + usage + DONE


def _parses(relay: Translator) -> list[str]:
    """The data ``feed_data`` is given by ``relay``'s decoder from now on."""
    seen: list[str] = []
    feed_data = relay.decoder.feed_data

    def counted(data: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(data)
        return feed_data(data, *args, **kwargs)

    relay.decoder.feed_data = counted  # type: ignore[attr-defined]
    return seen


def _fresh() -> None:
    _SPLICED.clear()
    _FIRST_READS.clear()
    _USAGE_FORMS.clear()
    _openai_stream._USAGE_TRIES[0] = 0


def _facts(decoder: Any) -> tuple[Any, ...]:
    return (decoder.usage, decoder.model, decoder.first_chunk, decoder._tier({}), decoder.done)


def test_a_second_streams_usage_chunk_is_not_parsed() -> None:
    """The second stream of a usage chunk's form (other counts, id, ``created`` and padding) reads it by the form
    the first kept: nothing parsed (main: the usage chunk is); the bytes, usage and model are the general path's."""
    _fresh()
    for n, counts in enumerate(([12, 5, 17, 4, 0, 2, 0, 0, 0], [901, 77, 978, 512, 3, 40, 1, 2, 3])):
        opening = (
            OPENING
            if n == 0
            else b'"id":"chatcmpl-Zz9","object":"chat.completion.chunk","created":1796299598,'
        )
        body = _stream(chunk(ROLE), _usage_chunk(FORMS[1], counts, opening, b"q" * (n + 3)))
        for client in CLIENTS:
            fast, _, general = _relays(client, True, False)
            parsed = _parses(fast)
            assert relay_reads(fast, [body], True, True) == relay_reads(general, [body], True, True)
            assert _facts(fast.decoder) == _facts(general.decoder)
            assert fast.decoder.usage is not None and fast.decoder.usage.input_tokens == counts[0] - counts[3]
            if n == 1:
                assert parsed == [], parsed
    assert len(_USAGE_FORMS) == 1


def test_a_refused_form_is_read_the_general_way() -> None:
    """A usage chunk with a key twice is kept as no form: each stream parses it (its usage the parse's: the
    last count of the key)."""
    _fresh()
    for counts in ([1, 2, 3, 4], [5, 6, 7, 8]):
        fast, _, general = _relays("anthropic", True, False)
        parsed = _parses(fast)
        body = _stream(chunk(ROLE), _usage_chunk(FORMS[14], counts))
        assert relay_reads(fast, [body], True, True) == relay_reads(general, [body], True, True)
        assert fast.decoder.usage == general.decoder.usage
        assert fast.decoder.usage is not None and fast.decoder.usage.input_tokens == counts[3]
        assert len([d for d in parsed if '"choices":[],"usage":{' in d]) == 1
    assert _USAGE_FORMS == []


COUNTS = st.lists(st.integers(0, 10**18 - 1) | st.integers(0, 3), min_size=9, max_size=9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FORMS),
    st.sampled_from(FIRSTS),
    COUNTS,
    COUNTS,
    st.sampled_from(CLIENTS),
    st.booleans(),
    st.text("abcXYZ019_-", max_size=12),
)
def test_the_kept_form_gives_the_general_paths_bytes_and_facts(
    form: bytes, first: bytes, learnt: list[int], later: list[int], client: str, framed: bool, pad: str
) -> None:
    """A form learnt from a first stream, then a second stream of it with other counts, id, ``created`` and
    padding, read whole or a frame a read: the same bytes, usage, model, first chunk and tier as the general
    path's, which parses the chunk."""
    _fresh()
    opening = (
        b'"id":"chatcmpl-'
        + pad.encode()
        + b'","object":"chat.completion.chunk","created":'
        + b"%d," % len(pad)
    )
    for counts, head in ((learnt, OPENING), (later, opening)):
        body = _stream(first, _usage_chunk(form, counts, head, pad.encode()))
        reads = [f + b"\n\n" for f in body.split(b"\n\n") if f] if framed else [body]
        fast, _, general = _relays(client, True, False)
        assert relay_reads(fast, reads, True, True) == relay_reads(general, reads, True, True), body
        assert _facts(fast.decoder) == _facts(general.decoder), body


def test_a_decoder_not_started_ended_or_failed_parses() -> None:
    """The kept form is not read by a decoder whose stream has not started (its first chunk's ``MessageStart``
    comes from a parse), nor after ``[DONE]`` (nothing is read then)."""
    _fresh()
    usage = _usage_chunk(FORMS[0], [1, 2, 3, 0, 0, 0, 0, 0, 0])
    fast, _, _ = _relays("anthropic", True, False)
    relay_reads(fast, [_stream(chunk(ROLE), usage)], True, True)
    assert len(_USAGE_FORMS) == 1
    decoder = ChatStreamDecoder()
    data = usage[len(b"data: ") : -2]
    assert [type(d).__name__ for d in decoder.feed_frame(data) or []] == ["MessageStart", "UsageUpdate"]
    ended = ChatStreamDecoder()
    ended.feed_frame(chunk(ROLE)[len(b"data: ") : -2])
    ended.feed_frame(b"[DONE]")
    assert ended.feed_frame(data) == [] and ended.usage is None


def test_a_key_twice_with_equal_counts_is_refused() -> None:
    """A key twice, its first value not a count, learnt from a chunk whose two counts are equal: the parse's member
    order is not the text's, so the form must not be kept (``orjson.dumps`` of the parse is not the text); a later
    stream with other counts gets the general path's usage."""
    _fresh()
    for counts in ([2, 2], [1, 3]):
        body = _stream(chunk(ROLE), _usage_chunk(FORMS[-1], counts))
        fast, _, general = _relays("anthropic", True, False)
        assert relay_reads(fast, [body], True, True) == relay_reads(general, [body], True, True)
        assert _facts(fast.decoder) == _facts(general.decoder)
    assert _USAGE_FORMS == []


NUMBERS = st.integers(-3, 10**19) | st.integers(0, 3) | st.booleans() | st.floats(0, 5, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS)
def test_the_finish_usage_template_is_usage_to_anthropics_bytes(
    inputs: Any, outputs: Any, reads: Any, writes: Any, writes_1h: Any, searches: Any, reasoning: Any
) -> None:
    """``finish``'s usage object from its template (``_usage_json``, session 32) is ``orjson.dumps`` of
    ``usage_to_anthropic``'s, for any counts (a bool or a float where an int belongs included)."""
    usage = Usage(
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=reads,
        cache_write_tokens=writes,
        cache_write_1h_tokens=writes_1h,
        web_search_requests=searches,
        reasoning_tokens=reasoning,
    )
    assert _usage_json(usage) == orjson.dumps(usage_to_anthropic(usage))
