"""Instance settings for administrators: policy, bot channels with write-only secrets, defaults."""

from __future__ import annotations

import logging

from tests.conftest import Tenant

INSTANCE = """{ instanceSettings { notificationCenterEnabled extendedTypesEnabled mandatoryChannels defaultChannels
  botScenario negativeCsatThreshold botChannels { channel enabled settings hasSecret }
  typePolicies { typeCode mandatory mandatoryChannels availability defaultChannels } } }"""
UPDATE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  notificationCenterEnabled mandatoryChannels defaultChannels botScenario negativeCsatThreshold
  botChannels { channel enabled settings hasSecret } } }"""
TELEGRAM = {
    "channel": "TELEGRAM",
    "enabled": True,
    "settings": {"botUsername": "acme_nc_bot"},
    "secret": "123456:SECRET-BOT-TOKEN",
}


async def test_defaults_of_a_new_instance(tenant: Tenant) -> None:
    data = (await tenant.admin().gql(INSTANCE)).data["instanceSettings"]
    assert data["notificationCenterEnabled"] is True
    assert data["extendedTypesEnabled"] is False
    assert data["defaultChannels"] == ["BELL", "BANNER"]
    assert data["mandatoryChannels"] == [] and data["botChannels"] == []
    assert data["negativeCsatThreshold"] == 2
    assert len(data["typePolicies"]) == 19
    assert {p["typeCode"]: p["availability"] for p in data["typePolicies"]}["sla_expired"] == "VIEW_ONLY"


async def test_bot_channel_secrets_are_write_only(tenant: Tenant, caplog) -> None:
    admin = tenant.admin()
    caplog.set_level(logging.DEBUG)
    result = await admin.gql(UPDATE, {"input": {"botChannels": [TELEGRAM], "botScenario": "notify_operator"}})
    data = result.data["updateInstanceSettings"]
    assert data["botChannels"] == [
        {"channel": "TELEGRAM", "enabled": True, "settings": {"botUsername": "acme_nc_bot"}, "hasSecret": True}
    ]
    assert data["botScenario"] == "notify_operator"
    full = await admin.gql(INSTANCE)
    assert "SECRET-BOT-TOKEN" not in str(full.body)
    assert "SECRET-BOT-TOKEN" not in caplog.text  # not even in the SQL debug log: it is sealed
    # the channel is now offered to operators
    center = (await tenant.operator().gql("{ notificationCenter { availableChannels } }")).data["notificationCenter"]
    assert center["availableChannels"] == ["BELL", "BANNER", "SOUND", "BROWSER", "TELEGRAM"]
    # updating settings without a secret keeps the stored one
    kept = await admin.gql(
        UPDATE,
        {
            "input": {
                "botChannels": [{"channel": "TELEGRAM", "enabled": True, "settings": {"botUsername": "other_bot"}}]
            }
        },
    )
    assert kept.data["updateInstanceSettings"]["botChannels"][0]["hasSecret"] is True


async def test_bot_channel_input_errors(tenant: Tenant) -> None:
    admin = tenant.admin()
    cases = (
        ({"channel": "BELL", "enabled": True}, "not a bot channel"),
        ({"channel": "TELEGRAM", "enabled": True, "settings": {"botUsername": "x"}}, "needs its secret"),
        ({"channel": "TELEGRAM", "enabled": True, "settings": {}, "secret": "t"}, "botUsername"),
        (
            {"channel": "TELEGRAM", "enabled": True, "settings": {"botUsername": "x", "token": "t"}, "secret": "t"},
            "unknown: token",
        ),
        (
            {"channel": "CUSTOM", "enabled": True, "settings": {"url": "ftp://hooks.example.com"}, "secret": "s"},
            "https",
        ),
        (
            {
                "channel": "EMAIL",
                "enabled": True,
                "settings": {"host": "smtp.example.com", "from": "a@b.c", "port": 99999},
            },
            "port",
        ),
    )
    for bot, words in cases:
        result = await admin.gql(UPDATE, {"input": {"botChannels": [bot]}})
        assert result.error_code == "BAD_USER_INPUT", bot
        assert words in result.error_message, result.error_message
    assert (await admin.gql(INSTANCE)).data["instanceSettings"]["botChannels"] == []


async def test_policy_channels_must_be_offered_and_threshold_in_range(tenant: Tenant) -> None:
    admin = tenant.admin()
    for payload, words in (
        ({"mandatoryChannels": ["TELEGRAM"]}, "not offered"),
        ({"defaultChannels": ["VIBER"]}, "not offered"),
        ({"negativeCsatThreshold": 5}, "between 1 and 4"),
    ):
        result = await admin.gql(UPDATE, {"input": payload})
        assert result.error_code == "BAD_USER_INPUT" and words in result.error_message
    ok = await admin.gql(
        UPDATE, {"input": {"botChannels": [TELEGRAM], "mandatoryChannels": ["TELEGRAM"], "negativeCsatThreshold": 3}}
    )
    assert ok.data["updateInstanceSettings"]["mandatoryChannels"] == ["TELEGRAM"]
    # disabling the bot drops it from the mandatory channels
    off = await admin.gql(UPDATE, {"input": {"botChannels": [{**TELEGRAM, "enabled": False, "secret": None}]}})
    assert off.data["updateInstanceSettings"]["mandatoryChannels"] == []


async def test_instance_default_channels_apply_to_users_without_choices(tenant: Tenant) -> None:
    await tenant.admin().gql(UPDATE, {"input": {"defaultChannels": ["BELL", "SOUND"]}})
    rows = (await tenant.operator().gql('{ notificationTypes(categoryCode: "changes") { channels } }')).data
    assert all(r["channels"] == ["BELL", "SOUND"] for r in rows["notificationTypes"])


async def test_type_policy_default_channels_win_over_the_instance_defaults(tenant: Tenant) -> None:
    admin = tenant.admin()
    await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "chat_created", defaultChannels: [BELL, BROWSER, SOUND]}) { typeCode } }'
    )
    rows = {
        r["code"]: r["channels"]
        for r in (await tenant.operator().gql("{ notificationTypes { code channels } }")).data["notificationTypes"]
    }
    assert rows["chat_created"] == ["BELL", "SOUND", "BROWSER"]
    assert rows["ticket_created"] == ["BELL", "BANNER"]
    bad = await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "operator_mentioned", mandatory: true}) { typeCode } }'
    )
    assert bad.error_code == "BAD_USER_INPUT"


async def test_turning_the_notification_center_on_materialises_defaults_and_keeps_choices(tenant: Tenant, sql) -> None:
    admin, service = tenant.admin(), tenant.service()
    await admin.gql(UPDATE, {"input": {"notificationCenterEnabled": False}})
    await service.gql('mutation { upsertOperators(inputs: [{id: "a"}, {id: "b"}, {id: "c"}]) }')
    chooser = tenant.operator("a")
    # a choice made while the center was off (via the bulk path it can't, so seed it with the center on)
    await admin.gql(UPDATE, {"input": {"notificationCenterEnabled": True}})
    await chooser.gql('mutation { setTypeChannels(typeCode: "ticket_created", channels: [SOUND]) { code } }')
    await admin.gql(UPDATE, {"input": {"notificationCenterEnabled": False, "defaultChannels": ["BELL"]}})
    await service.gql('mutation { upsertOperators(inputs: [{id: "d"}]) }')
    # when
    sql.statements.clear()
    await admin.gql(UPDATE, {"input": {"notificationCenterEnabled": True}})
    inserts = [s for s in sql.statements if s.startswith('INSERT INTO "nc_type_choice"')]
    assert len(inserts) == 1
    # then everybody has explicit rows; the choice made before is kept
    await admin.gql(UPDATE, {"input": {"defaultChannels": ["BELL", "BANNER"]}})
    d_rows = {
        r["code"]: r["channels"]
        for r in (await tenant.operator("d").gql("{ notificationTypes { code channels } }")).data["notificationTypes"]
    }
    assert d_rows["ticket_created"] == ["BELL"]  # materialised with the defaults of that moment
    b_rows = {
        r["code"]: r["channels"]
        for r in (await tenant.operator("b").gql("{ notificationTypes { code channels } }")).data["notificationTypes"]
    }
    assert b_rows["ticket_created"] == ["BELL", "BANNER"]  # from the first time, not overwritten
    a_rows = {
        r["code"]: r["channels"]
        for r in (await chooser.gql("{ notificationTypes { code channels } }")).data["notificationTypes"]
    }
    assert a_rows["ticket_created"] == ["SOUND"]
    # running it again changes nothing a user chose
    await admin.gql(UPDATE, {"input": {"notificationCenterEnabled": False}})
    await admin.gql(UPDATE, {"input": {"notificationCenterEnabled": True}})
    a_again = {
        r["code"]: r["channels"]
        for r in (await chooser.gql("{ notificationTypes { code channels } }")).data["notificationTypes"]
    }
    assert a_again == a_rows


async def test_no_secret_of_any_bot_channel_is_ever_returned_or_logged(tenant: Tenant, caplog) -> None:
    # given every bot channel configured with its secrets, TELEGRAM's webhook secret token among them
    caplog.set_level(logging.DEBUG)
    secrets = {
        "TELEGRAM": "123456:TG-SECRET-never-shown",
        "VIBER": "VIBER-SECRET-never-shown",
        "WHATSAPP": '{"accessToken": "WA-TOKEN-never-shown", "appSecret": "WA-APP-never-shown"}',
        "EMAIL": "SMTP-PASSWORD-never-shown",
        "ECHAT": "ECHAT-SIGNING-never-shown",
        "CUSTOM": "CUSTOM-SIGNING-never-shown",
    }
    settings = {
        "TELEGRAM": {"botUsername": "acme_nc_bot", "webhookSecretToken": "HOOK-TOKEN-never-shown"},
        "VIBER": {"botUri": "acme"},
        "WHATSAPP": {"phoneNumberId": "1158201444"},
        "EMAIL": {"host": "127.0.0.1", "port": 465, "from": "nc@example.com", "username": "nc"},
        "ECHAT": {"url": "https://echat.example.com/hook"},
        "CUSTOM": {"url": "https://hooks.example.com/nc"},
    }
    bots = [
        {"channel": channel, "enabled": True, "settings": settings[channel], "secret": secret}
        for channel, secret in secrets.items()
    ]
    saved = await tenant.admin().gql(
        UPDATE.replace("hasSecret", "hasSecret hasWebhookSecretToken"), {"input": {"botChannels": bots}}
    )
    # when an administrator reads the instance settings
    read = await tenant.admin().gql(INSTANCE)
    # then every channel says its secret is set, and no secret is in any answer or log line
    channels = saved.data["updateInstanceSettings"]["botChannels"]
    assert [c["hasSecret"] for c in channels] == [True] * 6
    assert [c["channel"] for c in channels if c["hasWebhookSecretToken"]] == ["TELEGRAM"]
    telegram = next(c for c in read.data["instanceSettings"]["botChannels"] if c["channel"] == "TELEGRAM")
    assert telegram["settings"] == {"botUsername": "acme_nc_bot"}
    for secret in ["HOOK-TOKEN", "TG-SECRET", "VIBER-SECRET", "WA-TOKEN", "WA-APP", "SMTP-PASSWORD", "SIGNING"]:
        assert secret not in str(saved.body) + str(read.body)
        assert secret not in caplog.text
