# ruff: noqa: E501  (the table of bad rows reads best one row per line)
"""The provisioning validator: a table of bad rows and the exact error each one gives."""

from __future__ import annotations

import time

import pytest

from cti.admin.sheet import Sheet, SheetRow, read_upload
from cti.admin.validate import Existing, ExistingAgent, Rules, plan_import
from tests.admin.workbooks import KEYS, agent_row, xlsx

ALICE = ExistingAgent("alice", "Alice", "Agent", "a@x.io", "agent", "1001", ("Sales",), "")
EXISTING = Existing({"alice": ALICE}, {"1001": "alice"}, frozenset({"Sales", "Claims"}))
RULES = Rules(extension_min=1000, extension_max=2999, actor="root")


def sheet(*rows: dict[str, object]) -> Sheet:
    return Sheet(
        "t.csv",
        "csv",
        list(KEYS),
        [SheetRow(i, {k: str(v) for k, v in r.items()}) for i, r in enumerate(rows, start=2)],
    )


BAD_ROWS = [
    (agent_row("make", "2001"), "action", "'make' is not create, update, delete or keep"),
    (agent_row("", "2001"), "action", "missing: create, update, delete or keep"),
    (agent_row("create", "2001", username="Bad Name"), "username", "use 1 to 64 of a-z 0-9 . _ - (lower case)"),
    (agent_row("create", "2001", first_name=""), "first_name", "missing"),
    (agent_row("create", "2001", last_name='x"y'), "last_name", 'may not contain " < > ; \\ or control characters'),
    (agent_row("create", "2001", email="nope"), "email", "'nope' is not an email address"),
    (agent_row("create", "2001", email=""), "email", "missing"),
    (agent_row("create", "20a1"), "extension", "'20a1' is not an extension (digits only)"),
    (agent_row("create", "3001"), "extension", "3001 is outside the range 1000-2999"),
    (agent_row("create", "1001"), "extension", "1001 belongs to alice already"),
    (agent_row("create", "2001", endpoint_secret="short"), "endpoint_secret", "too weak: 16 to 128 printable characters without spaces, or 'generate'"),
    (agent_row("create", "2001", groups="Sales; Ghosts"), "groups", "unknown group 'Ghosts': create it first (DIDs page)"),
    (agent_row("create", "2001", role=""), "role", "missing: agent, supervisor or admin"),
    (agent_row("create", "2001", role="boss"), "role", "'boss' is not agent, supervisor or admin"),
    (agent_row("create", "2001", salesforce_user="bob"), "salesforce_user", "a Salesforce user id (005...) or username"),
    (agent_row("create", "2001", username="alice"), "username", "alice exists already: use update"),
    (agent_row("update", "2001", username="nobody"), "username", "there is no agent nobody"),
    (agent_row("delete", "2001", username="root"), "username", "there is no agent root"),
    (agent_row("create", "2001", first_name="=cmd|' /C calc'!A0"), "first_name", "a value may not start with '='"),
]  # fmt: skip


@pytest.mark.parametrize(("row", "column", "reason"), BAD_ROWS)
def test_each_bad_cell_gives_exactly_one_error(
    row: dict[str, object], column: str, reason: str
) -> None:
    plan = plan_import(sheet(row), EXISTING, RULES)
    assert [(e.row, e.column, e.reason) for e in plan.errors] == [(2, column, reason)]
    assert plan.changes == ()


def test_duplicates_inside_the_file_point_at_the_first_row() -> None:
    plan = plan_import(
        sheet(agent_row("create", "2001"), agent_row("create", "2001")), EXISTING, RULES
    )
    assert [(e.row, e.column, e.reason) for e in plan.errors] == [
        (3, "username", "agent2001 is also on row 2"),
        (3, "extension", "2001 is also on row 2"),
    ]


def test_an_admin_cannot_delete_themself() -> None:
    existing = Existing({**EXISTING.agents, "root": ALICE}, {}, EXISTING.groups)
    plan = plan_import(sheet({"action": "delete", "username": "root"}), existing, RULES)
    assert [e.reason for e in plan.errors] == ["you cannot delete your own account"]


def test_dry_run_says_what_changes() -> None:
    rows = (
        agent_row("create", "2001"),
        {**agent_row("update", "1001", username="alice", first_name="Alice", last_name="Agent",
                     email="a@x.io", groups="Sales", endpoint_secret="")},
        agent_row("update", "1002", username="alice2"),
        {"action": "delete", "username": "bob"},
        {"action": "keep", "username": "carol"},
    )  # fmt: skip
    agents = {
        **EXISTING.agents,
        "bob": ALICE,
        "carol": ALICE,
        "alice2": ExistingAgent("alice2", "A", "B", "c@x.io", "agent", "1002", (), ""),
    }
    plan = plan_import(sheet(*rows), Existing(agents, {"1001": "alice"}, EXISTING.groups), RULES)
    assert plan.ok
    assert [(c.kind, c.username) for c in plan.changes] == [
        ("create", "agent2001"),
        ("ignore", "alice"),
        ("update", "alice2"),
        ("delete", "bob"),
        ("ignore", "carol"),
    ]
    assert plan.changes[2].diff["first_name"] == ("A", "Agent")
    assert plan.counts() == {"create": 1, "update": 1, "delete": 1, "ignore": 2}


def test_a_changed_extension_gets_a_new_secret() -> None:
    row = agent_row("update", "2002", username="alice", first_name="Alice", last_name="Agent",
                    email="a@x.io", groups="Sales", endpoint_secret="")  # fmt: skip
    [change] = plan_import(sheet(row), EXISTING, RULES).changes
    assert change.key_plan == "generate" and change.diff["extension"] == ("1001", "2002")


def test_formula_cells_are_refused_and_never_evaluated() -> None:
    data = xlsx([agent_row("create", "2001", last_name="=1+1", email='=HYPERLINK("x")')])
    parsed = read_upload(data, "f.xlsx")
    assert parsed.rows[0].cells["last_name"] == "=1+1"
    plan = plan_import(parsed, EXISTING, RULES)
    assert {(e.column, e.reason) for e in plan.errors} == {
        ("last_name", "formulas are not accepted: type the value itself"),
        ("email", "formulas are not accepted: type the value itself"),
    }


def test_missing_columns_are_reported_on_the_header_row() -> None:
    data = b"action,username,first name\ncreate,x,y\n"
    plan = plan_import(read_upload(data, "h.csv"), EXISTING, RULES)
    assert {(e.row, e.column) for e in plan.errors} >= {(1, "email"), (1, "role"), (1, "extension")}


def test_ten_thousand_rows_validate() -> None:
    """A 10,000-row workbook reads and validates; the timings are printed, not asserted
    (speed is a benchmark's business on these shared machines)."""
    rows = [agent_row("create", str(10000 + i)) for i in range(10_000)]
    data = xlsx(rows)
    started = time.perf_counter()
    parsed = read_upload(data, "big.xlsx")
    parsed_at = time.perf_counter()
    plan = plan_import(parsed, EXISTING, Rules(extension_max=99999))
    done = time.perf_counter()
    print(
        f"10,000 rows: {len(data) / 1e6:.2f} MB xlsx read in {parsed_at - started:.2f} s, "
        f"validated in {(done - parsed_at) * 1000:.0f} ms"
    )
    assert plan.ok and plan.counts()["create"] == 10_000
