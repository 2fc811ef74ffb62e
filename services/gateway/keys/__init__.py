"""Typed keys for aiohttp application and request state."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import asyncio

    from services.gateway.providers.base import Provider
    from services.gateway.proxy import Proxy
    from services.gateway.publisher import EventPublisher
    from services.gateway.routing.catalog import Catalog
    from services.gateway.routing.health import ProviderHealth
    from services.gateway.upstream import UpstreamClient
    from shared.pricing import Pricer
    from shared.settings import Settings


@dataclass
class GatewayState:
    settings: Settings
    version: str
    providers: dict[str, Provider]
    catalog: Catalog
    health: ProviderHealth
    publisher: EventPublisher
    proxy: Proxy
    pricer: Pricer
    upstream: UpstreamClient
    # the event loop serving this app (one per process; ``generate`` uses it without asking for the running
    # loop, which costs a ``getpid`` system call on CPython 3.11)
    loop: asyncio.AbstractEventLoop
    # keyed event ids (``shared.events.keyed_event_id``) this process recorded already from a stored response's
    # answer (``stored_responses``): retrieved again, it is not published again (oldest forgotten past
    # ``stored_responses.RECORDED_KEPT``; the ledger keeps one row either way)
    recorded_once: OrderedDict[str, None] = field(default_factory=OrderedDict)


STATE: web.AppKey[GatewayState] = web.AppKey("state", GatewayState)
REQUEST_ID = "ekai_request_id"
