"""Session 28 (fix28): every form of a said wait is bounded (``ratelimit_reset.LONGEST_WAIT_S``) and a bogus one
(negative, NaN, huge, a date in the past or in year 9999) never raises: it is a wait of 0 or none at all."""

from __future__ import annotations

import orjson

from services.gateway.routing.health import retry_after_seconds
from services.gateway.routing.ratelimit_reset import LONGEST_WAIT_S

BOGUS = ["1e20", "-1e20", "-5", "nan", "inf", "-inf", "1" + "0" * 400, "99999999999h", "soon", ""]
DATES = ["0001-01-01T00:00:00Z", "1999-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def _ok(wait: float | None) -> bool:
    return wait is None or 0.0 <= wait <= LONGEST_WAIT_S


def test_every_form_of_a_bogus_wait_is_bounded_or_none() -> None:
    for value in BOGUS + DATES:
        forms = [
            {"retry-after": value},
            {"retry-after-ms": value},
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": value},
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": value},
            {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": value},
            {"RateLimit": f'"default";r=0;t={value}'},
        ]
        for headers in forms:
            assert _ok(retry_after_seconds(headers, 429)), (headers, retry_after_seconds(headers, 429))
        body = {
            "error": {"metadata": {"headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": value}}}
        }
        assert _ok(retry_after_seconds({}, 429, orjson.dumps(body))), body


def test_a_far_future_reset_says_no_wait_and_a_month_still_counts() -> None:
    assert retry_after_seconds({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1e20"}, 429) is None
    assert retry_after_seconds({"retry-after": "1e20"}, 429) is None
    assert retry_after_seconds({"retry-after": str(7 * 86400)}, 429) == 7 * 86400  # a weekly limit's reset
