"""After the first token, a read that gives the client nothing does not restart its keep-alive period (s25
variants 19-ka-*).

An Anthropic client (Claude Code's format) streams gpt-4o-mini, translated. After the first text the upstream
sends, three quarters of a period later, half of its next chunk's data line (the client can get nothing of it),
then stays silent for another 0.6 period before the rest. The client last heard something at the text: its next
ping is due one period after it, inside the silence (``Proxy._pump_reads`` gives ``next_chunk`` the client's
silence so far, ``idle_in_s``). Before, the period was counted again from the half line's read: the ping was due
1.75 periods after the text, after the rest had come, and the client heard none in a silence longer than a period.
The test counts pings between the two texts (no clock is read; the margins are 0.25 and 0.35 period).

Real gateway and recorder processes, the scripted upstream; the client reads the raw stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_builders import messages_stream_kinds
from tests.gateway.test_fallback_after_keepalive_e2e import CHAT, chat, chat_opening, unnamed
from tests.procs import Stack, stack
from tests.scripted_upstream import Pause, ScriptedUpstream, sse

KEEPALIVE_S = 2.0

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("keepalive_after_nothing25")
    env = {"STREAM_KEEPALIVE_S": str(KEEPALIVE_S), "BREAKER_FAILURES": "1000"}
    with stack(tmp, {"openai": f"{up.url}/openai/v1"}, **env) as st:
        yield st


def test_a_read_that_gives_the_client_nothing_keeps_its_period(gw: Stack, up: ScriptedUpstream) -> None:
    second = unnamed(chat({"content": " about that: 42."}))[0]
    half = len(second) // 2
    rest = unnamed(
        chat({}, "stop"),
        chat(None, usage={"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}),
        b"[DONE]",
    )
    pieces: list[bytes | Pause] = [
        *chat_opening(),
        *unnamed(chat({"content": "Let me think"})),
        Pause(0.75 * KEEPALIVE_S),
        second[:half],
        Pause(0.6 * KEEPALIVE_S),
        second[half:],
        *rest,
    ]
    up.script(CHAT, sse(pieces))
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": "What is six times seven?"}],
    }
    kinds = messages_stream_kinds(gw.gateway_url, body, "nothing25")
    texts = [i for i, k in enumerate(kinds) if k.startswith("text:")]
    assert [kinds[i] for i in texts] == ["text:Let me think", "text: about that: 42."], kinds
    assert "ping" in kinds[texts[0] : texts[1]], kinds  # before the fix: none between the two texts
    assert kinds[-1] == "message_stop", kinds
    row = gw.row_for("nothing25")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 19, 8)
