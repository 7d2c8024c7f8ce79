"""Operators: their rows, loading their preferences, and the service's bulk upsert."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from tortoise.timezone import now

from domain.errors import BadUserInput
from domain.input_text import shown
from domain.policy import ensure_instance
from domain.resolution import Choice, RecipientPrefs
from domain.routing import ModeSetting
from domain.working_hours import WorkingHours, rehold, stored
from models.bulk import upsert
from models.db import db
from models.enums import BOT_CHANNELS, CHANNEL_ORDER, ChannelKind, Role
from models.operator import ChannelLink, ChannelSwitch, Operator, PushSubscription, TypeChoice

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$")


@dataclass(frozen=True)
class OperatorInput:
    id: str
    display_name: str | None = None
    email: str | None = None
    locale: str | None = None
    role: Role | None = None
    #: Checked already (domain/working_hours.parse); None: keep what is stored.
    working_hours: WorkingHours | None = None


def unsaved_operator(instance_id: str, user_id: str) -> Operator:
    """The defaults of a user who has no row yet (never changed a setting, never upserted)."""
    return Operator(instance_id=instance_id, user_id=user_id)


async def find_operator(instance_id: str, user_id: str) -> Operator | None:
    return await Operator.get_or_none(instance_id=instance_id, user_id=user_id)


async def ensure_operator(
    instance_id: str,
    user_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    locale: str | None = None,
) -> Operator:
    """The operator's row, created from the token's claims on the user's first write."""
    operator = await find_operator(instance_id, user_id)
    if operator is not None:
        return operator
    await ensure_instance(instance_id)
    ts = now()
    await upsert(
        db(),
        Operator,
        [
            {
                "instance_id": instance_id,
                "user_id": user_id,
                "role": Role.OPERATOR.value,
                "display_name": name,
                "email": email if email and EMAIL_RE.match(email) else None,
                "locale": locale if locale and LOCALE_RE.match(locale) else "en",
                "created_at": ts,
                "updated_at": ts,
            }
        ],
        conflict=["instance_id", "user_id"],
    )
    return await Operator.get(instance_id=instance_id, user_id=user_id)


def routing_choices(rows: Iterable[tuple[str, str | None, int | None]]) -> tuple[tuple[ChannelKind, ModeSetting], ...]:
    """An operator's routing modes per channel from their switch rows: (channel, mode, minutes)."""
    out = []
    for channel, mode, minutes in rows:
        setting = ModeSetting.parse({"mode": mode, "minutes": minutes}) if mode else None
        if setting is not None and channel in ChannelKind.__members__:
            out.append((ChannelKind(channel), setting))
    return tuple(sorted(out, key=lambda item: CHANNEL_ORDER[item[0]]))


def _channel_values(values: list[str]) -> frozenset[ChannelKind]:
    return frozenset(ChannelKind(v) for v in values if v in ChannelKind.__members__)


async def load_prefs(operator: Operator | None, *, with_reach: bool = False) -> RecipientPrefs:
    """The recipient's switches and choices: two reads, three with reachability."""
    if operator is None or operator.id is None:
        return RecipientPrefs(reachable=frozenset(_always_reachable()) if with_reach else None)
    switches = await ChannelSwitch.filter(operator_id=operator.id).values(
        "channel", "enabled", "routing_mode", "escalate_after_minutes"
    )
    choices = await TypeChoice.filter(operator_id=operator.id).values("type_code", "channels", "melody")
    reachable = await load_reachable(operator) if with_reach else None
    return RecipientPrefs(
        switched_off=frozenset(
            ChannelKind(s["channel"]) for s in switches if not s["enabled"] and s["channel"] in ChannelKind.__members__
        ),
        choices={c["type_code"]: Choice(_channel_values(c["channels"] or []), c["melody"]) for c in choices},
        classic_browser=operator.classic_browser_enabled,
        classic_sound=operator.classic_sound_enabled,
        reachable=reachable,
        routing=routing_choices((s["channel"], s["routing_mode"], s["escalate_after_minutes"]) for s in switches),
    )


def _always_reachable() -> set[ChannelKind]:
    # Panel channels need nothing linked; the instance's webhook channels deliver by operator id.
    return {ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND, ChannelKind.ECHAT, ChannelKind.CUSTOM}


async def load_reachable(operator: Operator) -> frozenset[ChannelKind]:
    reachable = _always_reachable()
    if operator.email:
        reachable.add(ChannelKind.EMAIL)
    if operator.id is None:
        return frozenset(reachable)
    if await PushSubscription.filter(operator_id=operator.id).exists():
        reachable.add(ChannelKind.BROWSER)
    linked = cast(
        list[str], await ChannelLink.filter(operator_id=operator.id, status="LINKED").values_list("channel", flat=True)
    )
    reachable |= {ChannelKind(c) for c in linked if c in ChannelKind.__members__ and ChannelKind(c) in BOT_CHANNELS}
    return frozenset(reachable)


