"""The Channels tab: switches, banner and sound settings, statuses and push subscriptions."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from domain.channel_settings import validate_push_subscription
from domain.errors import BadUserInput
from tests.conftest import Tenant

SETTINGS = """{ channelSettings { channels { kind enabled mandatory available status target lastError }
  banner { durationSeconds maxVisible repeatCount repeatIntervalSeconds } sound { defaultMelody }
  pushSubscriptions { id endpoint userAgent } } }"""
UPDATE = """mutation($input: ChannelSettingsInput!) { updateChannelSettings(input: $input) {
  channels { kind enabled } banner { durationSeconds maxVisible repeatCount repeatIntervalSeconds } sound { defaultMelody } } }"""
OFF_CURVE = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
REGISTER = (
    """mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id endpoint userAgent } }"""
)


def browser_keys() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    return b64(raw), b64(b"0123456789abcdef")


async def test_defaults_of_a_user_who_never_changed_anything(tenant: Tenant) -> None:
    data = (await tenant.operator().gql(SETTINGS)).data["channelSettings"]
    by = {c["kind"]: c for c in data["channels"]}
    assert list(by) == [
        "BELL",
        "BANNER",
        "SOUND",
        "BROWSER",
        "TELEGRAM",
        "VIBER",
        "WHATSAPP",
        "ECHAT",
        "EMAIL",
        "CUSTOM",
    ]
    assert by["BELL"]["status"] == "READY" and by["BELL"]["enabled"]
    assert by["BROWSER"]["status"] == "NOT_LINKED"
    assert by["TELEGRAM"] | {} == {**by["TELEGRAM"], "available": False, "status": "UNAVAILABLE"}
    assert data["banner"] == {"durationSeconds": 8, "maxVisible": 3, "repeatCount": 0, "repeatIntervalSeconds": 60}
    assert data["sound"] == {"defaultMelody": "default"}


async def test_update_banner_sound_and_switches(tenant: Tenant) -> None:
    operator = tenant.operator()
    result = await operator.gql(
        UPDATE,
        {
            "input": {
                "channels": [{"kind": "SOUND", "enabled": False}],
                "banner": {"durationSeconds": 15, "repeatCount": 2, "repeatIntervalSeconds": 30},
                "defaultMelody": "ping",
            }
        },
    )
    data = result.data["updateChannelSettings"]
    assert data["banner"] == {"durationSeconds": 15, "maxVisible": 3, "repeatCount": 2, "repeatIntervalSeconds": 30}
    assert data["sound"] == {"defaultMelody": "ping"}
    assert {c["kind"]: c["enabled"] for c in data["channels"]}["SOUND"] is False
    again = (await operator.gql(SETTINGS)).data["channelSettings"]
    assert again["banner"]["durationSeconds"] == 15


async def test_out_of_range_banner_settings_are_refused_and_nothing_changes(tenant: Tenant) -> None:
    operator = tenant.operator()
    for banner, words in (
        ({"durationSeconds": 0}, "banner.durationSeconds must be between 1 and 120, got 0"),
        ({"maxVisible": 11}, "banner.maxVisible must be between 1 and 10"),
        ({"repeatCount": -1}, "banner.repeatCount must be between 0 and 10"),
        ({"repeatIntervalSeconds": 0}, "banner.repeatIntervalSeconds must be between 1 and 3600"),
    ):
        result = await operator.gql(
            UPDATE, {"input": {"banner": banner, "channels": [{"kind": "SOUND", "enabled": False}]}}
        )
        assert result.error_code == "BAD_USER_INPUT"
        assert words in result.error_message
    data = (await operator.gql(SETTINGS)).data["channelSettings"]
    assert data["banner"]["durationSeconds"] == 8
    assert {c["kind"]: c["enabled"] for c in data["channels"]}["SOUND"] is True


async def test_mandatory_and_unoffered_channels_cannot_be_switched(tenant: Tenant) -> None:
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {mandatoryChannels: [BELL]}) { mandatoryChannels } }"
    )
    operator = tenant.operator()
    result = await operator.gql(UPDATE, {"input": {"channels": [{"kind": "BELL", "enabled": False}]}})
    assert result.error_code == "BAD_USER_INPUT" and "mandatory" in result.error_message
    result = await operator.gql(UPDATE, {"input": {"channels": [{"kind": "TELEGRAM", "enabled": True}]}})
    assert result.error_code == "BAD_USER_INPUT" and "not offered" in result.error_message
    result = await operator.gql(UPDATE, {"input": {"defaultMelody": "kazoo"}})
    assert result.error_code == "BAD_USER_INPUT"
    bell = {c["kind"]: c for c in (await operator.gql(SETTINGS)).data["channelSettings"]["channels"]}["BELL"]
    assert bell["mandatory"] and bell["enabled"]


async def test_push_subscriptions_register_list_and_unregister(tenant: Tenant) -> None:
    operator = tenant.operator()
    p256dh, auth = browser_keys()
    endpoint = "https://push.example.net/send/abc123"
    registered = await operator.gql(
        REGISTER, {"input": {"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "userAgent": "Firefox"}}
    )
    assert registered.data["registerPushSubscription"]["endpoint"] == endpoint
    again = await operator.gql(
        REGISTER, {"input": {"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "userAgent": "Firefox 2"}}
    )
    assert again.data["registerPushSubscription"]["id"] == registered.data["registerPushSubscription"]["id"]
    data = (await operator.gql(SETTINGS)).data["channelSettings"]
    assert [s["userAgent"] for s in data["pushSubscriptions"]] == ["Firefox 2"]
    browser = {c["kind"]: c for c in data["channels"]}["BROWSER"]
    assert (browser["status"], browser["target"]) == ("READY", "1 browser")
    # another operator of another instance can't remove it
    other = (
        await tenant.http.post(
            "/graphql",
            json={
                "query": "mutation($e: String!) { unregisterPushSubscription(endpoint: $e) }",
                "variables": {"e": endpoint},
            },
            headers={"Authorization": f"Bearer {tenant.operator().token}"},
        )
    ).json()
    assert other["data"]["unregisterPushSubscription"] is False
    removed = await operator.gql("mutation($e: String!) { unregisterPushSubscription(endpoint: $e) }", {"e": endpoint})
    assert removed.data["unregisterPushSubscription"] is True
    assert (await operator.gql(SETTINGS)).data["channelSettings"]["pushSubscriptions"] == []


async def test_malformed_push_subscriptions_are_refused(tenant: Tenant) -> None:
    operator = tenant.operator()
    p256dh, auth = browser_keys()
    cases = (
        ({"endpoint": "not a url", "p256dh": p256dh, "auth": auth}, "https"),
        ({"endpoint": "https://push.example.net/x", "p256dh": "AAAA", "auth": auth}, "P-256"),
        (
            {"endpoint": "https://push.example.net/x", "p256dh": OFF_CURVE, "auth": auth},
            "not a point on the P-256 curve",
        ),
        ({"endpoint": "https://push.example.net/x", "p256dh": p256dh, "auth": "c2hvcnQ"}, "16-byte"),
        ({"endpoint": "https://push.example.net/x", "p256dh": "!!!", "auth": auth}, "p256dh"),
    )
    for payload, words in cases:
        result = await operator.gql(REGISTER, {"input": payload})
        assert result.error_code == "BAD_USER_INPUT", payload
        assert words in result.error_message, result.error_message
    assert (await operator.gql(SETTINGS)).data["channelSettings"]["pushSubscriptions"] == []


def test_push_endpoints_must_be_https_unless_local_testing_allows_http() -> None:
    p256dh, auth = browser_keys()
    with pytest.raises(BadUserInput, match="https"):
        validate_push_subscription("http://push.example.net/x", p256dh, auth, allow_http=False)
    validate_push_subscription("http://127.0.0.1:9/x", p256dh, auth, allow_http=True)


async def test_web_push_public_key_is_stable_and_a_p256_point(tenant: Tenant) -> None:
    operator = tenant.operator()
    first = (await operator.gql("{ webPushPublicKey }")).data["webPushPublicKey"]
    second = (await tenant.operator().gql("{ webPushPublicKey }")).data["webPushPublicKey"]
    assert first == second
    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


async def test_email_status_uses_the_profile_email_masked(tenant: Tenant) -> None:
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {botChannels: [{channel: EMAIL, enabled: true, "
        'settings: {host: "127.0.0.1", from: "nc@example.com"}}]}) { availableChannels: mandatoryChannels } }'
    )
    with_email = tenant.operator(email="anna@example.com")
    email = {c["kind"]: c for c in (await with_email.gql(SETTINGS)).data["channelSettings"]["channels"]}["EMAIL"]
    assert (email["available"], email["status"], email["target"]) == (True, "READY", "a***@example.com")
    without = {c["kind"]: c for c in (await tenant.operator().gql(SETTINGS)).data["channelSettings"]["channels"]}[
        "EMAIL"
    ]
    assert without["status"] == "NOT_LINKED"


async def test_melodies_are_listed_in_the_viewer_locale(tenant: Tenant) -> None:
    melodies = (await tenant.operator(locale="uk").gql("{ melodies { id title } }")).data["melodies"]
    assert melodies[0] == {"id": "default", "title": "Типова"}


async def test_the_channels_tab_takes_a_fixed_number_of_statements(tenant: Tenant, sql) -> None:
    # given one operator with nothing and one with switches and three browsers
    plain, busy = tenant.operator(), tenant.operator()
    await busy.gql(
        UPDATE, {"input": {"channels": [{"kind": "SOUND", "enabled": False}, {"kind": "BANNER", "enabled": False}]}}
    )
    for i in range(3):
        p256dh, auth = browser_keys()
        await busy.gql(
            REGISTER, {"input": {"endpoint": f"https://push.example.net/{i}", "p256dh": p256dh, "auth": auth}}
        )
    await plain.gql(UPDATE, {"input": {"defaultMelody": "ping"}})
    # when each reads the whole tab
    sql.statements.clear()
    await plain.gql(SETTINGS)
    plain_count, plain_statements = sql.count, list(sql.statements)
    sql.statements.clear()
    data = (await busy.gql(SETTINGS)).data["channelSettings"]
    # then the cost does not grow with rows
    assert len(data["pushSubscriptions"]) == 3
    assert sql.count == plain_count, (sql.statements, plain_statements)
    assert plain_count <= 7, sql.statements
