"""Operators' working hours: a time zone and weekly spans in which external channels may deliver.

    parse(timezone, spans, limits) -> WorkingHours     BadUserInput naming what to change
    WorkingHours.release(at)        -> datetime | None  None when ``at`` is within the hours, else
                                                        when the next span opens (UTC)

A span is a weekday (0 = Monday … 6 = Sunday) with a start and an end of the local day, "HH:MM" or
"HH:MM:SS", the end after the start ("24:00" is the day's end); a night shift is two spans (22:00-24:00
and 00:00-06:00 of the next day). No spans: any time is working time. Local times follow the zone's
rules on each date (a span starting in a skipped daylight-saving hour opens when the clocks say so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tortoise.timezone import now

from domain.errors import BadUserInput
from domain.input_text import shown
from domain.routing import DIGEST
from models.enums import DeliveryStatus
from models.notification import Delivery
from models.operator import Operator

DAY_NAMES = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
#: At most this many spans in a week (a few per day).
MAX_SPANS = 28
_DAY_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Span:
    day: int
    start: int  # seconds since local midnight
    end: int  # seconds since local midnight, after start; 86400 is the day's end

    def stored(self) -> dict[str, Any]:
        return {"day": self.day, "from": clock(self.start), "to": clock(self.end)}


@dataclass(frozen=True, slots=True)
class WorkingHours:
    timezone: str
    spans: tuple[Span, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def release(self, at: datetime) -> datetime | None:
        """None when ``at`` falls within a span; else the start of the next span (UTC)."""
        if not self.spans:
            return None
        zone = self.zone
        local = at.astimezone(zone)
        first: datetime | None = None
        for offset in range(-1, 8):
            day = local.date() + timedelta(days=offset)
            for span in self.spans:
                if span.day != day.weekday():
                    continue
                start, end = _at(day, span.start, zone), _at(day, span.end, zone)
                if start <= at < end:
                    return None
                if start > at and (first is None or start < first):
                    first = start
        return first.astimezone(UTC) if first is not None else None


def _at(day: date, seconds: int, zone: ZoneInfo) -> datetime:
    if seconds >= _DAY_SECONDS:
        return _at(day + timedelta(days=1), 0, zone)
    naive = datetime.combine(day, time(seconds // 3600, seconds // 60 % 60, seconds % 60))
    aware = naive.replace(tzinfo=zone)
    # A time the clocks skipped (spring forward) does not exist: the span opens when they reach it.
    round_trip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        aware = (aware.astimezone(UTC)).astimezone(zone)
    return aware


def clock(seconds: int) -> str:
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _seconds(value: str, field: str) -> int:
    parts = value.split(":")
    if (
        len(value) > 8
        or len(parts) not in (2, 3)
        or not all(p.isascii() and p.isdigit() and len(p) == 2 for p in parts)
    ):
        raise BadUserInput(f'{field} must be a local time "HH:MM" or "HH:MM:SS", got {shown(value)}', field=field)
    h, m, s = (int(p) for p in (*parts, "00")[:3])
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise BadUserInput(f"{field} must be between 00:00 and 24:00, got {shown(value)}", field=field)
    return h * 3600 + m * 60 + s


def check_timezone(name: str | None) -> str:
    """An IANA zone name as given (None or "": UTC); BadUserInput for one this machine lacks."""
    name = name.strip() if name else name
    if not name:
        return "UTC"
    if len(name) > 64 or name not in _zones() or name in ("localtime", "Factory"):
        raise BadUserInput(
            f"timezone {shown(name)} is not an IANA time zone name such as Europe/Kyiv or America/New_York",
            field="timezone",
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadUserInput(f"timezone {shown(name)} is not known here", field="timezone") from exc
    return name


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


def parse(timezone: str | None, spans: list[tuple[str, str, str]] | None) -> WorkingHours:
    """Check a schedule: ``spans`` as (day name, from, to). BadUserInput naming the field at fault."""
    zone = check_timezone(timezone)
    if spans is None:
        return WorkingHours(zone, ())
    if len(spans) > MAX_SPANS:
        raise BadUserInput(f"days: at most {MAX_SPANS} spans in a week, got {len(spans)}", field="days")
    out = []
    for i, (day, start, end) in enumerate(spans):
        if day not in DAY_NAMES:
            raise BadUserInput(f"days[{i}].day must be one of {', '.join(DAY_NAMES)}", field="days")
        a, b = _seconds(start, f"days[{i}].from"), _seconds(end, f"days[{i}].to")
        if b <= a:
            raise BadUserInput(
                f"days[{i}]: {end} is not after {start}; split a night shift into two spans "
                "(22:00-24:00, then 00:00-06:00 of the next day)",
                field="days",
            )
        out.append(Span(DAY_NAMES.index(day), a, b))
    out.sort(key=lambda s: (s.day, s.start))
    for prev, nxt in zip(out, out[1:], strict=False):
        if prev.day == nxt.day and nxt.start < prev.end:
            raise BadUserInput(
                f"days: {DAY_NAMES[prev.day]} {clock(prev.start)}-{clock(prev.end)} overlaps "
                f"{clock(nxt.start)}-{clock(nxt.end)}; merge them",
                field="days",
            )
    return WorkingHours(zone, tuple(out))


def from_row(timezone: str | None, stored: Any) -> WorkingHours | None:
    """What an operator row holds (None: no working hours, any time)."""
    if not stored:
        return None
    spans = []
    for item in stored if isinstance(stored, list) else ():
        try:
            spans.append(Span(int(item["day"]), _seconds(item["from"], "from"), _seconds(item["to"], "to")))
        except (KeyError, TypeError, ValueError, BadUserInput):
            continue
    try:
        zone = timezone or "UTC"
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = "UTC"
    return WorkingHours(zone, tuple(spans)) if spans else None


def stored(hours: WorkingHours) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The operator columns (timezone, working_hours) for a schedule; no spans: any time (None)."""
    return hours.timezone, [span.stored() for span in hours.spans] or None


