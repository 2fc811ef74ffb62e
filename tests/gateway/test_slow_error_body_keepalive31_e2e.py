"""A refusal whose body comes well after its status line is a wait the client hears pings in (bug31b variant 19k).

Claude Code (Anthropic format) streams a catalog model the gateway knows no limit for, asking 32000 output tokens.
The server answers 400 at once but writes its body (DeepSeek's "the valid range of max_tokens is [1, 8192]") only
2.5 keep-alive periods later, as a relay that flushes its headers first; the gateway then retries within 8192 and
the answer streams. The gateway keeps a client alive while it waits for a provider's headers (``_send_opening``);
the body's wait was outside it (``error_from`` read it after the send), so the client heard nothing until the retry
began: one ping then, none in the silence. Now the error body is read inside the send's keep-alive window
(``UpstreamClient.read_error``): pings each period. The test counts pings before the first text (no clock is read;
margins of half a period).

Real gateway and recorder processes, the scripted upstream; the client reads the raw stream.
"""

from __future__ import annotations

from functools import partial

import orjson
import pytest

from tests.e2e_builders import catalog, catalog_gw, delta_frame, messages_stream_kinds, provider
from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, sse

KEEPALIVE_S = 1.0
HOSTED = "/hosted/v1/chat/completions"
CATALOG = catalog(provider("hosted", "acme-coder-7b", "acme-coder-13b", price=(0.2, 0.6)))

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("slow-error-body31", CATALOG, STREAM_KEEPALIVE_S=str(KEEPALIVE_S), BREAKER_FAILURES="1000")


chunk = partial(delta_frame, ident="c31", model="acme-coder-7b")


def test_pings_while_a_refusals_body_is_slow_then_the_retry_streams(gw: Stack, up: ScriptedUpstream) -> None:
    refusal = orjson.dumps(
        {
            "error": {
                "message": "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",
                "type": "x",
            }
        }
    )
    up.script(
        HOSTED,
        Answer(
            body=[refusal[:10], Pause(2.5 * KEEPALIVE_S), refusal[10:]],
            status=400,
            when=lambda body: body.get("max_tokens", 0) > 8192,
        ),
        sse(
            [chunk({"role": "assistant", "content": "Ready."}), chunk({}, "stop"), b"data: [DONE]\n\n"],
            when=lambda body: body.get("max_tokens", 0) <= 8192,
        ),
    )
    body = {
        "model": "acme-coder-7b",
        "max_tokens": 32000,
        "stream": True,
        "messages": [{"role": "user", "content": "Warmup"}],
    }
    kinds = messages_stream_kinds(gw.gateway_url, body, "slow-error-body31")
    first_text = next(i for i, k in enumerate(kinds) if k.startswith("text:"))
    assert kinds[first_text] == "text:Ready.", kinds
    assert kinds[:first_text].count("ping") >= 2, kinds  # before the fix: one, when the retry began
    assert kinds[-1] == "message_stop", kinds
    assert [seen.json["max_tokens"] for seen in up.seen(HOSTED)] == [32000, 8192]


def _refusal(limit: int) -> bytes:
    message = f"Invalid max_tokens value, the valid range of max_tokens is [1, {limit}]"
    return orjson.dumps({"error": {"message": message, "type": "x"}})


def test_pings_while_a_retrys_refusal_body_is_slow_on_an_opened_stream(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The sibling for a stream already opened (``Proxy._send_keeping_alive``, review32): the first refusal's body
    is slow enough that the client's answer opens (one ping with it), the retry within 8192 is refused at once with
    its body 2.5 periods late ("[1, 4096]"), and the retry within 4096 streams. The retry's send keeps the client
    alive while its refusal's words are awaited (``_send_whole_error``); read after that send (``error_from``), they
    were a silence: two pings before the text (the opening's, the last send's), not three or more."""
    first, second = _refusal(8192), _refusal(4096)
    up.script(
        HOSTED,
        Answer(
            body=[first[:10], Pause(1.5 * KEEPALIVE_S), first[10:]],
            status=400,
            when=lambda body: body.get("max_tokens", 0) > 8192,
        ),
        Answer(
            body=[second[:10], Pause(2.5 * KEEPALIVE_S), second[10:]],
            status=400,
            when=lambda body: 4096 < body.get("max_tokens", 0) <= 8192,
        ),
        sse(
            [chunk({"role": "assistant", "content": "Ready."}), chunk({}, "stop"), b"data: [DONE]\n\n"],
            when=lambda body: body.get("max_tokens", 0) <= 4096,
        ),
    )
    body = {
        "model": "acme-coder-13b",  # (not the other test's model: the limit it learnt is that model's)
        "max_tokens": 32000,
        "stream": True,
        "messages": [{"role": "user", "content": "Warmup"}],
    }
    kinds = messages_stream_kinds(gw.gateway_url, body, "slow-error-body31-opened")
    first_text = next(i for i, k in enumerate(kinds) if k.startswith("text:"))
    assert kinds[first_text] == "text:Ready.", kinds
    # before the fix: two (the opening's, and the last send's after the silence); with it one more each period
    assert kinds[:first_text].count("ping") >= 3, kinds
    assert kinds[-1] == "message_stop", kinds
    assert [seen.json["max_tokens"] for seen in up.seen(HOSTED)] == [32000, 8192, 4096]
