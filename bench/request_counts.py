"""The request side of one call, piece by piece: Python calls (and, under callgrind, instructions) per request.

Session 18 (issue 13): a translated stream spent 365-420 Python calls before the upstream against 208 for the
passthrough anthropic stream (``crit_clock.py --cprofile``'s A half). This splits the gateway's own part of
that half into the pieces that differ per path, each run alone in a warm loop, no sockets:

- ``parse``: the client's body read from its bytes (``orjson.loads``, as ``handlers.read_json``) and validated
  (``ClientSpec.parse``, or the endpoint's own);
- ``routing``: ``Catalog.routes`` for the model (the providers built from a bench-like environment);
- ``translate``: ``Pairing.translate`` alone, given the target and session ``Proxy._build`` gives it
  (passthrough: nothing);
- ``build``: ``Proxy._build`` whole (the translation, the target, the session, the minted-token strip, the
  provider's ``prepare``, the body's serialisation, the ``View``, the URL and the upstream headers);
  ``build - translate`` is the rest of the upstream request's build.

Python calls: ``cProfile`` total calls over ``--iterations`` runs, divided (deterministic). With
``--callgrind PATH PIECE N``, sets the path up (every piece run once), runs that piece N times more and
exits, the collector off: ``--instructions`` runs that under ``valgrind --tool=callgrind``
with N and, once per path, with 0, and divides the difference of the instruction totals by N (slow: about
20 s a valgrind run).

    python bench/request_counts.py [--iterations 500] [--only "→"] [--paths "responses, plain;…"]
                                   [--instructions [--n 300]] [--codex 1,10,40] [--root TREE]

``--codex TURNS``: instead of the table's paths, Codex's captured request (``tests/fixtures/requests/
codex_say_hi.json``: 38 kB, a 21 kB developer text, 10 tools) sent to Claude (``responses → anthropic``), its
``input`` grown to each number of turns: every turn after the first adds what a Codex tool loop resends (a
reasoning item the gateway made from a thinking block, an ``exec_command`` call and its ~1 kB output), every
fifth an assistant message and a user message (session 29). ``--root``: the tree whose gateway is measured (a
``git archive`` of main: an A/B); the bench's own files come from this tree.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve() if "--root" in sys.argv else ROOT
sys.path.insert(0, str(GATEWAY_ROOT))
if GATEWAY_ROOT != ROOT:
    sys.path.insert(1, str(ROOT))

from bench.paths import PATHS, PathCase  # noqa: E402
from services.gateway.calls import Call  # noqa: E402
from services.gateway.dialects import registry  # noqa: E402
from services.gateway.dialects._prompt_cache import session_from  # noqa: E402
from services.gateway.providers.registry import build_providers  # noqa: E402
from services.gateway.proxy import Proxy  # noqa: E402
from services.gateway.routing.catalog import Catalog  # noqa: E402
from shared.pricing import Pricer  # noqa: E402
from shared.settings import load_settings  # noqa: E402

PIECES = ("parse", "routing", "translate", "build")
# what wrk sends (bench/load.py), as aiohttp gives the handler its headers
HEADERS = CIMultiDictProxy(
    CIMultiDict(
        {
            "Host": "127.0.0.1:3001",
            "Content-Type": "application/json",
            "Authorization": "Bearer sk-bench",
            "x-api-key": "sk-bench",
            "anthropic-version": "2023-06-01",
        }
    )
)
ENV = {
    "OPENAI_API_KEY": "sk-test-openai",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_API_KEY": "sk-test-anthropic",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
}


CODEX = ROOT / "tests" / "fixtures" / "requests" / "codex_say_hi.json"
CODEX_NAME = "codex → anthropic, {} turns"
_OUTPUT = "".join(
    f"-rw-r--r--  1 dev dev {1000 + 37 * i:6d} Dec  4 04:{i % 60:02d} src/module_{i:03d}.py\n"
    for i in range(20)
)


def codex_body(turns: int) -> dict[str, Any]:
    """Codex's captured request to ``claude-haiku-4-5`` with ``input`` grown to ``turns`` turns (see ``--codex``)."""
    from services.gateway.dialects._responses_opaque import encode_thinking

    body = orjson.loads(CODEX.read_bytes())["body"]
    body["model"] = "claude-haiku-4-5"
    items: list[Any] = body["input"]
    for t in range(1, turns):
        call_id = f"toolu_01{t:022d}"
        items += [
            {
                "type": "reasoning",
                "summary": [],
                "content": None,
                "encrypted_content": encode_thinking(
                    f"I should look at the files, step {t}. " * 6, "Eq" + "s" * 340
                ),
            },
            {
                "type": "function_call",
                "name": "exec_command",
                "arguments": orjson.dumps({"cmd": f"ls -l src/part{t}", "workdir": "/work/project"}).decode(),
                "call_id": call_id,
            },
            {
                "type": "function_call_output",
                "call_id": call_id,
                "output": f"Exit code: 0\nOutput:\n{_OUTPUT}",
            },
        ]
        if t % 5 == 0:
            items += [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": f"Done step {t}."}],
                },
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": f"Now step {t + 1}."}],
                },
            ]
    return dict(body)


def codex_case(turns: int) -> PathCase:
    """``codex_body(turns)`` as a path case (an upstream Anthropic stream)."""
    body = codex_body(turns)
    return PathCase(
        CODEX_NAME.format(turns),
        "/v1/responses",
        body,
        "responses-sse",
        "/v1/messages",
        {},
        "anthropic-sse",
        translated=True,
    )


