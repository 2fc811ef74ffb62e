"""When an exhausted rate limit resets, read from a 429's rate-limit headers (s9 variants 11-m, 11-n)."""

from __future__ import annotations

import orjson
import pytest

from services.gateway.routing.health import retry_after_seconds
from services.gateway.routing.ratelimit_reset import (
    body_reset_seconds,
    rate_limit_reset_seconds,
    reset_seconds,
)

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("7.66s", 7.66),
        ("12", 12.0),  # a plain number of seconds
        (str(int(NOW + 40) * 1000), 40.0),  # OpenRouter: Unix ms
        (str(int(NOW + 90)), 90.0),  # Unix seconds
        ("2026-01-01T00:01:00Z", 60.0),  # Anthropic: RFC 3339
        ("2025-12-31T23:00:00+00:00", 0.0),  # past: now
    ],
)
def test_reset_forms(value: str, seconds: float) -> None:
    assert reset_seconds(value, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "", "5 minutes", "2026-01-01T00:01:00", "1x"])
def test_unreadable_resets_are_none(value: str) -> None:
    assert reset_seconds(value, NOW) is None


def test_the_exhausted_limit_decides() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "30s",
    }
    assert rate_limit_reset_seconds(headers, NOW) == 30.0
    headers["x-ratelimit-remaining-tokens"] = "1000"
    headers["x-ratelimit-remaining-requests"] = "0"
    assert rate_limit_reset_seconds(headers, NOW) == 1.0


def test_without_remaining_the_latest_reset_counts() -> None:
    headers = {"X-RateLimit-Reset-Requests": "2s", "X-RateLimit-Reset-Tokens": "45s"}
    assert rate_limit_reset_seconds(headers, NOW) == 45.0


def test_openrouter_and_anthropic_forms() -> None:
    openrouter = {
        "X-RateLimit-Limit": "20",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(NOW + 40) * 1000),
    }
    assert rate_limit_reset_seconds(openrouter, NOW) == pytest.approx(40.0)
    anthropic = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:20Z",
        "anthropic-ratelimit-tokens-remaining": "5000",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:05:00Z",
    }
    assert rate_limit_reset_seconds(anthropic, NOW) == pytest.approx(20.0)


def test_no_reset_header_is_none() -> None:
    assert rate_limit_reset_seconds({"x-ratelimit-remaining-tokens": "0", "content-type": "x"}, NOW) is None
    assert rate_limit_reset_seconds({"x-ratelimit-reset-tokens": "later"}, NOW) is None


def test_retry_after_reads_the_reset_only_on_a_429() -> None:
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30s"}
    assert retry_after_seconds(headers, 429) == 30.0
    assert retry_after_seconds(headers, 400) is None  # every answer carries them: only a 429 is a refusal
    assert retry_after_seconds(headers) is None
    assert retry_after_seconds({**headers, "retry-after": "5"}, 429) == 5.0  # the provider's own word wins


def test_a_429_body_names_the_reset() -> None:
    """s12 variants 11-a, 11-b, 11-f: no header says when to retry, the error body does."""
    openrouter = {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded: free-models-per-min.",
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int((NOW + 45) * 1000)),
                }
            },
        }
    }
    assert body_reset_seconds(orjson.dumps(openrouter), NOW) == pytest.approx(45.0)
    gemini = [
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota. Please retry in 37.5s.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
                ],
            }
        }
    ]
    assert body_reset_seconds(orjson.dumps(gemini), NOW) == 37.0
    for said_nothing in (
        b"",
        b"slow down",
        b"[]",
        b'{"error": "slow down"}',
        b'{"error": {"details": [{"retryDelay": "soon"}]}}',
    ):
        assert body_reset_seconds(said_nothing, NOW) is None
    assert retry_after_seconds({}, 429, orjson.dumps(gemini)) == 37.0
    assert retry_after_seconds({"retry-after": "5"}, 429, orjson.dumps(gemini)) == 5.0  # the header wins
    assert retry_after_seconds({}, 400, orjson.dumps(gemini)) is None  # only a 429 is a refusal


