"""``check_json``'s quick pass (domain/input_text.py) never passes what its full pass refuses, and
takes the usual event data without the full pass: checked over thousands of random JSON values
near every limit (control characters, surrogates, nesting, sizes, odd types)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from core.settings import Limits
from domain.errors import BadUserInput
from domain.input_text import _all_fine, _check_json_in_full, check_json

LIMITS = replace(Limits(), json_depth=4, variable_values=60, variables_bytes=600, string_chars=40, list_items=8)
ALPHABET = ["a", "Z", "7", " ", "~", "\t", "\n", "\r", "\x00", "\x1f", "\x7f", "\x85", "\x9f", "é", "ж", "\ud800", "😀"]


def text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 3, 10, 39, 40, 41])
    return "".join(rng.choice(ALPHABET) if rng.random() < 0.15 else "x" for _ in range(n))


def value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 6 and roll < 0.25:
        return {text(rng) if rng.random() < 0.3 else f"k{i}": value(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if depth < 6 and roll < 0.45:
        return [value(rng, depth + 1) for _ in range(rng.choice([0, 1, 3, 8, 9]))]
    return rng.choice(
        [
            lambda: text(rng),
            lambda: rng.randint(-(2**70), 2**70),
            lambda: rng.choice([0.5, float("inf"), float("-inf"), float("nan"), -0.0]),
            lambda: rng.choice([True, False, None]),
            lambda: rng.choice([(1, 2), b"bytes", {1: "int key"}]),  # what JSON never holds
        ]
    )()


def verdict(check: Any, v: Any, controls: bool) -> str | None:
    try:
        check(v, LIMITS, what="data", controls=controls)
    except BadUserInput as error:
        return error.message
    return None


@pytest.mark.parametrize("controls", [True, False])
def test_the_quick_pass_never_lets_through_what_the_full_pass_refuses(controls: bool) -> None:
    rng = random.Random(20261201)
    passed_quickly = refused = 0
    for _ in range(20_000):
        v = value(rng)
        full = verdict(_check_json_in_full, v, controls)
        if v is not None and _all_fine(v, LIMITS, controls, LIMITS.json_depth):
            assert full is None, f"the quick pass let through {v!r}: {full}"
            passed_quickly += 1
        # and what a client is told is the full pass's message, word for word
        assert verdict(check_json, v, controls) == full
        refused += full is not None
    # the corpus reaches both sides of the line
    assert passed_quickly > 2_000 and refused > 2_000


def test_usual_event_data_takes_the_quick_pass() -> None:
    data = {"ticketNumber": 4711, "subject": "Printer on fire", "client": {"name": "Олена", "vip": True}, "tags": ["a"]}
    assert _all_fine(data, Limits(), True, Limits().json_depth)
