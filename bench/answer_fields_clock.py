"""The plain answer's reader, timed: ``orjson.loads`` of the whole answer against ``_answer_fields.fields``.

Usage::

    python bench/answer_fields_clock.py [--number 20000] [--repeat 15] [FILE ...]

The answers are the fake provider's (the shapes nginx serves in the benchmark: ``tests/fake/*_wire.py``,
as ``bench/upstream.py`` captures them) for each wire, plus any FILE given (a whole answer's bytes; its
wire guessed from its ``object``/``type``). Per answer: its size, the full parse, the byte reader, and the
wire's usage read on top of each (what ``proxy._relay_json`` runs), in ns per call, the minimum over
``--repeat`` runs of ``--number`` calls (the least disturbed run on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.gateway.dialects import registry  # noqa: E402
from services.gateway.dialects.formats import Wire  # noqa: E402
from tests.fake import anthropic_wire, openai_wire, responses_wire  # noqa: E402
from tests.fake.conversation import Reply, Usage  # noqa: E402
from tests.fake.frames import Meta  # noqa: E402


def _fake_answers() -> list[tuple[str, Wire, bytes]]:
    reply = Reply(text="Hello from fake-openai: hello bench")
    usage = Usage(prompt=12, cache_read=0, cache_write=0, output=5, reasoning=0)
    options = responses_wire.Options(encrypted_reasoning=False, echo={})
    long_reply = Reply(text="word " * 400)
    return [
        (
            "chat",
            "openai_chat",
            openai_wire.completion(Meta("chatcmpl-1", "gpt-4o-mini", 1, "openai"), reply, usage),
        ),
        (
            "chat, 2 KB text",
            "openai_chat",
            openai_wire.completion(Meta("chatcmpl-1", "gpt-4o-mini", 1, "openai"), long_reply, usage),
        ),
        (
            "anthropic",
            "anthropic",
            anthropic_wire.message(Meta("msg_1", "claude-haiku-4-5", 1, "anthropic"), reply, usage),
        ),
        (
            "responses",
            "openai_responses",
            responses_wire.response(Meta("resp_1", "gpt-4o-mini", 1, "openai"), reply, usage, options),
        ),
    ]  # type: ignore[list-item]


def _wire_of(raw: bytes) -> Wire:
    body = orjson.loads(raw)
    if body.get("object") == "response":
        return "openai_responses"
    return "anthropic" if body.get("type") == "message" else "openai_chat"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--number", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    cases = [(name, wire, orjson.dumps(body)) for name, wire, body in _fake_answers()]  # type: ignore[arg-type]
    cases += [(f.name, _wire_of(f.read_bytes()), f.read_bytes()) for f in args.files]
    print(
        f"{'answer':<18}{'bytes':>7}{'loads':>9}{'fields':>9}{'loads+usage':>13}{'fields+usage':>14}  (ns, min)"
    )
    for name, wire, raw in cases:
        spec = registry.WIRES[wire]
        got = spec.answer_fields(raw)
        assert got is not None, f"{name}: not read from its bytes"

        env = {"raw": raw, "loads": orjson.loads, "fields": spec.answer_fields, "usage": spec.usage}

        def ns(stmt: str, env: dict[str, object] = env) -> float:
            runs = timeit.repeat(stmt, globals=env, number=args.number, repeat=args.repeat)
            return min(runs) / args.number * 1e9

        print(
            f"{name:<18}{len(raw):>7}{ns('loads(raw)'):>9.0f}{ns('fields(raw)'):>9.0f}"
            f"{ns('usage(loads(raw))'):>13.0f}{ns('usage(fields(raw))'):>14.0f}"
        )


if __name__ == "__main__":
    main()
