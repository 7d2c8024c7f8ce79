"""EMAIL: a multipart (plain text + HTML) message to the operator's profile email, over SMTP.

Settings (bot_channels.BOT_SETTINGS): host, port, starttls, username, from, header, footer; the
secret is the SMTP password (used only when a username is set).

    connection errors, timeouts, 4xx     RetryLater
    5xx (recipient refused, auth failed) GiveUp, with the server's reply code
    a host that is not public            GiveUp (unless listed in NC_SMTP_ALLOWED_HOSTS)
    nothing to send to                   GiveUp

Limits: the subject is one line of at most SUBJECT_MAX characters (a sensible length for mail
clients; RFC 5322 only bounds a line at 998 octets), and at most SUBJECT_MAX_OCTETS once
RFC 2047-encoded, so it fits one header line even unfolded; a longer title is cut, ending in "…".
The body is whole.

The host is checked before every send and the connection made to the address checked
(core/smtp_host.py). Reasons are classified (what failed, what to check, the reply code),
never the server's banner or reply text, nor the password.
"""

from __future__ import annotations

import html
import logging
import ssl
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.deps import ChannelDeps
from channels.message import Message, cut, message_for
from channels.redact import redact
from core import smtp_host
from core.smtp_host import SmtpHostRefused
from core.urls import UnsafeUrl
from domain.bots import BotConfig
from models.catalog import text
from models.enums import ChannelKind

log = logging.getLogger(__name__)

#: Seconds for connecting and for each SMTP command (below the worker's lease).
SMTP_TIMEOUT_SECONDS = 15.0
#: Implicit TLS (SMTPS) when the port is this one and STARTTLS was not asked for.
SMTPS_PORT = 465
#: A subject's length in characters, and in octets as RFC 2047 encodes it (RFC 5322 lines: 998).
SUBJECT_MAX = 255
SUBJECT_MAX_OCTETS = 998
OPEN_LABEL = {"en": "Open in the Notification Center", "uk": "Відкрити в Центрі сповіщень"}


