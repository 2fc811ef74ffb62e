"""The c1 critical path's phases in Python calls per request, from ``crit_clock.py``'s segment profiles (session 23).

``bench/crit_clock.py --cprofile`` with ``CRIT_CLOCK_PSTATS=DIR`` (and ``CRIT_CLOCK_BATCH_DELAY=30``) writes the
gateway's profile of each segment (A: the client's request bytes to the upstream request written; B: the
upstream's answer to the client's last byte; P: after it, until the next request) to ``DIR/gateway-<seg>.prof``,
overwritten per path: run it once per path (``--paths "<exact name>"``), one DIR each. This reads them and splits
each segment into phases by the inclusive calls (the call itself and every call under it; recursion counted
once) of the functions that make them:

- A: ``parse`` (``handlers.read_json``'s body parse and the client spec's ``parse``: here the spec's), ``route``
  (``Catalog.routes``), ``build`` (``Proxy._build``: the translation, the body, the view, the URL, the
  headers), ``send`` (``UpstreamClient.send``), the rest (aiohttp's request read, auth, the call's set-up);
- B: ``relay`` (``make_relay``, ``Relay.feed``/``feed_last``, ``Relay.finish``/``settle`` when under
  ``_relay_stream``), ``write_eof`` (aiohttp's, the client's one write), the rest (the upstream read,
  ``until_committed``'s and ``_pump``'s own, the answer's headers);
- P: the segment's total (the relay's work deferred after the answer: ``settle``, ``finish``).

Deterministic counts, not times: the evidence on a shared machine. ``loop wakes`` counts
``aiohttp.helpers.set_result`` in B (a future set by the upstream's bytes: one task wake-up each).

    python bench/crit_phases.py NAME=DIR [NAME=DIR ...]
"""

from __future__ import annotations

import pstats
import sys
from collections.abc import Callable
from typing import Any

Key = tuple[str, int, str]

# phase → (file, function, caller's file or "" for any): the calls of that function made from that file
Match = tuple[str, str, str]
PHASES: dict[str, dict[str, tuple[Match, ...]]] = {
    "A": {
        "parse": (("handlers.py", "read_json", ""), ("", "parse", "handlers.py")),
        "route": (("catalog.py", "routes", "handlers.py"),),
        "build": (("proxy.py", "_build", "proxy.py"),),
        "send": (("upstream.py", "send", "proxy.py"),),
    },
    "B": {
        "relay": tuple(
            ("relay.py", f, "proxy.py") for f in ("make_relay", "feed", "feed_last", "finish", "settle")
        ),
        "write_eof": (("web_response.py", "write_eof", "proxy.py"),),
    },
}


def inclusive(stats: dict[Key, Any]) -> Callable[[Key], float]:
    """Inclusive calls per call of a function: its callees' calls, each with theirs, from pstats' callers."""
    callees: dict[Key, dict[Key, int]] = {}
    for fn, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, v in callers.items():
            callees.setdefault(caller, {})[fn] = v[1] if isinstance(v, tuple) else v
    memo: dict[Key, float] = {}

    def under(fn: Key, stack: frozenset[Key] = frozenset()) -> float:
        if fn in memo:
            return memo[fn]
        if fn in stack:
            return 0.0
        total = sum(k * (1 + under(c, stack | {fn})) for c, k in callees.get(fn, {}).items())
        memo[fn] = total / (stats[fn][1] or 1)
        return memo[fn]

    return under


def segment(path: str, seg: str, requests: int) -> dict[str, float]:
    """A segment's total calls per request and its phases' (inclusive), from its profile at ``path``."""
    stats: dict[Key, Any] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    under = inclusive(stats)
    out = {"total": sum(v[1] for v in stats.values()) / requests}
    for phase, matches in PHASES.get(seg, {}).items():
        n = 0.0
        for fn, v in stats.items():
            for file, name, caller in matches:
                if fn[2] != name or not fn[0].endswith(file):
                    continue
                made = sum(
                    c[1] if isinstance(c, tuple) else c for k, c in v[4].items() if k[0].endswith(caller)
                )
                n += made * (1 + under(fn))
        out[phase] = n / requests
    if seg == "B":  # a future set by the upstream's bytes: one task wake-up each
        out["loop wakes"] = sum(v[1] for fn, v in stats.items() if fn[2] == "set_result") / requests
    return out


def requests_of(directory: str) -> int:
    """Requests in a profile set: the calls of ``Proxy._relay_stream`` in its B segment."""
    stats: dict[Key, Any] = pstats.Stats(f"{directory}/gateway-B.prof").stats  # type: ignore[attr-defined]
    return max(v[1] for fn, v in stats.items() if fn[2] == "_relay_stream")


def main() -> None:
    for arg in sys.argv[1:]:
        name, directory = arg.split("=", 1)
        n = requests_of(directory)
        parts = []
        for seg in "ABP":
            figures = segment(f"{directory}/gateway-{seg}.prof", seg, n)
            parts.append(f"{seg}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()))
        print(f"{name} ({n} requests): " + " | ".join(parts))


if __name__ == "__main__":
    main()
