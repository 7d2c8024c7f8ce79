"""The GraphQL enums, registered once with strawberry.

They are the domain's enums themselves: strawberry.enum marks a class and returns it, so these
names are plain aliases of models.enums, which mypy takes as types.
"""

from __future__ import annotations

import strawberry

from models import enums

Role = enums.Role
ChannelKind = enums.ChannelKind
TypeAvailability = enums.TypeAvailability
ChannelStatus = enums.ChannelStatus
BulkAction = enums.BulkAction
SkipReason = enums.SkipReason
DeliveryStatus = enums.DeliveryStatus
PushTargetStatus = enums.PushTargetStatus
ChannelDecisionReason = enums.DecisionReason
Waveform = enums.Waveform
RoutingMode = enums.RoutingMode
RouteSource = enums.RouteSource
Weekday = enums.Weekday
strawberry.enum(
    RoutingMode,
    description="When an external channel sends, given the recipient's attention: ALWAYS at once; WHEN_AWAY only "
    "when the recipient has no active panel (else SKIPPED: they saw the banner); ESCALATE_AFTER a number of minutes, "
    "only if the notification is still unread then (CANCELLED when read first).",
)
strawberry.enum(RouteSource, description="Where a channel's routing mode for a type comes from.")
strawberry.enum(Weekday)
strawberry.enum(Role)
strawberry.enum(ChannelKind)
strawberry.enum(TypeAvailability)
strawberry.enum(ChannelStatus)
strawberry.enum(BulkAction)
strawberry.enum(SkipReason)
strawberry.enum(DeliveryStatus)
strawberry.enum(
    Waveform, description="A melody's oscillator shape: the Web Audio API's OscillatorNode.type, in lowercase."
)
strawberry.enum(
    PushTargetStatus,
    description=(
        "What one browser push subscription's push came to within a BROWSER delivery: SENT (the push"
        " service accepted it), RETRYING (failed transiently: pushed again on the delivery's next try),"
        " FAILED (refused for good, or still failing when the delivery's last try ended), GONE (the"
        " subscription had expired, HTTP 404/410, and was removed)."
    ),
)
strawberry.enum(
    ChannelDecisionReason,
    description="Why channel resolution turned a channel on or off for one type.",
)
