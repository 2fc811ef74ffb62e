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
                                   [--request-side [--functions]]

``--request-side`` (session 35): the whole of the gateway's own request side as one piece, ``request``: what
``handlers.generate`` and ``Proxy.attempt`` do from the client's body bytes to the upstream request handed to
``UpstreamClient.send`` (the ``Call`` made, ``orjson.loads``, the model read, the spec's ``parse``, ``Catalog.routes``,
the pairing and the per-model wire check, ``Proxy._build``, the ``Attempt``): aiohttp's request read, auth and the
send itself are not in it. Per path: the Python functions (code objects) it runs, their bytecode bytes, the Python
and C calls (``sys.setprofile``, one request after three warm ones); with ``--instructions``, callgrind with its cache
simulation (``--cache-sim=yes``, sized as ``stream_pieces.py``'s): instructions and estimated cycles (``Ir + 10 x L1
misses + 100 x LL misses``) a request, warm (a ``functools.reduce`` of ``--n`` requests) and cold (``COLD_RUNS``
requests, ``stream_pieces._evict`` before each, outside the collection). Its paths: the translated streams, the
passthrough anthropic stream, and two real clients' bodies (``REAL``): Claude Code's tool-result turn to
``gpt-4o-mini`` (``claude code → openai``) and Codex's first turn to ``claude-haiku-4-5`` (``codex → anthropic, 1
turns``). ``--functions``: also list the code objects, in first-call order.

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
import os
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


CLAUDE_CODE = ROOT / "tests" / "fixtures" / "requests" / "claude_code_tool_result_turn.json"
REAL = ("claude code → openai", CODEX_NAME.format(1))
COLD_RUNS = 50  # (``--request-side --instructions``: cold requests, each after the evictor)


def claude_code_case() -> PathCase:
    """Claude Code's captured tool-result turn (``tests/fixtures/requests``) sent to ``gpt-4o-mini``."""
    body = orjson.loads(CLAUDE_CODE.read_bytes())["body"]
    body["model"] = "gpt-4o-mini"
    return PathCase(
        REAL[0],
        "/v1/messages",
        body,
        "anthropic-sse",
        "/v1/chat/completions",
        {},
        "openai-sse",
        translated=True,
    )


def case_named(name: str) -> PathCase:
    """The table's path ``name``, or a Codex case's, or Claude Code's."""
    if name == REAL[0]:
        return claude_code_case()
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


def request_side(case: PathCase) -> Callable[[], object]:
    """``case``'s whole request side as the gateway runs it (see ``--request-side``): a no-argument function
    returning the upstream request (``proxy.Upstream``)."""
    import time

    from services.gateway.calls import Attempt

    settings = load_settings(ENV)
    providers = build_providers(settings)
    catalog = Catalog(providers, Pricer(), settings)
    proxy = Proxy.__new__(Proxy)
    proxy.providers, proxy._pairings, proxy._urls = providers, {}, {}
    endpoint = registry.ENDPOINTS[case.path]
    spec = registry.client(endpoint.format)
    raw = orjson.dumps(case.body)
    pairings = proxy._pairings

    def do_request() -> object:
        # ``handlers.generate`` (the call, ``read_json``'s parse, the model, the spec's parse, the routes) …
        call = Call(endpoint, "req", HEADERS, time.monotonic(), time.time(), attribution_pending=True)
        body = orjson.loads(raw)
        assert isinstance(body, dict)
        call.body, call.raw = body, raw
        call.model = m if isinstance(m := body.get("model"), str) else ""
        parsed = (endpoint.parse or spec.parse)(body)
        call.stream, call.include_usage, call.reasoning = (
            parsed.stream,
            parsed.include_usage,
            parsed.reasoning,
        )
        route = catalog.routes(parsed.model, HEADERS.get("x-ekai-provider") or None)[0]
        # … and ``Proxy.attempt`` up to the send (the pairing, the per-model wire, the build, the attempt)
        provider = providers[route.provider]
        fmt = endpoint.format
        pair = pairings.get((provider, fmt)) or proxy._pairing(provider, fmt)
        if (
            getattr(provider, "wires_by_model", None)
            and (only := provider.only_wire(route.model)) is not None
        ):
            pair = registry.pairing(fmt, only)
        up = proxy._build(call, provider, route, pair)
        call.attempts.append(Attempt(route, pair.wire.name, pair.translated, sent=up.body))
        return up

    return do_request


def side_cases(only: str, names: str) -> list[PathCase]:
    """``--request-side``'s paths: ``cases``' and the real clients' (``REAL``), or those named."""
    if names:
        chosen = names.split(";")
        return [case_named(n) for n in chosen if only in n]
    return cases(only) + [case_named(n) for n in REAL if only in n]


def footprint(work: Callable[[], object], functions: bool = False) -> tuple[int, int, int, int, list[str]]:
    """One run of ``work`` after three warm ones: the distinct Python code objects it runs, their bytecode bytes,
    its Python calls and C calls, and (``functions``) the code objects' names in first-call order."""
    for _ in range(3):
        work()
    seen: dict[Any, None] = {}
    calls = [0, 0]

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            calls[0] += 1
            seen.setdefault(frame.f_code, None)
        elif event == "c_call":
            calls[1] += 1

    sys.setprofile(prof)
    work()
    sys.setprofile(None)
    codes = list(seen)
    names = (
        [f"{Path(c.co_filename).name}:{c.co_firstlineno} {c.co_qualname}" for c in codes] if functions else []
    )
    # (the ``sys.setprofile(None)`` C call not counted)
    return len(codes), sum(len(c.co_code) for c in codes), calls[0], calls[1] - 1, names


