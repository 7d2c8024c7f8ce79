"""Subscription fields: the live bell, toasts and reminders of the operator panel."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.errors import NotImplementedYet
from resolvers.context import Info
from resolvers.types import BellEvent, Reminder, Toast


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def bell(self, info: Info) -> AsyncGenerator[BellEvent, None]:  # type: ignore[valid-type]
        info.context.require_user()
        raise NotImplementedYet("Live bell events arrive with the events issue (issue 3)")
        yield  # pragma: no cover

    @strawberry.subscription
    async def toasts(self, info: Info) -> AsyncGenerator[Toast, None]:
        info.context.require_user()
        raise NotImplementedYet("Toasts arrive with the events issue (issue 3)")
        yield  # pragma: no cover

    @strawberry.subscription
    async def reminders(self, info: Info) -> AsyncGenerator[Reminder, None]:
        info.context.require_user()
        raise NotImplementedYet("Reminders arrive with the events issue (issue 3)")
        yield  # pragma: no cover
