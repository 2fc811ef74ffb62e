"""The Responses API's stored-response endpoints, forwarded untouched to the provider that stored the response.

OpenAI API reference, "Responses": ``GET /v1/responses/{response_id}`` (retrieve; query ``include[]``,
``starting_after``, ``stream``, ``include_obfuscation``), ``DELETE /v1/responses/{response_id}`` (delete:
``{"id", "object": "response.deleted", "deleted": true}``), ``POST /v1/responses/{response_id}/cancel``
(cancel a ``background: true`` response; no body) and ``GET /v1/responses/{response_id}/input_items``
(a cursor page; query ``after``, ``include[]``, ``limit``, ``order``). The openai SDK calls them as
``client.responses.retrieve(id)``, ``.delete(id)``, ``.cancel(id)`` and ``.input_items.list(id)``.

Which provider holds an id (docs/responses.md, "Stored responses"): only a provider that speaks the
Responses wire stores responses (one the gateway translated for was never stored anywhere). The
``x-ekai-provider`` header names it; without the header, the one configured provider that speaks the
Responses wire. Nothing is kept in the gateway's memory, so any worker (``GATEWAY_WORKERS``) serves any
call. When nothing can hold the id: 404 in OpenAI's shape (no Responses provider configured: the response
was translated, and translated responses are not stored); several candidates and no header, a header
naming an unknown, unconfigured or non-Responses provider, or a malformed id: 400 (``param`` says which).

The call goes through the one upstream boundary (``UpstreamClient.send``: its timeouts and its
``UpstreamError`` mapping) with the provider's own headers (its key; never the client's) and the client's
query string as sent; the answer comes back as the provider gave it (status, body, ``Content-Type``, its
rate-limit and request-id headers; a streamed retrieve's events as they arrive), scrubbed of the
provider's key. A client that hangs up during a streamed retrieve ends the relay quietly (the provider's
stream is closed; nothing is logged as an error).

The ledger (docs/responses.md, "Background responses in the ledger"): a retrieve or cancel whose answer shows
a ``background: true`` response in a terminal status with its ``usage`` (JSON, or a streamed retrieve's
terminal event) publishes one event with those tokens, priced as the create call is (``calls.row_for``: the
answer's model as the route's model at this provider), under the event id ``keyed_event_id(provider,
response id)``: the recorder stores the first and drops every other (from any worker, after restarts and
resends), and a create call whose own stream carried the usage already made that same row. Its ``endpoint``
is the route's (``/v1/responses/{response_id}``, ``…/cancel``). A process publishes it once
(``GatewayState.recorded_once``). Delete, input items and every other answer publish nothing.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.gateway import auth, background_usage, calls, keys
from services.gateway.dialects import registry
from services.gateway.dialects.formats import Wire
from services.gateway.errors import ClientError, GatewayError
from services.gateway.handlers import Handler, json_error, record
from services.gateway.hangup import CLIENT_GONE
from services.gateway.providers.base import Provider, Route
from services.gateway.routing.catalog import Catalog, UnknownModel
from services.gateway.upstream import Chunks, Phase, UpstreamClient
from shared.events import keyed_event_id

log = logging.getLogger("gateway")
PIN_HEADER = "x-ekai-provider"
ENDPOINT_PATH = "/v1/responses"  # the generation endpoint whose stored answers these calls reach
# OpenAI's ids are ``resp_`` + hex; another server's may differ: any plain token, never a path segment
# of its own ("." or "..") nor anything that needs escaping in a URL path.
_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._:-]{0,255}")
RECORDED_KEPT = (
    10_000  # keyed event ids a process remembers having published (``GatewayState.recorded_once``)
)


@dataclass(frozen=True, slots=True)
class Call:
    """One stored-response endpoint: the HTTP method, the path after ``/responses/{id}``, and whether its
    answer is the response itself (read for a finished background response's usage: the ledger)."""

    method: str
    suffix: str = ""
    shows_response: bool = False

    @property
    def path(self) -> str:
        """The gateway's route for it (aiohttp's ``{response_id}``: one path segment)."""
        return f"{ENDPOINT_PATH}/{{response_id}}{self.suffix}"


# the openai SDK's methods in the comments
CALLS: tuple[Call, ...] = (
    Call("GET", shows_response=True),  # responses.retrieve
    Call("DELETE"),  # responses.delete
    Call("POST", "/cancel", shows_response=True),  # responses.cancel
    Call("GET", "/input_items"),  # responses.input_items.list
)


def holder(providers: Mapping[str, Provider], pinned: str | None) -> Provider:
    """The provider that can hold a stored response: ``pinned`` (the ``x-ekai-provider`` header) when
    given, else the one configured provider that speaks the Responses wire. Pure. Raises ``ClientError``:
    404 when no configured provider speaks it (nothing stores responses), 400 for a pin that is unknown,
    unconfigured or not a Responses provider, or for several candidates and no pin."""
    wire = registry.client(registry.ENDPOINTS[ENDPOINT_PATH].format).wire
    if pinned:
        found = providers.get(pinned)
        if found is None or not found.configured:
            raise ClientError(
                400, f"{PIN_HEADER}: provider {pinned!r} is not configured", code="provider_not_configured"
            )
        if not found.speaks(wire):
            raise ClientError(
                400,
                f"{PIN_HEADER}: provider {pinned!r} does not speak the Responses API, so it stores no "
                "responses (the gateway translated its answers, and translated responses are not stored)",
                code="invalid_value",
            )
        return found
    candidates = [p for p in providers.values() if p.configured and p.speaks(wire)]
    if not candidates:
        raise ClientError(
            404,
            "no stored response can be found: no configured provider speaks the Responses API. Responses the "
            "gateway translated from another provider's answer are not stored (store and "
            "previous_response_id work only with a provider that speaks the Responses API)",
        )  # no code: OpenAI's own 404 for an unknown response has none
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise ClientError(
            400,
            f"several providers may hold this response ({names}): name the one that created it in the "
            f"{PIN_HEADER} header",
            code="provider_required",
        )
    return candidates[0]


def upstream_url(provider: Provider, response_id: str, call: Call, query: str) -> str:
    """The provider's URL for ``call`` on ``response_id`` (checked by ``_ID``), with the client's raw query."""
    url = f"{provider.url('responses')}/{response_id}{call.suffix}"
    return f"{url}?{query}" if query else url


def handler(call: Call) -> Handler:
    """The aiohttp handler of one stored-response endpoint (run it ``contextual``: key check, request id)."""

    async def forward(request: web.Request) -> web.StreamResponse:
        t0, started_at = time.monotonic(), time.time()
        fmt = registry.format_for_path(request.path)
        rid = request[keys.REQUEST_ID]
        state = request.app[keys.STATE]
        try:
            response_id = request.match_info["response_id"]
            if not _ID.fullmatch(response_id):
                raise ClientError(400, "response_id is not a valid response id", param="response_id")
            _not_an_endpoint(request.method, response_id, call)
            provider = holder(state.providers, request.headers.get(PIN_HEADER) or None)
            url = upstream_url(provider, response_id, call, request.rel_url.raw_query_string)
            seen = _Seen(request, state, provider, call, t0, started_at) if call.shows_response else None
            return await _relay(request, state.upstream, provider, call.method, url, seen)
        except GatewayError as exc:
            response = json_error(
                fmt, exc.status, exc.message, request_id=rid, code=exc.code, param=exc.param
            )
            if exc.status == 405:
                response.headers["Allow"] = "POST"
            return response

    return forward


def _not_an_endpoint(method: str, response_id: str, call: Call) -> None:
    """Raise for a path that names a generation endpoint (``POST /v1/responses/compact``), not a response:
    405 (``Allow: POST``) for a ``GET`` or ``DELETE`` of the endpoint itself, 404 for a call under it. OpenAI's
    ids are ``resp_`` + hex (API reference, "The response object"), so no stored response has that name, and
    the endpoint takes only ``POST`` (API reference, "Compact a response")."""
    path = f"{ENDPOINT_PATH}/{response_id}"
    if path not in registry.ENDPOINTS:
        return
    if not call.suffix:
        raise ClientError(
            405, f"method {method} is not allowed on {path}; use POST", code="method_not_allowed"
        )
    raise ClientError(
        404, f"{path} is an endpoint, not a stored response: {path}{call.suffix} does not exist"
    )


class _Seen:
    """What a retrieve or cancel answer shows, for the ledger: given the answer (a JSON value), publish the
    event of a finished background response (``background_usage.finished_usage``), once per process."""

    __slots__ = ("_request", "_state", "_provider", "_call", "_t0", "_started_at")

    def __init__(
        self,
        request: web.Request,
        state: keys.GatewayState,
        provider: Provider,
        call: Call,
        t0: float,
        started_at: float,
    ) -> None:
        self._request, self._state, self._provider, self._call = request, state, provider, call
        self._t0, self._started_at = t0, started_at

    def answer(self, answer: Any, streamed: bool, status: int, client_gone: bool = False) -> None:
        """Record ``answer`` when it shows a finished background response (status: what the client got).
        Never raises: the client's answer goes on whatever happens here (a bug is logged)."""
        try:
            self._record(answer, streamed, status, client_gone)
        except Exception:
            log.exception("could not record the usage shown by request %s", self._request[keys.REQUEST_ID])

    def _record(self, answer: Any, streamed: bool, status: int, client_gone: bool) -> None:
        wire = _wire()
        usage = background_usage.finished_usage(wire, answer)
        if usage is None or usage.billed_once_as is None:
            return
        provider, state = self._provider, self._state
        once = state.recorded_once
        key = keyed_event_id(provider.name, usage.billed_once_as)
        if key in once:
            return  # this process published it already: the ledger has (or will have) its row
        once[key] = None
        if len(once) > RECORDED_KEPT:
            once.popitem(last=False)
        model = m if isinstance(m := answer.get("model"), str) else ""
        request = self._request
        endpoint = registry.Endpoint(self._call.path, registry.format_for_path(request.path))
        call = calls.Call(
            endpoint,
            request[keys.REQUEST_ID],
            request.headers,
            self._t0,
            self._started_at,
            model=model,
            stream=streamed,
            api_key_name=auth.key_name(request),
            attribution_pending=True,
        )
        attempt = calls.Attempt(
            _route(state.catalog, provider.name, model),
            wire,
            False,
            answered=True,
            status=status,
            usage=provider.usage_rule(model)(usage),
            served_model=model or None,
            client_disconnected=client_gone,
        )
        call.attempts.append(attempt)
        call.answer(status)
        record(request, call, time.time(), (time.monotonic() - self._t0) * 1000, state)


def _wire() -> Wire:
    """The wire of the generation endpoint whose stored answers these calls reach."""
    return registry.client(registry.ENDPOINTS[ENDPOINT_PATH].format).wire


def _route(catalog: Catalog, provider: str, model: str) -> Route:
    """The route ``model`` has at ``provider`` (its catalog price, when it has one), else a plain one (priced by
    the price data, as an unlisted model of a create call is)."""
    try:
        found = catalog.routes(model, provider) if model else []
    except UnknownModel:
        found = []
    return next((r for r in found if r.provider == provider), Route(provider, model))


async def _relay(
    request: web.Request,
    upstream: UpstreamClient,
    provider: Provider,
    method: str,
    url: str,
    seen: _Seen | None = None,
) -> web.StreamResponse:
    """Send the call and give the client the provider's answer as it came (a stream chunk by chunk); hand a
    successful answer to ``seen`` (retrieve, cancel: the ledger), a stream's last terminal response."""
    resp = await upstream.send(provider, url, provider.headers(request.headers), b"", method)
    try:
        headers = provider.response_headers(resp.headers)
        headers[PIN_HEADER] = provider.name
        content_type = resp.headers.get("Content-Type", "application/json")
        if not content_type.startswith("text/event-stream"):
            body = await upstream.read_body(resp, provider)
            if seen is not None and resp.status == 200:
                seen.answer(background_usage.parse(body), False, resp.status)
            return web.Response(
                body=body, status=resp.status, headers={**headers, "Content-Type": content_type}
            )
        out = web.StreamResponse(status=resp.status, headers={**headers, "Content-Type": content_type})
        await out.prepare(request)
        chunks = Chunks(resp)
        phase: Phase = "first_token"
        timeout_s = upstream.first_byte_timeout_s
        tap = background_usage.StreamTap() if seen is not None and resp.status == 200 else None
        gone = False
        try:
            while (chunk := await upstream.next_chunk(chunks, provider, phase, timeout_s)) is not None:
                if tap is not None:
                    tap.feed(chunk)
                await out.write(chunk)
                phase, timeout_s = "between_chunks", upstream.chunk_timeout_s
        except GatewayError:
            resp.close()  # broke off after the answer began: the client's stream ends where the provider's did
        except CLIENT_GONE:
            gone = True  # the client hung up: nothing more to write, and nobody to tell
            resp.close()
        finally:
            if tap is not None:
                tap.finish()  # (a last event whose line breaks never came: ``StreamTap.finish``)
            if seen is not None and tap is not None and tap.response is not None:
                seen.answer(tap.response, True, resp.status, gone)
        if not gone:
            await out.write_eof()
        return out
    finally:
        resp.release()
