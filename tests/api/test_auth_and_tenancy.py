"""SPEC section 1: bearer tokens, roles, and instances that never see each other's rows."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
import pytest

from core.settings import Limits, Secret, Settings
from domain.errors import Unauthenticated
from services.auth import CACHED_TOKEN_CHARS, TokenCodec
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


async def test_a_token_used_again_is_refused_once_it_expires(tenant: Tenant) -> None:
    # given a token that works (and is remembered as verified) and expires in a second or two (its
    # exp is whole seconds: a ttl of 1 s issued late in a second left it a few ms, and it failed)
    caller = tenant.operator()
    caller.token = tenant.codec.issue(instance=tenant.id, user="u-short", role="operator", ttl_seconds=2)
    expires_at = jwt.decode(caller.token, options={"verify_signature": False})["exp"]
    assert (await caller.gql("{ unreadCount }")).data is not None
    # when it is used again after its exp
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.05)
    result = await caller.gql("{ unreadCount }")
    # then it is refused as expired
    assert result.error_code == "UNAUTHENTICATED"
    assert "expired" in result.error_message


async def test_a_token_changed_after_a_verified_one_is_refused(tenant: Tenant) -> None:
    # given a token that was verified
    caller = tenant.operator()
    assert (await caller.gql("{ unreadCount }")).data is not None
    header, claims, signature = caller.token.split(".")
    # when a caller sends it with other claims under the same signature (an administrator's role)
    forged = {"sub": "u1", "instance": tenant.id, "role": "administrator", "exp": int(time.time()) + 60}
    forged_claims = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
    caller.token = f"{header}.{forged_claims}.{signature}"
    # then it is refused
    assert (await caller.gql("{ unreadCount }")).error_code == "UNAUTHENTICATED"


async def test_a_remembered_token_with_a_fractional_exp_expires_when_a_fresh_check_says_so() -> None:
    # given a remembered token whose exp is a whole second plus 0.9 (PyJWT expires it at the second)
    secret = "s" * 32
    codec = TokenCodec(Settings(jwt_secret=Secret(secret)))
    while time.time() % 1 > 0.05:
        await asyncio.sleep(0.01)
    exp = int(time.time()) + 1.9
    token = jwt.encode({"sub": "u", "instance": "i", "role": "operator", "exp": exp}, secret, algorithm="HS256")
    assert codec.verify(token).user_id == "u"
    # when it is used again past the whole second, before the fraction
    await asyncio.sleep(max(0.0, int(exp) - time.time()) + 0.2)
    # then it is refused, as it is by a process that never saw it
    with pytest.raises(Unauthenticated, match="expired"):
        TokenCodec(Settings(jwt_secret=Secret(secret))).verify(token)
    with pytest.raises(Unauthenticated, match="expired"):
        codec.verify(token)


async def test_a_signed_token_whose_exp_no_date_can_hold_is_unauthenticated(tenant: Tenant, settings) -> None:
    # given a correctly signed token whose exp is past what a timestamp can be (10**310 seconds)
    caller = tenant.operator()
    claims = {"sub": "u1", "instance": tenant.id, "role": "operator", "exp": 10**310}
    caller.token = jwt.encode(claims, settings.jwt_secret.reveal(), algorithm="HS256")
    # when it is used
    result = await caller.gql("{ unreadCount }")
    # then it is refused, not a server error
    assert result.error_code == "UNAUTHENTICATED", result.body
    assert "exp" in result.error_message


def test_the_verified_tokens_remembered_are_bounded() -> None:
    # given a process that remembers at most 3 verified tokens
    codec = TokenCodec(Settings(jwt_secret=Secret("s" * 32), limits=Limits(verified_tokens_cached=3)))
    tokens = [codec.issue(instance="i", user=f"u{n}", role="operator") for n in range(10)]
    long_token = jwt.encode(
        {
            "sub": "u-long",
            "instance": "i",
            "role": "operator",
            "exp": int(time.time()) + 60,
            "pad": "p" * CACHED_TOKEN_CHARS,
        },
        "s" * 32,
        algorithm="HS256",
    )
    # when 10 tokens and one longer than a remembered token may be are verified
    for token in [*tokens, long_token]:
        codec.verify(token)
    # then at most 3 are held, the most recent ones, and the long one never
    assert list(codec._verified) == tokens[-3:]
    # and each still verifies to its own caller
    assert [codec.verify(t).user_id for t in tokens] == [f"u{n}" for n in range(10)]
