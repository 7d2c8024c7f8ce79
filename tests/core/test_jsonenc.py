"""The service's JSON encoder: compact UTF-8 text, and numbers beyond 64 bits written in full."""

from __future__ import annotations

import json

import pytest

from core.jsonenc import dumps, loads


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


def test_a_request_body_reads_as_the_standard_library_reads_it() -> None:
    # Bodies orjson reads, refuses, or would read otherwise (an integer past 64 bits as a float).
    bodies = [
        b'{"query": "{ a }", "variables": {"n": 1, "f": 0.1, "s": "\\u00e9\\u0436", "l": [true, null]}}',
        b'{"n": 18446744073709551616}',
        b'{"n": -9223372036854775809, "m": 1234567890123456789012345}',
        b'{"id": "12345678901234567890"}',
        b'{"a": 1, "a": 2}',
        b'{"f": 1e400}',
        b'{"s": "\\ud800"}',
        b"\xef\xbb\xbf{}",
        b'{"n": NaN}',
        '{"s": "\ud800"}'.encode("utf-8", "surrogatepass"),
    ]
    for body in bodies:
        expected = json.loads(body)
        got = loads(body)
        assert got == expected or (got != got and expected != expected), body  # NaN == NaN
        assert json.dumps(got) == json.dumps(expected), body  # same types: 18446744073709551616 stays an int
    # and what the standard library refuses, refused the same way
    for bad in (b'{"a": }', b"\xff\xfe", b"[" * 100_000):
        with pytest.raises((ValueError, RecursionError)) as standard:
            json.loads(bad)
        with pytest.raises(standard.type):
            loads(bad)
