"""The service's JSON encoder: compact UTF-8 text, and numbers beyond 64 bits written in full."""

from __future__ import annotations

import json

from core.jsonenc import dumps


def test_answers_are_compact_text_with_non_ascii_kept() -> None:
    value = {"title": "Нове звернення #42", "n": [1, 2.5, None, True], "nested": {"a": "b"}}
    text = dumps(value)
    assert isinstance(text, str)
    assert text == '{"title":"Нове звернення #42","n":[1,2.5,null,true],"nested":{"a":"b"}}'
    assert json.loads(text) == value


def test_integers_beyond_64_bits_are_written_in_full() -> None:
    # event data may carry them (valid JSON): the fast encoder refuses, the fallback writes them
    value = {"data": {"big": 10**40, "bigger": -(2**70)}, "title": "Тест"}
    text = dumps(value)
    assert json.loads(text) == value
    assert "Тест" in text and str(10**40) in text
