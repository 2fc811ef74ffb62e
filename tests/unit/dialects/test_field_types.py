"""``check_field_types``: the optional fields a translation reads must have their API's types; what the real
clients send (tests/fixtures/requests, from ../shared/captures) always passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.gateway.dialects._request_common import (
    CHAT_FIELD_TYPES,
    MESSAGES_FIELD_TYPES,
    TranslationError,
    check_field_types,
)

REQUESTS = Path(__file__).resolve().parents[2] / "fixtures" / "requests"
OWN_TYPES = {"anthropic_sdk": MESSAGES_FIELD_TYPES, "claude_code": MESSAGES_FIELD_TYPES}


@pytest.mark.parametrize("name", sorted(p.stem for p in REQUESTS.glob("*.json") if "codex" not in p.stem))
def test_what_real_clients_send_passes(name: str) -> None:
    body = orjson.loads((REQUESTS / f"{name}.json").read_bytes())["body"]
    types = next((t for prefix, t in OWN_TYPES.items() if name.startswith(prefix)), CHAT_FIELD_TYPES)
    assert any(k in body for k in types)  # the check has something to look at
    check_field_types(body, types)


@pytest.mark.parametrize(
    ("types", "field", "good", "bad"),
    [
        (MESSAGES_FIELD_TYPES, "system", [{"type": "text", "text": "x"}], {"text": "x"}),
        (MESSAGES_FIELD_TYPES, "max_tokens", 8, 8.0),
        (MESSAGES_FIELD_TYPES, "temperature", 0, True),  # a boolean is no number
        (MESSAGES_FIELD_TYPES, "stop_sequences", ["a"], ["a", None]),
        (CHAT_FIELD_TYPES, "stop", "a", {"a": 1}),
        (CHAT_FIELD_TYPES, "tool_choice", "auto", ["auto"]),
        (CHAT_FIELD_TYPES, "tools", [], [[]]),
    ],
)
def test_a_field_of_another_type_names_itself(
    types: dict[str, tuple[str, ...]], field: str, good: Any, bad: Any
) -> None:
    check_field_types({field: good}, types)
    check_field_types({field: None}, types)  # null is absent
    with pytest.raises(TranslationError) as caught:
        check_field_types({field: bad}, types)
    assert caught.value.param == field and str(caught.value).startswith(f"{field}: Input should be a valid ")