def test_a_reset_too_far_to_count_says_nothing() -> None:
    """Review of s12 (11-a, 11-b): a body's reset that reads as infinity (a 400-digit ``retryDelay``, an
    ``X-RateLimit-Reset`` of ``1e999``) is no time to wait: ``retry-after`` cannot be infinite (the client's
    header is ``ceil`` of it: OverflowError, a 500), so the 429 says nothing of when to retry."""
    endless = [
        {
            "error": {
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9" * 400 + "s"}
                ]
            }
        },
        {"error": {"metadata": {"headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1e999"}}}},
    ]
    for body in endless:
        assert retry_after_seconds({}, 429, orjson.dumps(body)) is None
    assert retry_after_seconds({"retry-after": "1e999"}, 429) is None  # the same from a header
    assert retry_after_seconds({"retry-after-ms": "inf"}, 503) is None


def test_a_429_message_stating_the_delay_names_the_reset() -> None:
    """s13 variant 11-b: OpenAI's 429 through a proxy that dropped its headers says when only in its message
    ("… Please try again in 20s."; "6m0s", "860ms" in other limits; Azure OpenAI: "Please retry after 20
    seconds."): the client's SDK cannot read that, so it becomes the retry-after the gateway tells."""
    said = {
        "Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used "
        "199000, Requested 12000. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits "
        "to learn more.": 20.0,
        "Rate limit reached for gpt-4o on requests per day (RPD): Limit 10000. Please try again in 6m0s.": 360.0,
        "Please try again in 860ms.": 0.86,
        "Requests to the ChatCompletions_Create Operation have exceeded token rate limit of your current OpenAI S0 "
        "pricing tier. Please retry after 20 seconds.": 20.0,
    }
    for message, seconds in said.items():
        body = orjson.dumps({"error": {"message": message, "type": "tokens", "code": "rate_limit_exceeded"}})
        assert body_reset_seconds(body, NOW) == pytest.approx(seconds)
        assert retry_after_seconds({}, 429, body) == pytest.approx(seconds)
        assert retry_after_seconds({"retry-after": "3"}, 429, body) == 3.0  # the header wins
    for silent in (
        "Please try again later.",
        "try again in 5 minutes",
        "Retry in a moment",
        "try again in 20sec",
    ):
        assert body_reset_seconds(orjson.dumps({"error": {"message": silent}}), NOW) is None


def test_a_subscription_window_that_rejected_decides_not_one_that_allows() -> None:
    """s13 variant 11-g: a Claude subscription's 429 names each unified window's reset and status; the 5-hour
    window refused (resets in 2 h), the weekly one allows (its reset is 3 days off): 2 h, not 3 days. With
    both rejected, the latest (both must have reset)."""
    subscription = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": str(int(NOW) + 7200),
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-reset": str(int(NOW) + 7200),
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-reset": str(int(NOW) + 259200),
    }
    assert rate_limit_reset_seconds(subscription, NOW) == pytest.approx(7200.0)
    both = {**subscription, "anthropic-ratelimit-unified-7d-status": "rejected"}
    assert rate_limit_reset_seconds(both, NOW) == pytest.approx(259200.0)


def test_a_subscription_without_extra_usage_waits_for_its_window_not_the_overage_month() -> None:
    """A Claude subscriber without extra usage gets ``anthropic-ratelimit-unified-overage-status: rejected``
    (with ``…-overage-disabled-reason``) and ``…-overage-reset`` at the end of the month on every response,
    the 429 included. Overage is the allowance that would have served the request past the window, not a
    window that refused it: the 5-hour window's reset (2 h) is when the request can succeed, not the month's
    end. A spend cap that refused (overage the only thing rejected) still says its reset through the unified
    status and reset."""
    month_end = str(int(NOW) + 20 * 86400)
    subscription = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": str(int(NOW) + 7200),
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-reset": str(int(NOW) + 7200),
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-reset": str(int(NOW) + 259200),
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-disabled-reason": "org_level_disabled",
        "anthropic-ratelimit-unified-overage-reset": month_end,
    }
    assert rate_limit_reset_seconds(subscription, NOW) == pytest.approx(7200.0)
    spend_cap = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": month_end,
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-disabled-reason": "org_spend_cap_reached",
        "anthropic-ratelimit-unified-overage-reset": month_end,
    }
    assert rate_limit_reset_seconds(spend_cap, NOW) == pytest.approx(20 * 86400.0)


