"""Who may use the gateway: gateway keys, the admin credential for ``/usage``, budgets and rate limits.

* With gateway keys configured (``GATEWAY_API_KEYS``, ``GATEWAY_KEYS_PATH``), every path except
  :data:`PUBLIC_PATHS` needs one, as ``Authorization: Bearer`` or ``x-api-key``: a missing or unknown key
  gets 401 in the client's own format (``registry.format_for_path``) and never reaches a handler. No path is
  listed here: generation endpoints added later are covered too.
* ``/usage`` beyond loopback needs an admin credential: a key whose entry says ``admin = true``, or HTTP
  basic credentials ``ADMIN_USER``/``ADMIN_PASSWORD`` (or any user name with an admin key as password).
* A gateway bound beyond loopback without keys does not start (:func:`check_exposure`), unless
  ``GATEWAY_TRUSTED_NETWORK=1`` says every host that can reach it is trusted.
* Handlers call :func:`admit` once the model is known (403 outside the key's model globs, 429 past a budget
  or rate limit, see ``quotas.py``) and :func:`settle` with the finished event.

The key itself never leaves this module: requests carry the matching :class:`KeyEntry` (its name and hash).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import zmq
import zmq.asyncio
from aiohttp import web

from services.gateway import keys
from services.gateway.calls import Call
from services.gateway.dialects import registry
from services.gateway.errors import ClientError
from services.gateway.keys.keyfile import KeyEntry, KeyRing, load_keyring
from services.gateway.quotas import QuotaExceeded, Quotas
from shared import events
from shared.access import basic_credentials, check_exposure, is_loopback, same_text
from shared.ledger.engine import ledger_of
from shared.ledger.queries import key_spend
from shared.settings import Settings

log = logging.getLogger("gateway.auth")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/", "/health", "/metrics"})  # Claude Code's HEAD / preflight; liveness; metrics
ADMIN_PATHS = ("/usage",)
_ADMIN_PREFIXES = tuple(p + "/" for p in ADMIN_PATHS)  # built once: ``check`` runs per request
KEY_ENTRY = "ekai_key_entry"  # request key: the KeyEntry of the key the request presented
_NOTE = "ekai_quota_note"
OWN_EVENTS_KEPT = 100_000  # event ids this process published, so follow_others does not count them twice


@dataclass(slots=True)
class Note:
    """What a request's quota check tells its response: remaining budget, retry-after, whether admitted."""

    admitted: bool
    remaining_usd: float | None = None
    retry_after_s: int | None = None
    # a refusal that lasts until the period ends (a spent budget): the response says x-should-retry: false
    final: bool = False


@dataclass
class Guard:
    ring: KeyRing
    quotas: Quotas
    admin_required: bool
    basic: tuple[str, str] | None
    ledger: str  # where the budgets' spending is read from (shared.ledger.engine)
    tail_endpoint: str
    own_events: collections.OrderedDict[str, None] = field(default_factory=collections.OrderedDict)
    # keyed event ids (``events.is_keyed``: a background response's usage, which several processes may each
    # publish) already counted here: a copy is the same spend, not another (the last OWN_EVENTS_KEPT)
    keyed_counted: collections.OrderedDict[str, None] = field(default_factory=collections.OrderedDict)
    checks: bool = True  # False: no keys and no admin credential to ask for (``check`` lets all through)

    def key_for(self, request: web.Request) -> KeyEntry | None:
        for credential in credentials(request):
            entry = self.ring.find(credential)
            if entry is not None:
                return entry
        return None

    def is_admin(self, request: web.Request) -> bool:
        entry = self.key_for(request)
        if entry is not None and entry.admin:
            return True
        basic = basic_credentials(request.headers.get("authorization", ""))
        if basic is None:
            return False
        user, password = basic
        if self.basic is not None and same_text(user, self.basic[0]) & same_text(password, self.basic[1]):
            return True
        entry = self.ring.find(password)
        return entry is not None and entry.admin


GUARD = web.AppKey("auth_guard", Guard)


