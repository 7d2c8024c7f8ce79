"""The Notification types tab: catalog, search, locale, per-type choices and the bulk actions."""

from __future__ import annotations

from tests.conftest import Tenant

LISTED = [
    "ticket_created",
    "chat_created",
    "comment_created",
    "ticket_message",
    "ticket_reassign",
    "chat_reassign",
    "send_transfer_chat",
    "ticket_closed",
    "ticket_reopened",
    "chat_closed",
    "ticket_status_name_changed",
    "watcher_added",
    "subject_change",
    "csat_received",
    "csat_negative",
    "sla_expired",
    "sla_time_in_status_exceeded",
    "normative_response_warning",
    "normative_response_overlimit",
]
EXTENDED = {
    "csat_negative",
    "sla_expired",
    "sla_time_in_status_exceeded",
    "normative_response_warning",
    "normative_response_overlimit",
}
ROW = "code categoryCode title availability mandatory mandatoryChannels selectableChannels channels melody editable"
BULK = """mutation($input: BulkUpdateTypesInput!) { bulkUpdateTypes(input: $input) {
  updated { code channels } skipped { typeCode reason } } }"""


async def types(caller, **args) -> dict[str, dict]:
    arg_sql = ", ".join(f'{k}: "{v}"' for k, v in args.items())
    query = f"{{ notificationTypes{'(' + arg_sql + ')' if arg_sql else ''} {{ {ROW} }} }}"
    return {t["code"]: t for t in (await caller.gql(query)).data["notificationTypes"]}


async def test_categories_and_types_come_in_catalog_order(tenant: Tenant) -> None:
    data = (await tenant.operator().gql("{ notificationCategories { code position title types { code } } }")).data[
        "notificationCategories"
    ]
    assert [c["code"] for c in data] == ["creation_and_messages", "changes", "csat", "sla", "normatives"]
    assert [c["position"] for c in data] == [1, 2, 3, 4, 5]
    assert [t["code"] for c in data for t in c["types"]] == LISTED


async def test_the_types_tab_lists_only_listed_types(tenant: Tenant) -> None:
    rows = await types(tenant.operator())
    assert list(rows) == LISTED
    assert "operator_mentioned" not in rows and "chat_message" not in rows and "sla_warning" not in rows


async def test_extended_types_are_view_only_until_the_administrator_enables_them(tenant: Tenant) -> None:
    operator = tenant.operator()
    rows = await types(operator)
    for code in EXTENDED:
        assert rows[code]["availability"] == "VIEW_ONLY" and rows[code]["editable"] is False
        assert rows[code]["selectableChannels"] == []
    result = await operator.gql('mutation { setTypeChannels(typeCode: "sla_expired", channels: [BELL]) { code } }')
    assert result.error_code == "BAD_USER_INPUT"
    assert "view-only" in result.error_message
    # when
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {extendedTypesEnabled: true}) { extendedTypesEnabled } }"
    )
    # then
    rows = await types(operator)
    assert all(rows[c]["availability"] == "AVAILABLE" and rows[c]["editable"] for c in EXTENDED)


async def test_search_matches_code_title_and_description_case_insensitively(tenant: Tenant) -> None:
    operator = tenant.operator()
    assert list(await types(operator, search="TICKET_CLOSED")) == ["ticket_closed"]
    assert list(await types(operator, search="reassigned")) == ["ticket_reassign", "chat_reassign"]
    assert "csat_received" in await types(operator, search="rated a dialogue")
    assert await types(operator, search="no such words anywhere") == {}


async def test_search_and_titles_follow_the_viewer_locale(tenant: Tenant) -> None:
    operator = tenant.operator(locale="uk")
    rows = await types(operator, search="тікет закрито")
    assert list(rows) == ["ticket_closed"]
    assert rows["ticket_closed"]["title"] == "Тікет закрито"
    categories = (await operator.gql("{ notificationCategories { title } }")).data["notificationCategories"]
    assert categories[0]["title"] == "Створення та повідомлення"
    english = await types(tenant.operator(locale="de-DE"), search="ticket_closed")
    assert english["ticket_closed"]["title"] == "Ticket closed"


async def test_category_filter(tenant: Tenant) -> None:
    operator = tenant.operator()
    assert list(await types(operator, categoryCode="csat")) == ["csat_received", "csat_negative"]
    result = await operator.gql('{ notificationTypes(categoryCode: "nope") { code } }')
    assert result.error_code == "BAD_USER_INPUT"
    assert "creation_and_messages" in result.error_message


