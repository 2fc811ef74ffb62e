"""The dashboard beyond loopback: every request needs an admin credential.

Accepted: HTTP basic ``ADMIN_USER``/``ADMIN_PASSWORD``, HTTP basic with an admin gateway key as the password
(any user name), or an admin gateway key as ``Authorization: Bearer``. Browsers ask for basic credentials
on the 401's ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

import flask

from services.gateway.keys.keyfile import KeyRing
from shared.access import basic_credentials, same_text

CHALLENGE = {"WWW-Authenticate": 'Basic realm="ekai-dashboard", charset="UTF-8"'}


def allowed(header: str, basic: tuple[str, str] | None, ring: KeyRing) -> bool:
    """Whether an ``Authorization`` header carries an admin credential."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        entry = ring.find(token.strip())
        return entry is not None and entry.admin
    given = basic_credentials(header)
    if given is None:
        return False
    user, password = given
    if basic is not None and same_text(user, basic[0]) & same_text(password, basic[1]):
        return True
    entry = ring.find(password)
    return entry is not None and entry.admin


def protect(server: flask.Flask, basic: tuple[str, str] | None, ring: KeyRing) -> None:
    """Refuse every request to ``server`` without an admin credential (401 with a basic challenge)."""

    def check() -> flask.Response | None:
        if allowed(flask.request.headers.get("Authorization", ""), basic, ring):
            return None
        return flask.Response(
            "an admin credential is required: HTTP basic ADMIN_USER/ADMIN_PASSWORD, or an "
            "admin gateway key\n",
            401,
            CHALLENGE,
            mimetype="text/plain",
        )

    # first of the server's checks (``callback_body.guard`` runs after it): nothing else answers a stranger
    server.before_request_funcs.setdefault(None, []).insert(0, check)
