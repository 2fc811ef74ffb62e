"""A passthrough plain answer's work in the gateway, piece by piece, in deterministic counts (session 25).

For the three plain passthrough paths of the table (``bench/paths.py``: openai chat, anthropic, responses), the
fake provider's canned answer (``bench/upstream.py`` ``CAPTURES``: what nginx serves the gateway) goes through
what ``Proxy._relay_json`` does with it:

- ``answer``: ``_relay_json`` whole (the checks before the client's bytes, the ``web.Response`` made): on the c1
  critical path (B), before the client's last byte;
- ``usage``: the answer's usage as the ledger's event reads it (``Attempt.read_usage``), after the answer.

Python calls: ``cProfile``'s total over ``--iterations`` runs, divided (deterministic). With ``--instructions``,
callgrind's instructions per run: each piece runs ``N`` times inside a ``functools.reduce`` (callgrind's
``--toggle-collect=functools_reduce``: nothing else counted), N and 0, the difference divided by N.
``--root TREE``: the gateway tree measured (e.g. a ``git archive`` of main: an A/B).

    python bench/plain_answers.py [--iterations 1000] [--instructions [--n 300]] [--root TREE]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve() if "--root" in sys.argv else ROOT
sys.path.insert(0, str(GATEWAY_ROOT))
if GATEWAY_ROOT != ROOT:
    sys.path.insert(1, str(ROOT))

from bench.moved_pieces import HEADERS, calls_per_run, collected_by  # noqa: E402
from bench.upstream import fake_answers  # noqa: E402
from services.gateway.calls import Attempt, Call  # noqa: E402
from services.gateway.dialects import registry  # noqa: E402
from services.gateway.dialects.view import passthrough_view  # noqa: E402
from services.gateway.providers.registry import build_providers  # noqa: E402
from services.gateway.proxy import Proxy  # noqa: E402
from services.gateway.routing.catalog import Catalog  # noqa: E402
from shared.pricing import Pricer  # noqa: E402
from shared.settings import load_settings  # noqa: E402

ENV = {
    "OPENAI_API_KEY": "sk-test-openai",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_API_KEY": "sk-test-anthropic",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
}
# path name -> (endpoint path, canned answer file, model)
PATHS = {
    "openai chat, plain": ("/v1/chat/completions", "chat/completions.json", "gpt-4o-mini"),
    "anthropic, plain": ("/v1/messages", "messages.json", "claude-haiku-4-5"),
    "responses, plain": ("/v1/responses", "responses.json", "gpt-4o-mini"),
}


def _run(coro: Any) -> Any:
    """A coroutine that never suspends, run to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("suspended")


def pieces(answers: dict[str, bytes]) -> dict[str, Callable[[], object]]:
    settings = load_settings(ENV)
    providers = build_providers(settings)
    catalog = Catalog(providers, Pricer(), settings)
    proxy = Proxy.__new__(Proxy)
    proxy.providers, proxy._pairings, proxy._urls = providers, {}, {}
    out: dict[str, Callable[[], object]] = {}
    for name, (path, file, model) in PATHS.items():
        endpoint = registry.ENDPOINTS[path]
        route = catalog.routes(model)[0]
        provider = providers[route.provider]
        pair = proxy._pairing(provider, endpoint.format)
        raw = answers[file]
        state: dict[str, Attempt] = {}

        view = passthrough_view(model, False, True, False)

        def answer(
            endpoint: Any = endpoint,
            route: Any = route,
            provider: Any = provider,
            pair: Any = pair,
            raw: bytes = raw,
            state: dict[str, Attempt] = state,
            view: Any = view,
        ) -> object:
            call = Call(endpoint, "req", HEADERS, 0.0, 0.0)
            att = state["att"] = Attempt(route, pair.wire.name, pair.translated)
            return _run(proxy._relay_json(call, att, pair, view, provider, raw))

        answer()

        def usage(state: dict[str, Attempt] = state) -> object:
            read = state["att"].read_usage
            assert read is not None
            return read()

        out[f"answer: {name}"] = answer
        out[f"usage: {name}"] = usage
    return out


def main() -> None:
    if sys.argv[1:2] == ["--callgrind"]:
        piece, runs, file = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        work = pieces({k: bytes.fromhex(v) for k, v in orjson.loads(file.read_bytes()).items()})[piece]
        for _ in range(20):
            work()
        functools.reduce(lambda acc, _: work(), range(runs), None)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--instructions", action="store_true")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--root", default="", help="the gateway tree measured")
    ap.add_argument("--only", default="", help="pieces whose name holds this")
    args = ap.parse_args()
    answers = fake_answers()
    works = pieces(answers)
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "answers.json"
        saved.write_bytes(orjson.dumps({k: v.hex() for k, v in answers.items()}))
        print(f"{'piece':34} {'Python calls':>13} {'instructions':>13}")
        for name, work in works.items():
            if args.only not in name:
                continue
            calls = calls_per_run(work, args.iterations)
            instr = ""
            if args.instructions:
                extra = ["--root", args.root] if args.root else []
                many = collected_by(__file__, [name, str(args.n), str(saved), *extra])
                none = collected_by(__file__, [name, "0", str(saved), *extra])
                instr = f"{(many - none) / args.n:13.0f}"
            print(f"{name:34} {calls:13.1f} {instr:>13}", flush=True)


if __name__ == "__main__":
    main()
