"""bug33a variants 10v33inband-unended-*, 10v33anthropic-error-event-unended-*, 10v33resp-failed-unended: a stream
whose body ends inside its only event, an error (an in-band overflow on the chat wire, Anthropic's error event, a
failed Response), its data line whole but never ended (the body closed right after its JSON text).

``Proxy.until_committed`` judged the stream when the body ended, before the relay had read that last event (bug32b's
``SSEDecoder.ends_whole`` read it only in ``finish``, after a first token): no token, no finish, no error, so a 502
``empty_stream`` stood for the upstream's refusal (Claude Code never heard "prompt is too long", Codex never
``context_length_exceeded``). ``Relay.inside_event`` says the body ended inside an event; ``Relay.end`` reads it
(``finish``, once: ``Proxy._pump`` ends the answer with ``end`` too, which then adds nothing).
"""

from __future__ import annotations

import orjson
import pytest

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from tests.e2e_builders import UNENDED_CHAT_OVERFLOW as CHAT_ERROR
from tests.e2e_builders import UNENDED_CLAUDE_TOO_LONG as CLAUDE_ERROR

RESPONSE_FAILED = b"event: response.failed\ndata: " + orjson.dumps(
    {
        "type": "response.failed",
        "sequence_number": 2,
        "response": {
            "id": "resp_33",
            "object": "response",
            "status": "failed",
            "output": [],
            "usage": None,
            "error": {"code": "context_length_exceeded", "message": "Your input exceeds the context window."},
        },
    }
)

CASES = [
    ("openai_chat", "openai_chat", CHAT_ERROR, 400),
    ("anthropic", "openai_chat", CHAT_ERROR, 400),
    ("anthropic", "anthropic", CLAUDE_ERROR, 400),
    ("openai_chat", "anthropic", CLAUDE_ERROR, 400),
    # (the Responses decoder's status for a failed Response; the proxy reads the overflow from its code after)
    ("openai_responses", "openai_responses", RESPONSE_FAILED, 500),
]


@pytest.mark.parametrize(("client", "wire", "body", "status"), CASES)
def test_an_error_event_whose_line_never_ended_is_read_at_the_end(
    client: str, wire: str, body: bytes, status: int
) -> None:
    """Fed without its line break, the event is not read yet (the body may go on); at the body's end ``end`` reads it:
    the relay holds the upstream's error (its status), not an empty stream."""
    relay = make_relay(pairing(client, wire), View(model="m"))  # type: ignore[arg-type]
    relay.feed(body)
    assert relay.error is None and not relay.started
    assert relay.inside_event
    relay.end()
    assert relay.error is not None and relay.error.status == status
    assert not relay.saw_content


@pytest.mark.parametrize(("client", "wire", "body", "status"), CASES)
def test_end_gives_the_ending_once(client: str, wire: str, body: bytes, status: int) -> None:
    """``end`` is ``finish`` once: ``_pump`` calls it after ``until_committed`` did, and the client's stream must not
    get its ending (a translator's closing events) twice."""
    relay = make_relay(pairing(client, wire), View(model="m"))  # type: ignore[arg-type]
    relay.feed(body)
    relay.end()
    assert relay.end() == b""


def test_a_body_ended_between_events_is_not_inside_one() -> None:
    """A stream whose last event ended (its blank line came) has nothing to read at its end: ``until_committed``
    leaves it to ``_pump`` as before."""
    relay = make_relay(pairing("anthropic", "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    relay.feed(CHAT_ERROR + b"\n\n")
    assert not relay.inside_event
    assert relay.error is not None  # read as it came


def test_a_line_cut_short_is_no_event_to_read() -> None:
    """Half a JSON text (a body cut inside its line) is not read at the end: the stream stays an empty one, as the
    broken-upstream tests want (``empty_stream`` before the first token), not the event's error."""
    relay = make_relay(pairing("anthropic", "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    relay.feed(CHAT_ERROR[:40])
    assert not relay.inside_event