class EmailChannel:
    kinds = frozenset({ChannelKind.EMAIL})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        recipient = job.operator.email
        if not recipient:
            return GiveUp("not linked: no profile email")
        bot = await self.deps.bot(job.delivery.instance_id, ChannelKind.EMAIL)
        if bot is None:
            return GiveUp("EMAIL is not configured (or not enabled) on this instance")
        host = bot.setting("host")
        sender = bot.setting("from")
        if not host or not sender:
            return GiveUp("EMAIL settings need host and from")
        username = bot.setting("username")
        if username and not bot.secret:
            return GiveUp("EMAIL settings have a username but no password in the secret field")

        try:
            message = build_message(bot, message_for(job, self.deps.panel_url), job, recipient)
        except ValueError as exc:  # a header the email package refuses (a malformed from address)
            return GiveUp(f"EMAIL message could not be built: {_one_line(str(exc))}")
        starttls = bool(bot.setting("starttls", False))
        port = int(bot.setting("port", 587 if starttls else 25))
        try:
            # Checked again now (DNS may have changed since it was saved), then connected to as checked.
            answers = await smtp_host.checked_addresses(host, port, self.deps.settings.smtp_allowed_hosts)
            sock = await smtp_host.connect(answers, SMTP_TIMEOUT_SECONDS)
        except SmtpHostRefused:
            return GiveUp(NOT_PUBLIC)
        except UnsafeUrl:
            return RetryLater("the SMTP host name does not resolve")
        except OSError:
            return RetryLater(UNREACHABLE)
        try:
            await aiosmtplib.send(
                message,
                hostname=host,  # names the server for TLS; the socket is already connected
                sock=sock,
                username=username or None,
                password=bot.secret if username else None,
                start_tls=starttls,
                use_tls=port == SMTPS_PORT and not starttls,
                timeout=SMTP_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to an outcome below
            sock.close()  # aiosmtplib closed it unless it failed before taking it
            return _outcome_for(exc, f"{host}:{port}", bot.secret)
        return Sent()


def build_message(bot: BotConfig, msg: Message, job: Job, recipient: str) -> EmailMessage:
    header = str(bot.setting("header", ""))
    footer = str(bot.setting("footer", ""))
    open_label = text(OPEN_LABEL, job.operator.locale)

    plain_parts = [p for p in (header, msg.title, msg.body, f"{open_label}: {msg.link}") if p]
    plain = "\n\n".join(plain_parts)
    if footer:
        plain += f"\n\n-- \n{footer}"

    e = html.escape
    html_parts = []
    if header:
        html_parts.append(f'<p style="color:#555">{_lines(e(header))}</p>')
    html_parts.append(f"<h2>{e(msg.title)}</h2>")
    if msg.body:
        html_parts.append(f"<p>{_lines(e(msg.body))}</p>")
    html_parts.append(f'<p><a href="{e(msg.link, quote=True)}">{e(open_label)}</a></p>')
    if footer:
        html_parts.append(f'<hr><p style="color:#777;font-size:small">{_lines(e(footer))}</p>')
    body_html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>' + "\n".join(html_parts) + "</body></html>"
    )

    message = EmailMessage()
    message["Subject"] = subject(msg.title)
    message["From"] = str(bot.setting("from"))
    message["To"] = recipient
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(str(bot.setting("from")))[1].rpartition("@")[2] or "notification-center"
    # Unique per attempt (some mailboxes drop a repeated Message-ID), naming the delivery.
    message["Message-ID"] = make_msgid(idstring=f"nc-delivery-{job.delivery.id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    if msg.urgent:
        message["Importance"] = "high"
    message.set_content(plain)
    message.add_alternative(body_html, subtype="html")
    return message


def _encoded_octets(value: str) -> int:
    """The subject's length on the wire: as it is, or RFC 2047-encoded when it is not ASCII."""
    if value.isascii():
        return len(value)
    return len(Header(value, "utf-8").encode(maxlinelen=0))


def subject(title: str) -> str:
    """The title as a subject: one line (a line break in user text must not start a header of its
    own), at most SUBJECT_MAX characters and SUBJECT_MAX_OCTETS encoded, a cut one ending in "…"."""
    line = cut(" ".join(title.split()), SUBJECT_MAX)
    return cut(line, SUBJECT_MAX_OCTETS, _encoded_octets)


def _lines(escaped: str) -> str:
    return escaped.replace("\n", "<br>\n")


#: What operators read (lastError) for each kind of failure: classified, never the server's own
#: text (a banner or reply can say what runs inside; the numeric code is enough to look it up).
UNREACHABLE = "the SMTP server could not be reached"
NOT_PUBLIC = (
    "the SMTP host is not a public address: an administrator must set a public host "
    "(or list a private relay in NC_SMTP_ALLOWED_HOSTS)"
)
REFUSED = (
    (aiosmtplib.SMTPAuthenticationError, "the SMTP server refused the login: check the username and password"),
    (aiosmtplib.SMTPSenderRefused, "the SMTP server refused the sender: check the from address"),
    (aiosmtplib.SMTPRecipientRefused, "the SMTP server refused the recipient: check the operator's profile email"),
    (aiosmtplib.SMTPDataError, "the SMTP server refused the message"),
    (aiosmtplib.SMTPConnectResponseError, "the SMTP server refused the connection"),
    (aiosmtplib.SMTPHeloError, "the SMTP server refused the greeting"),
)


def _outcome_for(exc: Exception, server: str, secret: str | None) -> Outcome:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        what = next((reason for kind, reason in REFUSED if isinstance(exc, kind)), "the SMTP server refused")
        # The reply itself only in the log, for whoever runs the relay, redacted of the password.
        log.info("SMTP server %s answered %s: %s", server, exc.code, redact(_one_line(exc.message), [secret]))
        reason = f"{what} (SMTP {exc.code})"
        return GiveUp(reason) if exc.code >= 500 else RetryLater(reason)
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(exc.__cause__, ssl.SSLCertVerificationError):
        return GiveUp("the TLS certificate of the SMTP server could not be verified: check the host")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return GiveUp("the SMTP server does not offer STARTTLS or login as the settings ask: check starttls and port")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return RetryLater("the SMTP server closed the connection")
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
        return RetryLater("the SMTP server did not answer in time")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError)):
        return RetryLater(f"{UNREACHABLE} ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # an address aiosmtplib refuses to put on the wire
        return GiveUp(f"the message could not be sent: {type(exc).__name__}")
    raise exc


def _one_line(value: str, limit: int = 200) -> str:
    return " ".join(str(value).split())[:limit]
