"""The benchmark table's own parts (bench/): answer reading, the floor proxy, the nginx upstream.

Real processes over real sockets: the fake provider, the floor (``python -m bench.floor``) and Debian's nginx
(``make bench-tools`` installs it; a machine without it fails here).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from bench import answers
from bench.upstream import CAPTURES, capture, start_nginx
from tests.procs import ROOT, free_port, http_ok, wait_until

TEXT = "Hello from fake-openai: hello bench"
FORMAT = {
    "chat/completions.json": "openai",
    "chat/completions.sse": "openai-sse",
    "messages.json": "anthropic",
    "messages.sse": "anthropic-sse",
    "responses.json": "responses",
    "responses.sse": "responses-sse",
}
HEADERS = {"authorization": "Bearer k", "x-api-key": "k", "anthropic-version": "2023-06-01"}


@contextmanager
def _serve(args: list[str], probe: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", *args, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or http_ok(url + probe), 15)
        assert proc.poll() is None
        yield url
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    with _serve(["tests.fake_provider", "--name", "openai"], "/v1/models") as url:
        yield url


@pytest.fixture(scope="module")
def canned(fake: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return capture(fake, tmp_path_factory.mktemp("canned"))


def test_every_captured_answer_reads_as_the_fake_text(canned: dict[str, bytes]) -> None:
    assert sorted(canned) == sorted(name for name, _, _ in CAPTURES)
    for name, body in canned.items():
        assert answers.text(FORMAT[name], body) == TEXT, name


def test_a_stream_cut_before_its_terminator_is_wrong(canned: dict[str, bytes]) -> None:
    for name in ("chat/completions.sse", "messages.sse", "responses.sse"):
        body = canned[name]
        cut = body[: body.rindex(b"data:")]
        with pytest.raises(ValueError, match="terminator"):
            answers.text(FORMAT[name], cut)


def test_partial_text_reads_only_complete_events(canned: dict[str, bytes]) -> None:
    body = canned["chat/completions.sse"]
    first_text = next(i for i in range(len(body)) if answers.partial_text("openai-sse", body[:i]))
    got = answers.partial_text("openai-sse", body[:first_text])
    assert got and TEXT.startswith(got)
    assert answers.partial_text("openai-sse", body[: first_text - 1]) == ""


def test_a_plain_answer_with_other_text_is_read_as_it_is(canned: dict[str, bytes]) -> None:
    other = canned["chat/completions.json"].replace(b"hello bench", b"something else")
    assert answers.text("openai", other) == "Hello from fake-openai: something else"
    with pytest.raises(ValueError):
        answers.text("anthropic", b'{"no": "content"}')


def test_the_floor_passes_answers_statuses_and_streams_through(fake: str) -> None:
    with _serve(["bench.floor", "--upstream", fake], "/v1/models") as floor:
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello bench"}]}
        plain = httpx.post(floor + "/v1/chat/completions", json=chat, headers=HEADERS)
        assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/json")
        assert answers.text("openai", plain.content) == TEXT
        streamed = httpx.post(floor + "/v1/chat/completions", json={**chat, "stream": True}, headers=HEADERS)
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert answers.text("openai-sse", streamed.content) == TEXT
        # the key header is forwarded: without it the fake's 401 comes back as it is
        refused = httpx.post(floor + "/v1/chat/completions", json=chat)
        assert refused.status_code == 401


def test_nginx_answers_each_path_plain_or_streamed_by_the_body() -> None:
    ngx = start_nginx()
    try:
        for name, path, body in CAPTURES:
            got = httpx.post(ngx.url + path, json=body)
            assert got.status_code == 200, (name, got.text)
            assert got.content == ngx.canned[name], name
            kind = "text/event-stream" if name.endswith(".sse") else "application/json"
            assert got.headers["content-type"] == kind
    finally:
        ngx.stop()
    assert ngx.proc.poll() is not None and not ngx.home.exists()


def test_the_c1_tools_stack_answers_through_every_target_and_stops_whole() -> None:
    """``bench_table.c1_stack`` (session 34: the stack c1_counts, c1_cycles, c1_paths and tail_counts share):
    direct, the floor and the gateway each answer a chat request with nginx's text, the gateway's ledger gets
    its row, and on exit nginx, the floor, the gateway and the recorder are all gone (the temporary directory
    too); without the floor, no floor target."""
    from bench.bench_table import c1_stack
    from bench.load import post, wrong
    from bench.paths import PATHS

    case = next(c for c in PATHS if c.name == "openai chat, plain")
    with c1_stack() as cs:
        expected = answers.text("openai", cs.nginx.canned["chat/completions.json"])
        targets = cs.targets()
        assert list(targets) == ["direct", "floor", "gateway"]
        for name, t in targets.items():
            path, body = (
                (case.path, case.body) if name == "gateway" else (case.upstream_path, case.upstream_body)
            )
            status, answer = post(t.url + path, body, cs.key)
            assert wrong(status, answer, "openai", expected) is None, name
            assert t.pids()
        wait_until(lambda: len(cs.st.rows()) == 1, 30)
        procs = [
            cs.nginx.proc,
            cs.floor.proc if cs.floor else None,
            *(s.proc for s in cs.st.services.values()),
        ]
        tmp = cs.tmp
    assert all(p is not None and p.poll() is not None for p in procs)
    assert not tmp.exists()
    with c1_stack(floor=False) as cs:
        assert cs.floor is None and list(cs.targets()) == ["direct", "gateway"]