async def test_set_type_channels_changes_one_row(tenant: Tenant) -> None:
    operator = tenant.operator()
    result = await operator.gql(
        'mutation { setTypeChannels(typeCode: "chat_created", channels: [BELL, SOUND], melody: "chime") '
        "{ code channels melody editable } }"
    )
    assert result.data["setTypeChannels"] == {
        "code": "chat_created",
        "channels": ["BELL", "SOUND"],
        "melody": "chime",
        "editable": True,
    }
    rows = await types(operator)
    assert rows["chat_created"]["channels"] == ["BELL", "SOUND"]
    assert rows["ticket_created"]["channels"] == ["BELL", "BANNER"]


async def test_set_type_channels_rejects_what_a_row_cannot_take(tenant: Tenant) -> None:
    operator = tenant.operator()
    unknown = await operator.gql('mutation { setTypeChannels(typeCode: "nope", channels: [BELL]) { code } }')
    assert unknown.error_code == "BAD_USER_INPUT" and "nope" in unknown.error_message
    unlisted = await operator.gql('mutation { setTypeChannels(typeCode: "chat_message", channels: [BELL]) { code } }')
    assert unlisted.error_code == "BAD_USER_INPUT"
    not_offered = await operator.gql(
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [TELEGRAM]) { code } }'
    )
    assert not_offered.error_code == "BAD_USER_INPUT" and "not offered" in not_offered.error_message
    melody = await operator.gql(
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [SOUND], melody: "kazoo") { code } }'
    )
    assert melody.error_code == "BAD_USER_INPUT" and "melodies" in melody.error_message
    bad_enum = await operator.gql(
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [PIGEON]) { code } }'
    )
    assert bad_enum.errors
    # and nothing was written
    assert (await types(operator))["ticket_created"]["channels"] == ["BELL", "BANNER"]


async def test_a_channel_switched_off_on_the_channels_tab_is_neither_selectable_nor_effective(tenant: Tenant) -> None:
    operator = tenant.operator()
    await operator.gql('mutation { setTypeChannels(typeCode: "chat_created", channels: [BELL, SOUND]) { code } }')
    await operator.gql(
        "mutation { updateChannelSettings(input: {channels: [{kind: SOUND, enabled: false}]}) { banner { durationSeconds } } }"
    )
    row = (await types(operator))["chat_created"]
    assert row["channels"] == ["BELL"]
    assert "SOUND" not in row["selectableChannels"]
    result = await operator.gql('mutation { setTypeChannels(typeCode: "chat_created", channels: [SOUND]) { code } }')
    assert result.error_code == "BAD_USER_INPUT" and "Channels tab" in result.error_message


async def test_mandatory_type_keeps_the_bell_and_mandatory_channels_stay(tenant: Tenant) -> None:
    admin, operator = tenant.admin(), tenant.operator()
    policy = await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "ticket_reassign", mandatory: true, mandatoryChannels: [BANNER]}) '
        "{ typeCode mandatory mandatoryChannels availability defaultChannels } }"
    )
    assert policy.data["setTypePolicy"] == {
        "typeCode": "ticket_reassign",
        "mandatory": True,
        "mandatoryChannels": ["BANNER"],
        "availability": "AVAILABLE",
        "defaultChannels": ["BELL", "BANNER"],
    }
    result = await operator.gql(
        'mutation { setTypeChannels(typeCode: "ticket_reassign", channels: [SOUND]) { channels mandatory mandatoryChannels selectableChannels } }'
    )
    row = result.data["setTypeChannels"]
    assert row["channels"] == ["BELL", "BANNER", "SOUND"]
    assert row["mandatory"] is True and row["mandatoryChannels"] == ["BELL", "BANNER"]
    assert "BELL" not in row["selectableChannels"] and "BANNER" not in row["selectableChannels"]
    disabled = await operator.gql(BULK, {"input": {"typeCodes": ["ticket_reassign"], "action": "DISABLE_ALL"}})
    assert disabled.data["bulkUpdateTypes"]["updated"] == [{"code": "ticket_reassign", "channels": ["BELL", "BANNER"]}]


async def test_unavailable_types_show_the_notice_and_cannot_change(tenant: Tenant) -> None:
    admin, operator = tenant.admin(), tenant.operator()
    center = (await operator.gql("{ notificationCenter { unavailableTypesNotice } }")).data["notificationCenter"]
    assert center["unavailableTypesNotice"] is None
    await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "watcher_added", availability: UNAVAILABLE}) { typeCode } }'
    )
    center = (await operator.gql("{ notificationCenter { unavailableTypesNotice } }")).data["notificationCenter"]
    assert "temporarily unavailable" in center["unavailableTypesNotice"]
    row = (await types(operator))["watcher_added"]
    assert row["availability"] == "UNAVAILABLE" and row["editable"] is False and row["channels"] == []
    result = await operator.gql('mutation { setTypeChannels(typeCode: "watcher_added", channels: [BELL]) { code } }')
    assert result.error_code == "BAD_USER_INPUT" and "unavailable" in result.error_message