def test_openrouter_relaying_a_providers_own_429_body_in_metadata_raw() -> None:
    """s17 variant 11-f: OpenRouter's 429 for a limit of the provider behind it carries no retry header and says
    "Please retry shortly"; the provider's own body (Google AI Studio's, with its ``RetryInfo``) comes as a JSON
    string in ``error.metadata.raw``. That is the only word on when: the client got a 429 without retry-after."""
    google = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota. Please retry in 41.285205533s.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "41s"}],
        }
    }
    relayed = {
        "error": {
            "message": "google/gemini-2.5-flash is temporarily rate-limited upstream. Please retry shortly, or add "
            "your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations",
            "code": 429,
            "metadata": {
                "raw": orjson.dumps(google, option=orjson.OPT_INDENT_2).decode(),
                "provider_name": "Google",
            },
        }
    }
    assert body_reset_seconds(orjson.dumps(relayed), NOW) == 41.0
    assert retry_after_seconds({}, 429, orjson.dumps(relayed)) == 41.0
    said = {"error": {"code": 429, "metadata": {"raw": '{"error": {"message": "Please try again in 7s."}}'}}}
    assert body_reset_seconds(orjson.dumps(said), NOW) == 7.0
    for nothing in ("not json", '{"error": "slow down"}', "", '"' * 3):
        assert body_reset_seconds(orjson.dumps({"error": {"metadata": {"raw": nothing}}}), NOW) is None
    nested = {"error": {"metadata": {"raw": "{}"}}}
    for _ in range(6):  # a raw inside a raw inside …: only two levels are read, no recursion without end
        nested = {"error": {"metadata": {"raw": orjson.dumps(nested).decode()}}}
    assert body_reset_seconds(orjson.dumps(nested), NOW) is None


def test_a_quota_message_saying_when_it_resets_names_the_reset() -> None:
    """s18 variant 11-d: Google's quota refusal on the OpenAI wire (a one-element JSON array, no retry header, no
    RetryInfo) says when only in words: "Your quota will reset after 26s." (vybestack/llxprt-code#813). The client
    got a 429 without retry-after."""
    message = "You have exhausted your capacity on this model. Your quota will reset after 26s."
    body = orjson.dumps(
        [
            {
                "error": {
                    "code": 429,
                    "message": message,
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}
                    ],
                }
            }
        ]
    )
    assert body_reset_seconds(body, NOW) == pytest.approx(26.0)
    assert retry_after_seconds({}, 429, body) == pytest.approx(26.0)
    assert body_reset_seconds(orjson.dumps({"error": {"message": "The limit resets in 1m30s."}}), NOW) == 90.0
    for silent in ("Your limit resets on Sunday.", "Your quota will reset soon.", "resets after midnight"):
        assert body_reset_seconds(orjson.dumps({"error": {"message": silent}}), NOW) is None


def test_mistral_and_ietf_reset_headers_name_the_reset() -> None:
    """Mistral's 429 (no retry-after): ``ratelimitbysize-reset`` seconds beside ``…-remaining: 0``; the IETF
    httpapi draft's ``RateLimit-Reset`` (s18 variant 11-m)."""
    mistral = {
        "ratelimitbysize-limit": "500000",
        "ratelimitbysize-remaining": "0",
        "ratelimitbysize-reset": "37",
        "ratelimitbysize-query-cost": "32000",
    }
    assert rate_limit_reset_seconds(mistral, NOW) == 37.0
    assert retry_after_seconds(mistral, 429) == 37.0
    assert rate_limit_reset_seconds({"RateLimit-Remaining": "0", "RateLimit-Reset": "12"}, NOW) == 12.0


