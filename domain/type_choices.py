"""The Notification types tab: rows as the viewer sees them, per-type choices, bulk actions."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tortoise.timezone import now

from domain.errors import BadUserInput
from domain.input_text import shown
from domain.policy import InstancePolicy
from domain.resolution import Choice, RecipientPrefs, TypeResolution, resolve
from models.bulk import upsert
from models.catalog import (
    CATEGORIES_BY_CODE,
    LISTED_CATEGORIES,
    LISTED_TYPES,
    MELODY_IDS,
    TYPES_BY_CODE,
    TypeDef,
    text,
)
from models.db import db
from models.enums import BulkAction, ChannelKind, SkipReason, TypeAvailability, sort_channels
from models.operator import Operator, TypeChoice


@dataclass(frozen=True)
class ViewerState:
    """Everything the types tab depends on, loaded with a fixed number of reads."""

    policy: InstancePolicy
    operator: Operator
    prefs: RecipientPrefs
    locale: str | None

    def resolve(self, type_def: TypeDef) -> TypeResolution:
        return resolve(self.policy, self.prefs, type_def)


def listed_types(state: ViewerState, *, search: str | None = None, category: str | None = None) -> list[TypeDef]:
    if category is not None and category not in {c.code for c in LISTED_CATEGORIES}:
        codes = ", ".join(c.code for c in LISTED_CATEGORIES)
        raise BadUserInput(f"Unknown categoryCode {shown(category)}: use one of {codes}")
    needle = (search or "").strip().casefold()
    out = []
    for t in LISTED_TYPES:
        if category is not None and t.category != category:
            continue
        if needle and not any(
            needle in s.casefold() for s in (t.code, text(t.title, state.locale), text(t.description, state.locale))
        ):
            continue
        out.append(t)
    return out


def listed_type(code: str) -> TypeDef:
    type_def = TYPES_BY_CODE.get(code)
    if type_def is None or not type_def.listed:
        raise BadUserInput(
            f"Unknown type code {shown(code)}: use a code from notificationTypes, e.g. ticket_created",
            field="typeCode",
        )
    return type_def


def _check_editable(state: ViewerState, type_def: TypeDef) -> None:
    if not state.policy.notification_center_enabled:
        raise BadUserInput(
            "The Notification Center is disabled on this instance: use classicSettings instead",
            reason="NOTIFICATION_CENTER_DISABLED",
        )
    availability = state.policy.availability(type_def)
    if availability is TypeAvailability.UNAVAILABLE:
        raise BadUserInput(
            f"{type_def.code} is temporarily unavailable on this instance and can't be changed",
            reason=SkipReason.UNAVAILABLE.value,
        )
    if availability is TypeAvailability.VIEW_ONLY:
        raise BadUserInput(
            f"{type_def.code} is view-only until the administrator enables extended settings",
            reason=SkipReason.VIEW_ONLY.value,
        )


def _check_channels(state: ViewerState, type_def: TypeDef, channels: list[ChannelKind]) -> None:
    offered = state.policy.offered
    mandatory = state.resolve(type_def).mandatory_channels
    for channel in channels:
        if channel not in offered:
            available = ", ".join(c.value for c in state.policy.offered_sorted)
            raise BadUserInput(
                f"{channel.value} is not offered on this instance; choose among {available}",
                field="channels",
            )
        if channel in state.prefs.switched_off and channel not in mandatory:
            raise BadUserInput(
                f"{channel.value} is switched off on the Channels tab: switch it on there first",
                field="channels",
            )


async def set_type_channels(
    state: ViewerState, code: str, channels: list[ChannelKind], melody: str | None
) -> ViewerState:
    type_def = listed_type(code)
    _check_editable(state, type_def)
    _check_channels(state, type_def, channels)
    if melody is not None and melody not in MELODY_IDS:
        raise BadUserInput(
            f"Unknown melody {shown(melody)}: use an id from melodies ({', '.join(sorted(MELODY_IDS))})",
            field="melody",
        )
    mandatory = set(state.resolve(type_def).mandatory_channels)
    chosen = frozenset(channels) - mandatory
    writes = {code: (chosen, melody)}
    await _write_choices(state.operator, writes)
    return _with_choices(state, writes, resets=[])


@dataclass(frozen=True)
class BulkResult:
    state: ViewerState
    updated: list[str]
    skipped: list[tuple[str, SkipReason]]


async def bulk_update_types(
    state: ViewerState,
    *,
    action: BulkAction,
    type_codes: list[str] | None,
    category_code: str | None,
    channels: list[ChannelKind] | None,
) -> BulkResult:
    """One read of the viewer's rows (already in ``state``) and at most two writes, for any rows."""
    if not state.policy.notification_center_enabled:
        raise BadUserInput(
            "The Notification Center is disabled on this instance: use classicSettings instead",
            reason="NOTIFICATION_CENTER_DISABLED",
        )
    if type_codes is not None and category_code is not None:
        raise BadUserInput("Give typeCodes or categoryCode, not both")
    if type_codes is not None and not type_codes:
        raise BadUserInput("typeCodes is empty: leave it out to change every listed type")
    needs_channels = action in (BulkAction.ADD_CHANNELS, BulkAction.REMOVE_CHANNELS, BulkAction.SET_CHANNELS)
    if needs_channels and channels is None:
        raise BadUserInput(f"{action.value} needs channels", field="channels")
    if action in (BulkAction.ADD_CHANNELS, BulkAction.REMOVE_CHANNELS) and not channels:
        raise BadUserInput(f"{action.value} needs at least one channel", field="channels")
    if not needs_channels and channels:
        raise BadUserInput(f"{action.value} takes no channels: leave channels out", field="channels")

    skipped: list[tuple[str, SkipReason]] = []
    if type_codes is not None:
        rows: list[TypeDef] = []
        for code in dict.fromkeys(type_codes):
            type_def = TYPES_BY_CODE.get(code)
            if type_def is None or not type_def.listed:
                skipped.append((code, SkipReason.UNKNOWN_TYPE))
            else:
                rows.append(type_def)
    elif category_code is not None:
        if category_code not in CATEGORIES_BY_CODE or not any(t.category == category_code for t in LISTED_TYPES):
            codes = ", ".join(c.code for c in LISTED_CATEGORIES)
            raise BadUserInput(f"Unknown categoryCode {shown(category_code)}: use one of {codes}")
        rows = [t for t in LISTED_TYPES if t.category == category_code]
    else:
        rows = list(LISTED_TYPES)

    given = set(channels or ())
    usable = {c for c in given if c in state.policy.offered and c not in state.prefs.switched_off}
    writes: dict[str, tuple[frozenset[ChannelKind], str | None]] = {}
    resets: list[str] = []
    updated: list[str] = []
    for type_def in rows:
        availability = state.policy.availability(type_def)
        if availability is TypeAvailability.UNAVAILABLE:
            skipped.append((type_def.code, SkipReason.UNAVAILABLE))
            continue
        if availability is TypeAvailability.VIEW_ONLY:
            skipped.append((type_def.code, SkipReason.VIEW_ONLY))
            continue
        resolution = state.resolve(type_def)
        mandatory = set(resolution.mandatory_channels)
        choice = state.prefs.choices.get(type_def.code)
        current = set(choice.channels) if choice else set(state.policy.default_channels_for(type_def))
        melody = choice.melody if choice else None
        if action is BulkAction.ADD_CHANNELS:
            if not usable - mandatory and not given <= mandatory:
                skipped.append((type_def.code, SkipReason.CHANNEL_UNAVAILABLE))
                continue
            new = current | usable
        elif action is BulkAction.REMOVE_CHANNELS:
            if given <= mandatory:
                skipped.append((type_def.code, SkipReason.MANDATORY))
                continue
            new = current - given
        elif action is BulkAction.SET_CHANNELS:
            if given and not usable:
                skipped.append((type_def.code, SkipReason.CHANNEL_UNAVAILABLE))
                continue
            new = set(usable)
        elif action is BulkAction.DISABLE_ALL:
            new = set()
        else:
            resets.append(type_def.code)
            updated.append(type_def.code)
            continue
        writes[type_def.code] = (frozenset(new - mandatory), melody)
        updated.append(type_def.code)

    await _write_choices(state.operator, writes)
    if resets:
        await TypeChoice.filter(operator_id=state.operator.id, type_code__in=resets).delete()
    return BulkResult(state=_with_choices(state, writes, resets), updated=updated, skipped=skipped)