def side_under_callgrind(name: str, runs: int) -> None:
    """Inside callgrind: ``request_side(case_named(name))`` warmed, then ``runs`` requests in one collected
    ``functools.reduce`` (warm), then ``COLD_RUNS`` reduces of one, ``stream_pieces._evict`` before each (cold);
    a ``time.sleep(0)`` after each ends its dump (``--dump-before=time_sleep``)."""
    import functools
    import time

    from bench.stream_pieces import _evict

    work = request_side(case_named(name))
    for _ in range(20):
        work()
    gc.collect()
    gc.freeze()
    time.sleep(0)
    functools.reduce(lambda _, __: work(), range(runs), None)
    time.sleep(0)
    for _ in range(COLD_RUNS):
        _evict()
        functools.reduce(lambda _, __: work(), range(1), None)
    time.sleep(0)


def side_counts(name: str, runs: int) -> list[tuple[float, float]]:
    """Instructions and estimated cycles a request, warm then cold (see ``--request-side``): one valgrind run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce"]
        cmd += [f"--callgrind-out-file={out}", "--dump-before=time_sleep", "--cache-sim=yes"]
        cmd += ["--I1=65536,8,64", "--D1=49152,12,64", "--LL=2097152,16,64"]  # as stream_pieces.py's
        cmd += [sys.executable, __file__, "--side-inside", name, str(runs), "--root", str(GATEWAY_ROOT)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(
            cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        parts = [p.read_text() for p in sorted(Path(tmp).glob("cg.out*"), key=_part)]
        return side_part_costs(parts, runs, COLD_RUNS)


def side_part_costs(parts: list[str], warm_runs: int, cold_runs: int) -> list[tuple[float, float]]:
    """The warm and cold figures a request from the dump parts in order (those with a collection: the warm
    ``reduce``, then the cold ones), as ``side_cost`` reads each."""
    got = [side_cost(text, 1) for text in parts if _collected(text)]
    if len(got) < 2:
        raise RuntimeError(f"{len(got)} callgrind parts with a collection, expected 2")
    (wi, wc), (ci, cc) = got[-2], got[-1]
    return [(wi / warm_runs, wc / warm_runs), (ci / cold_runs, cc / cold_runs)]


def _part(p: Path) -> int:
    """A callgrind dump's number (``cg.out.N``; the final dump, ``cg.out``, last)."""
    tail = p.name.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else sys.maxsize


def _collected(dump: str) -> bool:
    """Whether a dump part holds collected instructions (its summary's first figure not 0)."""
    m = re.search(r"^summary:\s*(\d+)", dump, re.M)
    return m is not None and int(m.group(1)) > 0


def side_cost(dump: str, runs: int) -> tuple[float, float]:
    """A callgrind dump's instructions and estimated cycles (``Ir + 10 x L1 misses + 100 x LL misses``) per run."""
    m = re.search(r"^summary:\s*([\d ]+)$", dump, re.M)
    ev = re.search(r"^events:\s*(.+)$", dump, re.M)
    if m is None or ev is None:
        raise RuntimeError("no summary in the callgrind dump")
    got = dict(zip(ev.group(1).split(), (int(v) for v in m.group(1).split()), strict=False))
    l1 = got.get("I1mr", 0) + got.get("D1mr", 0) + got.get("D1mw", 0)
    ll = got.get("ILmr", 0) + got.get("DLmr", 0) + got.get("DLmw", 0)
    return got["Ir"] / runs, (got["Ir"] + 10 * l1 + 100 * ll) / runs


def request_side_table(chosen: list[PathCase], instructions: bool, n: int, functions: bool) -> None:
    """``--request-side``'s table (see the module's docstring)."""
    head = f"{'path':34} {'functions':>9} {'bytecode':>9} {'py calls':>9} {'C calls':>8}"
    if instructions:
        head += f" {'instr warm':>11} {'cyc warm':>9} {'instr cold':>11} {'cyc cold':>9}"
    print(head)
    for case in chosen:
        codes, size, py, c, names = footprint(request_side(case), functions)
        row = f"{case.name:34} {codes:9d} {size:9d} {py:9d} {c:8d}"
        if instructions:
            (wi, wc), (ci, cc) = side_counts(case.name, n)
            row += f" {wi:11.0f} {wc:9.0f} {ci:11.0f} {cc:9.0f}"
        print(row, flush=True)
        for line in names:
            print(f"    {line}")


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
    ap.add_argument("--request-side", action="store_true", help="the whole request side as one piece (above)")
    ap.add_argument("--functions", action="store_true", help="with --request-side: list the code objects")
    ap.add_argument("--callgrind", nargs=3, metavar=("PATH", "PIECE", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--side-inside", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side_inside:
        name, runs = args.side_inside
        side_under_callgrind(name, int(runs))
        return
    if args.request_side:
        request_side_table(side_cases(args.only, args.paths), args.instructions, args.n, args.functions)
        return
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
