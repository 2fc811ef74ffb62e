"""A passthrough stream's relay work, piece by piece, in deterministic counts (session 18).

For the three passthrough stream paths of the table (``bench/paths.py``: openai chat, anthropic,
responses), the fake provider's canned answer (``bench/upstream.py`` ``CAPTURES``: what nginx serves the
gateway) goes through the relay as the gateway drives it (``proxy._relay_stream``): ``make_relay`` with the
provider's usage rule, the read that holds the upstream's first bytes (``until_committed``: up to the
first client write), each later read (``_pump``), ``finish`` and what the ledger event reads of it
(``relay.usage``, ``relay.decoder.model``). Each read is scrubbed of a key first, as ``next_chunk`` does.

Two ways the bytes arrive (``--reads``):

- ``one``: the whole stream in one read (nginx's static answer: what the table's c1 rows measure);
- ``frames``: one frame per read (a provider that writes each event as it makes it).

``settle`` is what the relay decodes after the client's answer has ended (``Relay.feed_last``, session
21: a one-read stream ending with its wire's closing frame; 0 elsewhere, and on a tree without it): on the
c1 path are ``make``, ``first read``, ``later reads`` and, when nothing was left to ``settle``, ``finish``.

Counts per stream, per piece:

- ``calls``: Python function calls and C calls (``sys.setprofile``'s ``call`` and ``c_call`` events), one
  stream after three warm ones;
- ``instr``: CPU instructions under valgrind's callgrind, per stream (``--callgrind``: the script reruns
  itself under ``valgrind --tool=callgrind --toggle-collect=functools_reduce``: each piece runs inside a
  ``functools.reduce`` of 200 streams, after 20 warm streams and ``gc.freeze()``, so only the pieces'
  instructions are collected; ``PYTHONHASHSEED=0``). The streams are made afresh for each piece (the
  pieces before it run outside the collection).

    python bench/stream_pieces.py [--reads one,frames] [--callgrind [--cache-sim [--cold [--warm-up]]]] [--vary-ids]
                                  [--root TREE] [--paths NAME ...]

``--vary-ids``: each stream gets its own id and ``created`` (the canned answer has fixed ones; real streams
do not), the same lengths, so a per-process cache keyed on them is measured missing as it would (session 24).

``--cache-sim`` (session 33): callgrind also simulates the caches (``--cache-sim=yes``, sized as this machine's
core: I1 64 KiB, D1 48 KiB, the 2 MiB L2 as the last level) and each piece gets an estimated cycles figure
beside its instructions, ``cycles = Ir + 10 x (L1 misses) + 100 x (LL misses)`` (the weights of KCachegrind's
"Cycle Estimation"; this VM has no hardware counters: ``perf stat -e cycles`` says ``<not supported>``).
``--cold``: with it, before each stream's piece (outside the collection, the simulation still running)
an evictor reads a byte of every 64-byte line of 4 MiB and runs unrelated interpreter code (``_evict``), so
the piece starts with the caches as a one-connection request finds them after the gateway's other work, the
kernel's and the other processes' (a model: what is really evicted between two requests is not known); each
piece then runs in a ``reduce`` of one stream, ``COLD_RUNS`` (50) streams a piece. ``--warm-up`` (with
``--cold``): after the evictor, a throwaway relay of the same pairing reads a short answer, as the upstream
wait would (``proxy.warm_relay``: a tree that has it, session 33's b3ced06, reverted): what that saves the
first read. Warm counts (no ``--cold``) are of a ``reduce`` of 200 streams, the caches warm from the stream
before.

``--request-side`` (with ``--cold``; session 35): after the evictor, the stream's request side runs before the piece
(not collected), as the gateway runs it before the answer's first read: the client's body parsed (``orjson.loads``
of its bytes, the format's ``parse``), translated (the pairing's ``translate`` for the provider's target),
``Provider.prepare`` and ``dumps_body`` (``proxy.Proxy._build``'s steps), then a relay made and dropped (the make in the
upstream's wait). The cold model less what the request's own handling warms (the interpreter's, orjson's, the
allocator's code): perf34ao's note that ``--cold`` alone overstates what a warm-up in the wait recovers.
``--small-warm-up`` (with ``--cold``; session 35): a candidate, not in the gateway: after the evictor (and the
request side), a throwaway relay reads the stream's first two frames (its opening chunk and its first text chunk,
both with another id: what the first read runs up to its first token), its bytes dropped. ``--collect-warm-up``: the
warm-up is collected instead of the piece (each piece's column then gives the warm-up's own cost there).

``--root``: the tree whose relay is measured (another checkout, e.g. a ``git archive`` of main: an A/B).
Not part of ``make bench``: a developer's measuring tool.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve() if "--root" in sys.argv else ROOT
sys.path.insert(0, str(GATEWAY_ROOT))
if GATEWAY_ROOT != ROOT:
    sys.path.insert(1, str(ROOT))

PATHS = {  # path name → (client format, wire, upstream file, provider)
    "openai chat, stream": ("openai_chat", "openai_chat", "chat/completions.sse", "openai"),
    "anthropic, stream": ("anthropic", "anthropic", "messages.sse", "anthropic"),
    "responses, stream": ("openai_responses", "openai_responses", "responses.sse", "openai"),
    # the translated streams (session 22; ``--paths``): the client's body is the bench's, model and all
    "anthropic → openai, stream": ("anthropic", "openai_chat", "chat/completions.sse", "openai"),
    "openai → anthropic, stream": ("openai_chat", "anthropic", "messages.sse", "anthropic"),
    "responses → anthropic, stream": ("openai_responses", "anthropic", "messages.sse", "anthropic"),
}
PASSTHROUGH = ("openai chat, stream", "anthropic, stream", "responses, stream")
BODIES = {
    "openai_chat": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello bench"}],
        "stream": True,
    },
    "anthropic": {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hello bench"}],
        "stream": True,
    },
    "openai_responses": {"model": "gpt-4o-mini", "input": "hello bench", "stream": True},
}
PIECES = ("make", "first read", "later reads", "settle", "finish", "event")
WARM, RUNS = 20, 200
COLD_RUNS = 50  # (``--cold``: streams a piece, each after the evictor)


def streams() -> dict[str, bytes]:
    """The canned answers (``bench/upstream.py``), captured once and kept in the temp dir for reruns."""
    cache = Path(tempfile.gettempdir()) / "stream_pieces_canned.json"
    if cache.exists():
        return {k: v.encode("latin-1") for k, v in json.loads(cache.read_text()).items()}
    sys.path.insert(0, str(ROOT))
    from bench.profile_translation import answers

    got = answers()
    cache.write_text(json.dumps({k: v.decode("latin-1") for k, v in got.items()}))
    return got


def frames(body: bytes) -> list[bytes]:
    return [f + b"\n\n" for f in body.split(b"\n\n") if f.strip()]


def _varied(read: bytes, k: int) -> bytes:
    """``read`` with its stream's first ``"id"`` value and ``created`` digits made the ``k``-th of their kind
    (same lengths: the last characters replaced by ``k``'s digits)."""
    for pattern in (rb'"id":"([^"\\]{6,})"', rb'"created":(\d{6,})'):
        m = re.search(pattern, read)
        if m is not None:
            old = m.group(1)
            mark = str(k).encode()
            read = read.replace(old, old[: -len(mark)] + mark)
    return read


class Stream:
    """One path's relay as the gateway drives it, split into pieces (each a method taking a state)."""

    def __init__(self, path: str, body: bytes, reads: str) -> None:
        from services.gateway.dialects import registry
        from services.gateway.dialects.view import View
        from services.gateway.providers.anthropic import AnthropicProvider
        from services.gateway.providers.openai_compat import OpenAIProvider
        from services.gateway.relay import make_relay

        fmt, wire, _, prov = PATHS[path]
        self.pair = registry.pairing(fmt, wire)  # type: ignore[arg-type]
        body_in = {**BODIES[fmt], "model": "claude-haiku-4-5" if wire == "anthropic" else "gpt-4o-mini"}
        parsed = registry.client(fmt).parse(body_in)  # type: ignore[arg-type]
        self.view = View(model=parsed.model, include_usage=parsed.include_usage, reasoning=parsed.reasoning)
        cls = AnthropicProvider if prov == "anthropic" else OpenAIProvider
        self.provider = cls(prov, "http://127.0.0.1:1", "sk-bench-0123456789abcdef")
        self.make_relay = make_relay
        from services.gateway.bodies import dumps_body
        from services.gateway.dialects._prompt_cache import session_from

        self.client = registry.client(fmt)  # type: ignore[arg-type]
        self.client_raw = orjson.dumps(body_in)
        self.session = session_from({})
        self.dumps_body = dumps_body
        two = frames(body)[:2]
        self.sample = b"".join(two).replace(b'"id":"', b'"id":"warm')
        self.reads = [body] if reads == "one" else frames(body)
        self.out: list[bytes] = []
        # ``--vary-ids``: each stream its own id and ``created`` (as real streams have), same lengths
        self.variants = [self.reads]
        if os.environ.get("STREAM_PIECES_VARY_IDS"):
            self.variants = [[_varied(r, k) for r in self.reads] for k in range(WARM + RUNS + 5)]
        self.turn = 0
        self.picked: dict[int, list[bytes]] = {}

    def request_side(self) -> None:
        """The request's side before its answer (``--request-side``): its body parsed, translated (or copied),
        prepared and serialized as ``proxy.Proxy._build`` does, then a relay made (the upstream's wait); nothing
        kept."""
        body = orjson.loads(self.client_raw)
        self.client.parse(body)
        translate = self.pair.translate
        if translate is not None:
            out = translate(body, self.provider.target_of(body["model"]), self.session).body
        else:
            out = dict(body)
        self.provider.prepare(out, True, self.pair.wire.name)
        self.dumps_body(out)
        self.make()

    def small_warm_up(self) -> None:
        """``--small-warm-up``'s candidate: a throwaway relay reads the stream's first two frames, its own
        opening's id changed (``sample``), its bytes dropped."""
        self.make().feed(self.sample)

    def make(self, _: object = None) -> Any:
        return self.make_relay(self.pair, self.view, self.provider.usage)

    def first(self, relay: Any) -> Any:
        self.turn += 1
        self.reads = self.variants[self.turn % len(self.variants)]
        self.picked[id(relay)] = self.reads  # (``later`` of this relay reads the same stream)
        scrub = self.provider.scrub_bytes
        chunk = scrub(self.reads[0])
        # the body's last read (``Chunks.ended``): ``feed_last`` (session 21; a tree without it: ``feed``)
        last = getattr(relay, "feed_last", relay.feed) if len(self.reads) == 1 else relay.feed
        fed = last(chunk)
        self.out.append(fed if fed is chunk else scrub(fed))
        if relay.has_rest:
            self.out.append(scrub(relay.rest()))
        return relay

    def later(self, relay: Any) -> Any:
        scrub = self.provider.scrub_bytes
        for read in self.picked.pop(id(relay), self.reads)[1:]:
            chunk = scrub(read)
            fed = relay.feed(chunk)
            self.out.append(fed if fed is chunk else scrub(fed))
        return relay

    def settle(self, relay: Any) -> Any:
        """What ``feed_last`` left to decode after the client's answer has ended (session 21)."""
        if getattr(relay, "unsettled", False):
            relay.settle()
        return relay

    def finish(self, relay: Any) -> Any:
        self.out.append(self.provider.scrub_bytes(relay.finish()))
        return relay

    def event(self, relay: Any) -> Any:
        return (relay.usage, relay.decoder.model, relay.error, relay.complete)

    def steps(self) -> list[Callable[[Any], Any]]:
        return [self.make, self.first, self.later, self.settle, self.finish, self.event]

    def whole(self) -> tuple[bytes, Any]:
        self.out = []
        state: Any = None
        for step in self.steps():
            state = step(state)
        return b"".join(self.out), state


def count_calls(stream: Stream) -> list[int]:
    """Python and C calls per piece, one stream after three warm ones."""
    for _ in range(3):
        stream.whole()
    counts = [0] * len(PIECES)
    current = [0]

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            counts[current[0]] += 1

    state: Any = None
    stream.out = []
    for i, step in enumerate(stream.steps()):
        current[0] = i
        sys.setprofile(prof)
        state = step(state)
        sys.setprofile(None)
    return [c - 1 for c in counts]  # (the ``sys.setprofile(None)`` C call)


_EVICT = bytearray(b"\x01") * (
    4 << 20
)  # twice the simulated last level (the 2 MiB L2), its pages touched once


def _evict() -> int:
    """Caches as a one-connection request finds them (``--cold``): a byte of every 64-byte line of 4 MiB read
    (the data caches and the last level) and unrelated interpreter and C code run (the instruction cache). Not
    collected."""
    text = json.dumps({str(i): [i, str(i) * 3, {"k": i / 7}] for i in range(40)})
    words = sorted(set(re.findall(r"\w+", text)), key=str.upper)
    return len(_EVICT[::64]) + len(json.loads(text)) + len(words)


def under_callgrind(path: str, reads: str) -> None:
    """Run inside callgrind: every piece of ``RUNS`` streams inside one ``functools.reduce`` each (``--cold``:
    a ``reduce`` a stream, ``_evict`` before each, and ``--warm-up``'s throwaway relay after it); a
    ``time.sleep(0)`` after each piece ends its dump (``--dump-before=time_sleep``)."""
    cold = bool(os.environ.get("STREAM_PIECES_COLD"))
    stream = Stream(path, streams()[PATHS[path][2]], reads)
    warm_up: Callable[[], None] | None = None
    if os.environ.get("STREAM_PIECES_SMALL_WARM_UP"):
        warm_up = stream.small_warm_up
    elif os.environ.get("STREAM_PIECES_WARM_UP"):
        from services.gateway import proxy  # (a tree from session 33 on)

        rule = stream.provider.usage
        warm_relay = proxy.warm_relay  # type: ignore[attr-defined]
        warm_up = lambda: warm_relay(stream.make(), rule)  # noqa: E731
    for _ in range(WARM):
        stream.whole()
    gc.collect()
    gc.freeze()
    steps = stream.steps()
    time.sleep(0)  # (what came before, a ``reduce`` at import, in a dump of its own)
    for i in range(len(PIECES)):
        states: list[Any] = []
        for _ in range(RUNS):  # the pieces before this one, not collected
            stream.out = []
            state: Any = None
            for step in steps[:i]:
                state = step(state)
            states.append(state)
        piece = steps[i]
        if not cold:
            functools.reduce(lambda _, s: piece(s), states, None)  # collected: --toggle-collect
        else:
            request_side = stream.request_side if os.environ.get("STREAM_PIECES_REQUEST_SIDE") else None
            collect_warm_up = bool(os.environ.get("STREAM_PIECES_COLLECT_WARM_UP")) and warm_up is not None
            for state in states[:COLD_RUNS]:
                _evict()
                if request_side is not None:
                    request_side()
                if collect_warm_up:
                    functools.reduce(lambda _, s: warm_up(), [state], None)  # type: ignore[misc]
                    piece(state)
                    continue
                if warm_up is not None:
                    warm_up()
                functools.reduce(lambda _, s: piece(s), [state], None)
        time.sleep(0)


def _part(p: Path) -> int:
    """A callgrind dump's number (``cg.out.N``; the final dump, ``cg.out``, last)."""
    tail = p.name.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else sys.maxsize


def callgrind(path: str, reads: str, cache_sim: bool = False) -> list[tuple[float, float]]:
    """Per piece, instructions and estimated cycles per stream (the cycles 0 without ``cache_sim``): the
    dump's one part per piece (``time.sleep(0)`` after it)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce"]
        cmd += [f"--callgrind-out-file={out}", "--dump-before=time_sleep"]
        if cache_sim:  # this machine's core (lscpu): L1i 64 KiB, L1d 48 KiB, L2 2 MiB as the last level
            cmd += ["--cache-sim=yes", "--I1=65536,8,64", "--D1=49152,12,64", "--LL=2097152,16,64"]
        cmd += [sys.executable, __file__, "--inside", path, reads]
        cmd += ["--root", str(GATEWAY_ROOT)]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        totals: list[tuple[int, int]] = []
        for part in sorted(Path(tmp).glob("cg.out*"), key=_part):
            text = part.read_text()
            m = re.search(r"^summary:\s*([\d ]+)$", text, re.M)
            if not m:
                continue
            values = [int(v) for v in m.group(1).split()]
            if not values or values[0] == 0:
                continue
            ev = re.search(r"^events:\s*(.+)$", text, re.M)
            got = dict(zip(ev.group(1).split() if ev else ["Ir"], values, strict=False))
            l1 = got.get("I1mr", 0) + got.get("D1mr", 0) + got.get("D1mw", 0)
            ll = got.get("ILmr", 0) + got.get("DLmr", 0) + got.get("DLmw", 0)
            totals.append((got["Ir"], got["Ir"] + 10 * l1 + 100 * ll if cache_sim else 0))
        if len(totals) < len(PIECES):
            raise RuntimeError(f"{len(totals)} callgrind parts, expected {len(PIECES)}")
        runs = COLD_RUNS if os.environ.get("STREAM_PIECES_COLD") else RUNS
        return [(ir / runs, cy / runs) for ir, cy in totals[-len(PIECES) :]]  # (a ``reduce`` at import first)


def main() -> None:
    if "--inside" in sys.argv:
        i = sys.argv.index("--inside")
        under_callgrind(sys.argv[i + 1], sys.argv[i + 2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", default="one,frames")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--vary-ids", action="store_true", help="each stream its own id and created (session 24)")
    ap.add_argument("--cache-sim", action="store_true", help="estimated cycles too (session 33)")
    ap.add_argument("--cold", action="store_true", help="caches evicted before each stream's piece")
    ap.add_argument("--warm-up", action="store_true", help="with --cold: proxy.warm_relay after the evictor")
    ap.add_argument(
        "--request-side", action="store_true", help="with --cold: the request's side after the evictor"
    )
    ap.add_argument(
        "--small-warm-up", action="store_true", help="with --cold: the first two frames' candidate"
    )
    ap.add_argument("--collect-warm-up", action="store_true", help="the warm-up collected, not the piece")
    ap.add_argument("--root", default=str(ROOT))
    ap.add_argument("--paths", nargs="+", default=list(PASSTHROUGH), help="by name (PATHS; translated too)")
    args = ap.parse_args()
    if args.vary_ids:
        os.environ["STREAM_PIECES_VARY_IDS"] = "1"  # (read by ``Stream``, here and under callgrind)
    if args.cold:
        os.environ["STREAM_PIECES_COLD"] = "1"
    if args.warm_up:
        os.environ["STREAM_PIECES_WARM_UP"] = "1"
    for flag, name in (
        (args.request_side, "REQUEST_SIDE"),
        (args.small_warm_up, "SMALL_WARM_UP"),
        (args.collect_warm_up, "COLLECT_WARM_UP"),
    ):
        if flag:
            os.environ[f"STREAM_PIECES_{name}"] = "1"
    canned = streams()
    print(f"tree {GATEWAY_ROOT}")
    print(f"{'path':30} {'reads':7} {'count':6} " + " ".join(f"{p:>12}" for p in PIECES) + f" {'total':>12}")
    for reads in args.reads.split(","):
        for path in args.paths:
            file = PATHS[path][2]
            stream = Stream(path, canned[file], reads)
            calls = count_calls(stream)
            row = " ".join(f"{c:12d}" for c in calls)
            print(f"{path:30} {reads:7} {'calls':6} {row} {sum(calls):12d}", flush=True)
            if args.callgrind:
                got = callgrind(path, reads, args.cache_sim)
                instr = [ir for ir, _ in got]
                row = " ".join(f"{c:12.0f}" for c in instr)
                print(f"{path:30} {reads:7} {'instr':6} {row} {sum(instr):12.0f}", flush=True)
                if args.cache_sim:
                    cycles = [cy for _, cy in got]
                    row = " ".join(f"{c:12.0f}" for c in cycles)
                    print(f"{path:30} {reads:7} {'cycles':6} {row} {sum(cycles):12.0f}", flush=True)


if __name__ == "__main__":
    main()
