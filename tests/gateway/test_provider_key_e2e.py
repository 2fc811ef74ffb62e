"""A provider key as it arrives from files and shells (``shared.settings.provider_key``): a line ending carried
in around it (a .env edited on Windows: ``"sk-…\\r\\n"``) is trimmed and the key works; a line break or a
non-ASCII character inside it stops the gateway at start with one line naming the variable and never the
key. Until session 17 such a key started the gateway and made every request to that provider a 500 (the
upstream request's header refused CR/LF / non-Latin-1 text). Real processes: recorder and gateway; the fake
provider in a thread requiring the exact key; the official SDKs as clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.gateway.test_startup_e2e import run_gateway
from tests.procs import base_env, stack

OPENAI_KEY = "sk-exact-openai-key"
ANTHROPIC_KEY = "sk-ant-exact-key"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeProvider]:
    fp = FakeProvider.start_in_thread(name="openai", api_key=OPENAI_KEY)
    try:
        yield fp
    finally:
        fp.stop()


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeProvider]:
    fp = FakeProvider.start_in_thread(name="anthropic", api_key=ANTHROPIC_KEY)
    try:
        yield fp
    finally:
        fp.stop()


def test_keys_with_line_endings_around_them_are_trimmed_and_work(
    tmp_path: Path, fake_openai: FakeProvider, fake_anthropic: FakeProvider
) -> None:
    env = {
        "OPENAI_API_KEY": OPENAI_KEY + "\r\n",
        "OPENAI_BASE_URL": fake_openai.openai_base_url,
        "ANTHROPIC_API_KEY": " " + ANTHROPIC_KEY + "\n",
        "ANTHROPIC_BASE_URL": fake_anthropic.provider_base_url,
    }
    with stack(tmp_path, **env) as st:
        oc = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="sk-client", max_retries=0)
        chat = oc.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "trimmed openai key"}]
        )
        assert chat.status_code == 200
        assert "trimmed openai key" in (chat.parse().choices[0].message.content or "")
        ac = anthropic.Anthropic(base_url=st.gateway_url, api_key="sk-client", max_retries=0)
        msg = ac.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=32,
            messages=[{"role": "user", "content": "trimmed anthropic key"}],
        )
        assert msg.content and "trimmed anthropic key" in getattr(msg.content[0], "text", "")
        row = st.row_for(chat.headers["x-request-id"])
        assert row["provider"] == "openai" and row["status"] == 200


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("sk-first-half\nsecond-half", "OPENAI_API_KEY holds a line break at position 14 of 25"),
        ("sk-first-half\rsecond-half", "OPENAI_API_KEY holds a line break"),
        ("sk-first-half\tsecond-half", "OPENAI_API_KEY holds the character U+0009"),
        ("sk-first-half\u201csecond-half", "OPENAI_API_KEY holds the character U+201C"),
    ],
)
def test_a_key_with_a_break_or_a_foreign_character_inside_stops_the_gateway(
    tmp_path: Path, value: str, needle: str
) -> None:
    env = base_env(tmp_path)
    env.update(OPENAI_API_KEY=value, OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    proc = run_gateway(env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().startswith("gateway: bad setting:") and needle in proc.stderr
    assert "first-half" not in proc.stderr and "second-half" not in proc.stderr
    assert "Traceback" not in proc.stderr


CATALOG = """
[[providers]]
name = "local"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "LOCAL_LLM_KEY"
models = ["local-llama"]
price = { input = 0.2, output = 0.6 }
"""


def test_a_catalog_providers_key_is_checked_the_same_way(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    env = base_env(tmp_path)
    env.update(CATALOG_PATH=str(catalog), LOCAL_LLM_KEY="local-first\nlocal-second")
    proc = run_gateway(env)
    assert proc.returncode == 1, proc.stderr
    assert "provider 'local': LOCAL_LLM_KEY holds a line break" in proc.stderr
    assert "local-first" not in proc.stderr and "local-second" not in proc.stderr
    assert "Traceback" not in proc.stderr
