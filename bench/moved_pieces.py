"""What session 19 moved off one connection's critical path, in deterministic counts per request.

Two pieces that ran on every request's path now run with the event's build (``calls.row_for``, in the
publisher's batch, after the answer's last byte):

- ``attribution``: ``attribution.from_headers`` on the request's headers (before the upstream request: A);
- ``usage``: a passthrough plain answer's usage, ``Provider.usage(Wire.usage(answer))`` (after the upstream's
  answer, before the client's bytes: B), on the canned answers nginx serves in the table (``bench/upstream.py``
  ``capture``: the fake provider's), for the openai chat, anthropic and responses plain paths.

Python calls: ``cProfile``'s total over ``--iterations`` runs, divided (deterministic). With ``--instructions``,
callgrind's instructions per run: each piece runs ``N`` times inside a ``functools.reduce`` (callgrind's
``--toggle-collect=functools_reduce``: nothing else counted), N and 0, the difference divided by N.

    python bench/moved_pieces.py [--iterations 1000] [--instructions [--n 300]]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.upstream import fake_answers  # noqa: E402
from services.gateway.attribution import from_headers  # noqa: E402
from services.gateway.dialects import registry  # noqa: E402
from services.gateway.providers.registry import build_providers  # noqa: E402
from shared.settings import load_settings  # noqa: E402

# what wrk sends (bench/load.py) and aiohttp adds: the table's requests carry no attribution header
HEADERS = CIMultiDictProxy(
    CIMultiDict(
        {
            "Host": "127.0.0.1:3001",
            "Content-Type": "application/json",
            "Authorization": "Bearer sk-bench",
            "x-api-key": "sk-bench",
            "anthropic-version": "2023-06-01",
            "Content-Length": "120",
        }
    )
)
ENV = {
    "OPENAI_API_KEY": "sk-test-openai",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_API_KEY": "sk-test-anthropic",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
}
# path name -> (canned answer file, provider, wire)
PATHS = {
    "openai chat, plain": ("chat/completions.json", "openai", "openai_chat"),
    "anthropic, plain": ("messages.json", "anthropic", "anthropic"),
    "responses, plain": ("responses.json", "openai", "openai_responses"),
}


def pieces(answers: dict[str, bytes]) -> dict[str, Callable[[], object]]:
    providers = build_providers(load_settings(ENV))
    out: dict[str, Callable[[], object]] = {"attribution": functools.partial(from_headers, HEADERS)}
    for name, (file, provider_name, wire_name) in PATHS.items():
        provider, wire = providers[provider_name], registry.WIRES[wire_name]
        data = orjson.loads(answers[file])
        out[f"usage: {name}"] = functools.partial(lambda p, w, d: p.usage(w.usage(d)), provider, wire, data)
    return out


def calls_per_run(work: Callable[[], object], iterations: int, warm: int = 1) -> float:
    """cProfile's Python calls per run of ``work`` over ``iterations`` runs, after ``warm`` runs not counted."""
    for _ in range(warm):
        work()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(iterations):
        work()
    prof.disable()
    total = sum(s[1] for s in pstats.Stats(prof).stats.values())  # type: ignore[attr-defined]
    return (total - iterations) / iterations  # less the loop's own call of ``work`` (a partial: counted once)


def collected(piece: str, runs: int, answers: Path) -> int:
    return collected_by(__file__, [piece, str(runs), str(answers)])


def collected_by(script: str, args: list[str]) -> int:
    """The instructions callgrind collected inside ``functools.reduce`` in ``python SCRIPT --callgrind ARGS…``
    (a bench's own runs of one piece; also ``bench/event_pieces.py``'s)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        res = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--toggle-collect=functools_reduce",
                f"--callgrind-out-file={out}",
            ]
            + [sys.executable, script, "--callgrind", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
        )
        m = re.search(r"Collected : (\d+)", res.stderr)
        assert m, res.stderr[-2000:]
        return int(m.group(1))


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
    args = ap.parse_args()
    answers = fake_answers()
    works = pieces(answers)
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "answers.json"
        saved.write_bytes(orjson.dumps({k: v.hex() for k, v in answers.items()}))
        print(f"{'piece':34} {'Python calls':>13} {'instructions':>13}")
        for name, work in works.items():
            calls = calls_per_run(work, args.iterations)
            instr = ""
            if args.instructions:
                many, none = collected(name, args.n, saved), collected(name, 0, saved)
                instr = f"{(many - none) / args.n:13.0f}"
            print(f"{name:34} {calls:13.1f} {instr:>13}", flush=True)


if __name__ == "__main__":
    main()
