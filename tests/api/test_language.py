"""A page's language switch: the API answers in the language a request asks for (X-NC-Locale)
when it serves it, else in the token's or the profile's locale — never in a browser's own
Accept-Language, which every browser request carries."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant

TYPES = (
    '{ viewer { locale } notificationCategories { code title } notificationTypes(search: "ticket_created") { title } }'
)


async def ask(tenant: Tenant, user: str, language: str | None, **claims: object) -> dict:
    caller = tenant.operator(user, **claims)
    # as a browser sends every request: its own list, whatever the page chose
    headers = {"Authorization": f"Bearer {caller.token}", "Accept-Language": "en-US,en;q=0.9"}
    if language is not None:
        headers["X-NC-Locale"] = language
    response = await caller.http.post("/graphql", json={"query": TYPES}, headers=headers)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.parametrize(
    ("token_locale", "asked", "served"),
    [
        ("en", "uk", "uk"),  # the page switched to Ukrainian
        ("uk", "en-GB,en;q=0.9", "en"),  # and back to English, as a browser sends it
        ("uk", "fr-FR", "uk"),  # a language not served: the token's
        ("en", None, "en"),  # nothing asked: the token's
        ("uk", None, "uk"),  # nothing asked: the token's, not the browser's Accept-Language
        ("en", "x" * 5_000, "en"),  # nonsense: ignored
    ],
)
async def test_the_api_answers_in_the_asked_language_when_it_serves_it(
    tenant: Tenant, token_locale: str, asked: str | None, served: str
) -> None:
    data = await ask(tenant, "olena", asked, locale=token_locale)
    assert data["viewer"]["locale"] == served
    titles = {c["code"]: c["title"] for c in data["notificationCategories"]}
    expected = {"uk": ("Зміни", "Створено тікет"), "en": ("Changes", "Ticket created")}[served]
    assert titles["changes"] == expected[0]
    assert data["notificationTypes"][0]["title"] == expected[1]
