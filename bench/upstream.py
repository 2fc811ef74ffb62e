"""The benchmark's upstreams: nginx serving canned provider answers, and a slow-stream server in aiohttp.

nginx (Debian's, started here with a config of our own in a temp dir, one worker) answers every provider
path the gateway calls — ``/v1/chat/completions``, ``/v1/messages``, ``/v1/responses`` — with a real
answer in that API's wire format: JSON when the request body says nothing of streaming, the SSE stream
(with its usage event) when it has ``"stream": true``. The canned bodies are not written by hand: they are
captured at start-up from the project's fake provider (``tests/fake_provider.py``, which implements the
wire formats from the conformance notes), so the gateway reads usage and translates exactly as it does for
a real provider. nginx is in C and does no per-request work beyond a copy, so it is not the bottleneck.

How nginx picks the answer: a request body is only readable by nginx modules that proxy, so the public
server reads the body, sets ``X-Bench-Format: sse|json`` from a regular expression over it, and proxies
(keep-alive) to an inner server that serves ``<path>.<format>`` as a static file (POST to a static file is
a 405 in nginx; ``error_page 405 =200 $uri`` turns it into the file). The extra hop is paid equally by
every target (direct, floor, gateway, LiteLLM), so it cancels out of every "added" figure.

The slow upstream (``slow_app``) trickles an OpenAI chat stream one event every ``interval`` seconds: it
holds many streams open at once for the memory test, which nginx cannot do.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.procs import free_port, http_ok, wait_until  # noqa: E402

MESSAGES = [{"role": "user", "content": "hello bench"}]
# (file under the canned root, upstream path, request body the fake answers) for every answer nginx serves
CAPTURES = (
    ("chat/completions.json", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}),
    (
        "chat/completions.sse",
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    ("messages.json", "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES}),
    (
        "messages.sse",
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES, "stream": True},
    ),
    ("responses.json", "/v1/responses", {"model": "gpt-4o-mini", "input": "hello bench"}),
    ("responses.sse", "/v1/responses", {"model": "gpt-4o-mini", "input": "hello bench", "stream": True}),
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log error;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    types {{ application/json json; text/event-stream sse; }}
    map $request_body $bench_format {{ "~\\"stream\\"\\s*:\\s*true" sse; default json; }}
    upstream canned {{ server 127.0.0.1:{inner}; keepalive 256; keepalive_requests 10000000; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_body_buffer_size 64k;
        location = /v1/models {{ default_type application/json; return 200 '{{"object":"list","data":[]}}'; }}
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Bench-Format $bench_format;
            proxy_pass http://canned;
        }}
    }}
    server {{
        listen 127.0.0.1:{inner};
        root {tmp}/canned;
        etag off;
        location / {{
            rewrite ^/v1/(.*)$ /$1.$http_x_bench_format break;
            error_page 405 =200 $uri;
        }}
    }}
}}
"""


def capture(fake_url: str, dest: Path) -> dict[str, bytes]:
    """POST each of CAPTURES to the fake provider and store the answers under ``dest``; returns them by file."""
    out: dict[str, bytes] = {}
    for name, path, body in CAPTURES:
        req = urllib.request.Request(
            fake_url + path,
            data=orjson.dumps(body),
            headers={
                "content-type": "application/json",
                "authorization": "Bearer k",
                "x-api-key": "k",
                "anthropic-version": "2023-06-01",
            },
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            out[name] = resp.read()
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[name])
    return out


def fake_answers(dest: Path | None = None) -> dict[str, bytes]:
    """The fake provider's answers to CAPTURES, by file name: a short-lived ``tests.fake_provider`` is started,
    asked (``capture``: the answers stored under ``dest``, or in a temp dir removed after) and stopped."""
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--name", "openai"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(url + "/v1/models"), 15)
        if dest is not None:
            return capture(url, dest)
        with tempfile.TemporaryDirectory() as tmp:
            return capture(url, Path(tmp))
    finally:
        fake.terminate()
        fake.wait(5)


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    url: str
    canned: dict[str, bytes]
    home: Path  # its config, canned answers and logs

    def pids(self) -> list[int]:
        from bench.peers import tree

        return tree([self.proc.pid])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master waits for its worker
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)


def start_nginx() -> Nginx:
    """Capture the canned answers from a short-lived fake provider, then start nginx serving them.

    Raises RuntimeError when nginx is missing or does not start."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if binary is None:
        raise RuntimeError("nginx is not installed: run `make bench` (it installs nginx-light and wrk)")
    # started by root, nginx's worker runs as nobody: it must reach the canned files, so they live in a
    # directory of their own directly under the system temp dir, readable by all (removed by stop())
    tmp = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    tmp.chmod(0o755)
    canned = fake_answers(tmp / "canned")
    port, inner = free_port(), free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, inner=inner))
    log = open(tmp / "nginx.out", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    ngx = Nginx(proc, f"http://127.0.0.1:{port}", canned, tmp)
    try:
        wait_until(lambda: proc.poll() is not None or http_ok(ngx.url + "/v1/models"), 15)
    except TimeoutError:
        ngx.stop()
        raise
    if proc.poll() is not None:
        output = (tmp / "nginx.out").read_text(errors="replace")
        ngx.stop()
        raise RuntimeError("nginx did not start:\n" + output)
    return ngx


# --- the slow upstream ----------------------------------------------------------------------------------

FRAMES = web.AppKey("frames", list)
INTERVAL = web.AppKey("interval", float)
OPEN = web.AppKey("open", list)  # [streams open now, most open at once since the last GET /peak]


async def _slow_stream(request: web.Request) -> web.StreamResponse:
    await request.read()
    counts = request.app[OPEN]
    counts[0] += 1
    counts[1] = max(counts[1], counts[0])
    try:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        for frame in request.app[FRAMES]:
            await resp.write(frame)
            await asyncio.sleep(request.app[INTERVAL])
        await resp.write_eof()
        return resp
    finally:
        counts[0] -= 1


async def _peak(request: web.Request) -> web.Response:
    counts = request.app[OPEN]
    peak, counts[1] = counts[1], counts[0]
    return web.json_response({"peak": peak, "open": counts[0]})


def slow_app(stream: bytes, interval: float) -> web.Application:
    """An upstream answering every POST with ``stream`` (SSE bytes) split into events, one per ``interval`` s."""
    app = web.Application()
    app[FRAMES] = [frame + b"\n\n" for frame in stream.split(b"\n\n") if frame.strip()]
    app[INTERVAL] = interval
    app[OPEN] = [0, 0]
    app.router.add_get("/peak", _peak)
    app.router.add_post("/{tail:.*}", _slow_stream)
    return app


def main() -> None:
    """``python -m bench.upstream slow PORT INTERVAL STREAM_FILE``: the slow upstream as its own process."""
    _, port, interval, stream_file = sys.argv[1:5]
    web.run_app(
        slow_app(Path(stream_file).read_bytes(), float(interval)),
        host="127.0.0.1",
        port=int(port),
        access_log=None,
        print=None,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
