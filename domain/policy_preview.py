"""What a policy change would do to the operators, before it is saved (nothing is written).

The administrator's input is checked exactly as saving checks it (domain/instance_admin.py's plans),
the policy after it is built as a value, and every known operator of the instance (a row of theirs:
upsertOperators, their first change, or a notification) is resolved with the one resolution
function (domain/resolution.py) under the policy before and after, for every type the change can
touch. A channel turns *on* for an operator and a type when it is among the effective channels
after and not before, *off* the other way round; whether something is linked to deliver to
(reachability) does not enter.

    preview(before, after, types, sample) -> Preview   five reads for any number of operators

A change is counted per type and channel, with up to ``sample`` user ids each way (sorted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.policy import InstancePolicy
from domain.recipients import RECIPIENT_FIELDS, Recipient, recipient_prefs
from domain.resolution import answer_key, resolve
from models.catalog import TypeDef
from models.enums import ChannelKind
from models.operator import Operator

#: Operators resolved between two yields to the event loop.
YIELD_EVERY = 500


@dataclass
class ChannelChange:
    type_code: str
    channel: ChannelKind
    #: How many operators the channel turns on (off) for, and the first ``sample`` of them by user id.
    on: int = 0
    off: int = 0
    turned_on: list[str] = field(default_factory=list)
    turned_off: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Preview:
    operators: int
    #: Only the type and channel pairs that change for somebody, in type then channel order.
    changes: list[ChannelChange]
    sample: int


async def preview(before: InstancePolicy, after: InstancePolicy, types: Iterable[TypeDef], *, sample: int) -> Preview:
    """Resolve every known operator of the instance under both policies for ``types``."""
    type_defs = list(types)
    rows = await Operator.filter(instance_id=before.instance_id).order_by("user_id").values(*RECIPIENT_FIELDS)
    operators = [Recipient(**row) for row in rows]
    prefs, _ = await recipient_prefs(operators, [t.code for t in type_defs]) if operators else ({}, {})
    changes: dict[tuple[str, ChannelKind], ChannelChange] = {}
    # Operators who set the same things get the same answers: resolved once per distinct input
    # (most keep the defaults), and the process yields to other requests between operators' chunks.
    answers: dict[tuple[object, ...], tuple[set[ChannelKind], set[ChannelKind]]] = {}
    for type_def in type_defs:
        for position, operator in enumerate(operators):
            if position % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            mine = prefs[operator.id]
            key = answer_key(mine, type_def.code)
            answer = answers.get(key)
            if answer is None:
                answer = answers[key] = (
                    set(resolve(before, mine, type_def).channels),
                    set(resolve(after, mine, type_def).channels),
                )
            was, will = answer
            for channel in was ^ will:
                change = changes.get((type_def.code, channel))
                if change is None:
                    change = changes[(type_def.code, channel)] = ChannelChange(type_def.code, channel)
                # operators come in user id order: the first ``sample`` of each way are the sample
                if channel in will:
                    change.on += 1
                    if len(change.turned_on) < sample:
                        change.turned_on.append(operator.user_id)
                else:
                    change.off += 1
                    if len(change.turned_off) < sample:
                        change.turned_off.append(operator.user_id)
    order = {c: i for i, c in enumerate(ChannelKind)}
    type_order = {t.code: i for i, t in enumerate(type_defs)}
    listed = sorted(changes.values(), key=lambda c: (type_order[c.type_code], order[c.channel]))
    return Preview(operators=len(operators), changes=listed, sample=sample)
