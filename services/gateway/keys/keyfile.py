"""Gateway keys: who may use the gateway, and with which budget, rate limits and models.

Keys come from ``GATEWAY_API_KEYS`` (comma-separated ``name=key`` pairs, for scripts and tests) and/or the
TOML file at ``GATEWAY_KEYS_PATH``, one ``[[keys]]`` table per key::

    [[keys]]
    name = "ci"
    key_sha256 = "…"            # hex SHA-256 of the key; the file never holds a key in clear
    budget_usd = 5.0            # optional, with budget_period = "day" | "month" (UTC calendar; default month)
    requests_per_minute = 60    # optional
    tokens_per_minute = 200000  # optional
    models = ["gpt-4o*", "claude-*"]  # optional globs; absent = every model
    admin = true                # optional: may read /usage and the dashboard beyond loopback

A malformed file, or an entry that breaks a rule, raises :class:`KeyFileError` naming the line. Presented
credentials are hashed and looked up by hash (:meth:`KeyRing.find`), so no comparison ever runs over the
characters of a real key; the matching digest is confirmed with ``hmac.compare_digest``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")
KEY_PREFIX = "ekai-"
MAX_CREDENTIAL_CHARS = 512  # anything longer is not one of ours: 401 without hashing it
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TABLE = re.compile(r"^\s*\[\[\s*keys\s*\]\]")
_FIELDS = frozenset(
    {
        "name",
        "key_sha256",
        "budget_usd",
        "budget_period",
        "requests_per_minute",
        "tokens_per_minute",
        "models",
        "admin",
    }
)


class KeyFileError(ValueError):
    """A keys file or ``GATEWAY_API_KEYS`` that cannot be used; the message names where."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One gateway key (its hash, never the key) and what it may do."""

    name: str
    key_sha256: str
    budget_usd: float | None = None
    budget_period: Period = "month"
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    models: tuple[str, ...] = ()  # globs; empty: every model
    admin: bool = False

    def allows_model(self, model: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(model, glob) for glob in self.models)

    @property
    def limited(self) -> bool:
        return self.budget_usd is not None or bool(self.requests_per_minute) or bool(self.tokens_per_minute)


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as stored in the keys file."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key: ``ekai-`` and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def plausible_credential(value: str) -> bool:
    """Whether a presented credential is worth hashing: non-empty, printable ASCII, not huge."""
    return 0 < len(value) <= MAX_CREDENTIAL_CHARS and value.isascii() and value.isprintable()


class KeyRing:
    """The configured keys, looked up by the hash of a presented credential."""

    def __init__(self, entries: tuple[KeyEntry, ...] = ()) -> None:
        self.entries = entries
        self._by_hash = {e.key_sha256: e for e in entries}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def find(self, credential: str) -> KeyEntry | None:
        """The entry whose key is ``credential``, or None (also for empty, huge or non-ASCII input)."""
        if not plausible_credential(credential):
            return None
        digest = hash_key(credential)
        entry = self._by_hash.get(digest)
        if entry is None or not hmac.compare_digest(entry.key_sha256, digest):
            return None
        return entry

    @property
    def has_admin(self) -> bool:
        return any(e.admin for e in self.entries)


def load_keyring(pairs: str | None, path: str | None) -> KeyRing:
    """Keys from ``GATEWAY_API_KEYS`` text and the TOML file at ``path``. Raises :class:`KeyFileError`."""
    entries = [*_from_pairs(pairs or ""), *(_from_file(Path(path)) if path else [])]
    names: set[str] = set()
    hashes: dict[str, str] = {}
    for entry in entries:
        if entry.name in names:
            raise KeyFileError(f"key name {entry.name!r} is used twice (GATEWAY_API_KEYS, GATEWAY_KEYS_PATH)")
        if entry.key_sha256 in hashes:
            raise KeyFileError(f"keys {hashes[entry.key_sha256]!r} and {entry.name!r} are the same key")
        names.add(entry.name)
        hashes[entry.key_sha256] = entry.name
    return KeyRing(tuple(entries))


def _from_pairs(text: str) -> list[KeyEntry]:
    entries = []
    for n, item in enumerate((i.strip() for i in text.split(",")), 1):
        if not item:
            continue
        name, sep, key = (part.strip() for part in item.partition("="))
        where = f"GATEWAY_API_KEYS entry {n}"
        if not sep or not name:
            raise KeyFileError(f"{where}: expected name=key, and the key needs a name")
        _check_name(name, where)
        if not plausible_credential(key) or len(key) < 8:
            raise KeyFileError(
                f"{where} ({name}): the key must be 8 to {MAX_CREDENTIAL_CHARS} printable ASCII characters"
            )
        entries.append(KeyEntry(name=name, key_sha256=hash_key(key)))
    return entries


