"""How numbers read on the dashboard (pure functions)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

DASH = "—"


def count(n: float | None) -> str:
    """An exact count with thousands separators: ``12,345``."""
    return DASH if n is None else f"{int(n):,}"


def compact(n: float | None) -> str:
    """A large quantity, short: ``9,876``, ``12.3k``, ``4.56M``, ``1.23B``."""
    if n is None:
        return DASH
    for threshold, size, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(n) >= threshold:
            value = n / size
            return f"{value:.3g}{suffix}" if value < 1000 else f"{value:,.0f}{suffix}"
    return f"{int(n):,}"


def usd(x: float | None) -> str:
    """Dollars: ``$1,234.56``; sub-cent amounts keep four decimals (``$0.0042``), amounts below a hundredth of a
    cent six (``$0.000004``: the ledger's micro-dollar, as ``ekai-tail`` prints it; a short gpt-4o-mini request
    read ``$0.0000``, as if free); None (no known price) is a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    if 0 < abs(x) < 0.0001:
        return f"${x:,.6f}"
    return f"${x:,.4f}" if 0 < abs(x) < 0.01 else f"${x:,.2f}"


def percent(x: float | None) -> str:
    """A ratio as a percentage: ``3.81%``."""
    return DASH if x is None else f"{x * 100:.2f}%"


def latency(ms: float | None) -> str:
    """Milliseconds below one second (``850 ms``), seconds above (``1.95 s``)."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return DASH
    return f"{ms:,.0f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def moment(ts: float) -> str:
    """Unix seconds as ``2025-01-31 12:34:56`` (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def bucket_label(seconds: int) -> str:
    """A bucket width in words: ``1 min``, ``15 min``, ``1 h``, ``6 h``, ``1 day``."""
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" + ("s" if days > 1 else "")
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