def validate_operator_inputs(inputs: list[OperatorInput], limit: int) -> None:
    if not inputs:
        raise BadUserInput("inputs is empty: send at least one operator")
    if len(inputs) > limit:
        raise BadUserInput(f"At most {limit} operators per call, got {len(inputs)}: split the batch")
    seen: set[str] = set()
    for i, op in enumerate(inputs):
        where = f"inputs[{i}]"
        if not op.id or len(op.id) > 128:
            raise BadUserInput(f"{where}.id must be 1-128 characters")
        if op.id in seen:
            raise BadUserInput(f"{where}.id {shown(op.id)} appears twice in the batch: send each operator once")
        seen.add(op.id)
        if op.email is not None and (len(op.email) > 254 or not EMAIL_RE.match(op.email)):
            raise BadUserInput(f"{where}.email {shown(op.email)} is not an email address")
        if op.locale is not None and not LOCALE_RE.match(op.locale):
            raise BadUserInput(f"{where}.locale {shown(op.locale)} is not a language tag such as 'en' or 'uk-UA'")
        if op.display_name is not None and len(op.display_name) > 200:
            raise BadUserInput(f"{where}.displayName is longer than 200 characters")
        if op.role is Role.SERVICE:
            raise BadUserInput(f"{where}.role: operators can't have the SERVICE role")


async def upsert_operators(instance_id: str, inputs: list[OperatorInput], limit: int) -> int:
    """Create or update profiles in one statement; fields left out keep their stored value."""
    validate_operator_inputs(inputs, limit)
    await ensure_instance(instance_id)
    ts = now()
    rows = [
        {
            "instance_id": instance_id,
            "user_id": op.id,
            "role": (op.role or Role.OPERATOR).value,
            "display_name": op.display_name,
            "email": op.email,
            "locale": op.locale or "en",
            "timezone": stored(op.working_hours)[0] if op.working_hours else None,
            "working_hours": stored(op.working_hours)[1] if op.working_hours else None,
            "created_at": ts,
            "updated_at": ts,
        }
        for op in inputs
    ]
    table = Operator._meta.db_table
    provided = {
        "display_name": any(op.display_name is not None for op in inputs),
        "email": any(op.email is not None for op in inputs),
    }
    update = {
        column: f'COALESCE(excluded."{column}", "{table}"."{column}")'
        for column, present in provided.items()
        if present
    }
    # Locale and role have non-null defaults: take them from the new row only where it sent one.
    locale_sent = {op.id for op in inputs if op.locale is not None}
    role_sent = {op.id for op in inputs if op.role is not None}
    if locale_sent == {op.id for op in inputs}:
        update["locale"] = 'excluded."locale"'
    if role_sent == {op.id for op in inputs}:
        update["role"] = 'excluded."role"'
    # Working hours from the platform's calendars: only for the rows that sent them.
    hours_sent = {op.id for op in inputs if op.working_hours is not None}
    if hours_sent == {op.id for op in inputs}:
        update["timezone"] = 'excluded."timezone"'
        update["working_hours"] = 'excluded."working_hours"'
    update["updated_at"] = 'excluded."updated_at"'
    await upsert(db(), Operator, rows, conflict=["instance_id", "user_id"], update=update)
    # Rows that sent locale or role for only part of the batch: one more statement each kind.
    partial_locale = locale_sent and locale_sent != {op.id for op in inputs}
    partial_role = role_sent and role_sent != {op.id for op in inputs}
    if partial_locale:
        await upsert(
            db(),
            Operator,
            [r for r in rows if r["user_id"] in locale_sent],
            conflict=["instance_id", "user_id"],
            update=["locale"],
        )
    if partial_role:
        await upsert(
            db(),
            Operator,
            [r for r in rows if r["user_id"] in role_sent],
            conflict=["instance_id", "user_id"],
            update=["role"],
        )
    if hours_sent and hours_sent != {op.id for op in inputs}:
        await upsert(
            db(),
            Operator,
            [r for r in rows if r["user_id"] in hours_sent],
            conflict=["instance_id", "user_id"],
            update=["timezone", "working_hours"],
        )
    if hours_sent:
        ids = dict(
            await Operator.filter(instance_id=instance_id, user_id__in=sorted(hours_sent)).values_list("user_id", "id")
        )
        await rehold({ids[op.id]: op.working_hours for op in inputs if op.working_hours is not None}, ts)
    return len(inputs)
