"""Instructions per ``usage_from_openai`` call, in deterministic counts (callgrind), on usages of this wire.

Session 22: ``usage_from_openai`` reads OpenAI's own usage without the other servers' probes; this counts what a
call costs on the fake provider's plain chat usage (the bench's: OpenAI's own keys), on a reasoning answer's
(OpenAI's own keys, a total above prompt + completion) and on usages that take the probes (DeepSeek's cache hits,
LiteLLM's Claude cache writes with the TTL split, OpenRouter's cost). ``N`` calls inside a ``functools.reduce``
(``--toggle-collect=functools_reduce``), N and 0, the difference divided by N (``bench/event_pieces.py``'s way).

    python bench/usage_reads.py [--n 2000]
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.moved_pieces import collected_by  # noqa: E402
from bench.upstream import fake_answers  # noqa: E402
from services.gateway.dialects._openai_wire import usage_from_openai  # noqa: E402


def usages() -> dict[str, dict[str, Any]]:
    """name -> a ``usage`` object as a server on the OpenAI wire sends it."""
    plain: dict[str, Any] = orjson.loads(fake_answers()["chat/completions.json"])["usage"]
    return {
        "plain (fake provider, own keys)": plain,
        "reasoning (own keys, total above)": {
            "prompt_tokens": 120,
            "completion_tokens": 40,
            "total_tokens": 400,
            "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 30, "audio_tokens": 0},
        },
        "deepseek cache hits (probes)": {
            "prompt_tokens": 120,
            "completion_tokens": 40,
            "total_tokens": 160,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 56,
        },
        "litellm claude writes + split (probes)": {
            "prompt_tokens": 3000,
            "completion_tokens": 40,
            "total_tokens": 3040,
            "prompt_tokens_details": {
                "cached_tokens": 1000,
                "cache_creation_tokens": 1500,
                "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": 500,
                    "ephemeral_1h_input_tokens": 1000,
                },
            },
        },
        "openrouter cost (probes)": {
            "prompt_tokens": 120,
            "completion_tokens": 40,
            "total_tokens": 160,
            "cost": 0.00042,
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        },
    }


def main() -> None:
    if sys.argv[1:2] == ["--callgrind"]:
        name, runs = sys.argv[2], int(sys.argv[3])
        u = usages()[name]
        for _ in range(50):
            usage_from_openai(u, "default")
        functools.reduce(lambda acc, _: usage_from_openai(u, "default"), range(runs), None)
        return
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    for name in usages():
        with_n = collected_by(__file__, [name, str(args.n)])
        none = collected_by(__file__, [name, "0"])
        print(f"{name:40} {(with_n - none) / args.n:9,.0f} instructions a call")


if __name__ == "__main__":
    main()
