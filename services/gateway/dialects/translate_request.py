"""Request-body translation between the OpenAI Chat Completions, Anthropic Messages and OpenAI Responses
formats (pure).

The gateway calls ``anthropic_to_chat`` when an Anthropic client is routed to an OpenAI-style provider
(OpenAI, xAI, OpenRouter) and ``chat_to_anthropic`` for the reverse. Both take a ``Target`` describing
the upstream model (its name, output limit and how it takes reasoning settings) and return the new body
plus the tool-name map needed to translate the answer back. A ``TranslationError`` means the request
cannot be expressed for that target; the gateway answers 400 with ``param`` in the client's format.
"""

from __future__ import annotations

from services.gateway.dialects._request_common import Target, TranslatedRequest, TranslationError
from services.gateway.dialects._request_from_responses import (
    compact_to_responses,
    responses_to_anthropic,
    responses_to_chat,
)
from services.gateway.dialects._request_to_anthropic import chat_to_anthropic
from services.gateway.dialects._request_to_chat import anthropic_to_chat
from services.gateway.dialects._request_to_responses import anthropic_to_responses, chat_to_responses

__all__ = [
    "Target",
    "TranslatedRequest",
    "TranslationError",
    "anthropic_to_chat",
    "anthropic_to_responses",
    "chat_to_anthropic",
    "chat_to_responses",
    "compact_to_responses",
    "responses_to_anthropic",
    "responses_to_chat",
]