def credentials(request: web.Request) -> list[str]:
    """The credentials a request presents: the Bearer token and the ``x-api-key`` value."""
    found = []
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        found.append(token.strip())
    api_key = request.headers.get("x-api-key", "").strip()
    if api_key:
        found.append(api_key)
    return found


def install(app: web.Application, settings: Settings) -> None:
    """Load the keys (a bad keys file stops start-up), refuse an open door, add the hooks."""
    ring = load_keyring(settings.gateway_api_keys, settings.gateway_keys_path)
    check_exposure(
        "the gateway",
        settings.gateway_host,
        settings.gateway_port,
        bool(ring),
        settings.trusted_network,
        "spend your provider keys",
    )
    basic = (
        (settings.admin_user, settings.admin_password)
        if settings.admin_user and settings.admin_password
        else None
    )
    guard = Guard(
        ring,
        Quotas.build(ring.entries, {}, time.time(), time.monotonic()),
        admin_required=not is_loopback(settings.gateway_host) and not settings.trusted_network,
        basic=basic,
        ledger=ledger_of(settings),
        tail_endpoint=settings.tail_endpoint,
    )
    app[GUARD] = guard
    # Without keys and without an admin credential to ask for, both hooks would do nothing on every
    # request (no key entry, no quota note): they are left out (the keys are loaded once, here).
    # ``check`` runs in every route's request context (context.py); it has nothing to do without them.
    guard.checks = bool(ring) or guard.admin_required
    if ring:
        app.on_response_prepare.append(_quota_headers)
    app.cleanup_ctx.append(_counters)
    if ring:
        log.info("gateway keys: %d (%s)", len(ring.entries), ", ".join(e.name for e in ring.entries))


def check(request: web.Request) -> web.Response | None:
    """The 401 for a request without the credential its path needs, else None (the gateway key it
    presented, if any, is then the request's ``KEY_ENTRY``). Every route runs it (``context``), before
    its handler."""
    guard = request.app.get(GUARD)
    if guard is None or not guard.checks:  # no keys, no admin credential (or an app without ``install``)
        return None
    path = request.path
    if path in PUBLIC_PATHS:
        return None
    if path in ADMIN_PATHS or path.startswith(_ADMIN_PREFIXES):
        if guard.admin_required and not guard.is_admin(request):
            response = _refusal(
                request,
                "an admin credential is required here: a gateway key with admin = true "
                "(Bearer or x-api-key), or HTTP basic ADMIN_USER/ADMIN_PASSWORD",
            )
            response.headers["www-authenticate"] = 'Basic realm="ekai-gateway"'
            return response
        return None
    if guard.ring:
        entry = guard.key_for(request)
        if entry is None:
            presented = bool(credentials(request))
            return _refusal(
                request,
                "invalid gateway key"
                if presented
                else "missing gateway key: send it as Authorization: Bearer <key> or x-api-key: <key>",
            )
        request[KEY_ENTRY] = entry
    return None


def _refusal(request: web.Request, message: str) -> web.Response:
    fmt = registry.format_for_request(request.path, request.headers)
    body = registry.error_response_body(
        fmt, 401, message, code="invalid_api_key", request_id=request.get(keys.REQUEST_ID)
    )
    return web.Response(body=orjson.dumps(body), status=401, content_type="application/json")


def key_name(request: web.Request) -> str | None:
    """The name of the gateway key the request presented (None when keys are off)."""
    entry: KeyEntry | None = request.get(KEY_ENTRY)
    return entry.name if entry is not None else None


def admit(request: web.Request, call: Call) -> None:
    """Check the call's model and its key's budget and rate limits; raises 403 or :class:`QuotaExceeded`."""
    entry: KeyEntry | None = request.get(KEY_ENTRY)
    if entry is None:
        return
    if not entry.allows_model(call.model):
        raise ClientError(
            403,
            f"key {entry.name!r} may not use model {call.model!r}; it allows: {', '.join(entry.models)}",
            code="model_not_allowed",
            param="model",
        )
    try:
        admission = request.app[GUARD].quotas.admit(entry.name, time.time(), time.monotonic())
    except QuotaExceeded as exc:
        call.budget_alert = exc.alert
        spent = bool(exc.code and exc.code.startswith("budget"))
        request[_NOTE] = Note(False, 0.0 if spent else None, exc.retry_after_s, final=spent)
        raise
    call.budget_alert = admission.alert
    request[_NOTE] = Note(True, admission.remaining_usd)


