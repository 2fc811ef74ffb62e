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
provider's key. These calls publish no ledger event (docs/responses.md says why).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from services.gateway import keys
from services.gateway.dialects import registry
from services.gateway.errors import ClientError, GatewayError
from services.gateway.handlers import Handler, json_error
from services.gateway.providers.base import Provider
from services.gateway.upstream import Chunks, Phase, UpstreamClient

PIN_HEADER = "x-ekai-provider"
ENDPOINT_PATH = "/v1/responses"  # the generation endpoint whose stored answers these calls reach
# OpenAI's ids are ``resp_`` + hex; another server's may differ: any plain token, never a path segment
# of its own ("." or "..") nor anything that needs escaping in a URL path.
_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._:-]{0,255}")


@dataclass(frozen=True, slots=True)
class Call:
    """One stored-response endpoint: the HTTP method and the path after ``/responses/{id}``."""

    method: str
    suffix: str = ""

    @property
    def path(self) -> str:
        """The gateway's route for it (aiohttp's ``{response_id}``: one path segment)."""
        return f"{ENDPOINT_PATH}/{{response_id}}{self.suffix}"


# the openai SDK's methods in the comments
CALLS: tuple[Call, ...] = (
    Call("GET"),  # responses.retrieve
    Call("DELETE"),  # responses.delete
    Call("POST", "/cancel"),  # responses.cancel
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
        fmt = registry.format_for_path(request.path)
        rid = request[keys.REQUEST_ID]
        state = request.app[keys.STATE]
        try:
            response_id = request.match_info["response_id"]
            if not _ID.fullmatch(response_id):
                raise ClientError(400, "response_id is not a valid response id", param="response_id")
            provider = holder(state.providers, request.headers.get(PIN_HEADER) or None)
            url = upstream_url(provider, response_id, call, request.rel_url.raw_query_string)
            return await _relay(request, state.upstream, provider, call.method, url)
        except GatewayError as exc:
            return json_error(fmt, exc.status, exc.message, request_id=rid, code=exc.code, param=exc.param)

    return forward


async def _relay(
    request: web.Request, upstream: UpstreamClient, provider: Provider, method: str, url: str
) -> web.StreamResponse:
    """Send the call and give the client the provider's answer as it came (a stream chunk by chunk)."""
    resp = await upstream.send(provider, url, provider.headers(request.headers), b"", method)
    try:
        headers = provider.response_headers(resp.headers)
        headers[PIN_HEADER] = provider.name
        content_type = resp.headers.get("Content-Type", "application/json")
        if not content_type.startswith("text/event-stream"):
            body = await upstream.read_body(resp, provider)
            return web.Response(
                body=body, status=resp.status, headers={**headers, "Content-Type": content_type}
            )
        out = web.StreamResponse(status=resp.status, headers={**headers, "Content-Type": content_type})
        await out.prepare(request)
        chunks = Chunks(resp)
        phase: Phase = "first_token"
        timeout_s = upstream.first_byte_timeout_s
        try:
            while (chunk := await upstream.next_chunk(chunks, provider, phase, timeout_s)) is not None:
                await out.write(chunk)
                phase, timeout_s = "between_chunks", upstream.chunk_timeout_s
        except GatewayError:
            resp.close()  # broke off after the answer began: the client's stream ends where the provider's did
        await out.write_eof()
        return out
    finally:
        resp.release()
