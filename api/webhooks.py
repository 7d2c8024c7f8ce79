"""Provider webhooks: one module per provider, each verifying its provider's signature."""

from __future__ import annotations

from starlette.routing import Route

from api import webhook_telegram, webhook_viber, webhook_whatsapp
from resolvers.context import Services


def webhook_routes(services: Services) -> list[Route]:
    return [
        *webhook_telegram.routes(services),
        *webhook_viber.routes(services),
        *webhook_whatsapp.routes(services),
    ]
