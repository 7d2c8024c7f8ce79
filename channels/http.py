"""What an HTTP provider's answer means for a delivery (one mapping, like aiogram's check_response).

    2xx              Sent
    429              RetryLater, after Retry-After when the provider sent it
    408, 425, 5xx    RetryLater
    other 4xx        GiveUp: retrying the same request cannot help
    network errors   RetryLater (timeouts, refused connections, resets)

Reasons are built here from the status and a short, single-line excerpt of the body: never from
the request URL or headers, which may hold a bot token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from channels.base import GiveUp, Outcome, RetryLater, Sent

RETRYABLE = frozenset({408, 425, 429})


#: A provider may not push a retry further out than this.
MAX_RETRY_AFTER_SECONDS = 3600.0


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds or as an HTTP date (RFC 9110), capped at an hour."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds() if when.tzinfo else 0.0
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


def excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = " ".join(response.text.split())
    return text[:limit]


def outcome_for(response: httpx.Response, provider: str) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Sent()
    reason = f"{provider} answered HTTP {status}: {excerpt(response)}".rstrip(": ")
    if status in RETRYABLE or status >= 500:
        return RetryLater(reason, retry_after(response))
    return GiveUp(reason)


def network_failure(exc: Exception, provider: str) -> Outcome:
    """A request that got no answer: retried. The exception's text may carry the URL, so only
    its kind goes into the reason."""
    return RetryLater(f"{provider} could not be reached ({type(exc).__name__})")
