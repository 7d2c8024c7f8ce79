"""EMAIL: multipart messages to the operator's profile email through a real SMTP server (SPEC section 5).

The server is aiosmtpd on 127.0.0.1 (tests/fakes/smtp_server.py); everything else goes through
the API: an administrator configures EMAIL, an operator chooses it, a service publishes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from channels.email import SUBJECT_MAX, SUBJECT_MAX_OCTETS, _encoded_octets, subject
from tests.channel_support import CONFIGURE, FINAL, PUBLISH, SET_CHANNELS, TEST_CHANNEL
from tests.conftest import Caller, Tenant
from tests.fakes.smtp_server import smtp_server
from tests.polling import eventually

LATEST = "{ notifications { edges { node { id } } } }"
DELIVERIES = """query($id: ID!) { deliveries(notificationId: $id) { id channel status attempts lastError } }"""
CHANNELS_TAB = "{ channelSettings { channels { kind status target lastError } } }"
HEADER = "ACME support"
FOOTER = "Sent by the Notification Center"


async def configure(tenant: Tenant, port: int, *, username: str | None = None, password: str | None = None) -> Any:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "from": "nc@example.com",
        "header": HEADER,
        "footer": FOOTER,
    }
    bot: dict[str, Any] = {"channel": "EMAIL", "enabled": True, "settings": settings}
    if username:
        settings["username"] = username
        bot["secret"] = password
    result = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [bot]}})
    return result.data["updateInstanceSettings"]


async def operator_on_email(tenant: Tenant, user: str = "alice", email: str | None = "alice@example.com") -> Caller:
    """An operator (with this profile email) who chose BELL and EMAIL for new tickets."""
    operator = tenant.operator(user, email=email) if email else tenant.operator(user)
    result = await operator.gql(SET_CHANNELS, {"channels": ["BELL", "EMAIL"]})
    assert not result.errors, result.errors
    return operator


async def publish(tenant: Tenant, operator: Caller, subject: str = "Printer on fire", ticket_number: Any = 42) -> str:
    """Publish a ticket_created for the operator; the id of the notification it got."""
    event = {
        "id": "t-1",
        "type": "ticket_created",
        "recipients": [operator.user],
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": ticket_number, "subject": subject},
    }
    assert (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]["notificationCount"] == 1
    return (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]["id"]


async def settled(operator: Caller, notification_id: str, seconds: float = 10.0) -> dict[str, Any]:
    """The EMAIL delivery of the notification once final (or as it stands after ``seconds``)."""

    async def read() -> dict[str, Any]:
        rows = (await operator.gql(DELIVERIES, {"id": notification_id})).data["deliveries"]
        return next(r for r in rows if r["channel"] == "EMAIL")

    return await eventually(read, lambda row: row["status"] in FINAL, seconds=seconds)


async def email_row(operator: Caller) -> dict[str, Any]:
    channels = (await operator.gql(CHANNELS_TAB)).data["channelSettings"]["channels"]
    return next(c for c in channels if c["kind"] == "EMAIL")


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_notification_is_mailed_as_text_and_html_with_header_and_footer(tenant: Tenant) -> None:
    # given EMAIL configured with a header and footer, and an operator with a profile email who chose it
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant)

        # when a ticket_created event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id)

    # then one multipart/alternative message reached the operator's address
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 1, None)
    [mail] = smtp.messages
    assert (mail.mail_from, mail.rcpt_tos) == ("nc@example.com", ["alice@example.com"])
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    assert (message["Subject"], message["From"], message["To"]) == (
        "New ticket #42",
        "nc@example.com",
        "alice@example.com",
    )
    link = "http://127.0.0.1:8000/tickets/42"
    for content_type in ("text/plain", "text/html"):
        part = mail.part(content_type)
        for words in (HEADER, "New ticket #42", "Printer on fire", link, FOOTER):
            assert words in part, (content_type, words)
    plain = mail.part("text/plain")
    assert plain.index(HEADER) < plain.index("Printer on fire") < plain.index(FOOTER)
    assert f'href="{link}"' in mail.part("text/html")


async def test_user_text_is_escaped_in_the_html_part(tenant: Tenant) -> None:
    # given EMAIL configured, and an operator who chose it
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant)

        # when an event's text carries markup
        notification_id = await publish(tenant, operator, subject='<script>alert("x")</script> & co')
        await settled(operator, notification_id)

    # then the HTML part shows it as text, and the plain part as it was written
    [mail] = smtp.messages
    html_part = mail.part("text/html")
    assert "<script>" not in html_part
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html_part
    assert '<script>alert("x")</script> & co' in mail.part("text/plain")


async def test_a_line_break_in_the_title_cannot_add_a_header(tenant: Tenant) -> None:
    # given EMAIL configured, and an operator who chose it
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant)

        # when an event's data puts a line break and a header into the title
        event = {
            "id": "t-inject",
            "type": "ticket_created",
            "recipients": [operator.user],
            "data": {"ticketNumber": "42\nBcc: mallory@example.org", "subject": "x"},
            # (named here: a ticketNumber that cannot name the ticket is refused when it is to)
            "entity": {"kind": "TICKET", "id": "42"},
        }
        assert (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]["notificationCount"] == 1
        notification_id = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]["id"]
        delivery = await settled(operator, notification_id)

    # then it was mailed to the operator only, the title on one subject line
    assert delivery["status"] == "SENT"
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.message["Bcc"] is None
    assert mail.message["Subject"] == "New ticket #42 Bcc: mallory@example.org"


async def test_a_refused_recipient_fails_with_a_classified_reason_and_the_channels_tab_shows_error(
    tenant: Tenant,
) -> None:
    # given an SMTP server that refuses the operator's address with 550
    async with smtp_server(reject={"alice@example.com": "550 5.1.1 No such user here"}) as smtp:
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant)

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id)

    # then the delivery failed at once with the server's code, and EMAIL shows ERROR
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert (
        delivery["lastError"] == "the SMTP server refused the recipient: check the operator's profile email (SMTP 550)"
    )
    assert "No such user here" not in delivery["lastError"]  # the server's own words stay out
    assert smtp.messages == []
    row = await email_row(operator)
    assert row["status"] == "ERROR" and "550" in row["lastError"]


async def test_a_temporary_refusal_is_retried(tenant: Tenant) -> None:
    # given an SMTP server that answers the first RCPT with 451
    async with smtp_server() as smtp:
        smtp.refuse_next("451 4.3.0 Mailbox busy, try again later")
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant)

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id)

    # then the second attempt delivered it
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 2, None)
    assert len(smtp.messages) == 1


async def test_an_operator_without_email_gets_a_skipped_delivery(tenant: Tenant) -> None:
    # given EMAIL configured, and an operator with no profile email who chose it
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant, "bob", email=None)

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id)

    # then the EMAIL delivery is skipped, saying why, and nothing was mailed
    assert delivery["status"] == "SKIPPED"
    assert "email" in delivery["lastError"]
    assert smtp.messages == []


async def test_testing_email_without_a_profile_email_fails_saying_so(tenant: Tenant) -> None:
    # given EMAIL configured, and an operator with no profile email
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = tenant.operator("bob")

        # when the operator presses Test for EMAIL
        result = (await operator.gql(TEST_CHANNEL, {"channel": "EMAIL"})).data["testChannel"]

    # then the test delivery failed, mentioning the email
    assert result["status"] == "FAILED"
    assert "no profile email" in result["lastError"]
    assert smtp.messages == []


async def test_smtp_auth_works_and_the_password_never_shows(tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    # given every log line captured, and an SMTP server that requires AUTH
    caplog.set_level(logging.DEBUG)
    password = "pa55-Wq8vX3-never-shown"
    async with smtp_server(credentials=("nc-mailer", password)) as smtp:
        configured = await configure(tenant, smtp.port, username="nc-mailer", password=password)
        operator = await operator_on_email(tenant)

        # when an event is published and the administrator reads the settings
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id)
        settings = (
            await tenant.admin().gql("{ instanceSettings { botChannels { channel settings hasSecret } } }")
        ).data
        tab = await email_row(operator)

    # then the mail went through as the configured user, and the password is in no response or log line
    assert delivery["status"] == "SENT"
    assert smtp.logins == ["nc-mailer"] and len(smtp.messages) == 1
    [bot] = settings["instanceSettings"]["botChannels"]
    assert bot["hasSecret"] is True and bot["settings"]["username"] == "nc-mailer"
    assert password not in json.dumps([configured, settings, delivery, tab])
    assert caplog.records, "nothing was logged at DEBUG: the check would prove nothing"
    assert password not in caplog.text
    assert not [r for r in caplog.records if password in r.getMessage()]


async def test_a_wrong_password_fails_saying_what_to_check_and_not_the_password(tenant: Tenant) -> None:
    # given an SMTP server that requires AUTH, and EMAIL configured with a wrong password
    async with smtp_server(credentials=("nc-mailer", "the-right-one")) as smtp:
        await configure(tenant, smtp.port, username="nc-mailer", password="a-wrong-one")
        operator = await operator_on_email(tenant)

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id)

    # then the delivery failed at once, saying what to check, without the password
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert delivery["lastError"] == "the SMTP server refused the login: check the username and password (SMTP 535)"
    assert "a-wrong-one" not in delivery["lastError"]
    assert smtp.messages == []


async def test_a_test_send_mails_the_test_message(tenant: Tenant) -> None:
    # given EMAIL configured, and an operator with a profile email
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = tenant.operator("alice", email="alice@example.com")

        # when the operator presses Test for EMAIL
        result = (await operator.gql(TEST_CHANNEL, {"channel": "EMAIL"})).data["testChannel"]
        mails = await smtp.wait_for(1)

    # then the test delivery is SENT and the test message arrived
    assert (result["status"], result["notificationId"], result["lastError"]) == ("SENT", None, None)
    [mail] = mails
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.message["Subject"] == "Test notification"
    assert "Email notifications reach you" in mail.part("text/plain")


async def test_an_unreachable_smtp_server_fails_a_test_send_as_unreachable(tenant: Tenant) -> None:
    # given EMAIL configured with a port nothing listens on
    await configure(tenant, closed_port())
    operator = tenant.operator("alice", email="alice@example.com")

    # when the operator presses Test for EMAIL (a test send is never retried)
    result = (await operator.gql(TEST_CHANNEL, {"channel": "EMAIL"})).data["testChannel"]

    # then it failed as a connection problem
    assert result["status"] == "FAILED"
    assert "could not be reached" in result["lastError"]


@pytest.mark.parametrize(("number", "most"), [("7" * 400, SUBJECT_MAX), ("😀" * 400, 200)])
async def test_a_long_title_is_cut_to_the_subject_limits_with_an_ellipsis(
    tenant: Tenant, number: str, most: int
) -> None:
    # given EMAIL configured, and a ticket whose title is longer than a subject line takes
    async with smtp_server() as smtp:
        await configure(tenant, smtp.port)
        operator = await operator_on_email(tenant)
        # when it is published
        delivery = await settled(operator, await publish(tenant, operator, ticket_number=number))

    # then the subject is cut to at most SUBJECT_MAX characters and SUBJECT_MAX_OCTETS encoded, ending in "…"
    assert delivery["status"] == "SENT"
    [mail] = smtp.messages
    received = str(mail.message["Subject"])
    assert received.startswith("New ticket #") and received.endswith("…")
    assert most - 10 < len(received) <= most
    assert _encoded_octets(received) <= SUBJECT_MAX_OCTETS
    # and the body still carries the whole title
    assert number in mail.part("text/plain")


def test_a_subject_is_one_line_and_short_titles_are_kept_whole() -> None:
    assert subject("New ticket #42\nBcc: x@example.org") == "New ticket #42 Bcc: x@example.org"
    assert subject("é" * SUBJECT_MAX) == "é" * SUBJECT_MAX
    assert subject("a" * (SUBJECT_MAX + 1)) == "a" * (SUBJECT_MAX - 1) + "…"


async def test_an_smtp_reply_echoing_the_password_never_shows_it(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pa55-Wq8vX3-echoed"
    encoded = base64.b64encode(password.encode()).decode()
    async with smtp_server(credentials=("nc-mailer", password)) as smtp:
        # given an SMTP server that refuses the recipient quoting the password, plain and base64 (AUTH LOGIN)
        smtp.refuse_next(f"550 5.7.1 refused: pass {password} / {encoded}")
        configured = await configure(tenant, smtp.port, username="nc-mailer", password=password)
        operator = await operator_on_email(tenant)
        # when an event is published
        delivery = await settled(operator, await publish(tenant, operator))
        tab = await email_row(operator)

    # then the delivery failed with the server's code, and the password is in no answer or log line
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert "550" in delivery["lastError"]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]  # not the fake server's
    assert ours, "nothing was logged: the check would prove nothing"
    for form in (password, encoded):
        assert form not in json.dumps([configured, delivery, tab])
        assert not [line for line in ours if form in line]


BANNER = "internal-relay.corp.example ESMTP Postfix 3.4.13 (Debian) do-not-leak"


@asynccontextmanager
async def raw_smtp(host: str, first_line: str) -> AsyncIterator[dict[str, Any]]:
    """A bare TCP server on ``host`` that greets with ``first_line`` and counts connections."""
    seen = {"connections": 0, "port": 0}

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        writer.write(f"{first_line}\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, host, 0)
    seen["port"] = server.sockets[0].getsockname()[1]
    async with server:
        yield seen


@pytest.mark.parametrize(
    "host", ["127.0.0.2", "10.0.0.25", "169.254.169.254", "::ffff:127.0.0.1", "::127.0.0.1", "2130706434", "localhost"]
)
async def test_an_internal_smtp_host_is_refused_when_saved(tenant: Tenant, host: str) -> None:
    # given a deployment whose only allowed private relay is 127.0.0.1 (tests/conftest.py)
    bot = {"channel": "EMAIL", "enabled": True, "settings": {"host": host, "port": 25, "from": "nc@example.com"}}

    # when an administrator points EMAIL at an internal host
    result = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [bot]}})

    # then the save is refused, saying what to change, and nothing was stored
    assert result.error_code == "BAD_USER_INPUT"
    assert result.error_message.startswith("EMAIL settings.host ")
    assert "non-public" in result.error_message or "local host name" in result.error_message
    assert "NC_SMTP_ALLOWED_HOSTS" in result.error_message
    assert result.errors[0]["extensions"]["field"] == "botChannels.settings.host"
    settings = await tenant.admin().gql("{ instanceSettings { botChannels { channel } } }")
    assert "EMAIL" not in [b["channel"] for b in settings.data["instanceSettings"]["botChannels"]]


async def test_an_smtp_host_that_does_not_resolve_is_refused_when_saved(tenant: Tenant) -> None:
    bot = {"channel": "EMAIL", "enabled": True, "settings": {"host": "smtp.invalid", "from": "nc@example.com"}}
    result = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [bot]}})
    assert result.error_code == "BAD_USER_INPUT" and "does not resolve" in result.error_message


def test_the_allow_list_names_private_relays_in_any_spelling() -> None:
    from core.settings import Settings
    from core.smtp_host import is_allowed

    settings = Settings.from_env({"NC_SMTP_ALLOWED_HOSTS": " relay.corp.example , 10.0.0.25,::1"})
    assert settings.smtp_allowed_hosts == ("relay.corp.example", "10.0.0.25", "::1")
    assert is_allowed("Relay.Corp.Example.", settings.smtp_allowed_hosts)
    assert is_allowed("0x0a.0.0.25", settings.smtp_allowed_hosts)  # the resolver reads 10.0.0.25
    assert is_allowed("0:0:0:0:0:0:0:1", settings.smtp_allowed_hosts)
    assert not is_allowed("10.0.0.26", settings.smtp_allowed_hosts)
    assert not is_allowed("relay.corp.example.evil.com", settings.smtp_allowed_hosts)
    assert Settings.from_env({}).smtp_allowed_hosts == ()


async def test_an_allowed_private_relay_is_saved_and_mailed_through(tenant: Tenant) -> None:
    # given the allowed relay 127.0.0.1, when an administrator saves it (as every test here does)
    async with smtp_server() as smtp:
        configured = await configure(tenant, smtp.port)
        operator = tenant.operator("alice", email="alice@example.com")
        result = (await operator.gql(TEST_CHANNEL, {"channel": "EMAIL"})).data["testChannel"]

    # then it was accepted and the test mail arrived
    assert [b["channel"] for b in configured["botChannels"]] == ["EMAIL"]
    assert result["status"] == "SENT" and len(smtp.messages) == 1


async def test_a_host_refused_at_send_time_fails_with_a_classified_reason_and_no_connection(tenant: Tenant) -> None:
    # given EMAIL saved while its host was public, whose host now points inside (127.0.0.2 is not
    # allowed), where an internal server would greet with its banner
    from models.instance import BotChannelConfig

    async with raw_smtp("127.0.0.2", f"220 {BANNER}") as internal:
        await configure(tenant, 25)
        row = await BotChannelConfig.get(instance_id=tenant.id, channel="EMAIL")
        row.settings = {**row.settings, "host": "127.0.0.2", "port": internal["port"]}
        await row.save()
        await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": []}})  # the cached config is forgotten
        operator = tenant.operator("alice", email="alice@example.com")

        # when the operator tests EMAIL
        result = (await operator.gql(TEST_CHANNEL, {"channel": "EMAIL"})).data["testChannel"]

    # then it failed saying what to change, and nothing connected to the internal host
    assert result["status"] == "FAILED"
    assert result["lastError"].startswith("the SMTP host is not a public address")
    assert "127.0.0.2" not in result["lastError"] and "do-not-leak" not in result["lastError"]
    assert internal["connections"] == 0


@pytest.mark.parametrize(
    ("first_line", "reason"),
    [
        (f"554 5.7.1 {BANNER}", "the SMTP server refused the connection (SMTP 554)"),
        (f"421 4.3.2 {BANNER} busy", "the SMTP server refused the connection (SMTP 421)"),
        (f"220 {BANNER}", "the SMTP server closed the connection"),
    ],
)
async def test_a_servers_banner_never_reaches_last_error(tenant: Tenant, first_line: str, reason: str) -> None:
    # given an allowed relay that greets (or refuses) with a banner naming what runs inside
    async with raw_smtp("127.0.0.1", first_line) as relay:
        await configure(tenant, relay["port"])
        operator = tenant.operator("alice", email="alice@example.com")

        # when the operator tests EMAIL
        result = (await operator.gql(TEST_CHANNEL, {"channel": "EMAIL"})).data["testChannel"]

    # then the reason is classified (after "gave up after 1 attempt: " when retryable), without the banner
    assert result["status"] == "FAILED" and result["lastError"].endswith(reason)
    assert "do-not-leak" not in result["lastError"]
    assert relay["connections"] >= 1


async def test_a_name_that_resolves_inside_is_refused_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import smtp_host

    async def answers(host: str, port: int) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a00:19", port, 0, 0))]

    monkeypatch.setattr(smtp_host, "resolve", answers)
    with pytest.raises(smtp_host.SmtpHostRefused, match="non-public address"):
        await smtp_host.checked_addresses("smtp.example.com", 25, ())
    assert await smtp_host.checked_addresses("smtp.example.com", 25, ("smtp.example.com",))


async def test_email_with_a_host_no_longer_allowed_can_still_be_turned_off(tenant: Tenant) -> None:
    # given EMAIL saved earlier, whose host is no longer allowed
    from models.instance import BotChannelConfig

    await configure(tenant, 25)
    await BotChannelConfig.filter(instance_id=tenant.id, channel="EMAIL").update(
        settings={"host": "127.0.0.2", "from": "nc@example.com"}
    )

    # when an administrator turns it off without sending settings
    off = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [{"channel": "EMAIL", "enabled": False}]}})
    # then that is allowed; turning it on again is not
    on = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [{"channel": "EMAIL", "enabled": True}]}})
    assert not off.errors and off.data["updateInstanceSettings"]["botChannels"][0]["enabled"] is False
    assert on.error_code == "BAD_USER_INPUT" and "NC_SMTP_ALLOWED_HOSTS" in on.error_message
