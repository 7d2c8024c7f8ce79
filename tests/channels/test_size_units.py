"""Sizes in the units of the limit they check: UTF-8 bytes for event data, UTF-16 units for Telegram."""

from __future__ import annotations

import json

from channels.telegram import MAX_TEXT, message_text, utf16_units
from tests.conftest import Tenant

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


async def test_event_data_is_measured_in_utf8_bytes(tenant: Tenant) -> None:
    service = tenant.service()
    cyrillic = {"ticketNumber": 1, "subject": "Ж" * 6_000}  # 12 KB of UTF-8, 36 KB as \\u escapes
    accepted = await service.gql(
        PUBLISH, {"input": {"id": "cyr", "type": "ticket_created", "recipients": ["a"], "data": cyrillic}}
    )
    too_big = {"ticketNumber": 1, "subject": "Ж" * 8_200}  # 16,400 bytes of UTF-8
    refused = await service.gql(
        PUBLISH, {"input": {"id": "big", "type": "ticket_created", "recipients": ["a"], "data": too_big}}
    )
    assert accepted.data == {"publishEvent": {"notificationCount": 1}}
    assert refused.error_code == "BAD_USER_INPUT" and "the most is 16384" in refused.error_message


async def test_non_finite_numbers_are_refused(tenant: Tenant) -> None:
    service = tenant.service()
    # Python's JSON reader takes the bare NaN and Infinity tokens some clients write
    variables = {
        "input": {"id": "inf", "type": "ticket_created", "recipients": ["a"], "data": {"ticketNumber": float("inf")}}
    }
    response = await tenant.http.post(
        "/graphql",
        content=json.dumps({"query": PUBLISH, "variables": variables}),
        headers={"Authorization": f"Bearer {service.token}", "Content-Type": "application/json"},
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "NaN or Infinity" in error["message"]


def test_a_telegram_message_of_emoji_fits_in_4096_utf16_units_and_says_it_was_cut() -> None:
    text = message_text("New message", "😀" * 3_000, "https://panel.example.com/chats/1")
    assert utf16_units(text) <= MAX_TEXT
    assert utf16_units(text) > MAX_TEXT - 8, "the room is filled, not cut a character per unit"
    body = text.split("\n")[1]
    assert body.endswith("…") and text.endswith("https://panel.example.com/chats/1")


def test_a_short_message_is_left_alone() -> None:
    assert message_text("Title", "Body", "https://x") == "Title\nBody\nhttps://x"


def test_a_push_payload_is_filled_to_the_record_size_with_an_ellipsis() -> None:
    from channels.message import Message
    from channels.webpush import MAX_PAYLOAD_BYTES, payload

    for letter in ("Ж", "a", "😀", '"'):  # 2, 1, 4 bytes; a quote is escaped as two
        message = Message("7", "ticket_created", "Title", letter * 5_000, "https://panel.example.com/n/7")
        sent = payload(message).encode()
        body = json.loads(sent)["body"]
        assert len(sent) <= MAX_PAYLOAD_BYTES
        assert len(sent) > MAX_PAYLOAD_BYTES - 8, f"{letter!r}: the record is filled, not {len(sent)} bytes"
        assert body.endswith("…")


def test_cut_fills_the_limit_in_any_unit_and_ends_in_an_ellipsis() -> None:
    from channels.message import cut

    assert cut("short", 10) == "short"
    assert cut("a" * 20, 10) == "a" * 9 + "…"
    octets = cut("Ж" * 100, 51, lambda s: len(s.encode()))  # 2 bytes a letter, 3 the ellipsis
    assert octets == "Ж" * 24 + "…" and len(octets.encode()) == 51
    assert cut("anything", 0) == ""


def test_a_title_or_link_longer_than_the_room_is_cut_too() -> None:
    from channels.message import fit_lines

    text = fit_lines("T" * 50, "body", "https://x", 20)
    assert len(text) == 20 and text.endswith("…")


def test_redaction_takes_out_every_form_of_every_secret() -> None:
    import base64
    from urllib.parse import quote, quote_plus

    from channels.redact import bot_secrets, redact, remote_text

    token = "123:AA-b c/é"
    forms = [
        token,
        quote(token, safe=""),
        quote(token, safe="").lower().replace("aa-b", "AA-b"),  # lower-case %xx escapes
        quote_plus(token),
        token.replace("-", "%2D"),  # escaped though it need not be
        json.dumps(token)[1:-1],
        base64.b64encode(token.encode()).decode(),
    ]
    for form in forms:
        assert redact(f"<p>GET /bot{form}/sendMessage</p>", [token]) == "<p>GET /bot***/sendMessage</p>", form
    # every secret of a bot channel: the JSON secret's parts, a legacy plain webhook token
    secrets = bot_secrets('{"accessToken": "AT-1", "appSecret": "AS-2"}', {"webhookSecretToken": "WH-3"})
    assert redact("AT-1 AS-2 WH-3 other", secrets) == "*** *** *** other"
    # what may be kept: redacted, one line, short, cut with an ellipsis
    kept = remote_text("line one\nline  two AT-1 " + "x" * 200, secrets, 30)
    assert kept == "line one line two *** " + "x" * 7 + "…"
