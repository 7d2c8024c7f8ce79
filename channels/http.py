"""What an HTTP provider's answer means for a delivery (one mapping, like aiogram's check_response).

    2xx              Sent
    401, 403         GiveUp: the provider refused the credential; check it in the bot settings
    404, 410         GiveUp: nothing at that URL; check the URL in the bot settings
    413              GiveUp: the message is too large
    429              RetryLater, after Retry-After when the provider sent it
    408, 425, 5xx    RetryLater
    3xx, other 4xx   GiveUp: retrying the same request cannot help
    network errors   RetryLater (timeouts, refused connections, resets)

Reasons are the service's words (what failed, what to do), never the provider's body: it may be a
page of HTML, or echo the request with a bot token in it. The body goes only to the log, redacted
of the channel's secrets (channels/redact.py) and cut short. Channels whose providers answer with
well-known error codes (Telegram, Viber, WhatsApp) map those first and fall back to this.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from channels.base import GiveUp, Outcome, RetryLater, Sent
from channels.http_client import Answer, TransportError
from channels.redact import remote_text

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429})


#: A provider may not push a retry further out than this.
MAX_RETRY_AFTER_SECONDS = 3600.0


def retry_delay(seconds: object) -> float | None:
    """A provider's requested delay (any JSON value) as it may be honoured: at most
    ``MAX_RETRY_AFTER_SECONDS``; none (the backoff applies) when it is absent, not a number,
    negative, NaN or infinite. An integer too large for a float is capped like any long delay."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        value = float(seconds)
    except OverflowError:  # an int past 1e308: a provider asking for "forever"
        return MAX_RETRY_AFTER_SECONDS if seconds > 0 else None
    if not math.isfinite(value) or value < 0:
        return None
    return min(MAX_RETRY_AFTER_SECONDS, value)


def retry_after(response: Answer) -> float | None:
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


def retrying(after: float | None) -> str:
    """How a retried failure ends its reason: "retrying" or "retrying after 30 s"."""
    after = retry_delay(after)
    return "retrying" if after is None else f"retrying after {max(1, round(after))} s"


_RETRYING = re.compile(r":? ?retrying(?: after \d+ s)?$")


def given_up(reason: str, attempts: int) -> str:
    """A transient failure's reason once no try is left: "gave up after N attempts: ..." without
    the "retrying" it ended in."""
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return f"gave up after {tries}: {without_retrying(reason)}"


def without_retrying(reason: str) -> str:
    """A transient failure's reason without the "retrying ..." it ended in (no try follows)."""
    return _RETRYING.sub("", reason)


def log_answer(provider: str, status: int, text: str, secrets: Iterable[str | None]) -> None:
    """A failed answer's body for whoever reads the logs: redacted and cut short."""
    log.info("%s answered HTTP %s: %s", provider, status, remote_text(text, secrets, 300) or "(empty body)")


def outcome_for(
    response: Answer,
    provider: str,
    *,
    secrets: Iterable[str | None] = (),
    credential: str = "secret",
    where: str = "the bot channel settings",
) -> Outcome:
    """``provider`` names the other side in reasons ("Viber", "the ECHAT webhook"); ``credential``
    and ``where`` say what to check, and where, when it refuses ("bot token", "the Telegram bot
    settings")."""
    status = response.status_code
    if 200 <= status < 300:
        return Sent()
    secrets = tuple(secrets)
    log_answer(provider, status, response.text, secrets)
    if status == 429:
        after = retry_after(response)
        return RetryLater(f"{provider} is rate-limiting (HTTP 429): {retrying(after)}", after)
    if status in RETRYABLE or status >= 500:
        after = retry_after(response)
        return RetryLater(f"{provider} answered HTTP {status}: {retrying(after)}", after)
    if status in (401, 403):
        return GiveUp(f"{provider} refused the {credential} (HTTP {status}): check the {credential} in {where}")
    if status in (404, 410):
        return GiveUp(f"{provider} answered HTTP {status} (nothing at that address): check the URL in {where}")
    if status == 413:
        return GiveUp(f"{provider} refused the message as too large (HTTP 413): not retried")
    if 300 <= status < 400:
        return GiveUp(
            f"{provider} answered with a redirect (HTTP {status}), which is not followed: set the final URL in {where}"
        )
    return GiveUp(f"{provider} refused the request (HTTP {status}): not retried; check {where}")


def network_failure(exc: TransportError, provider: str) -> Outcome:
    """A request that got no answer: retried. Only its kind goes into the reason ("ConnectError",
    "ReadTimeout": channels/http_client.py)."""
    return RetryLater(f"{provider} could not be reached ({type(exc).__name__}): retrying")
