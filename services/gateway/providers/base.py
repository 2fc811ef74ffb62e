"""What the gateway needs to know about an upstream provider: where, how to authenticate, its quirks.

Provider names and quirks live only in this package and in the routing catalog; the proxy core talks
to the ``Provider`` interface. A provider speaks one or more wires (``dialects.formats.Wire``), best
first; the gateway uses the client's own format when the provider speaks it, else the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.gateway.dialects.formats import Operation, Wire
from services.gateway.dialects.translate_request import Target
from shared.pricing import ModelRates

__all__ = ["Operation", "PriceSource", "Provider", "Route", "Wire"]


PriceSource = Literal["prices", "catalog", "vendor", "unknown"]


@dataclass(frozen=True, slots=True)
class Route:
    """One way to serve a request: a provider and the model name that provider knows it by.

    Two routes are equal when provider and model are; the rest is what the router knew when ranking:
    the price (``rates``, and where it came from), and whether the provider is the model's own vendor
    (``direct``) rather than an aggregator.
    """

    provider: str
    model: str
    rates: ModelRates | None = field(default=None, compare=False)
    price_source: PriceSource = field(default="unknown", compare=False)
    direct: bool = field(default=True, compare=False)


class Provider:
    """Base class. Subclasses set ``wires`` and override the hooks that differ."""

    wires: tuple[Wire, ...] = ("openai_chat",)

    def __init__(self, name: str, base_url: str, api_key: str | None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key  # never logged, never put into events or errors

    def __repr__(self) -> str:  # keeps the key out of any accidental log line
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    def url(self, op: Operation) -> str:
        raise NotImplementedError

    def headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        """Upstream headers, built from scratch: the client's own credential is never forwarded."""
        raise NotImplementedError

    def speaks(self, wire: Wire) -> bool:
        return wire in self.wires

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        """Apply provider quirks to an outgoing body in place. Returns True if it changed anything."""
        return False

    def target(self, model: str) -> Target:
        """What a translator needs to know about ``model`` on this provider."""
        return Target(model=model)

    def scrub(self, text: str) -> str:
        """Remove this provider's key from text that may reach a client, a log or the ledger."""
        if self._api_key and self._api_key in text:
            return text.replace(self._api_key, "[redacted]")
        return text

    def scrub_bytes(self, data: bytes) -> bytes:
        """``scrub`` for relayed stream bytes (an upstream's in-stream error may quote the key)."""
        key = self._api_key.encode() if self._api_key else b""
        return data.replace(key, b"[redacted]") if key and key in data else data
