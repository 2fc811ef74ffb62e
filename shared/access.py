"""No open door: what counts as loopback, the refusal to serve beyond it without a credential, and HTTP
basic credentials. Used by the gateway (``services/gateway/auth.py``) and the dashboard."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

MAX_CREDENTIAL_CHARS = 512


class ExposedWithoutKeys(ValueError):
    """A service would listen beyond loopback with no credential configured."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address) is reachable only from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(what: str, host: str, port: int, has_credential: bool, trusted: bool, how: str) -> None:
    """Refuse to serve ``what`` beyond loopback without a credential. Raises :class:`ExposedWithoutKeys`."""
    if is_loopback(host) or has_credential or trusted:
        return
    raise ExposedWithoutKeys(
        f"{what} would listen on {host}:{port}, beyond this machine, and no credential is configured: anyone "
        f"who can reach it could {how}. Add gateway keys (`python -m services.gateway.keys add NAME`, then "
        "GATEWAY_KEYS_PATH=data/keys.toml; or GATEWAY_API_KEYS=name=key; `--admin` for a key that may read "
        "usage), or ADMIN_USER and ADMIN_PASSWORD for the dashboard and /usage, or set "
        "GATEWAY_TRUSTED_NETWORK=1 to state that every host that can reach it is trusted."
    )


def same_text(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic …`` header, or None."""
    scheme, _, encoded = header.strip().partition(" ")
    encoded = encoded.strip()
    if (
        scheme.lower() != "basic"
        or not encoded
        or len(encoded) > MAX_CREDENTIAL_CHARS
        or not encoded.isascii()
    ):
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