async def test_bulk_add_remove_set_reset_disable_on_codes(tenant: Tenant) -> None:
    operator = tenant.operator()
    codes = ["ticket_created", "chat_created"]

    async def run(action: str, channels: list[str] | None = None) -> dict:
        payload = {"typeCodes": codes, "action": action}
        if channels is not None:
            payload["channels"] = channels
        return (await operator.gql(BULK, {"input": payload})).data["bulkUpdateTypes"]

    added = await run("ADD_CHANNELS", ["SOUND", "BROWSER"])
    assert added["updated"] == [{"code": c, "channels": ["BELL", "BANNER", "SOUND", "BROWSER"]} for c in codes]
    removed = await run("REMOVE_CHANNELS", ["BANNER", "BROWSER"])
    assert removed["updated"] == [{"code": c, "channels": ["BELL", "SOUND"]} for c in codes]
    replaced = await run("SET_CHANNELS", ["BANNER"])
    assert replaced["updated"] == [{"code": c, "channels": ["BANNER"]} for c in codes]
    disabled = await run("DISABLE_ALL")
    assert disabled["updated"] == [{"code": c, "channels": []} for c in codes]
    reset = await run("RESET_TO_DEFAULTS")
    assert reset["updated"] == [{"code": c, "channels": ["BELL", "BANNER"]} for c in codes]
    rows = await types(operator)
    assert rows["ticket_created"]["channels"] == ["BELL", "BANNER"]
    assert rows["comment_created"]["channels"] == ["BELL", "BANNER"]


async def test_bulk_on_a_category_and_on_all_rows_with_skip_reasons(tenant: Tenant) -> None:
    operator = tenant.operator()
    csat = (
        await operator.gql(BULK, {"input": {"categoryCode": "csat", "action": "ADD_CHANNELS", "channels": ["SOUND"]}})
    ).data
    assert csat["bulkUpdateTypes"]["updated"] == [{"code": "csat_received", "channels": ["BELL", "BANNER", "SOUND"]}]
    assert csat["bulkUpdateTypes"]["skipped"] == [{"typeCode": "csat_negative", "reason": "VIEW_ONLY"}]

    await tenant.admin().gql(
        'mutation { setTypePolicy(input: {typeCode: "subject_change", availability: UNAVAILABLE}) { typeCode } }'
    )
    everything = (await operator.gql(BULK, {"input": {"action": "DISABLE_ALL"}})).data["bulkUpdateTypes"]
    skipped = {s["typeCode"]: s["reason"] for s in everything["skipped"]}
    assert skipped == {**{c: "VIEW_ONLY" for c in EXTENDED}, "subject_change": "UNAVAILABLE"}
    assert len(everything["updated"]) == len(LISTED) - len(EXTENDED) - 1
    assert all(u["channels"] == [] for u in everything["updated"])


async def test_bulk_skip_reasons_for_unknown_types_mandatory_and_unavailable_channels(tenant: Tenant) -> None:
    operator = tenant.operator()
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {mandatoryChannels: [BELL]}) { mandatoryChannels } }"
    )
    unknown = (
        await operator.gql(
            BULK,
            {"input": {"typeCodes": ["ticket_created", "bogus"], "action": "REMOVE_CHANNELS", "channels": ["BELL"]}},
        )
    ).data
    assert unknown["bulkUpdateTypes"]["skipped"] == [
        {"typeCode": "bogus", "reason": "UNKNOWN_TYPE"},
        {"typeCode": "ticket_created", "reason": "MANDATORY"},
    ]
    await operator.gql(
        "mutation { updateChannelSettings(input: {channels: [{kind: BROWSER, enabled: false}]}) { banner { maxVisible } } }"
    )
    unavailable = (
        await operator.gql(
            BULK, {"input": {"typeCodes": ["chat_created"], "action": "ADD_CHANNELS", "channels": ["BROWSER"]}}
        )
    ).data
    assert unavailable["bulkUpdateTypes"]["skipped"] == [{"typeCode": "chat_created", "reason": "CHANNEL_UNAVAILABLE"}]


async def test_bulk_input_errors(tenant: Tenant) -> None:
    operator = tenant.operator()
    for payload, words in (
        ({"action": "ADD_CHANNELS"}, "needs channels"),
        ({"action": "RESET_TO_DEFAULTS", "channels": ["BELL"]}, "takes no channels"),
        ({"action": "DISABLE_ALL", "typeCodes": ["ticket_created"], "categoryCode": "csat"}, "not both"),
        ({"action": "DISABLE_ALL", "categoryCode": "nope"}, "Unknown categoryCode"),
        ({"action": "DISABLE_ALL", "typeCodes": []}, "empty"),
    ):
        result = await operator.gql(BULK, {"input": payload})
        assert result.error_code == "BAD_USER_INPUT", payload
        assert words in result.error_message


