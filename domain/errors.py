"""Errors a client can cause, each carrying the GraphQL ``extensions.code`` it maps to.

    ClientError
     ├── Unauthenticated   UNAUTHENTICATED  no token, a bad one, or an expired one
     ├── Forbidden         FORBIDDEN        the caller's role may not do this
     ├── BadUserInput      BAD_USER_INPUT   the input is wrong; the message says what to change
     ├── NotFound          NOT_FOUND        no such row for this caller (other tenants' rows included)
     ├── RateLimited       RATE_LIMITED     too much at once (``retryAfter``: seconds to wait)
     └── QueryTooCostly    QUERY_TOO_COSTLY the document asks for too much work (cost, depth, aliases)

graphql-core copies ``extensions`` from the original exception onto the GraphQL error, so domain
code raises these and the GraphQL layer needs no mapping.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **details}


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    code = "FORBIDDEN"


class BadUserInput(ClientError):
    code = "BAD_USER_INPUT"


class NotFound(ClientError):
    code = "NOT_FOUND"


class RateLimited(ClientError):
    code = "RATE_LIMITED"


class QueryTooCostly(ClientError):
    code = "QUERY_TOO_COSTLY"
