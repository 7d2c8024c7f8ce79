"""What a channel says: the notification's title, body and link, or a test message, and how a
text is cut to a provider's limit (``cut``, ``fit_lines``: always ending in an ellipsis "…").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from channels.base import Job
from models.catalog import text

TEST_TITLE = {"en": "Test notification", "uk": "Тестове сповіщення"}
TEST_BODY = {
    "en": "If you can read this, {channel} notifications reach you.",
    "uk": "Якщо ви це читаєте, сповіщення через {channel} до вас доходять.",
}
ENTITY_PATHS = {"TICKET": "tickets", "CHAT": "chats", "CLIENT": "clients"}
#: How each channel is named to people.
CHANNEL_NAMES = {
    "BELL": "Bell",
    "BANNER": "Banner",
    "SOUND": "Sound",
    "BROWSER": "Browser push",
    "TELEGRAM": "Telegram",
    "VIBER": "Viber",
    "WHATSAPP": "WhatsApp",
    "ECHAT": "eChat",
    "EMAIL": "Email",
    "CUSTOM": "Custom channel",
}


@dataclass(frozen=True)
class Message:
    notification_id: str | None
    type_code: str
    title: str
    body: str
    link: str
    urgent: bool = False
    #: What the notification is about, as one key (``TICKET:123``), or None.
    entity: str | None = None

    @property
    def plain(self) -> str:
        return f"{self.title}\n{self.body}".strip()


def message_for(job: Job, panel_url: str) -> Message:
    from models.catalog import TYPES_BY_CODE

    n = job.notification
    if n is None and job.digest is not None:
        return Message(
            notification_id=None,
            type_code="digest",
            title=job.digest[0],
            body=job.digest[1],
            link=f"{panel_url}/notifications",
        )
    if n is None:
        return Message(
            notification_id=None,
            type_code="test",
            title=text(TEST_TITLE, job.operator.locale),
            body=text(TEST_BODY, job.operator.locale).format(channel=CHANNEL_NAMES[job.channel.value]),
            link=panel_url,
        )
    path = ENTITY_PATHS.get((n.entity_kind or "").upper())
    # percent-encoded: rows written before entity ids were restricted may hold anything
    link = (
        f"{panel_url}/{path}/{quote(n.entity_id, safe='')}"
        if path and n.entity_id
        else f"{panel_url}/notifications/{n.id}"
    )
    type_def = TYPES_BY_CODE.get(n.type_code)
    return Message(
        notification_id=str(n.id),
        type_code=n.type_code,
        title=n.title,
        body=n.body,
        link=link,
        urgent=bool(type_def and type_def.urgent),
        entity=f"{n.entity_kind}:{n.entity_id}" if n.entity_kind and n.entity_id else None,
    )


ELLIPSIS = "…"


def _longest(make: Callable[[int], str], n: int, limit: int, measure: Callable[[str], int]) -> int:
    """The largest k in 0..n with measure(make(k)) <= limit, by bisection (make grows with k)."""
    low, high = 0, n
    while low < high:
        mid = (low + high + 1) // 2
        if measure(make(mid)) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def cut(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """``text`` within ``limit`` as ``measure`` counts it (characters by default); a cut text ends
    in an ellipsis. Filled by bisection, so it works for any unit: characters, UTF-16 units, octets."""
    if measure(text) <= limit:
        return text
    if measure(ELLIPSIS) > limit:
        return ""
    keep = _longest(lambda k: text[:k].rstrip() + ELLIPSIS, len(text), limit, measure)
    return text[:keep].rstrip() + ELLIPSIS


def fit_lines(title: str, body: str, link: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """Title, body and link on their own lines within ``limit``; a long body is cut first (ending in
    an ellipsis) so the link survives; a title or link longer than the room on its own is cut too."""
    head, middle, tail = title.strip(), body.strip(), link.strip()

    def joined(part: str) -> str:
        return "\n".join(p for p in (head, part, tail) if p)

    if measure(joined(middle)) <= limit:
        return joined(middle)
    keep = _longest(lambda k: joined(middle[:k].rstrip() + ELLIPSIS), len(middle), limit, measure)
    text = joined(middle[:keep].rstrip() + ELLIPSIS)
    return text if measure(text) <= limit else cut(text, limit, measure)
