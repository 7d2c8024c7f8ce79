"""Provider webhooks: one module per provider, each verifying its provider's signature.

Before a provider's handler runs, every webhook request passes the same gate: the instance id in
the path is at most 64 characters (else 404, nothing looked up, nothing logged at length), and the
client address is within ``NC_RATE_LIMIT_WEBHOOK`` (else 429 with Retry-After).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import webhook_telegram, webhook_viber, webhook_whatsapp
from api.ratelimit import RateLimits
from domain.errors import RateLimited
from services.shared import Services

MAX_INSTANCE_ID = 64


def webhook_routes(services: Services, rate_limits: RateLimits) -> list[Route]:
    routes = [
        *webhook_telegram.routes(services),
        *webhook_viber.routes(services),
        *webhook_whatsapp.routes(services),
    ]
    return [
        Route(route.path, _gated(route.endpoint, rate_limits), methods=list(route.methods or ()) or None)
        for route in routes
    ]


def _gated(
    endpoint: Callable[[Request], Awaitable[Response]], rate_limits: RateLimits
) -> Callable[..., Awaitable[Response]]:
    @functools.wraps(endpoint)
    async def gated(request: Request) -> Response:
        instance_id = request.path_params.get("instance", "")
        if not 0 < len(instance_id) <= MAX_INSTANCE_ID:
            return JSONResponse({"error": "No such instance"}, status_code=404)
        try:
            await rate_limits.check("webhook", request.client.host if request.client else "unknown")
        except RateLimited as error:
            return JSONResponse(
                {"error": error.message}, status_code=429, headers={"Retry-After": str(error.extensions["retryAfter"])}
            )
        return await endpoint(request)

    return gated
