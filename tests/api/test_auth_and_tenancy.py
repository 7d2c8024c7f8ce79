"""SPEC section 1: bearer tokens, roles, and instances that never see each other's rows."""

from __future__ import annotations

import time

import jwt

from tests.conftest import Tenant

TYPES = "{ notificationTypes { code channels } }"


async def test_a_request_without_a_token_is_unauthenticated(http) -> None:
    # when
    response = await http.post("/graphql", json={"query": TYPES})
    # then
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Bearer" in body["errors"][0]["message"]


async def test_a_token_signed_with_another_secret_is_unauthenticated(http) -> None:
    forged = jwt.encode(
        {"sub": "u", "instance": "i", "role": "administrator", "exp": int(time.time()) + 60},
        "not-the-deployment-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    response = await http.post("/graphql", json={"query": TYPES}, headers={"Authorization": f"Bearer {forged}"})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_expired_token_says_so(tenant: Tenant) -> None:
    caller = tenant.operator()
    caller.token = tenant.codec.issue(instance=tenant.id, user="u1", role="operator", ttl_seconds=-10)
    result = await caller.gql(TYPES)
    assert result.error_code == "UNAUTHENTICATED"
    assert "expired" in result.error_message


async def test_a_service_token_cannot_read_settings_or_notifications(tenant: Tenant) -> None:
    service = tenant.service()
    for query in (
        TYPES,
        "{ notifications { edges { node { id } } } }",
        "{ unreadCount }",
        "{ channelSettings { banner { durationSeconds } } }",
    ):
        result = await service.gql(query)
        assert result.error_code == "FORBIDDEN", query


async def test_operators_and_supervisors_cannot_touch_instance_settings(tenant: Tenant) -> None:
    for caller in (tenant.operator(), tenant.caller("supervisor")):
        assert (await caller.gql("{ instanceSettings { notificationCenterEnabled } }")).error_code == "FORBIDDEN"
        result = await caller.gql(
            "mutation { updateInstanceSettings(input: {extendedTypesEnabled: true}) { extendedTypesEnabled } }"
        )
        assert result.error_code == "FORBIDDEN"


async def test_only_services_upsert_operators(tenant: Tenant) -> None:
    result = await tenant.admin().gql('mutation { upsertOperators(inputs: [{id: "x"}]) }')
    assert result.error_code == "FORBIDDEN"


async def test_an_administrator_of_one_instance_does_not_change_another(new_tenant) -> None:
    # given two instances
    a, b = new_tenant(), new_tenant()
    # when A's administrator turns extended types on and makes TELEGRAM-less SOUND mandatory
    result = await a.admin().gql(
        "mutation { updateInstanceSettings(input: {extendedTypesEnabled: true, mandatoryChannels: [SOUND]}) "
        "{ extendedTypesEnabled mandatoryChannels } }"
    )
    assert result.data["updateInstanceSettings"] == {"extendedTypesEnabled": True, "mandatoryChannels": ["SOUND"]}
    # then B's operators still see B's defaults
    b_types = (await b.operator().gql('{ notificationTypes(categoryCode: "sla") { code editable channels } }')).data
    assert all(not t["editable"] for t in b_types["notificationTypes"])
    assert all(t["channels"] == ["BELL", "BANNER"] for t in b_types["notificationTypes"])
    a_types = (await a.operator().gql('{ notificationTypes(categoryCode: "sla") { code editable channels } }')).data
    assert all(t["editable"] for t in a_types["notificationTypes"])
    assert all(t["channels"] == ["BELL", "BANNER", "SOUND"] for t in a_types["notificationTypes"])


async def test_the_same_user_id_in_two_instances_is_two_people(new_tenant) -> None:
    a, b = new_tenant(), new_tenant()
    alice_a, alice_b = a.operator("alice"), b.operator("alice")
    await alice_a.gql('mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL]) { channels } }')
    result = await alice_b.gql('{ notificationTypes(search: "ticket_created") { code channels } }')
    assert result.data["notificationTypes"] == [{"code": "ticket_created", "channels": ["BELL", "BANNER"]}]


async def test_viewer_reflects_the_token(tenant: Tenant) -> None:
    caller = tenant.operator("olena", locale="uk", email="olena@example.com", name="Olena")
    viewer = (await caller.gql("{ viewer { id instanceId role locale email displayName } }")).data["viewer"]
    assert viewer == {
        "id": "olena",
        "instanceId": tenant.id,
        "role": "OPERATOR",
        "locale": "uk",
        "email": "olena@example.com",
        "displayName": "Olena",
    }


async def test_graphql_get_queries_work_and_mutations_over_get_do_not(http, tenant: Tenant) -> None:
    caller = tenant.operator()
    headers = {"Authorization": f"Bearer {caller.token}"}
    ok = await http.get("/graphql", params={"query": "{ unreadCount }"}, headers=headers)
    assert ok.json() == {"data": {"unreadCount": 0}}
    refused = await http.get(
        "/graphql",
        params={"query": 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL]) { code } }'},
        headers=headers,
    )
    assert refused.status_code >= 400


async def test_health_and_readiness(http) -> None:
    assert (await http.get("/healthz")).text == "ok"
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_a_signed_token_whose_claims_are_not_usable_is_unauthenticated(tenant: Tenant) -> None:
    # given correctly signed tokens whose claims are not valid text or not strings
    caller = tenant.operator()
    for user, instance, extra in (
        ("op-\ud800", tenant.id, {}),
        ("op-a", "de\ud800", {}),
        ("op-\u0000", tenant.id, {}),
        ("op-a", {"a": 1}, {}),
        ("op-a", tenant.id, {"name": "x\udc00"}),
        ("op-a", tenant.id, {"email": ["a@b.c"]}),
    ):
        caller.token = tenant.codec.issue(instance=instance, user=user, role="operator", **extra)
        # when they are used
        result = await caller.gql("{ unreadCount }")
        # then the token is refused, not a server error
        assert result.error_code == "UNAUTHENTICATED", (user, instance, extra, result.body)
