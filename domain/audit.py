"""The audit log: one entry per settings mutation, written in the mutation's transaction.

What is audited, and what its before / after hold (only the parts that differ; both {} when the
mutation changed nothing):

    updateInstanceSettings   subject "instance"          the policy (``instance_state``): bot channels
                                                         with their settings; a secret or webhook
                                                         secret token given shows only as "changed"
                                                         (or "cleared"), never its value
    setTypePolicy            subject "type:<code>"       the type's rule
    setTypeChannels, bulkUpdateTypes, updateChannelSettings, updateSystemMessageSettings,
    updateReminderSettings, updateClassicSettings
                             subject "operator:<user>"   the operator's own settings (``operator_state``)
    retryDeliveries          subject "deliveries"        after: the ids queued again

    record(instance, actor, action, subject, before, after)   one insert
    page(instance, flt, first, after, max_first)              -> AuditPage   newest first, one statement
    prune(cutoff)                                             entries older than the history's retention

Errors: BadUserInput (a bad page size, cursor or range).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.bell import row_id
from domain.errors import BadUserInput
from domain.input_text import check_lengths
from domain.policy import InstancePolicy
from domain.resolution import Choice
from domain.working_hours import shown_spans
from models.audit import AuditEntry
from models.catalog import TYPES_BY_CODE
from models.enums import ChannelKind, sort_channels
from models.operator import ChannelSwitch, Operator, SystemMessageSwitch, TypeChoice

#: Secrets an administrator's input may carry: shown as these words, never as their value.
CHANGED = "changed"
CLEARED = "cleared"


@dataclass(frozen=True)
class Actor:
    """Who is changing something: the token's user and role, and the client they came through."""

    user_id: str
    role: str
    client: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    actions: list[str] | None = None
    actors: list[str] | None = None
    subjects: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    has_next_page: bool


