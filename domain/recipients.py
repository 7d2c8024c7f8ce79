"""Who an event reaches, read once for the whole batch (SPEC section 3's inputs per recipient).

    recipients(instance, user_ids)       -> [Recipient]  created with defaults when never seen
    recipient_prefs(operators, types)    -> ({operator id: RecipientPrefs}, {(operator id, channel): chat})

Four reads for any number of recipients: switches, choices for the batch's types, push
subscriptions and links. The linked chat each bot channel delivers to is returned with them, so the
delivery row carries it and no job reads the link again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.timezone import now

from domain.resolution import Choice, RecipientPrefs
from models.bulk import upsert
from models.db import db, is_postgres
from models.enums import BOT_CHANNELS, ChannelKind, Role
from models.operator import ChannelLink, ChannelSwitch, Operator, PushSubscription, TypeChoice


@dataclass(frozen=True, slots=True)
class Recipient:
    """What publishing reads of an operator: their row's delivery settings, no ORM model (building
    one per recipient, timestamps parsed, cost more than the rest of a recipient's work)."""

    id: int
    user_id: str
    locale: str = "en"
    email: str | None = None
    default_melody: str = "default"
    banner_duration_seconds: int = 8
    banner_repeat_count: int = 0
    banner_repeat_interval_seconds: int = 60
    classic_browser_enabled: bool = True
    classic_sound_enabled: bool = True
    reminder_not_ready_enabled: bool = True
    reminder_not_ready_after_minutes: int = 10
    #: Inserted by this publish (never seen before): caches that knew "no such operator" must hear.
    created: bool = False


#: The columns a Recipient holds (its defaults are the model's, for rows just inserted).
RECIPIENT_FIELDS = tuple(name for name in Recipient.__dataclass_fields__ if name != "created")


async def recipients(instance_id: str, user_ids: list[str]) -> list[Recipient]:
    """The recipients, created with defaults for users never seen before: one read, and one
    insert returning the new rows only when some are new (a racing insert's rows are read back)."""
    rows = {r.user_id: r for r in await _read(instance_id, user_ids)}
    missing = [u for u in user_ids if u not in rows]
    if missing:
        ts = now()
        created = await upsert(
            db(),
            Operator,
            [
                {
                    "instance_id": instance_id,
                    "user_id": u,
                    "role": Role.OPERATOR.value,
                    "locale": "en",
                    "created_at": ts,
                    "updated_at": ts,
                }
                for u in sorted(missing)  # one lock order for racing publishes
            ],
            conflict=["instance_id", "user_id"],
            returning=["id", "user_id"],
        )
        if len(created) < len(missing):  # another publisher created some of them meanwhile
            rows.update({r.user_id: r for r in await _read(instance_id, missing)})
        else:
            rows.update({r["user_id"]: Recipient(id=r["id"], user_id=r["user_id"], created=True) for r in created})
    return [rows[u] for u in user_ids if u in rows]


async def _read(instance_id: str, user_ids: list[str]) -> list[Recipient]:
    values = await Operator.filter(instance_id=instance_id, user_id__in=user_ids).values_list(*RECIPIENT_FIELDS)
    return [Recipient(*row) for row in values]


async def recipient_prefs(
    operators: list[Recipient], type_codes: list[str]
) -> tuple[dict[int, RecipientPrefs], dict[tuple[int, ChannelKind], str]]:
    """Every recipient's switches, choices for these types and reachability, and where each linked
    bot channel delivers (by operator id and channel): four reads in all."""
    ids = [o.id for o in operators]
    switched_off: dict[int, set[ChannelKind]] = {i: set() for i in ids}
    for s in await ChannelSwitch.filter(operator_id__in=ids, enabled=False).values("operator_id", "channel"):
        if s["channel"] in ChannelKind.__members__:
            switched_off[s["operator_id"]].add(ChannelKind(s["channel"]))
    choices: dict[int, dict[str, Choice]] = {i: {} for i in ids}
    for c in await TypeChoice.filter(operator_id__in=ids, type_code__in=type_codes).values(
        "operator_id", "type_code", "channels", "melody"
    ):
        channels = frozenset(ChannelKind(v) for v in c["channels"] or [] if v in ChannelKind.__members__)
        choices[c["operator_id"]][c["type_code"]] = Choice(channels, c["melody"])
    with_push = set(await PushSubscription.filter(operator_id__in=ids).distinct().values_list("operator_id", flat=True))
    links: dict[int, set[ChannelKind]] = {i: set() for i in ids}
    addresses: dict[tuple[int, ChannelKind], str] = {}
    for link in await _linked(ids):
        if link["channel"] in ChannelKind.__members__ and ChannelKind(link["channel"]) in BOT_CHANNELS:
            links[link["operator_id"]].add(ChannelKind(link["channel"]))
            if link["target"]:
                addresses[(link["operator_id"], ChannelKind(link["channel"]))] = link["target"]
    out = {}
    for o in operators:
        reachable = {ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND, ChannelKind.ECHAT, ChannelKind.CUSTOM}
        reachable |= links[o.id]
        if o.id in with_push:
            reachable.add(ChannelKind.BROWSER)
        if o.email:
            reachable.add(ChannelKind.EMAIL)
        out[o.id] = RecipientPrefs(
            switched_off=frozenset(switched_off[o.id]),
            choices=choices[o.id],
            classic_browser=o.classic_browser_enabled,
            classic_sound=o.classic_sound_enabled,
            reachable=frozenset(reachable),
        )
    return out, addresses


async def _linked(operator_ids: list[int]) -> list[dict[str, Any]]:
    """The operators' LINKED channels. On PostgreSQL the rows are share-locked until the publish
    commits: an unlink or relink (which changes them, then moves or skips the unsent deliveries
    that carry the chat) waits for it, so it also sees the rows this publish writes. SQLite's one
    writer orders the two already."""
    if not operator_ids:
        return []
    if is_postgres():
        return await db().execute_query_dict(
            f'SELECT "operator_id", "channel", "target" FROM "{ChannelLink._meta.db_table}" '
            'WHERE "operator_id" = ANY($1::int4[]) AND "status" = \'LINKED\' FOR SHARE',
            [operator_ids],
        )
    return list(
        await ChannelLink.filter(operator_id__in=operator_ids, status="LINKED").values(
            "operator_id", "channel", "target"
        )
    )
