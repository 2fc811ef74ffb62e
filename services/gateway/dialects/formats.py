"""The names of the API formats, declared once (code-review example 1).

A *client format* is the API a client speaks to the gateway; a *wire* is the API the gateway speaks to
a provider. They are the same three APIs: OpenAI Chat Completions, Anthropic Messages and OpenAI
Responses. Everything that differs per format is registered in ``dialects.registry``; code elsewhere
passes these names around but never compares them.
"""

from __future__ import annotations

from typing import Literal, get_args

ClientFormat = Literal["openai_chat", "anthropic", "openai_responses"]
Wire = Literal["openai_chat", "anthropic", "openai_responses"]
# What the gateway asks of a provider: a generation on one of its wires, or a side operation.
Operation = Literal["chat", "messages", "responses", "responses_compact", "count_tokens", "models"]

CLIENT_FORMATS: tuple[ClientFormat, ...] = get_args(ClientFormat)
WIRES: tuple[Wire, ...] = get_args(Wire)
