"""A wrong ``max_tokens`` on /v1/messages, worded as Anthropic's own 400 words it (pure).

Anthropic validates the Messages body with Pydantic (its 400s read "max_tokens: Field required", "max_tokens:
Input should be a valid integer", "max_tokens: Input should be greater than or equal to 1"). Pydantic's rule
is the oracle here, in strict mode (a string or a float is not an integer, as the gateway has it): "Field
required" only when the key is absent; a key that is present, ``null`` included, is judged by its type.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.gateway.dialects.anthropic import parse_request
from services.gateway.dialects.translate_request import TranslationError


class _Messages(BaseModel):
    """The one field of Anthropic's request model this is about (API reference: integer, x >= 1)."""

    model_config = ConfigDict(strict=True)
    max_tokens: int = Field(ge=1)


def _pydantic_words(raw: bytes) -> str:
    try:
        _Messages.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    raise AssertionError(f"pydantic accepts {raw!r}")


# raw JSON values of max_tokens (None: the key is absent)
BAD = [None, "null", "2.5", "1e30", "100.0", '"100"', "true", "false", "[]", "{}", "0", "-5"]


@pytest.mark.parametrize("value", BAD)
def test_every_wrong_max_tokens_is_worded_as_pydantic_words_it(value: str | None) -> None:
    field = "" if value is None else f', "max_tokens": {value}'
    raw = f'{{"model": "claude-haiku-4-5", "messages": [{{"role": "user", "content": "x"}}]{field}}}'
    body: dict[str, Any] = orjson.loads(raw)
    with pytest.raises(TranslationError) as info:
        parse_request(body)
    assert info.value.param == "max_tokens"
    assert str(info.value) == _pydantic_words(
        b"{}" if value is None else f'{{"max_tokens": {value}}}'.encode()
    )


def test_null_is_not_a_missing_field() -> None:
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}], "max_tokens": None}
    with pytest.raises(TranslationError) as info:
        parse_request(body)
    assert str(info.value) == "max_tokens: Input should be a valid integer"
