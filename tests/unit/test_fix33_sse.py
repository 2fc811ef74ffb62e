"""fix33 item 3: llama.cpp's ``error:`` line (its stream's ending error, ``shared.sse``'s module docstring) read when
the body ends right after its JSON, without the line break, as an unended ``data:`` line is (``ends_whole``)."""

from __future__ import annotations

from shared.sse import SSEDecoder, SSEEvent

ERROR = b'error: {"code": 400, "message": "the request exceeds the available context size", "n_ctx": 32768}'


def test_an_unended_error_line_is_whole() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(ERROR) == []
    assert decoder.ends_whole
    assert decoder.flush(ended=True) == [SSEEvent("error", ERROR[7:].decode())]


def test_half_an_error_line_is_not() -> None:
    decoder = SSEDecoder()
    decoder.feed(ERROR[:-10])
    assert not decoder.ends_whole
    assert decoder.flush(ended=True) == []