def case_named(name: str) -> PathCase:
    """The table's path ``name``, or a Codex case's."""
    if name.startswith("codex"):
        return codex_case(int(name.split(", ")[1].split()[0]))
    (case,) = [c for c in PATHS if c.name == name]
    return case


def cases(only: str, names: str = "") -> list[PathCase]:
    """The paths named in ``names`` (exact, separated by ";"; session 25: the plain passthroughs), or by default
    the translated streams and the passthrough anthropic stream (the reference)."""
    if names:
        chosen = names.split(";")
        return [c for c in PATHS if c.name in chosen and only in c.name]
    return [c for c in PATHS if (c.translated or c.name == "anthropic, stream") and only in c.name]


def works(case: PathCase) -> dict[str, Callable[[], object]]:
    """Each piece of ``case``'s request side as a no-argument function."""
    settings = load_settings(ENV)
    providers = build_providers(settings)
    catalog = Catalog(providers, Pricer(), settings)
    proxy = Proxy.__new__(Proxy)
    proxy.providers, proxy._pairings, proxy._urls = providers, {}, {}
    endpoint = registry.ENDPOINTS[case.path]
    spec = registry.client(endpoint.format)
    parse = endpoint.parse or spec.parse
    raw = orjson.dumps(case.body)
    body = orjson.loads(raw)
    parsed = parse(body)
    route = catalog.routes(parsed.model)[0]
    provider = providers[route.provider]
    pair = proxy._pairing(provider, endpoint.format)
    call = Call(endpoint, "req", HEADERS, 0.0, 0.0)
    call.body, call.raw, call.model = body, raw, parsed.model
    call.stream, call.include_usage, call.reasoning = parsed.stream, parsed.include_usage, parsed.reasoning

    def do_parse() -> object:
        return parse(orjson.loads(raw))

    def do_routing() -> object:
        return catalog.routes(parsed.model, HEADERS.get("x-ekai-provider") or None)

    translate = pair.translate

    def do_translate() -> object:
        if translate is None:
            return None
        source = endpoint.prepare(body) if endpoint.prepare else body
        target = getattr(provider, "target_of", provider.target)(route.model)  # the tree's own way
        return translate(source, target, session_from(HEADERS))

    def do_build() -> object:
        return proxy._build(call, provider, route, pair)

    return {"parse": do_parse, "routing": do_routing, "translate": do_translate, "build": do_build}


def calls_per_run(work: Callable[[], object], iterations: int) -> float:
    work()  # warm (caches filled as in a running gateway)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(iterations):
        work()
    profile.disable()
    total: int = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
    return total / iterations


def collected(name: str, piece: str, runs: int) -> int:
    """Callgrind's instruction total of a process that sets up path ``name`` and runs ``piece`` ``runs`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        res = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
            + [sys.executable, __file__, "--callgrind", name, piece, str(runs), "--root", str(GATEWAY_ROOT)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        m = re.search(r"Collected : (\d+)", res.stderr)
        assert m, res.stderr[-2000:]
        return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--only", default="")
    ap.add_argument(
        "--paths",
        default="",
        help='exact path names separated by ";" (e.g. "responses, plain;anthropic, plain")',
    )
    ap.add_argument("--instructions", action="store_true", help="also callgrind instructions (slow)")
    ap.add_argument("--n", type=int, default=300, help="runs per callgrind measurement")
    ap.add_argument("--pieces", default=",".join(PIECES), help="with --instructions: these pieces only")
    ap.add_argument(
        "--codex", default="", help="turns, comma-separated: Codex's captured request (see above)"
    )
    ap.add_argument("--root", default=str(ROOT), help="the tree whose gateway is measured")
    ap.add_argument("--callgrind", nargs=3, metavar=("PATH", "PIECE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.callgrind:
        name, piece, runs = args.callgrind
        case = case_named(name)
        gc.disable()  # no collection lands in one run and not in another (the counts are the work's own)
        every = works(case)
        for warm in every.values():  # the same set-up whatever the piece: one baseline (N=0) per path
            warm()
        work = every[piece]
        for _ in range(int(runs)):
            work()
        return
    print(
        f"{'path':34} " + " ".join(f"{p:>10}" for p in PIECES) + f" {'build-tr':>10}  (Python calls/request)"
    )
    chosen_cases = (
        [codex_case(int(t)) for t in args.codex.split(",")] if args.codex else cases(args.only, args.paths)
    )
    for case in chosen_cases:
        w = works(case)
        got = {p: calls_per_run(w[p], args.iterations) for p in PIECES}
        row = " ".join(f"{got[p]:10.1f}" for p in PIECES)
        print(f"{case.name:34} {row} {got['build'] - got['translate']:10.1f}", flush=True)
    if args.instructions:
        print(
            f"\n{'path':34} " + " ".join(f"{p:>10}" for p in PIECES) + "  (instructions/request, callgrind)"
        )
        for case in chosen_cases:
            base = collected(case.name, "parse", 0)
            chosen = [p for p in PIECES if p in args.pieces.split(",")]
            ins: dict[str, Any] = {p: (collected(case.name, p, args.n) - base) / args.n for p in chosen}
            print(f"{case.name:34} " + " ".join(f"{ins.get(p, 0):10.0f}" for p in PIECES), flush=True)


if __name__ == "__main__":
    main()
