"""Each provider's last rate-limit refusal, told again while the window it stated lasts (pure).

A provider that answers 429 with a Retry-After rests for at most ``BreakerConfig.retry_after_cap_s``; in
that time the serve loop answers the client itself, without calling it (``serve.unavailable``). Such an
answer must still say what the provider said (status, body, ``anthropic-ratelimit-unified-*``,
``x-ratelimit-*``, ``x-should-retry``, and the time left of ITS window, not the gateway's cap): Claude Code
and the SDKs decide from those headers whether a 429 is a short throttle or a long quota, and retry in a
loop otherwise (bugcase 11; s10 variants 11-a, 11-f; conformance §0, "forward or synthesise the retry
headers").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Refusal(Generic[R]):
    until: float  # unix seconds: the end of the window the provider stated (uncapped)
    what: R  # what the provider answered (the proxy keeps its failed attempt)


class Refusals(Generic[R]):
    """Per provider, its last refusal with a stated window; ``clock`` returns unix seconds."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last: dict[str, Refusal[R]] = {}
        # the same dict, to be read, not changed: ``if refusals.held`` tests for any without the Python
        # call ``__bool__`` is (the proxy asks after every request)
        self.held: Mapping[str, Refusal[R]] = self._last

    def remember(self, provider: str, retry_after_s: float, what: R) -> None:
        """``provider`` refused, asking for ``retry_after_s`` seconds of rest (the newest refusal wins)."""
        self._last[provider] = Refusal(self._clock() + max(0.0, retry_after_s), what)

    def forget(self, provider: str) -> None:
        """``provider`` answered: its refusal is over."""
        self._last.pop(provider, None)

    def current(self, providers: Iterable[str]) -> tuple[R, float] | None:
        """The refusal among ``providers``' whose window ends soonest, with its seconds left; None when
        one of them has no open window (it was not resting for a refusal of its own)."""
        now = self._clock()
        best: Refusal[R] | None = None
        for name in providers:
            found = self._last.get(name)
            if found is None or found.until <= now:
                return None
            if best is None or found.until < best.until:
                best = found
        return None if best is None else (best.what, best.until - now)

    def __bool__(self) -> bool:
        return bool(self._last)
