"""The translated paths' pure work, alone: a request's translation and a stream's relay, in a loop.

No sockets, no event loop: what ``services/gateway/dialects`` and ``relay.Translator`` cost per request,
measured by the thread's CPU clock (µs per request, best of ``--rounds``) and by cProfile's call count
(deterministic, so a change shows even on a busy machine).

- request: the client's body parsed (``ClientSpec.parse``), translated for the upstream wire
  (``Pairing.translate``) and serialised, for the bench's bodies (``bench/paths.py``) and, for Responses,
  Codex's captured request (``../shared/captures/codex/say_hi``) when it is there.
- relay: the fake provider's streamed answer to the bench's request (``bench/upstream.py CAPTURES``)
  fed to a fresh ``Translator`` in one chunk, then ``finish()``, as the gateway does per request;
  with ``--passthrough``, the same for the passthrough streams' ``relay.Passthrough`` instead.

Not part of ``make bench`` (its name does not start with ``bench_``): a developer's measuring tool.

    python bench/profile_translation.py [--iterations 2000] [--rounds 5] [--only "responses →"] [--passthrough]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.paths import PATHS, PathCase  # noqa: E402
from bench.upstream import fake_answers  # noqa: E402
from services.gateway.dialects import registry  # noqa: E402
from services.gateway.dialects._prompt_cache import NO_SESSION  # noqa: E402
from services.gateway.dialects._request_common import Target  # noqa: E402
from services.gateway.dialects.view import View  # noqa: E402
from services.gateway.relay import make_relay  # noqa: E402

CODEX = ROOT.parent / "shared" / "captures" / "codex" / "say_hi" / "0001_POST_v1_responses.json"
FORMATS = {
    "/v1/chat/completions": "openai_chat",
    "/v1/messages": "anthropic",
    "/v1/responses": "openai_responses",
}
WIRES = {
    "/v1/chat/completions": "openai_chat",
    "/v1/messages": "anthropic",
    "/v1/responses": "openai_responses",
}
UPSTREAM_FILES = {
    "/v1/chat/completions": "chat/completions.sse",
    "/v1/messages": "messages.sse",
    "/v1/responses": "responses.sse",
}
TARGET = Target(
    model="claude-haiku-4-5",
    max_output_tokens=64000,
    default_max_tokens=8192,
    max_tokens_field="max_tokens",
    reasoning="anthropic_budget",
)


def answers() -> dict[str, bytes]:
    """The fake provider's answers to the bench's upstream requests, by file name (``upstream.fake_answers``)."""
    return fake_answers()


def request_work(case: PathCase, body: dict[str, Any]) -> Callable[[], object]:
    fmt, wire = FORMATS[case.path], WIRES[case.upstream_path]
    pair = registry.pairing(fmt, wire)  # type: ignore[arg-type]
    parse = registry.client(fmt).parse  # type: ignore[arg-type]
    translate = pair.translate
    assert parse is not None and translate is not None
    target = TARGET if wire == "anthropic" else Target(model="gpt-4o-mini", max_output_tokens=16384)
    raw = orjson.dumps(body)

    def work() -> object:
        data = orjson.loads(raw)
        parse(data)
        return orjson.dumps(translate(data, target, NO_SESSION).body)

    return work


def relay_work(case: PathCase, stream: bytes) -> Callable[[], object]:
    fmt, wire = FORMATS[case.path], WIRES[case.upstream_path]
    pair = registry.pairing(fmt, wire)  # type: ignore[arg-type]
    parse = registry.client(fmt).parse  # type: ignore[arg-type]
    assert parse is not None
    parsed = parse(dict(case.body))
    view = View(model=parsed.model, include_usage=parsed.include_usage, reasoning=parsed.reasoning)

    def work() -> object:
        relay = make_relay(pair, view)
        return relay.feed(stream) + relay.finish()

    return work


def measure(name: str, work: Callable[[], object], iterations: int, rounds: int) -> None:
    work()  # warm
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(iterations):
            work()
        best = min(best, time.thread_time() - t0)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(100):
        work()
    profile.disable()
    calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
    print(f"{name:58} {best / iterations * 1e6:9.1f} µs {calls / 100:8.1f} calls", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="the paths whose name contains this")
    parser.add_argument(
        "--passthrough",
        action="store_true",
        help="the passthrough streams' relays (relay.Passthrough, one read) instead of the translated paths",
    )
    args = parser.parse_args()
    if args.passthrough:
        streams = answers()
        print(f"{'work':58} {'CPU/req':>12} {'calls/req':>14}")
        for case in PATHS:
            if case.stream and not case.translated and args.only in case.name:
                stream = streams[UPSTREAM_FILES[case.upstream_path]]
                measure(f"{case.name}: relay", relay_work(case, stream), args.iterations, args.rounds)
        return
    cases = [c for c in PATHS if c.translated and args.only in c.name]
    streams = answers()
    print(f"{'work':58} {'CPU/req':>12} {'calls/req':>14}")
    for case in cases:
        measure(f"{case.name}: request", request_work(case, case.body), args.iterations, args.rounds)
        if case.path == "/v1/responses" and CODEX.exists():
            codex = {**orjson.loads(CODEX.read_bytes())["body"], "model": "claude-haiku-4-5"}
            measure(f"{case.name}: request (Codex capture)", request_work(case, codex), 200, args.rounds)
        stream = streams[UPSTREAM_FILES[case.upstream_path]]
        measure(f"{case.name}: relay", relay_work(case, stream), args.iterations, args.rounds)


if __name__ == "__main__":
    main()
