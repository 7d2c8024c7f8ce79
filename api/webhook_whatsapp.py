"""Placeholder: the whatsapp webhook is being written."""

from __future__ import annotations

from starlette.routing import Route

from resolvers.context import Services


def routes(services: Services) -> list[Route]:
    return []
