"""The root Query, Mutation and Subscription, each composed from the domains' parts.

Each domain package declares its fields on its own ``@strawberry.type`` class; a root type
inherits them all (strawberry collects fields along the bases), so the GraphQL names stay
``Query``, ``Mutation`` and ``Subscription``.
"""

from __future__ import annotations

import strawberry

from resolvers.administration.mutations import AdministrationMutation
from resolvers.administration.queries import AdministrationQuery
from resolvers.bell.mutations import BellMutation
from resolvers.bell.queries import BellQuery
from resolvers.bell.subscriptions import BellSubscription
from resolvers.deliveries.mutations import DeliveriesMutation
from resolvers.deliveries.queries import DeliveriesQuery
from resolvers.events.mutations import EventsMutation
from resolvers.preferences.mutations import PreferencesMutation
from resolvers.preferences.queries import PreferencesQuery
from resolvers.presence import PresenceMutation, PresenceQuery
from resolvers.viewer import ViewerQuery


@strawberry.type
class Query(ViewerQuery, PreferencesQuery, BellQuery, DeliveriesQuery, AdministrationQuery, PresenceQuery):
    pass


@strawberry.type
class Mutation(
    PreferencesMutation, BellMutation, AdministrationMutation, DeliveriesMutation, EventsMutation, PresenceMutation
):
    pass


@strawberry.type
class Subscription(BellSubscription):
    pass
