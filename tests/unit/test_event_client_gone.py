"""``event_for``'s ``client_disconnected`` when the client hung up before any upstream attempt (pure):
while sending its body (``read_json``'s 499), or while the serve loop waited for a cooling provider
(``hangup.answered`` with no attempt). The row said 499 ``client_disconnected`` with the column 0."""

from __future__ import annotations

import time

from services.gateway.calls import Call, event_for
from services.gateway.dialects import registry
from shared.pricing import Pricer


def call_answered(status: int, error_type: str) -> Call:
    call = Call(registry.ENDPOINTS["/v1/chat/completions"], "req", {}, time.monotonic(), time.time())
    call.answer(status, error_type)
    return call


def test_a_499_without_an_attempt_is_a_client_gone() -> None:
    ev = event_for(call_answered(499, "client_disconnected"), Pricer(), time.time(), 1.0)
    assert (ev.status, ev.error_type, ev.client_disconnected) == (499, "client_disconnected", True)
    assert ev.cost_usd == 0.0 and ev.attempts == 0  # nothing was sent upstream: a known $0


def test_a_refusal_without_an_attempt_is_not() -> None:
    ev = event_for(call_answered(404, "model_not_found"), Pricer(), time.time(), 1.0)
    assert ev.client_disconnected is False