async def test_bulk_on_all_rows_takes_as_many_statements_as_on_two(tenant: Tenant, sql) -> None:
    operator = tenant.operator()
    await operator.gql(BULK, {"input": {"typeCodes": ["ticket_created"], "action": "DISABLE_ALL"}})  # creates the row
    sql.statements.clear()
    await operator.gql(
        BULK,
        {"input": {"typeCodes": ["ticket_created", "chat_created"], "action": "ADD_CHANNELS", "channels": ["SOUND"]}},
    )
    two = sql.count
    sql.statements.clear()
    await operator.gql(BULK, {"input": {"action": "ADD_CHANNELS", "channels": ["SOUND"]}})
    every = sql.count
    assert every == two, sql.statements
    assert every <= 5, sql.statements


async def test_the_whole_types_tab_takes_a_fixed_number_of_statements(tenant: Tenant, sql) -> None:
    operator = tenant.operator()
    await operator.gql(BULK, {"input": {"action": "ADD_CHANNELS", "channels": ["SOUND"]}})
    query = f"""{{ notificationCenter {{ enabled availableChannels mandatoryChannels unavailableTypesNotice }}
      notificationCategories {{ code title types {{ {ROW} }} }}
      notificationTypes {{ {ROW} }}
      a: channelDecisions(typeCode: "ticket_created") {{ channel enabled reason deliverable }}
      b: channelDecisions(typeCode: "chat_created") {{ channel enabled reason deliverable }}
      melodies {{ id title }} }}"""
    sql.statements.clear()
    await operator.gql(query)
    first = sql.count
    # a different user with choices on every row costs the same
    other = tenant.operator()
    await other.gql(BULK, {"input": {"action": "SET_CHANNELS", "channels": ["BELL", "BROWSER"]}})
    sql.statements.clear()
    assert (await other.gql(query)).errors == []
    assert sql.count == first, sql.statements
    assert first <= 10, sql.statements


async def test_channel_decisions_explain_each_channel(tenant: Tenant) -> None:
    operator = tenant.operator()
    await operator.gql(
        'mutation { setTypeChannels(typeCode: "chat_created", channels: [BELL, BROWSER, SOUND]) { code } }'
    )
    await operator.gql(
        "mutation { updateChannelSettings(input: {channels: [{kind: SOUND, enabled: false}]}) { banner { maxVisible } } }"
    )
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {mandatoryChannels: [BANNER]}) { mandatoryChannels } }"
    )
    rows = (
        await operator.gql(
            '{ channelDecisions(typeCode: "chat_created") { channel enabled reason deliverable explanation } }'
        )
    ).data["channelDecisions"]
    by = {r["channel"]: r for r in rows}
    assert (by["BELL"]["enabled"], by["BELL"]["reason"]) == (True, "CHOSEN")
    assert (by["BANNER"]["enabled"], by["BANNER"]["reason"]) == (True, "MANDATORY")
    assert (by["SOUND"]["enabled"], by["SOUND"]["reason"]) == (False, "SWITCHED_OFF")
    assert (by["BROWSER"]["enabled"], by["BROWSER"]["deliverable"]) == (True, False)
    assert "subscribe" in by["BROWSER"]["explanation"]
    assert (by["TELEGRAM"]["enabled"], by["TELEGRAM"]["reason"]) == (False, "NOT_OFFERED")
    assert (by["CUSTOM"]["reason"]) == "NOT_OFFERED"
    defaults = (await operator.gql('{ channelDecisions(typeCode: "ticket_closed") { channel reason } }')).data
    assert {r["channel"]: r["reason"] for r in defaults["channelDecisions"]}["BELL"] == "DEFAULT"


async def test_classic_mode_when_the_notification_center_is_disabled(tenant: Tenant) -> None:
    operator = tenant.operator()
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {notificationCenterEnabled: false}) { notificationCenterEnabled } }"
    )
    await operator.gql(
        "mutation { updateClassicSettings(input: {browserEnabled: true, soundEnabled: false}) { browserEnabled } }"
    )
    rows = await types(operator)
    assert rows["chat_created"]["channels"] == ["BELL", "BANNER", "BROWSER"]
    assert rows["ticket_created"]["channels"] == ["BELL", "BANNER"]
    assert all(not r["editable"] for r in rows.values())
    center = (await operator.gql("{ notificationCenter { enabled } }")).data["notificationCenter"]
    assert center["enabled"] is False
    result = await operator.gql('mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL]) { code } }')
    assert result.error_code == "BAD_USER_INPUT" and "classicSettings" in result.error_message
