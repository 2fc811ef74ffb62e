"""Ekai Gateway against its best-known Python peer, the LiteLLM proxy: same fake upstream, same load, one run.

What it does:

* installs a pinned ``litellm[proxy]`` into ``.venv-peers/`` (once, ~40 s; never into our own venv);
* starts the fake provider (``python -m tests.fake_provider --name openai``), our recorder + gateway
  (``tests.procs.stack``, as in production) and a LiteLLM proxy, all on free ports on 127.0.0.1;
* for each scenario, warms up every target, then runs ``--rounds`` rounds; each round fires ``--requests``
  requests at ``--concurrency`` against the fake directly (the baseline), our gateway and LiteLLM, with the
  order of the two gateways swapped every round (ours first in even rounds, LiteLLM first in odd ones),
  so slow drift on the machine hits both alike. The table shows the MEDIAN of the rounds' requests/s, and
  p50 / p99 latency over all rounds' requests pooled; every round's figures are in the JSON;
* checks every response after its run (outside the timed window): HTTP 200 and exactly the fake's answer
  text (``Hello from fake-openai: hello bench``, reassembled from the stream for streamed scenarios, with the
  stream's terminator present); anything else counts as an error;
* measures the CPU time the gateway's processes spent per request (ours: gateway + recorder; LiteLLM: its
  process tree), read from /proc around each run, which does not depend on the load generator's own speed;
* writes bench/results/peers.json.

LiteLLM setup (the fairest single-worker setup it ships with): ``litellm --config <yaml> --host 127.0.0.1
--port N --num_workers 1`` (uvicorn + uvloop, its default server; ``--litellm-server granian`` tries the
Granian server that ``litellm[proxy]`` also ships), a master key (it refuses to start without one; the
client sends it, a cheap in-memory check as no DB is configured), ``LITELLM_LOG=ERROR`` (also silences
uvicorn's access log), no database, no Redis, no callbacks, admin UI and API docs off, telemetry off, the
bundled cost map (``LITELLM_LOCAL_MODEL_COST_MAP=True``: no network), and
``LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES=True`` so that an Anthropic-format request for a
GPT model goes upstream to ``/v1/chat/completions`` as ours does (by default LiteLLM would call the
Responses API). Usage records differ: ours writes every request to its SQLite ledger (through the recorder
process); LiteLLM, without a database, only computes each request's cost in memory.

If LiteLLM cannot be installed or started, the script says so and exits with status 2; it never reports
figures it did not measure. Exit status 1 when any response was wrong.

    python bench/bench_peers.py [--requests 2000] [--concurrency 32] [--rounds 3] [--warmup 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import free_port, http_ok, stack, wait_until  # noqa: E402

PEER_VERSION = "1.108.7"
PEER_SPEC = f"litellm[proxy]=={PEER_VERSION}"
DEFAULT_PEER_VENV = ROOT / ".venv-peers"
EXPECTED = "Hello from fake-openai: hello bench"
PEER_UNAVAILABLE = 2
MESSAGES = [{"role": "user", "content": "hello bench"}]


# --- what a correct answer looks like ------------------------------------------------------------------


def _sse_data(body: bytes) -> list[bytes]:
    return [line[5:].strip() for line in body.splitlines() if line.startswith(b"data:")]


def text_openai_plain(body: bytes) -> str:
    return str(orjson.loads(body)["choices"][0]["message"]["content"])


def text_openai_stream(body: bytes) -> str:
    data = _sse_data(body)
    if not data or data[-1] != b"[DONE]":
        raise ValueError("stream does not end with data: [DONE]")
    text = []
    for chunk in data[:-1]:
        for choice in orjson.loads(chunk).get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


def text_anthropic_stream(body: bytes) -> str:
    events = [orjson.loads(d) for d in _sse_data(body)]
    if not events or events[-1].get("type") != "message_stop":
        raise ValueError("stream does not end with message_stop")
    return "".join(
        e["delta"].get("text", "")
        for e in events
        if e.get("type") == "content_block_delta" and e["delta"].get("type") == "text_delta"
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: dict[str, Any]
    text: Callable[[bytes], str]
    # the baseline: the upstream call both gateways make for this scenario, sent straight to the fake
    direct_path: str
    direct_body: dict[str, Any]
    direct_text: Callable[[bytes], str]
    optional_for_peer: bool = False  # skipped (for both) when LiteLLM cannot serve it


PLAIN = {"model": "gpt-4o-mini", "messages": MESSAGES}
STREAM = {"model": "gpt-4o-mini", "stream": True, "messages": MESSAGES}
# both gateways ask the upstream for the usage chunk on streams; the baseline does the same
STREAM_UPSTREAM = {**STREAM, "stream_options": {"include_usage": True}}
ANTHROPIC_STREAM = {"model": "gpt-4o-mini", "max_tokens": 64, "stream": True, "messages": MESSAGES}

SCENARIOS = [
    Scenario(
        "openai chat, plain",
        "/v1/chat/completions",
        PLAIN,
        text_openai_plain,
        "/v1/chat/completions",
        PLAIN,
        text_openai_plain,
    ),
    Scenario(
        "openai chat, stream",
        "/v1/chat/completions",
        STREAM,
        text_openai_stream,
        "/v1/chat/completions",
        STREAM_UPSTREAM,
        text_openai_stream,
    ),
    Scenario(
        "anthropic msgs → gpt, stream",
        "/v1/messages",
        ANTHROPIC_STREAM,
        text_anthropic_stream,
        "/v1/chat/completions",
        STREAM_UPSTREAM,
        text_openai_stream,
        optional_for_peer=True,
    ),
]


# --- measuring ----------------------------------------------------------------------------------------


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree(pids: list[int]) -> list[int]:
    """The given processes and all their descendants (LiteLLM under Granian forks a worker)."""
    if not Path("/proc/self/stat").exists():
        return pids
    children, out, todo = _proc_children(), [], list(pids)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU of these processes, or None off Linux."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def rss_mb(pids: list[int]) -> float | None:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


@dataclass
class Run:
    rps: float
    latencies: list[float]
    errors: int
    first_error: str | None
    cpu_ms_per_req: float | None

    def summary(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(pct(self.latencies, 50), 2),
            "p99_ms": round(pct(self.latencies, 99), 2),
            "errors": self.errors,
            "first_error": self.first_error,
            "cpu_ms_per_req": None if self.cpu_ms_per_req is None else round(self.cpu_ms_per_req, 3),
        }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _fire(
    url: str, body: dict[str, Any], n: int, concurrency: int, headers: dict[str, str]
) -> tuple[float, list[float], list[tuple[int, bytes | str]]]:
    payload = orjson.dumps(body)
    latencies: list[float] = []
    answers: list[tuple[int, bytes | str]] = []
    todo = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=payload, headers=headers) as resp:
                        answers.append((resp.status, await resp.read()))
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    answers.append((-1, repr(exc)))
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return n / elapsed, latencies, answers


def check(answers: list[tuple[int, bytes | str]], text: Callable[[bytes], str]) -> tuple[int, str | None]:
    """(number of wrong answers, a description of the first one)."""
    errors, first = 0, None
    for status, body in answers:
        problem = None
        if status != 200 or isinstance(body, str):
            problem = f"HTTP {status}: {body[:300]!r}"
        else:
            try:
                got = text(body)
                if got != EXPECTED:
                    problem = f"unexpected text {got[:200]!r}"
            except Exception as exc:  # any malformed body is a wrong answer
                problem = f"malformed body ({exc!r}): {body[:300]!r}"
        if problem:
            errors += 1
            first = first or problem
    return errors, first


@dataclass
class Target:
    name: str
    url: str
    pids: Callable[[], list[int]]
    fake_url: str

    def run(
        self,
        path: str,
        body: dict[str, Any],
        text: Callable[[bytes], str],
        n: int,
        concurrency: int,
        headers: dict[str, str],
    ) -> Run:
        pids = self.pids()
        cpu0 = cpu_seconds(pids)
        rps, latencies, answers = asyncio.run(_fire(self.url + path, body, n, concurrency, headers))
        cpu1 = cpu_seconds(pids)
        errors, first = check(answers, text)
        # the fake keeps every request it saw; forget them so its memory stays flat for every target
        urllib.request.urlopen(
            urllib.request.Request(self.fake_url + "/_fake/reset", method="POST"), timeout=5
        ).close()
        cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / n
        return Run(rps, latencies, errors, first, cpu)


# --- the peer -----------------------------------------------------------------------------------------


class PeerUnavailable(Exception):
    pass


def peer_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_peer(venv: Path) -> Path:
    """The litellm executable of a venv holding exactly PEER_SPEC; installs it there when missing."""
    python, litellm = venv / "bin" / "python", venv / "bin" / "litellm"
    stamp = venv / f".installed-litellm-{PEER_VERSION}"
    if stamp.exists() and litellm.exists() and peer_version(python) == PEER_VERSION:
        return litellm
    print(f"installing {PEER_SPEC} into {venv} (first time only, ~40 s) ...", flush=True)
    try:
        if not python.exists():
            # the same interpreter as ours, so both gateways run on the same Python
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PEER_SPEC],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(
            f"could not install {PEER_SPEC} into {venv} ({exc}); is PyPI reachable?"
        ) from exc
    if pip.returncode != 0:
        tail = "\n".join((pip.stdout + pip.stderr).strip().splitlines()[-15:])
        raise PeerUnavailable(
            f"could not install {PEER_SPEC} into {venv} (pip exited {pip.returncode}); "
            f"is PyPI reachable?\n{tail}"
        )
    got = peer_version(python)
    if got != PEER_VERSION or not litellm.exists():
        raise PeerUnavailable(f"{venv} holds litellm {got}, not {PEER_VERSION}, after installing")
    stamp.touch()
    return litellm


def peer_config(fake_url: str, upstream_key: str) -> str:
    # JSON is valid YAML: no YAML library needed on our side
    return json.dumps(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o-mini",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": fake_url + "/v1",
                        "api_key": upstream_key,
                    },
                }
            ],
            "litellm_settings": {"set_verbose": False, "json_logs": False, "telemetry": False},
            "general_settings": {},
        },
        indent=1,
    )


PEER_ENV = {
    "LITELLM_LOG": "ERROR",  # minimal logging; uvicorn's log level (and so its access log) follows it
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the bundled price list: no fetch from GitHub
    "LITELLM_TELEMETRY_DISABLED": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True",
}
# never inherited by the peer: a database, a cache, provider keys or LiteLLM settings from the caller's shell
_PEER_ENV_DROP = (
    "LITELLM_",
    "DATABASE_URL",
    "DIRECT_URL",
    "REDIS_",
    "OPENAI_",
    "ANTHROPIC_",
    "XAI_",
    "OPENROUTER_",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "STORE_MODEL_IN_DB",
    "PROXY_",
)


@dataclass
class Peer:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    config: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the proxy and any worker it forked
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_peer(litellm: Path, tmp: Path, fake_url: str, master_key: str, server: str) -> Peer:
    config = peer_config(fake_url, "sk-bench-upstream-key")
    cfg = tmp / "litellm.yaml"
    cfg.write_text(config)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PEER_ENV_DROP)}
    env.update(PEER_ENV, LITELLM_MASTER_KEY=master_key, PYTHONUNBUFFERED="1")
    command = [
        str(litellm),
        "--config",
        str(cfg),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    if server == "granian":
        command.append("--run_granian")
    log = tmp / "litellm.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            command, cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    peer = Peer(proc, f"http://127.0.0.1:{port}", log, config, command, env)
    try:
        wait_until(lambda: proc.poll() is not None or http_ok(peer.url + "/health/liveliness"), 180, 0.25)
    except TimeoutError:
        peer.stop()
        raise PeerUnavailable(
            "LiteLLM did not answer /health/liveliness within 180 s:\n" + peer.log_tail()
        ) from None
    if proc.poll() is not None:
        raise PeerUnavailable(f"LiteLLM exited with status {proc.returncode}:\n" + peer.log_tail())
    return peer


# --- the benchmark ------------------------------------------------------------------------------------


def fmt(x: float | None, spec: str) -> str:
    return "–" if x is None or x != x else format(x, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per target per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; the table shows the median"
    )
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per target per scenario")
    parser.add_argument(
        "--peer-venv",
        type=Path,
        default=DEFAULT_PEER_VENV,
        help=f"where {PEER_SPEC} lives (created when missing)",
    )
    parser.add_argument(
        "--litellm-server",
        choices=("uvicorn", "granian"),
        default="uvicorn",
        help="LiteLLM's ASGI server (uvicorn is its default)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "peers.json")
    args = parser.parse_args()

    try:
        litellm = ensure_peer(args.peer_venv)
    except PeerUnavailable as exc:
        print(f"\nbench_peers: LiteLLM is unavailable, no comparison was made: {exc}", file=sys.stderr)
        return PEER_UNAVAILABLE

    master_key = "sk-bench-" + secrets.token_hex(16)
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {master_key}",
        "x-api-key": master_key,
        "anthropic-version": "2023-06-01",
    }
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--name", "openai"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fake_url = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    peer: Peer | None = None
    try:
        wait_until(lambda: http_ok(fake_url + "/v1/models"), 15)
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            try:
                peer = start_peer(litellm, tmp, fake_url, master_key, args.litellm_server)
            except PeerUnavailable as exc:
                print(
                    f"\nbench_peers: LiteLLM could not be started, no comparison was made: {exc}",
                    file=sys.stderr,
                )
                return PEER_UNAVAILABLE
            with stack(tmp, {"openai": fake_url + "/v1"}) as st:
                ours_pids = [st.services["gateway"].proc.pid, st.services["recorder"].proc.pid]
                peer_pid = peer.proc.pid
                direct = Target("direct", fake_url, lambda: [fake.pid], fake_url)
                ours = Target("ours", st.gateway_url, lambda: ours_pids, fake_url)
                theirs = Target("litellm", peer.url, lambda: tree([peer_pid]), fake_url)
                sent_to_ours = 0

                for sc in SCENARIOS:
                    # one request each first: does everybody answer this scenario correctly at all?
                    pre_ours = ours.run(sc.path, sc.body, sc.text, 1, 1, headers)
                    pre_peer = theirs.run(sc.path, sc.body, sc.text, 1, 1, headers)
                    sent_to_ours += 1
                    if pre_peer.errors:
                        if sc.optional_for_peer:
                            skipped.append(f"{sc.name}: LiteLLM answered wrongly ({pre_peer.first_error})")
                            print(f"skipping {sc.name!r}: LiteLLM does not serve it: {pre_peer.first_error}")
                            continue
                        raise PeerUnavailable(
                            f"LiteLLM answered {sc.name!r} wrongly: {pre_peer.first_error}\n"
                            + peer.log_tail()
                        )
                    if pre_ours.errors:
                        print(
                            f"our gateway answered {sc.name!r} wrongly: {pre_ours.first_error}",
                            file=sys.stderr,
                        )

                    print(
                        f"\n{sc.name}: warm-up {args.warmup} per target, then {args.rounds} round(s) of "
                        f"{args.requests} at concurrency {args.concurrency}",
                        flush=True,
                    )
                    warm = {
                        t.name: (
                            t.run(
                                sc.direct_path,
                                sc.direct_body,
                                sc.direct_text,
                                args.warmup,
                                args.concurrency,
                                headers,
                            )
                            if t is direct
                            else t.run(sc.path, sc.body, sc.text, args.warmup, args.concurrency, headers)
                        )
                        for t in (direct, ours, theirs)
                    }
                    sent_to_ours += args.warmup
                    rounds: dict[str, list[Run]] = {"direct": [], "ours": [], "litellm": []}
                    for r in range(args.rounds):
                        order = (direct, ours, theirs) if r % 2 == 0 else (direct, theirs, ours)
                        for t in order:
                            if t is direct:
                                run = t.run(
                                    sc.direct_path,
                                    sc.direct_body,
                                    sc.direct_text,
                                    args.requests,
                                    args.concurrency,
                                    headers,
                                )
                            else:
                                run = t.run(
                                    sc.path, sc.body, sc.text, args.requests, args.concurrency, headers
                                )
                            rounds[t.name].append(run)
                            print(
                                f"  round {r + 1} {t.name:8} {run.rps:8.0f} r/s  p50 {pct(run.latencies, 50):6.1f} ms"
                                f"  p99 {pct(run.latencies, 99):6.1f} ms  errors {run.errors}"
                                f"  cpu {fmt(run.cpu_ms_per_req, '.2f')} ms/req",
                                flush=True,
                            )
                        sent_to_ours += args.requests

                    agg: dict[str, Any] = {}
                    for name, runs in rounds.items():
                        pooled = [x for run in runs for x in run.latencies]
                        cpus = [run.cpu_ms_per_req for run in runs if run.cpu_ms_per_req is not None]
                        agg[name] = {
                            "rps_median": statistics.median(run.rps for run in runs),
                            "rps_rounds": [round(run.rps, 1) for run in runs],
                            "p50_ms": pct(pooled, 50),
                            "p99_ms": pct(pooled, 99),
                            "errors": sum(run.errors for run in runs) + warm[name].errors,
                            "first_error": next(
                                (run.first_error for run in [warm[name], *runs] if run.first_error), None
                            ),
                            "cpu_ms_per_req": statistics.median(cpus) if cpus else None,
                            "warmup": warm[name].summary(),
                            "rounds": [run.summary() for run in runs],
                        }
                    agg["ours"]["errors"] += pre_ours.errors
                    results.append(
                        {
                            "scenario": sc.name,
                            "path": sc.path,
                            "body": sc.body,
                            "baseline": {"path": sc.direct_path, "body": sc.direct_body},
                            **agg,
                            "ratio_ours_over_litellm": agg["ours"]["rps_median"]
                            / agg["litellm"]["rps_median"],
                        }
                    )

                # our usage ledger: every request we sent must become a row (the recorder batches, so wait)
                try:
                    recorded = wait_until(lambda: (n := len(st.rows())) >= sent_to_ours and n, 60)
                except TimeoutError:
                    recorded = len(st.rows())
                with urllib.request.urlopen(st.gateway_url + "/health", timeout=5) as resp:
                    events = json.loads(resp.read()).get("events")
                memory = {"ours_rss_mb": rss_mb(ours_pids), "litellm_rss_mb": rss_mb(tree([peer_pid]))}
    except PeerUnavailable as exc:
        print(f"\nbench_peers: {exc}", file=sys.stderr)
        return PEER_UNAVAILABLE
    finally:
        if peer is not None:
            peer.stop()
        fake.terminate()
        fake.wait(5)

    report(args, results, skipped, sent_to_ours, recorded, events, memory, peer)
    bad = sum(row["ours"]["errors"] + row["litellm"]["errors"] + row["direct"]["errors"] for row in results)
    return 1 if bad or recorded < sent_to_ours else 0


def report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    skipped: list[str],
    sent_to_ours: int,
    recorded: int,
    events: Any,
    memory: dict[str, float | None],
    peer: Peer | None,
) -> None:
    print(
        f"\nEkai Gateway vs LiteLLM {PEER_VERSION} ({args.litellm_server}, 1 worker): {args.requests} requests "
        f"per target per round, concurrency {args.concurrency}, {args.rounds} alternating round(s); r/s = "
        f"median of rounds, latencies over all rounds; direct = the same upstream call sent to the fake itself"
    )
    print(
        f"{'scenario':30} {'direct r/s':>10} {'ours r/s':>9} {'LiteLLM r/s':>11} {'ratio':>6} "
        f"{'p50 ours':>9} {'p50 LiteLLM':>11} {'p99 ours':>9} {'p99 LiteLLM':>11} {'p50 direct':>10}"
    )
    for row in results:
        d, o, t = row["direct"], row["ours"], row["litellm"]
        print(
            f"{row['scenario']:30} {d['rps_median']:10.0f} {o['rps_median']:9.0f} {t['rps_median']:11.0f} "
            f"{row['ratio_ours_over_litellm']:5.2f}x {o['p50_ms']:7.1f}ms {t['p50_ms']:9.1f}ms "
            f"{o['p99_ms']:7.1f}ms {t['p99_ms']:9.1f}ms {d['p50_ms']:8.1f}ms"
        )
    print(
        f"\n{'scenario':30} {'ours r/s by round':>22} {'LiteLLM r/s by round':>22} {'errors ours/LiteLLM':>20} "
        f"{'CPU ms/req ours/LiteLLM':>24}"
    )
    for row in results:
        o, t = row["ours"], row["litellm"]
        print(
            f"{row['scenario']:30} {' '.join(f'{x:.0f}' for x in o['rps_rounds']):>22} "
            f"{' '.join(f'{x:.0f}' for x in t['rps_rounds']):>22} {str(o['errors']) + ' / ' + str(t['errors']):>20} "
            f"{fmt(o['cpu_ms_per_req'], '.2f') + ' / ' + fmt(t['cpu_ms_per_req'], '.2f'):>24}"
        )
        for who in ("ours", "litellm", "direct"):
            if row[who]["first_error"]:
                print(f"  first {who} error: {row[who]['first_error']}")
    for s in skipped:
        print(f"skipped: {s}")
    print(
        f"\nusage records: ours wrote {recorded} ledger rows for {sent_to_ours} requests sent to it "
        f"(events {events}); LiteLLM (no database) only tracks cost in memory, it persists nothing."
    )
    print(
        f"resident memory at the end: ours (gateway + recorder) {fmt(memory['ours_rss_mb'], '.0f')} MB, "
        f"LiteLLM {fmt(memory['litellm_rss_mb'], '.0f')} MB. CPU ms/req: median over rounds of the server "
        f"processes' CPU time (ours includes the recorder)."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    redacted = {
        k: ("<redacted>" if "KEY" in k else v)
        for k, v in (peer.env if peer else {}).items()
        if k.startswith(("LITELLM_", "DISABLE_", "NO_"))
    }
    args.out.write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "loadavg_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
                },
                "requests": args.requests,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
                "warmup": args.warmup,
                "method": "per scenario: warm-up every target, then rounds of direct, ours, LiteLLM (gateway order "
                "swapped every round); rps = median of rounds, p50/p99 over all rounds' latencies pooled",
                "litellm": {
                    "spec": PEER_SPEC,
                    "server": args.litellm_server,
                    "command": [c if not c.endswith(".yaml") else "<tmp>/litellm.yaml" for c in peer.command]
                    if peer
                    else None,
                    "config": json.loads(peer.config) if peer else None,
                    "env": redacted,
                    "usage_tracking": "in-memory cost tracking only (no database)",
                },
                "ours": {
                    "usage_tracking": "every request written to the SQLite ledger via the recorder",
                    "requests_sent": sent_to_ours,
                    "ledger_rows": recorded,
                    "events": events,
                },
                "memory": memory,
                "skipped": skipped,
                "results": results,
            },
            indent=1,
            default=str,
        )
    )
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    sys.exit(main())
