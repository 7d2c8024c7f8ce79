"""schema.graphql is generated from the code and keeps the contract frontends were promised."""

from pathlib import Path

from graphql import build_schema, find_breaking_changes

from resolvers.schema import sdl

ROOT = Path(__file__).resolve().parents[2]


def test_schema_file_is_what_the_code_generates() -> None:
    # given the checked-in schema.graphql
    checked_in = (ROOT / "schema.graphql").read_text()
    # then it equals what `notification-center export-schema` prints
    assert checked_in == sdl(), "schema.graphql is stale: run `make schema` and commit it"


def test_no_breaking_change_against_the_contract() -> None:
    contract = build_schema((ROOT / "tests" / "contract.graphql").read_text())
    ours = build_schema(sdl())
    changes = find_breaking_changes(contract, ours)
    assert changes == [], [c.description for c in changes]


def test_contract_copy_matches_the_shared_spec_when_present() -> None:
    shared = ROOT.parent / "shared" / "spec" / "contract.graphql"
    if shared.exists():
        assert shared.read_text() == (ROOT / "tests" / "contract.graphql").read_text()
