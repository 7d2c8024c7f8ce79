"""Who an event reaches, read once for the whole batch (SPEC section 3's inputs per recipient).

    recipients(instance, user_ids)       -> [Operator]   created with defaults when never seen
    recipient_prefs(operators, types)    -> ({operator id: RecipientPrefs}, {(operator id, channel): chat})

Four reads for any number of recipients: switches, choices for the batch's types, push
subscriptions and links. The linked chat each bot channel delivers to is returned with them, so the
delivery row carries it and no job reads the link again.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.timezone import now

from domain.resolution import Choice, RecipientPrefs
from models.bulk import upsert
from models.db import db
from models.enums import BOT_CHANNELS, ChannelKind, Role
from models.operator import ChannelLink, ChannelSwitch, Operator, PushSubscription, TypeChoice


async def recipients(instance_id: str, user_ids: list[str]) -> list[Operator]:
    """The recipients' rows, created with defaults for users never seen before: one read, and one
    insert returning the new rows only when some are new (a racing insert's rows are read back)."""
    rows = {o.user_id: o for o in await Operator.filter(instance_id=instance_id, user_id__in=user_ids)}
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
                for u in missing
            ],
            conflict=["instance_id", "user_id"],
            returning=["id", "user_id"],
        )
        if len(created) < len(missing):  # another publisher created some of them meanwhile
            created = []
        rows.update(
            {o.user_id: o for o in await Operator.filter(instance_id=instance_id, user_id__in=missing)}
            if not created
            else {r["user_id"]: _new_operator(instance_id, r["id"], r["user_id"], ts) for r in created}
        )
    return [rows[u] for u in user_ids if u in rows]


def _new_operator(instance_id: str, operator_id: int, user_id: str, ts: datetime) -> Operator:
    """The row just inserted, as the ORM would read it back (every other column at its default)."""
    operator = Operator(id=operator_id, instance_id=instance_id, user_id=user_id, role=Role.OPERATOR.value, locale="en")
    operator.created_at = operator.updated_at = ts
    operator._saved_in_db = True
    return operator


async def recipient_prefs(
    operators: list[Operator], type_codes: list[str]
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
    for link in await ChannelLink.filter(operator_id__in=ids, status="LINKED").values(
        "operator_id", "channel", "target"
    ):
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
