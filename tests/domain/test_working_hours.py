"""Working hours (domain/working_hours.py): when a held message is released, in the operator's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.digests import Member, digest_text
from domain.errors import BadUserInput
from domain.working_hours import parse

WEEKDAYS = [(day, "09:00", "18:00") for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_an_event_at_three_in_the_morning_waits_for_nine_local() -> None:
    kyiv = parse("Europe/Kyiv", WEEKDAYS)
    # Tuesday 2026-12-01 03:00 in Kyiv (UTC+2) is 01:00 UTC: released at 09:00 Kyiv, 07:00 UTC
    assert kyiv.release(utc("2026-12-01T01:00:00")) == utc("2026-12-01T07:00:00")
    # within the hours nothing waits; the end is exclusive, the start inclusive
    assert kyiv.release(utc("2026-12-01T07:00:00")) is None
    assert kyiv.release(utc("2026-12-01T15:59:59")) is None
    assert kyiv.release(utc("2026-12-01T16:00:00")) == utc("2026-12-02T07:00:00")


def test_friday_evening_waits_for_monday_and_no_spans_means_any_time() -> None:
    kyiv = parse("Europe/Kyiv", WEEKDAYS)
    assert kyiv.release(utc("2026-12-04T17:00:00")) == utc("2026-12-07T07:00:00")  # Fri 19:00 -> Mon 09:00
    assert parse("Europe/Kyiv", []).release(utc("2026-12-05T03:00:00")) is None


def test_the_release_follows_daylight_saving_time() -> None:
    new_york = parse("America/New_York", [("MONDAY", "09:00", "17:00")])
    # 2026-03-09 is the Monday after clocks moved forward (UTC-4): 09:00 local is 13:00 UTC
    assert new_york.release(utc("2026-03-09T05:00:00")) == utc("2026-03-09T13:00:00")
    # in winter (UTC-5) the same local hour is 14:00 UTC
    assert new_york.release(utc("2026-12-07T05:00:00")) == utc("2026-12-07T14:00:00")


def test_a_night_shift_is_two_spans_and_midnight_joins_them() -> None:
    nights = parse("UTC", [("MONDAY", "22:00", "24:00"), ("TUESDAY", "00:00", "06:00")])
    assert nights.release(utc("2026-11-30T23:30:00")) is None
    assert nights.release(utc("2026-12-01T05:59:00")) is None
    assert nights.release(utc("2026-12-01T06:00:00")) == utc("2026-12-07T22:00:00")


@pytest.mark.parametrize(
    ("timezone", "spans", "says"),
    [
        ("Mars/Olympus", [], "not an IANA time zone"),
        ("UTC", [("FUNDAY", "09:00", "10:00")], "must be one of MONDAY"),
        ("UTC", [("MONDAY", "9:00", "10:00")], '"HH:MM"'),
        ("UTC", [("MONDAY", "25:00", "26:00")], "between 00:00 and 24:00"),
        ("UTC", [("MONDAY", "18:00", "09:00")], "split a night shift"),
        ("UTC", [("MONDAY", "09:00", "12:00"), ("MONDAY", "11:00", "13:00")], "overlaps"),
        ("UTC", [("MONDAY", "00:00", "00:30")] * 29, "at most 28"),
    ],
)
def test_a_wrong_schedule_says_what_to_change(timezone: str, spans: list[tuple[str, str, str]], says: str) -> None:
    with pytest.raises(BadUserInput, match=says):
        parse(timezone, spans)


def test_a_digest_counts_in_each_languages_plural_forms() -> None:
    one = [Member("ticket_created", "New ticket #1", "TICKET:1")]
    assert digest_text(one, "en")[0] == "1 new notification"
    assert digest_text(one, "uk")[0] == "1 нове сповіщення"
    three = one * 3
    assert digest_text(three, "uk") == ("3 нові сповіщення", "• New ticket #1 ×3")
    many = [Member("ticket_created", f"T{i}", f"TICKET:{i}") for i in range(11)]
    title, body = digest_text(many, "uk")
    assert title == "11 нових сповіщень" and body.splitlines()[-1] == "… і ще 2"
