"""The Responses streams read by the previous openai SDK generation (1.109.x, ``make old-sdk``), whose
accumulator many users still run: same final text, tool calls and usage as the current SDK sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from responses_helpers import CASES

OLD_SDK = Path(__file__).resolve().parents[3] / ".venv" / "old-sdk"
READER = r"""
import json, sys
import httpx, openai
assert openai.__version__.startswith("1."), openai.__version__
out = []
for path in sys.argv[1:]:
    body = open(path, "rb").read()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    )
    client = openai.OpenAI(api_key="sk-test", base_url="http://gw.test/v1", max_retries=0,
                           http_client=httpx.Client(transport=transport))
    with client.responses.stream(model="client-model", input="hi") as stream:
        types = [ev.type for ev in stream]
        final = stream.get_final_response()
    calls = [[i.call_id, i.name, getattr(i, "arguments", None) or getattr(i, "input", None)]
             for i in final.output if i.type in ("function_call", "custom_tool_call")]
    u = final.usage
    out.append({"types": types, "text": final.output_text, "calls": calls,
                "usage": [u.input_tokens, u.input_tokens_details.cached_tokens, u.output_tokens,
                          u.output_tokens_details.reasoning_tokens, u.total_tokens]})
print(json.dumps(out))
"""
COMPLETED = [
    c
    for c in CASES
    if c.target == "responses" and not c.view.compaction and b"response.completed" in c.golden().read_bytes()
]


def test_old_sdk_generation_reads_the_same_answers(tmp_path: Path) -> None:
    from openai.types.responses import Response

    assert OLD_SDK.exists(), "the previous openai SDK is missing: `make old-sdk` installs it (make test does)"

    paths = []
    for case in COMPLETED:
        path = tmp_path / f"{case.id}.sse"
        path.write_bytes(case.run())
        paths.append(str(path))
    env = {**os.environ, "PYTHONPATH": str(OLD_SDK)}
    proc = subprocess.run(
        [sys.executable, "-c", READER, *paths], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(COMPLETED) >= 6
    for case, got in zip(COMPLETED, results, strict=True):
        events = [
            json.loads(line[6:]) for line in case.run().decode().splitlines() if line.startswith("data: ")
        ]
        final = Response.model_validate(events[-1]["response"])
        assert got["types"][-1] == "response.completed", case.id
        assert got["text"] == final.output_text, case.id
        calls = [
            [i.call_id, i.name, getattr(i, "arguments", None) or getattr(i, "input", None)]
            for i in final.output
            if i.type in ("function_call", "custom_tool_call")
        ]
        assert got["calls"] == calls, case.id
        u = final.usage
        assert u is not None
        assert got["usage"] == [
            u.input_tokens,
            u.input_tokens_details.cached_tokens,
            u.output_tokens,
            u.output_tokens_details.reasoning_tokens,
            u.total_tokens,
        ], case.id
