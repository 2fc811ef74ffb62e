"""Instructions per Responses passthrough stream relayed after a numbered keep-alive (session 28, fix28).

After a keep-alive event on the Responses passthrough (``relay.Passthrough.keepalive``) every later upstream
event goes through the renumbering filter (``openai_responses.reopened``); this measures that lane, which
``bench/stream_pieces.py`` (no keep-alives) does not reach.

A stream (created, in_progress, item added, a first delta) fed to the relay, one keep-alive, then TOKENS
token frames, one read each, then output_item.done and completed, as OpenAI writes them (compact JSON, type
then sequence_number). Collected: the reads after the keep-alive (``functools.reduce`` over RUNS prepared relays).

    python bench/renumber_after_keepalive.py ROOT              # calls (sys.setprofile), one stream
    python bench/renumber_after_keepalive.py ROOT --callgrind  # instructions (valgrind), per stream

ROOT: the tree whose relay is measured (this checkout: ``.``; an A/B: a ``git archive`` of main).
"""

import functools
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = sys.argv[1]
sys.path.insert(0, ROOT)
TOKENS, RUNS = 200, 100


def ev(obj):
    return f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def events():
    resp = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "m", "output": []}
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    n = iter(range(10_000))

    def d():
        return ev(
            {
                "type": "response.output_text.delta",
                "sequence_number": next(n),
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "word ",
                "logprobs": [],
            }
        )

    head = [
        ev({"type": "response.created", "sequence_number": next(n), "response": resp}),
        ev({"type": "response.in_progress", "sequence_number": next(n), "response": resp}),
        ev(
            {
                "type": "response.output_item.added",
                "sequence_number": next(n),
                "output_index": 0,
                "item": item,
            }
        ),
        d(),
    ]
    tail = [d() for _ in range(TOKENS)]
    done = dict(item, status="completed", content=[{"type": "output_text", "text": "word " * (TOKENS + 1)}])
    usage = {"input_tokens": 5, "output_tokens": TOKENS + 1, "total_tokens": TOKENS + 6}
    tail += [
        ev(
            {"type": "response.output_item.done", "sequence_number": next(n), "output_index": 0, "item": done}
        ),
        ev(
            {
                "type": "response.completed",
                "sequence_number": next(n),
                "response": dict(resp, status="completed", output=[done], usage=usage),
            }
        ),
    ]
    return head, tail


def prepared():
    from services.gateway.dialects import registry
    from services.gateway.dialects.view import View
    from services.gateway.relay import make_relay

    relay = make_relay(registry.pairing("openai_responses", "openai_responses"), View(model="m"))
    head, _ = events()
    for e in head:
        relay.feed(e)
    assert b"keepalive" in relay.keepalive()
    return relay


def piece(relay, tail):
    out = [relay.feed(e) for e in tail]
    return relay.finish(), out


def inside():
    _, tail = events()
    for _ in range(20):
        piece(prepared(), tail)
    relays = [prepared() for _ in range(RUNS)]
    gc.collect()
    gc.freeze()
    functools.reduce(lambda _, r: piece(r, tail), relays, None)


if "--inside" in sys.argv:
    inside()
elif "--callgrind" in sys.argv:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            ROOT,
            "--inside",
        ]
        subprocess.run(
            cmd,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        text = out.read_text()
        total = int(re.search(r"^summary:\s*(\d+)", text, re.M)[1])
        print(
            f"{ROOT}: {total / RUNS:,.0f} instructions per stream ({TOKENS} token frames after a keep-alive)"
        )
else:
    _, tail = events()
    relay = prepared()
    calls = 0

    def prof(frame, event, arg):
        global calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(prof)
    piece(relay, tail)
    sys.setprofile(None)
    print(f"{ROOT}: {calls} calls per stream")
