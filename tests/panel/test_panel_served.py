"""/panel/ as the app serves it (in-process): on by default embedded, off by setting, the demo
endpoint only with --demo, and the vendored libraries (graphql-ws, qrcode-generator) equal to their npm packages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "panel" / "vendor"
NPM_MODULES = ROOT / "tests" / "node" / "node_modules"


async def _get(settings: Settings, path: str) -> httpx.Response:
    # No lifespan: the page and the demo endpoint need no database, and a second app's shutdown
    # would close the session's shared one.
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        return await http.get(path)


async def test_the_page_is_served_embedded_and_the_demo_endpoint_only_with_demo(settings: Settings) -> None:
    page = await _get(replace(settings, panel=True), "/panel/")
    assert page.status_code == 200 and "graphql-ws.min.js" in page.text
    assert (await _get(replace(settings, panel=True, demo=False), "/panel/demo-users")).status_code == 404
    demo = (await _get(replace(settings, panel=True, demo=True), "/panel/demo-users")).json()
    assert {u["user"] for u in demo["users"]} >= {"op-olena", "sup-iryna", "adm-petro"}
    assert "svc-platform" not in {u["user"] for u in demo["users"]} and demo["service"]


async def test_demo_tokens_only_for_a_loopback_host_and_the_page_carries_security_headers(
    settings: Settings,
) -> None:
    app = create_app(replace(settings, panel=True, demo=True, allowed_origins=("https://host.example",)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        rebound = await http.get("/panel/demo-users", headers={"Host": "attacker.example:8000"})
        local = await http.get("/panel/demo-users", headers={"Host": "localhost:8000"})
        page = await http.get("/panel/app.js")
    assert rebound.status_code == 403 and "token" not in rebound.text.lower().replace("demo tokens", "")
    assert local.status_code == 200 and local.json()["service"]
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'self' https://host.example" in policy
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"


async def test_the_panel_setting_turns_it_off(settings: Settings) -> None:
    assert (await _get(replace(settings, panel=False), "/panel/")).status_code == 404


@pytest.mark.parametrize(
    ("package", "packaged", "vendored"),
    [
        ("graphql-ws", "umd/graphql-ws.min.js", "graphql-ws.min.js"),
        ("qrcode-generator", "dist/qrcode.mjs", "qrcode.mjs"),
    ],
)
def test_a_vendored_library_is_the_npm_package_of_the_pinned_version(
    package: str, packaged: str, vendored: str
) -> None:
    npm_package = NPM_MODULES / package
    if not npm_package.exists():
        pytest.skip("tests/node/node_modules is missing: make tests/node/node_modules installs it")
    pinned = json.loads((ROOT / "tests" / "node" / "package.json").read_text())["dependencies"][package]
    installed = json.loads((npm_package / "package.json").read_text())["version"]
    assert pinned == installed, f"pin {package} exactly in tests/node/package.json"
    assert f"{package} {installed} {packaged} " in (VENDOR / "VERSIONS").read_text()
    npm = (npm_package / packaged).read_bytes()
    assert hashlib.sha256((VENDOR / vendored).read_bytes()).hexdigest() == hashlib.sha256(npm).hexdigest()


def test_the_panel_is_on_by_default_embedded_only() -> None:
    assert Settings().panel_enabled
    assert not Settings(database_url="postgres://db/nc").panel_enabled
    assert Settings(database_url="postgres://db/nc", panel=True).panel_enabled
    assert not Settings.from_env({"NC_PANEL": "0"}).panel_enabled