async def set_working_hours(operator: Operator, hours: WorkingHours) -> None:
    """Write the operator's schedule (in the caller's transaction); what was HELD for them is
    released or held until the new schedule opens (``rehold``)."""
    operator.timezone, operator.working_hours = stored(hours)
    await Operator.filter(id=operator.id).update(timezone=operator.timezone, working_hours=operator.working_hours)
    await rehold({operator.id: hours}, now())


async def rehold(schedules: dict[int, WorkingHours], at: datetime) -> None:
    """Operators' schedules changed: their HELD deliveries (and digests) that no worker holds are
    due when the new schedule opens, or now if it is open. One statement per distinct release time
    (plus one for the released digests' members). A held escalation's deadline had passed when its
    hours were closed, or falls before they open: it is moved like the rest (its deadline is not
    stored apart, so one whose hours now open before its deadline is sent then, still only if unread)."""
    by_release: dict[datetime | None, list[int]] = {}
    for operator_id, hours in schedules.items():
        by_release.setdefault(hours.release(at), []).append(operator_id)
    for release, operator_ids in by_release.items():
        held = Delivery.filter(
            operator_id__in=operator_ids,
            status=DeliveryStatus.HELD.value,
            next_attempt_at__isnull=False,
            lease_until__isnull=True,
        )
        if release is not None:
            await held.update(next_attempt_at=release, updated_at=at)
            continue
        digests = [d for d in await held.filter(route=DIGEST).values_list("id", flat=True)]
        await held.update(status=DeliveryStatus.QUEUED.value, next_attempt_at=at, updated_at=at)
        if digests:
            await Delivery.filter(digest_id__in=digests, status=DeliveryStatus.HELD.value).update(
                status=DeliveryStatus.QUEUED.value, updated_at=at
            )


def shown_spans(stored_value: Any) -> list[tuple[str, str, str]]:
    """An operator row's spans as (day name, from, to), for the API."""
    hours = from_row("UTC", stored_value)
    return [(DAY_NAMES[s.day], clock(s.start), clock(s.end)) for s in hours.spans] if hours else []
