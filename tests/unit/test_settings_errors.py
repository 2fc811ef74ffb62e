"""A bad setting is refused with a message naming the variable and the value, never a bare conversion error
(``GATEWAY_PORT=abc`` used to say "invalid literal for int() with base 10: 'abc'")."""

from __future__ import annotations

import pytest

from shared.settings import load_settings, provider_key


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("GATEWAY_PORT", "abc", "GATEWAY_PORT must be a whole number, got 'abc'"),
        ("DASHBOARD_PORT", "3000.5", "DASHBOARD_PORT must be a whole number, got '3000.5'"),
        ("UPSTREAM_CONNECT_TIMEOUT", "x", "UPSTREAM_CONNECT_TIMEOUT must be a number"),
        ("UPSTREAM_CHUNK_TIMEOUT", "nan", "UPSTREAM_CHUNK_TIMEOUT must be a number, got 'nan'"),
        ("MAX_BODY_BYTES", "0", "MAX_BODY_BYTES must be at least 1, got 0"),
        ("RECORDER_BATCH_SIZE", "lots", "RECORDER_BATCH_SIZE must be a whole number, got 'lots'"),
        ("DASHBOARD_REFRESH", "-1", "DASHBOARD_REFRESH must be at least 0, got -1"),
        (
            "LOG_LEVEL",
            "verbose",
            "LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, NOTSET, WARN, FATAL, got 'VERBOSE'",
        ),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_settings({name: value})
    assert str(caught.value).startswith(said)


def test_good_values_and_the_defaults_load() -> None:
    s = load_settings({"GATEWAY_PORT": "4001", "UPSTREAM_CONNECT_TIMEOUT": "2.5", "LOG_LEVEL": "debug"})
    assert (s.gateway_port, s.connect_timeout_s, s.log_level) == (4001, 2.5, "DEBUG")
    d = load_settings({})
    assert (d.gateway_port, d.dashboard_port, d.log_level) == (3001, 3000, "INFO")


def test_what_loaded_before_still_loads() -> None:
    """Python logging's aliases and an infinite timeout (no bound) were accepted before the checks."""
    assert load_settings({"LOG_LEVEL": "warn"}).log_level == "WARNING"
    assert load_settings({"LOG_LEVEL": "fatal"}).log_level == "CRITICAL"
    assert load_settings({"UPSTREAM_CHUNK_TIMEOUT": "inf"}).chunk_timeout_s == float("inf")


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("sk-abc\r\n", "sk-abc"),  # a .env edited on Windows
        ("  sk-abc\n", "sk-abc"),  # a key file read whole
        ("sk-abc", "sk-abc"),
        (" \t\r\n", None),  # blank: the provider is not configured
        ("", None),
    ],
)
def test_a_provider_key_is_trimmed(value: str, key: str | None) -> None:
    assert provider_key({"OPENAI_API_KEY": value}, "OPENAI_API_KEY") == key
    assert load_settings({"OPENAI_API_KEY": value}).providers["openai"].api_key == key


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("sk-top\nsecret", "XAI_API_KEY holds a line break at position 7 of 13"),
        ("sk-top\r\nsecret", "XAI_API_KEY holds a line break at position 7 of 14"),
        ("sk-top\x7fsecret", "XAI_API_KEY holds the character U+007F at position 7"),
        ("sk-top\u200bsecret", "XAI_API_KEY holds the character U+200B"),  # a zero-width space pasted in
        ("sk-top\u00e9secret", "XAI_API_KEY holds the character U+00E9"),
    ],
)
def test_a_provider_key_with_a_break_or_a_foreign_character_is_refused_unshown(value: str, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_settings({"XAI_API_KEY": value})
    assert str(caught.value).startswith(said)
    assert "secret" not in str(caught.value) and "sk-top" not in str(caught.value)