async def _write_choices(operator: Operator, choices: dict[str, tuple[frozenset[ChannelKind], str | None]]) -> None:
    ts = now()
    await upsert(
        db(),
        TypeChoice,
        [
            {
                "operator_id": operator.id,
                "type_code": code,
                "channels": [c.value for c in sort_channels(channels)],
                "melody": melody,
                "updated_at": ts,
            }
            for code, (channels, melody) in choices.items()
        ],
        conflict=["operator_id", "type_code"],
        update=["channels", "melody", "updated_at"],
    )


def _with_choices(
    state: ViewerState,
    writes: dict[str, tuple[frozenset[ChannelKind], str | None]],
    resets: list[str],
) -> ViewerState:
    """The state after a write, without reading back what was just written."""
    choices = dict(state.prefs.choices)
    for code in resets:
        choices.pop(code, None)
    for code, (channels, melody) in writes.items():
        choices[code] = Choice(channels, melody)
    return replace(state, prefs=replace(state.prefs, choices=choices))


def unavailable_notice(policy: InstancePolicy, locale: str | None) -> str | None:
    from models.catalog import UNAVAILABLE_NOTICE

    if any(policy.availability(t) is TypeAvailability.UNAVAILABLE for t in LISTED_TYPES):
        return text(UNAVAILABLE_NOTICE, locale)
    return None


__all__ = [
    "BulkResult",
    "ViewerState",
    "bulk_update_types",
    "listed_type",
    "listed_types",
    "set_type_channels",
    "unavailable_notice",
]
