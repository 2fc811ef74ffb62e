"""Typed settings, read from the environment when a service starts (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    api_key: str | None
    base_url: str

    @property
    def configured(self) -> bool:
        return bool(self.api_key)


@dataclass(frozen=True, slots=True)
class Settings:
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 3001
    # Gateway processes sharing GATEWAY_PORT (SO_REUSEPORT) under one parent; 1: a single process, no parent.
    gateway_workers: int = 1
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 3000
    database_path: str = "data/usage.db"  # the SQLite ledger, used when database_url is not set
    database_url: str | None = None  # postgresql://user:password@host:port/db: the ledger in PostgreSQL
    # ZeroMQ: gateway DEALER -> recorder ROUTER (the ledger, acknowledged), recorder PUB -> tail SUB (live view).
    events_endpoint: str = "tcp://127.0.0.1:5557"
    tail_endpoint: str = "tcp://127.0.0.1:5558"
    # Events the gateway holds until the recorder acknowledges their commit; past this new ones are dropped
    # and counted.
    event_queue_max: int = 10_000
    event_ack_timeout_s: float = 5.0  # an event sent but not acknowledged for this long is sent again
    # Gateway SIGTERM: in-flight requests and streams get this long to finish, then the unacknowledged
    # events get this long to be acknowledged.
    shutdown_grace_s: float = 3.0
    shutdown_ack_wait_s: float = 1.5
    connect_timeout_s: float = 10.0
    first_byte_timeout_s: float = 120.0
    chunk_timeout_s: float = 120.0
    stream_keepalive_s: float = 10.0  # silence on a stream after which the client gets a keep-alive (0: off)
    max_body_bytes: int = 32 * 1024 * 1024
    # The largest whole (non-streamed) answer read from a provider; a longer one is a 502 bad_response (the next
    # route is tried): a huge or endless body must not use up the gateway's memory (streams are relayed, not held).
    max_answer_bytes: int = 64 * 1024 * 1024
    client_body_timeout_s: float = 30.0  # a client must send its whole request body within this (else 408)
    recorder_batch_size: int = 500
    recorder_flush_interval_s: float = 0.2
    recorder_metrics_host: str = "127.0.0.1"
    recorder_metrics_port: int = 3002  # the recorder's Prometheus /metrics; 0 turns it off
    recorder_priority: str = "idle"  # "idle" | "nice" | "normal" (services/recorder/priority.py)
    dashboard_refresh_s: float = 10.0
    catalog_path: str | None = None
    log_level: str = "INFO"
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    # Routing (docs/catalog.md): how candidates are ordered, how many are tried, when one is rested.
    routing_policy: str = "cheapest"  # "cheapest" | "ordered"
    routing_order: tuple[str, ...] = ("openai", "anthropic", "xai", "openrouter")
    max_attempts: int = 4  # upstream attempts per request, fallbacks and Retry-After retries included
    breaker_failures: int = 5  # consecutive provider failures that open its circuit breaker
    breaker_cooldown_s: float = 30.0  # how long an open breaker keeps the provider out of rotation
    retry_after_max_wait_s: float = 5.0  # longest the gateway itself waits out a Retry-After
    retry_after_cap_s: float = 600.0  # longest a provider is skipped on its own Retry-After
    # Gateway keys (services/gateway/keys/keyfile.py): name=key pairs and/or a TOML file of key hashes.
    gateway_api_keys: str | None = field(default=None, repr=False)
    gateway_keys_path: str | None = None
    # Serve beyond loopback without gateway keys or dashboard credentials (a network you trust).
    trusted_network: bool = False
    # HTTP basic credentials for the dashboard and /usage beyond loopback.
    admin_user: str | None = None
    admin_password: str | None = field(default=None, repr=False)


# Provider name -> (key variable, base URL variable, default base URL).
PROVIDER_ENV: dict[str, tuple[str, str, str]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "xai": ("XAI_API_KEY", "XAI_BASE_URL", "https://api.x.ai/v1"),
    "openrouter": ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1"),
}


ROUTING_POLICIES = ("cheapest", "ordered")


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "")
    return value.strip() if value.strip() else default


def _at_least(name: str, value: float, minimum: float) -> float:
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {value:g}")
    return value


def _policy(env: Mapping[str, str], default: str) -> str:
    policy = _get(env, "ROUTING_POLICY", default).lower()
    if policy not in ROUTING_POLICIES:
        raise ValueError(f"ROUTING_POLICY must be one of {', '.join(ROUTING_POLICIES)}, got {policy!r}")
    return policy


RECORDER_PRIORITIES = ("idle", "nice", "normal")  # services/recorder/priority.py PRIORITIES


def _recorder_priority(env: Mapping[str, str], default: str) -> str:
    value = _get(env, "RECORDER_PRIORITY", default).lower()
    if value not in RECORDER_PRIORITIES:
        raise ValueError(f"RECORDER_PRIORITY must be one of {', '.join(RECORDER_PRIORITIES)}, got {value!r}")
    return value


def _order(env: Mapping[str, str], default: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in _get(env, "ROUTING_ORDER", "").split(",") if n.strip())
    return names or default


POSTGRES_SCHEMES = ("postgresql", "postgres")


def _database_url(env: Mapping[str, str]) -> str | None:
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return None
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in POSTGRES_SCHEMES:
        raise ValueError(
            "DATABASE_URL must be a postgresql://user:password@host:port/database URL "
            f"(the SQLite ledger is DATABASE_PATH), got scheme {scheme or url[:20]!r}"
        )
    return url


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    return int(_at_least(name, value, minimum))


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (seconds where it is a time), got {raw!r}") from None
    if value != value:  # NaN compares false with every bound (inf is a bound: no timeout)
        raise ValueError(f"{name} must be a number, got {raw!r}")
    return _at_least(name, value, minimum)


# Python logging's level names, its aliases mapped to the names it prints
LOG_LEVELS = {n: n for n in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")} | {
    "WARN": "WARNING",
    "FATAL": "CRITICAL",
}


def _log_level(env: Mapping[str, str], default: str) -> str:
    level = _get(env, "LOG_LEVEL", default).upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return LOG_LEVELS[level]


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name, "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (true or false), got {value!r}")


def provider_key(env: Mapping[str, str], name: str) -> str | None:
    """The provider key in ``env[name]`` with surrounding whitespace removed (a line ending carried in from a
    file: ``"\\r\\n"`` of a .env edited on Windows, ``"\\n"`` of a key file read whole); None
    when unset or blank. Raises ``ValueError`` naming the variable, never its value, when what is left holds a
    character outside printable ASCII (0x20-0x7E): the key goes into an HTTP field value, which cannot carry
    CR, LF, NUL or other controls (RFC 9110, section 5.5), and providers' keys are ASCII, so a non-ASCII
    character is a paste gone wrong (a typographic quote, a zero-width space) that would fail every request."""
    value = env.get(name, "").strip()
    if not value:
        return None
    bad = next((i for i, ch in enumerate(value) if not " " <= ch <= "~"), None)
    if bad is not None:
        what = "a line break" if value[bad] in "\r\n" else f"the character U+{ord(value[bad]):04X}"
        raise ValueError(
            f"{name} holds {what} at position {bad + 1} of {len(value)}: a provider key is printable ASCII "
            "(the value is not shown: check the file or shell it came from)"
        )
    return value


# What a process that cannot bind a taken address adds to its line: a second stack beside a running one needs all
# five moved (README, Quick start), which one line at a time never said
SECOND_STACK = (
    "a second stack beside a running one needs its own GATEWAY_PORT, DASHBOARD_PORT, RECORDER_METRICS_PORT, "
    "EVENTS_ENDPOINT and TAIL_ENDPOINT (README, Quick start)"
)


def another_port(name: str, port: int, endpoint: str | None = None) -> str:
    """The example a "port taken" line gives (``NAME=value`` before ``make run`` or ``make demo``): the taken port
    plus 10 (``GATEWAY_PORT=3011`` for 3001, the README's second stack), or for a ZeroMQ ``endpoint``
    (``tcp://host:port``) the same endpoint at the port plus 100 (``tcp://127.0.0.1:5657`` for 5557). Never the taken
    port itself (a fixed example named the very port that was taken when that was the one chosen, and
    ``make run`` under ``make demo``). Pure."""
    if endpoint is not None:
        head, sep, tail = endpoint.rpartition(":")
        value = f"{head}:{int(tail) + 100}" if sep and tail.isdigit() else "tcp://127.0.0.1:<free port>"
    else:
        value = str(port + 10 if port + 10 <= 65535 else port - 10)
    return f"e.g. {name}={value} in front of `make run` or `make demo`"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``). Raises ``ValueError`` naming the variable on a
    bad value (not a number, below its minimum, an unknown policy or log level, a provider key with a line
    break or another character outside printable ASCII: ``provider_key``)."""
    env = os.environ if env is None else env
    d = Settings()
    providers = {
        name: ProviderSettings(
            name=name,
            api_key=provider_key(env, key_var),
            base_url=_get(env, url_var, default_url).rstrip("/"),
        )
        for name, (key_var, url_var, default_url) in PROVIDER_ENV.items()
    }
    return Settings(
        gateway_host=_get(env, "GATEWAY_HOST", d.gateway_host),
        gateway_port=_int(env, "GATEWAY_PORT", d.gateway_port),
        gateway_workers=_int(env, "GATEWAY_WORKERS", d.gateway_workers, 1),
        dashboard_host=_get(env, "DASHBOARD_HOST", d.dashboard_host),
        dashboard_port=_int(env, "DASHBOARD_PORT", d.dashboard_port),
        database_path=_get(env, "DATABASE_PATH", d.database_path),
        database_url=_database_url(env),
        events_endpoint=_get(env, "EVENTS_ENDPOINT", d.events_endpoint),
        tail_endpoint=_get(env, "TAIL_ENDPOINT", d.tail_endpoint),
        event_queue_max=_int(env, "EVENT_QUEUE_MAX", d.event_queue_max, 1),
        event_ack_timeout_s=_float(env, "EVENT_ACK_TIMEOUT", d.event_ack_timeout_s, 0.05),
        shutdown_grace_s=_float(env, "SHUTDOWN_GRACE", d.shutdown_grace_s),
        shutdown_ack_wait_s=_float(env, "SHUTDOWN_ACK_WAIT", d.shutdown_ack_wait_s),
        connect_timeout_s=_float(env, "UPSTREAM_CONNECT_TIMEOUT", d.connect_timeout_s),
        first_byte_timeout_s=_float(env, "UPSTREAM_FIRST_BYTE_TIMEOUT", d.first_byte_timeout_s),
        chunk_timeout_s=_float(env, "UPSTREAM_CHUNK_TIMEOUT", d.chunk_timeout_s),
        stream_keepalive_s=_float(env, "STREAM_KEEPALIVE_S", d.stream_keepalive_s),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", d.max_body_bytes, 1),
        max_answer_bytes=_int(env, "MAX_ANSWER_BYTES", d.max_answer_bytes, 1),
        client_body_timeout_s=_float(env, "CLIENT_BODY_TIMEOUT", d.client_body_timeout_s, 0.05),
        recorder_batch_size=_int(env, "RECORDER_BATCH_SIZE", d.recorder_batch_size, 1),
        recorder_flush_interval_s=_float(env, "RECORDER_FLUSH_INTERVAL", d.recorder_flush_interval_s),
        recorder_metrics_host=_get(env, "RECORDER_METRICS_HOST", d.recorder_metrics_host),
        recorder_metrics_port=_int(env, "RECORDER_METRICS_PORT", d.recorder_metrics_port, 0),
        recorder_priority=_recorder_priority(env, d.recorder_priority),
        dashboard_refresh_s=_float(env, "DASHBOARD_REFRESH", d.dashboard_refresh_s),
        catalog_path=env.get("CATALOG_PATH") or None,
        log_level=_log_level(env, d.log_level),
        providers=providers,
        routing_policy=_policy(env, d.routing_policy),
        routing_order=_order(env, d.routing_order),
        max_attempts=_int(env, "MAX_ATTEMPTS", d.max_attempts, 1),
        breaker_failures=_int(env, "BREAKER_FAILURES", d.breaker_failures, 1),
        breaker_cooldown_s=_float(env, "BREAKER_COOLDOWN", d.breaker_cooldown_s),
        retry_after_max_wait_s=_float(env, "RETRY_AFTER_MAX_WAIT", d.retry_after_max_wait_s),
        retry_after_cap_s=_float(env, "RETRY_AFTER_CAP", d.retry_after_cap_s),
        gateway_api_keys=env.get("GATEWAY_API_KEYS", "").strip() or None,
        gateway_keys_path=env.get("GATEWAY_KEYS_PATH", "").strip() or None,
        trusted_network=_flag(env, "GATEWAY_TRUSTED_NETWORK"),
        admin_user=env.get("ADMIN_USER", "").strip() or None,
        admin_password=env.get("ADMIN_PASSWORD") or None,
    )