def _from_file(path: Path) -> list[KeyEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"keys file {path}: cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column, or the end
        where = f" (line {len(text.splitlines())}, the last)" if "end of document" in str(exc) else ""
        raise KeyFileError(f"keys file {path}: not valid TOML: {exc}{where}") from None
    lines = text.splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if _TABLE.match(line)]
    extra = sorted(set(data) - {"keys"})
    if extra:
        raise KeyFileError(
            f"keys file {path}: unknown top-level entry {extra[0]!r}; expected [[keys]] tables"
        )
    tables = data.get("keys", [])
    if not isinstance(tables, list):
        raise KeyFileError(f"keys file {path}: 'keys' must be [[keys]] tables")
    entries = []
    for i, table in enumerate(tables):
        line = starts[i] if i < len(starts) else 1
        entries.append(_entry(table, f"keys file {path}", line, lines))
    return entries


def _field_line(lines: list[str], start: int, field: str) -> int:
    """The line (1-based) of ``field = …`` in the table starting at line ``start``, else ``start``."""
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=")
    for number in range(start, len(lines) + 1):
        if number > start and _TABLE.match(lines[number - 1]):
            break
        if pattern.match(lines[number - 1]):
            return number
    return start


def _entry(table: Any, where: str, start: int, lines: list[str]) -> KeyEntry:
    def fail(field: str | None, message: str) -> KeyFileError:
        line = _field_line(lines, start, field) if field else start
        return KeyFileError(f"{where}, line {line}: {message}")

    if not isinstance(table, Mapping):
        raise fail(None, "each [[keys]] entry must be a table")
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field {unknown[0]!r}; known: {', '.join(sorted(_FIELDS))}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", 'this key has no name: add name = "…"')
    if not _NAME.fullmatch(name):
        raise fail(
            "name", f"name {name!r} must be 1-64 letters, digits or ._@+- (starting with a letter or digit)"
        )
    digest = table.get("key_sha256")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
        raise fail(
            "key_sha256",
            f"key {name!r}: key_sha256 must be 64 hex digits (the SHA-256 of the key; "
            "`python -m services.gateway.keys add` writes it)",
        )
    budget = table.get("budget_usd")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0
    ):
        raise fail("budget_usd", f"key {name!r}: budget_usd must be a positive number")
    period = table.get("budget_period", "month")
    if period not in PERIODS:
        raise fail("budget_period", f'key {name!r}: budget_period must be "day" or "month", not {period!r}')
    limits = {}
    for field in ("requests_per_minute", "tokens_per_minute"):
        value = table.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise fail(field, f"key {name!r}: {field} must be a positive whole number")
        limits[field] = value
    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise fail("models", f"key {name!r}: models must be a list of model name globs")
    admin = table.get("admin", False)
    if not isinstance(admin, bool):
        raise fail("admin", f"key {name!r}: admin must be true or false")
    return KeyEntry(
        name=name,
        key_sha256=digest.lower(),
        budget_usd=float(budget) if budget is not None else None,
        budget_period=period,
        models=tuple(models),
        admin=admin,
        **limits,
    )


def _check_name(name: str, where: str) -> None:
    if not _NAME.fullmatch(name):
        raise KeyFileError(
            f"{where}: name {name!r} must be 1-64 letters, digits or ._@+- (starting with a letter or digit)"
        )


def entry_toml(entry: KeyEntry) -> str:
    """One ``[[keys]]`` table for ``entry`` (what ``keys add`` appends)."""
    lines = ["[[keys]]", f"name = {json.dumps(entry.name)}", f'key_sha256 = "{entry.key_sha256}"']
    if entry.budget_usd is not None:
        lines += [f"budget_usd = {entry.budget_usd!r}", f'budget_period = "{entry.budget_period}"']
    for field in ("requests_per_minute", "tokens_per_minute"):
        value = getattr(entry, field)
        if value is not None:
            lines.append(f"{field} = {value}")
    if entry.models:
        lines.append("models = [" + ", ".join(json.dumps(m) for m in entry.models) + "]")
    if entry.admin:
        lines.append("admin = true")
    return "\n".join(lines) + "\n"