def changed_parts(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys whose values differ (nested dicts compared key by key), from each side."""
    b: dict[str, Any] = {}
    a: dict[str, Any] = {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            inner_b, inner_a = changed_parts(old, new)
            if inner_b:
                b[key] = inner_b
            if inner_a:
                a[key] = inner_a
        elif old != new:
            if key in before:
                b[key] = old
            if key in after:
                a[key] = new
    return b, a


async def record(
    instance_id: str,
    actor: Actor,
    action: str,
    subject: str,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    whole: bool = False,
) -> None:
    """Write one entry (in the caller's transaction): only the parts that differ, unless ``whole``."""
    if not whole:
        before, after = changed_parts(before, after)
    await AuditEntry.create(
        instance_id=instance_id,
        actor=actor.user_id[:128],
        actor_role=actor.role,
        client=actor.client[:200] if actor.client else None,
        action=action,
        subject=subject[:200],
        before=before,
        after=after,
    )


def instance_state(policy: InstancePolicy) -> dict[str, Any]:
    """The administrator's settings of an instance, as audited (no secret, only whether one is set)."""
    return {
        "notificationCenterEnabled": policy.notification_center_enabled,
        "extendedTypesEnabled": policy.extended_types_enabled,
        "mandatoryChannels": sorted(c.value for c in policy.mandatory_channels),
        "defaultChannels": [c.value for c in policy.default_channels],
        "botScenario": policy.bot_scenario,
        "negativeCsatThreshold": policy.negative_csat_threshold,
        "readOnEntityClose": policy.read_on_entity_close,
        "routing": {c.value: m.stored() for c, m in sorted(policy.routing.modes.items())},
        "digestWindowSeconds": policy.routing.digest_seconds,
        "mandatoryChannelsBypassRouting": policy.routing.mandatory_bypass,
        "botChannels": {
            bot.channel.value: {
                "enabled": bot.enabled,
                "settings": dict(bot.settings),
                "hasSecret": bot.has_secret,
                "hasWebhookSecretToken": bot.has_webhook_secret_token,
            }
            for bot in policy.bot_channels.values()
        },
    }


def secrets_given(bots: list[tuple[ChannelKind, str | None, dict[str, Any] | None]]) -> dict[str, Any]:
    """The secrets an input carried, each as "changed" or "cleared" under its bot channel:
    ``(channel, secret, settings)`` per bot channel of the input."""
    out: dict[str, Any] = {}
    for channel, secret, settings in bots:
        parts: dict[str, str] = {}
        if secret is not None:
            parts["secret"] = CHANGED if secret else CLEARED
        if isinstance(settings, dict) and "webhookSecretToken" in settings:
            parts["webhookSecretToken"] = CHANGED if settings["webhookSecretToken"] else CLEARED
        if parts:
            out[channel.value] = parts
    return out


def type_rule_state(policy: InstancePolicy, code: str) -> dict[str, Any]:
    rule = policy.rule(code)
    return {
        "mandatory": rule.mandatory,
        "mandatoryChannels": sorted(c.value for c in rule.mandatory_channels),
        "availability": rule.availability.value if rule.availability else None,
        "defaultChannels": [c.value for c in rule.default_channels] if rule.default_channels is not None else None,
        # the effective rule (the catalog's when the instance set none), so before/after say what changed
        "collapse": policy.collapses(TYPES_BY_CODE[code]) if code in TYPES_BY_CODE else rule.collapse,
        "routing": {c.value: m.stored() for c, m in sorted(rule.routing.items())} if rule.routing is not None else None,
        "alwaysOn": rule.always_on,
        "digestWindowSeconds": rule.digest_seconds,
    }


def choices_state(choices: Mapping[str, Choice]) -> dict[str, Any]:
    """An operator's type choices, as audited (as ``operator_state``'s "types")."""
    return {
        code: {"channels": [c.value for c in sort_channels(choice.channels)], "melody": choice.melody}
        for code, choice in choices.items()
    }


async def operator_state(operator_id: int | None) -> dict[str, Any]:
    """An operator's own settings, as audited: four reads (none for an operator without a row)."""
    if operator_id is None:
        return {}
    row = await Operator.get(id=operator_id)
    switches = await ChannelSwitch.filter(operator_id=operator_id).values(
        "channel", "enabled", "routing_mode", "escalate_after_minutes"
    )
    choices = await TypeChoice.filter(operator_id=operator_id).values("type_code", "channels", "melody")
    lines = await SystemMessageSwitch.filter(operator_id=operator_id).values("code", "enabled")
    return {
        "channelsOff": sorted(s["channel"] for s in switches if not s["enabled"]),
        "routing": {
            s["channel"]: {"mode": s["routing_mode"], "minutes": s["escalate_after_minutes"]}
            for s in sorted(switches, key=lambda s: s["channel"])
            if s["routing_mode"]
        },
        "workingHours": {
            "timezone": row.timezone or "UTC",
            "days": [{"day": d, "from": a, "to": b} for d, a, b in shown_spans(row.working_hours)],
        },
        "banner": {
            "durationSeconds": row.banner_duration_seconds,
            "maxVisible": row.banner_max_visible,
            "repeatCount": row.banner_repeat_count,
            "repeatIntervalSeconds": row.banner_repeat_interval_seconds,
        },
        "defaultMelody": row.default_melody,
        "classic": {"browserEnabled": row.classic_browser_enabled, "soundEnabled": row.classic_sound_enabled},
        "reminders": {
            "notReadyEnabled": row.reminder_not_ready_enabled,
            "notReadyAfterMinutes": row.reminder_not_ready_after_minutes,
            "notReadyRepeatMinutes": row.reminder_not_ready_repeat_minutes,
        },
        "types": {
            c["type_code"]: {"channels": [ch.value for ch in sort_channels(c["channels"] or [])], "melody": c["melody"]}
            for c in choices
        },
        "systemMessages": {line["code"]: line["enabled"] for line in lines},
    }


def encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"a:{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        number = row_id(value)
        if prefix != "a" or number is None:
            raise ValueError(prefix)
        return number
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadUserInput(
            "after is not a cursor of auditLog: pass pageInfo.endCursor unchanged", field="after"
        ) from None


async def page(instance_id: str, flt: AuditFilter, *, first: int, after: str | None, max_first: int) -> AuditPage:
    """``first`` entries (1-``max_first``) of the instance after the cursor, newest first: one statement."""
    if not 1 <= first <= max_first:
        raise BadUserInput(f"first must be between 1 and {max_first}, got {first}", field="first")
    if flt.since is not None and flt.until is not None and flt.until <= flt.since:
        raise BadUserInput("filter.until must be later than filter.since", field="filter.until")
    check_lengths(flt.actions, 64, "filter.actions")
    check_lengths(flt.actors, 128, "filter.actorUserIds")
    check_lengths(flt.subjects, 200, "filter.subjects")
    qs = AuditEntry.filter(instance_id=instance_id)
    if flt.actions is not None:
        qs = qs.filter(action__in=flt.actions)
    if flt.actors is not None:
        qs = qs.filter(actor__in=flt.actors)
    if flt.subjects is not None:
        qs = qs.filter(subject__in=flt.subjects)
    if flt.since is not None:
        qs = qs.filter(created_at__gte=flt.since)
    if flt.until is not None:
        qs = qs.filter(created_at__lt=flt.until)
    if after:
        qs = qs.filter(id__lt=decode_cursor(after))
    rows = list(await qs.order_by("-id").limit(first + 1))
    return AuditPage(rows[:first], len(rows) > first)


async def prune(cutoff: datetime, chunk: int) -> int:
    """Delete entries older than ``cutoff``, ``chunk`` at a time; how many were deleted."""
    removed = 0
    while True:
        ids = list(await AuditEntry.filter(created_at__lt=cutoff).limit(chunk).values_list("id", flat=True))
        if not ids:
            return removed
        removed += await AuditEntry.filter(id__in=ids).delete()
        if len(ids) < chunk:
            return removed
