"""/panel/ as the app serves it (in-process): on by default embedded, off by setting, the demo
endpoint only with --demo, and each vendored file equal to its pinned npm package's."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "panel" / "vendor"
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Each file in panel/vendor (but VERSIONS): the npm package and the file in it that it copies
#: (make panel-vendor).
VENDORED = {
    "graphql-ws.min.js": ("graphql-ws", "umd/graphql-ws.min.js"),
    "LICENSE-graphql-ws.md": ("graphql-ws", "LICENSE.md"),
    "qrcode.mjs": ("qrcode-generator", "dist/qrcode.mjs"),
    "axe.min.js": ("axe-core", "axe.min.js"),
    "LICENSE-axe-core.txt": ("axe-core", "LICENSE"),
    "LICENSE-3RD-PARTY-axe-core.txt": ("axe-core", "LICENSE-3RD-PARTY.txt"),
}


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


def test_every_vendored_file_is_listed_with_its_npm_package() -> None:
    assert {p.name for p in VENDOR.iterdir()} - {"VERSIONS"} == set(VENDORED)


@pytest.mark.parametrize("name", sorted(VENDORED))
def test_the_vendored_file_is_the_npm_package_of_the_pinned_version(name: str) -> None:
    package, inside = VENDORED[name]
    if not (NODE_MODULES / package).exists():
        reason = f"tests/node/node_modules/{package} is missing: make tests/node/node_modules installs it"
        if IN_CI:
            pytest.fail(f"{reason}; under CI=true the vendored files must be checked")
        pytest.skip(reason)
    pinned = json.loads((ROOT / "tests" / "node" / "package.json").read_text())["dependencies"][package]
    installed = json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    assert pinned == installed, f"pin {package} exactly in tests/node/package.json"
    assert f"{package} {installed} " in (VENDOR / "VERSIONS").read_text()
    npm = (NODE_MODULES / package / inside).read_bytes()
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == hashlib.sha256(npm).hexdigest(), (
        f"panel/vendor/{name} differs from {package} {installed}'s {inside}: run make panel-vendor"
    )


def test_the_panel_is_on_by_default_embedded_only() -> None:
    assert Settings().panel_enabled
    assert not Settings(database_url="postgres://db/nc").panel_enabled
    assert Settings(database_url="postgres://db/nc", panel=True).panel_enabled
    assert not Settings.from_env({"NC_PANEL": "0"}).panel_enabled