def settles(request: web.Request, key_name: str) -> bool:
    """Whether :func:`settle` counts the request's event: :func:`admit` let it through, and its key
    ``key_name`` has a budget or rate limits (the key's next request is checked against what this one
    spent, so its event must be settled before that request can be admitted: at once, not with its batch)."""
    note: Note | None = request.get(_NOTE)
    return note is not None and note.admitted and key_name in request.app[GUARD].quotas.states


def settle(request: web.Request, event: events.UsageEvent) -> None:
    """Count a finished request that :func:`admit` let through."""
    if event.api_key_name is None or not settles(request, event.api_key_name):
        return  # not admitted, or a key without budget or rate limits: nothing to count
    guard = request.app[GUARD]
    if events.is_keyed(event.event_id) and not _keyed_first(guard, event.event_id):
        return  # a background response's usage counted already (a copy another process published)
    guard.quotas.settle(
        event.api_key_name, event.cost_usd, event.total_tokens, own=True, mono=time.monotonic()
    )
    guard.own_events[event.event_id] = None
    if len(guard.own_events) > OWN_EVENTS_KEPT:
        guard.own_events.popitem(last=False)


def _keyed_first(guard: Guard, event_id: str) -> bool:
    """Whether keyed ``event_id`` is counted here for the first time (remembered from now on)."""
    if event_id in guard.keyed_counted:
        return False
    guard.keyed_counted[event_id] = None
    if len(guard.keyed_counted) > OWN_EVENTS_KEPT:
        guard.keyed_counted.popitem(last=False)
    return True


async def _quota_headers(request: web.Request, response: web.StreamResponse) -> None:
    note: Note | None = request.get(_NOTE)
    if note is None:
        return
    if note.remaining_usd is not None:
        response.headers["x-ekai-budget-remaining-usd"] = f"{max(0.0, note.remaining_usd):.6f}"
    if note.retry_after_s is not None:
        response.headers["retry-after"] = str(note.retry_after_s)
    if note.final:
        # A spent budget comes back only with the next period (or an admin): both SDKs retry a 429 unless told
        # x-should-retry: false (``_base_client._should_retry``), and the anthropic SDK sleeps the whole
        # retry-after, days or weeks here, before retrying (s15 variant 11-d; conformance §0).
        response.headers["x-should-retry"] = "false"


async def _counters(app: web.Application) -> AsyncIterator[None]:
    """Seed the budget counters from the ledger; follow other gateway processes' requests while serving."""
    guard = app[GUARD]
    if not guard.quotas.states:
        yield
        return
    periods = guard.quotas.periods(time.time())
    spent = await asyncio.to_thread(key_spend, guard.ledger, periods)
    guard.quotas.add_spent(spent)
    log.info(
        "budget counters from the ledger: %s",
        ", ".join(f"{n} {usd:.6f} USD" for n, usd in spent.items()) or "no budgets",
    )
    task = asyncio.create_task(follow_others(guard))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def follow_others(guard: Guard) -> None:
    """Count the finished requests of other gateway processes, as the recorder republishes them
    (``TAIL_ENDPOINT``): each process then refuses once the key's spend across all of them is over."""
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(guard.tail_endpoint)
    try:
        while True:
            raw = await sock.recv()
            try:
                event = events.decode(raw)
            except ValueError:
                continue
            if event.api_key_name is None:
                continue
            if event.event_id in guard.own_events:  # ours: counted when it finished
                del guard.own_events[event.event_id]
                continue
            if events.is_keyed(event.event_id) and not _keyed_first(guard, event.event_id):
                continue  # another copy of a background response's usage (docs/responses.md)
            guard.quotas.settle(
                event.api_key_name,
                event.cost_usd,
                event.total_tokens,
                own=False,
                mono=time.monotonic(),
                started_at=event.started_at,
            )
    finally:
        sock.close(linger=0)
        ctx.term()
