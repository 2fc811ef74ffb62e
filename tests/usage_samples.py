"""Provider usage objects that several tests read: one copy each, so a corrected figure changes everywhere.

Shapes are the provider's own ``usage`` JSON (Anthropic Messages API: ``usage.iterations``, one entry per
model call the answer took, each with its own token counts). Each function returns a fresh copy: a test may
extend or change it without touching another's.
"""

from __future__ import annotations

import copy
from typing import Any

# Bugcase 28 (compaction): a compaction call (150 in, 40,000 5-minute cache writes, 120 out), then the
# message (210 in, 7 out); the top level repeats only the last iteration's counts.
_BUGCASE_28: dict[str, Any] = {
    "input_tokens": 210,
    "output_tokens": 7,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "iterations": [
        {
            "type": "compaction",
            "input_tokens": 150,
            "output_tokens": 120,
            "cache_creation_input_tokens": 40000,
            "cache_read_input_tokens": 0,
        },
        {
            "type": "message",
            "input_tokens": 210,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    ],
}


def bugcase_28_usage(*, iteration_cache_reads: bool = True) -> dict[str, Any]:
    """Bugcase 28's Anthropic ``usage`` with compaction iterations. ``iteration_cache_reads=False``: the
    answer as recorded in session 14 (variant 28-a), whose iterations carry no ``cache_read_input_tokens``
    (the top level still does); neither form has a TTL split (``cache_creation``)."""
    usage = copy.deepcopy(_BUGCASE_28)
    if not iteration_cache_reads:
        for iteration in usage["iterations"]:
            del iteration["cache_read_input_tokens"]
    return usage
