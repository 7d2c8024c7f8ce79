"""The System messages, Reminders and classic (simplified screen) settings of one operator."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.timezone import now

from domain.errors import BadUserInput
from domain.input_text import shown
from models.bulk import upsert
from models.catalog import SYSTEM_MESSAGE_CODES, SYSTEM_MESSAGES, SystemMessage
from models.db import db
from models.operator import Operator, SystemMessageSwitch

REMINDER_RANGES = {
    "reminder_not_ready_after_minutes": ("notReadyAfterMinutes", 1, 480),
    "reminder_not_ready_repeat_minutes": ("notReadyRepeatMinutes", 0, 480),
}


@dataclass(frozen=True)
class SystemMessageRow:
    message: SystemMessage
    enabled: bool


async def system_messages(operator: Operator) -> list[SystemMessageRow]:
    switches: dict[str, bool] = {}
    if operator.id is not None:
        switches = dict(await SystemMessageSwitch.filter(operator_id=operator.id).values_list("code", "enabled"))
    return [SystemMessageRow(m, switches.get(m.code, True)) for m in SYSTEM_MESSAGES]


async def update_system_messages(operator: Operator, changes: list[tuple[str, bool]]) -> list[SystemMessageRow]:
    seen: set[str] = set()
    for code, _ in changes:
        if code not in SYSTEM_MESSAGE_CODES:
            raise BadUserInput(
                f"Unknown system message code {shown(code)}: use one of {', '.join(sorted(SYSTEM_MESSAGE_CODES))}",
                field="code",
            )
        if code in seen:
            raise BadUserInput(f"{code} appears twice: send each code once", field="code")
        seen.add(code)
    await upsert(
        db(),
        SystemMessageSwitch,
        [{"operator_id": operator.id, "code": code, "enabled": enabled} for code, enabled in changes],
        conflict=["operator_id", "code"],
        update=["enabled"],
    )
    return await system_messages(operator)


async def update_reminders(operator: Operator, changes: dict[str, object]) -> Operator:
    for column, value in changes.items():
        if column in REMINDER_RANGES and value is not None:
            name, low, high = REMINDER_RANGES[column]
            if not low <= int(value) <= high:  # type: ignore[call-overload]
                raise BadUserInput(f"{name} must be between {low} and {high}, got {value}", field=name)
    return await _update(operator, changes)


async def update_classic(operator: Operator, changes: dict[str, object]) -> Operator:
    return await _update(operator, changes)


async def _update(operator: Operator, changes: dict[str, object]) -> Operator:
    values = {k: v for k, v in changes.items() if v is not None}
    if values:
        for k, v in values.items():
            setattr(operator, k, v)
        await Operator.filter(id=operator.id).update(**values, updated_at=now())
    return operator