def test_azure_x_ms_retry_after_ms() -> None:
    """Azure OpenAI behind API Management: only ``x-ms-retry-after-ms`` (s18 variant 11-l)."""
    assert (
        retry_after_seconds({"x-ms-retry-after-ms": "2500", "x-ratelimit-remaining-tokens": "0"}, 429) == 2.5
    )


def test_with_none_at_zero_the_limit_with_least_left_of_its_size_decides() -> None:
    """Cerebras refuses a request bigger than what is left of the minute's tokens (it reserves
    max_completion_tokens up front) while some is left, and names the day's request window beside it: the
    minute's reset (11 s) is the wait, not the day's (9 h; the provider rested 10 min, the client told to
    wait 9 h). s19 variant 11-u."""
    headers = {
        "x-ratelimit-limit-requests-day": "14400",
        "x-ratelimit-remaining-requests-day": "14388",
        "x-ratelimit-reset-requests-day": "33011.382867",
        "x-ratelimit-limit-tokens-minute": "60000",
        "x-ratelimit-remaining-tokens-minute": "1830",
        "x-ratelimit-reset-tokens-minute": "11.382867",
    }
    assert rate_limit_reset_seconds(headers, NOW) == 11.382867
    assert retry_after_seconds(headers, 429) == 11.382867
    # OpenAI's names: tokens nearly spent, requests not
    openai = {
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "1200",
        "x-ratelimit-reset-tokens": "1m30s",
    }
    assert rate_limit_reset_seconds(openai, NOW) == 90.0
    # without limit sizes it cannot be told: the latest reset, as before
    for name in ("x-ratelimit-limit-requests-day", "x-ratelimit-limit-tokens-minute"):
        del headers[name]
    assert rate_limit_reset_seconds(headers, NOW) == 33011.382867


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        # Cloudflare's API (Workers AI's OpenAI-compatible endpoint): the IETF draft's structured field
        ({"Ratelimit": '"default";r=0;t=30', "Ratelimit-Policy": '"default";q=100;w=60'}, 30.0),
        # two limits listed: the exhausted one decides
        ({"RateLimit": '"burst";r=5;t=3, "day";r=0;t=3600'}, 3600.0),
        # earlier drafts' dictionary
        ({"RateLimit": "limit=100, remaining=0, reset=30"}, 30.0),
        # none exhausted: the latest
        ({"ratelimit": '"a";r=3;t=7, "b";r=9;t=2'}, 7.0),
    ],
)
def test_the_ietf_drafts_single_ratelimit_field_names_the_reset(
    headers: dict[str, str], seconds: float
) -> None:
    """s19 variant 11-t: a 429 whose only timing is `RateLimit: "default";r=0;t=30` reached the client with no
    retry-after."""
    assert rate_limit_reset_seconds(headers, NOW) == seconds
    assert retry_after_seconds(headers, 429) == seconds


@pytest.mark.parametrize("value", ["nan", "NaN", " nan "])
def test_a_nan_reset_names_no_reset(value: str) -> None:
    """ "nan" is no time: read as a number it said 0 s ("retry now", a retry at once against a limit that has
    not reset), as health's retry-after reading did before s22 (variant 11-w5); a limit beside it still counts."""
    now = 1_760_000_000.0
    assert reset_seconds(value, now) is None
    headers = {"x-ratelimit-reset-requests": value, "x-ratelimit-remaining-requests": "0"}
    assert rate_limit_reset_seconds(headers, now) is None
    both = {**headers, "x-ratelimit-reset-tokens": "7s", "x-ratelimit-remaining-tokens": "0"}
    assert rate_limit_reset_seconds(both, now) == 7.0
