"""The daemon against a fake Salesforce org: the org's records, the daemon's TOML, Task counts.

The fake (tests/salesforce/fake_salesforce.py) runs in the test process on 127.0.0.1 with a
throwaway CA; the daemon, a separate process, reaches it through the connector's own settings,
as an operator would configure them: ``ca_bundle`` (the fake's CA) and ``connect_to`` (each
Salesforce host name to the fake's port, like curl's --connect-to). Nothing else differs from a
production configuration, and no byte leaves the machine.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sip_tests.lab import LabHandle
from tests.e2e.daemon import DaemonProcess
from tests.salesforce.fake_salesforce import FakeSalesforce

USERNAME = "cti-integration@acme.test"
PASSWORD = "correct horse battery"
TOKEN = "TOKEN4xY9"
SECRETS = {"SF_PASSWORD": PASSWORD, "SF_TOKEN": TOKEN}  # what the daemon's environment holds
INSTANCE = "https://fake-org.my.salesforce.com"

JANE = "+442079460958"  # held in the org as "020 7946 0958"
ANN = "+441614960750"  # held in the org as "0161 496 0750"


@dataclass(frozen=True)
class Org:
    """The fake org and the ids of its records."""

    fake: FakeSalesforce
    alice: str  # the Salesforce User of CTI agent alice
    acme: str
    jane: str
    ann: str
    open_cases: tuple[str, str]
    closed_case: str

    def case_number(self, case_id: str) -> str:
        return str(self.fake.org.records["Case"][case_id]["CaseNumber"])

    def tasks_of(self, call_id: str) -> list[dict[str, object]]:
        return [t for t in self.fake.org.tasks() if t.get("CallObject") == call_id]

    def calls_logged(self) -> Counter[str]:
        """How many call Tasks the org holds per CallObject (the daemon's call id)."""
        return Counter(str(t["CallObject"]) for t in self.fake.org.tasks() if t.get("CallObject"))


def seed_org(fake: FakeSalesforce, *, call_id_field: str | None = None) -> Org:
    """Give the fake org its login user, records, and (optionally) the External ID field."""
    fake.add_user(USERNAME, PASSWORD, TOKEN)
    if call_id_field is not None:
        fake.org.add_external_id("Task", call_id_field)
    org = fake.org
    alice = org.add("User", FirstName="Alice", LastName="Agent", Username="alice@acme.test")
    acme = org.add(
        "Account", Name="Acme Ltd", Phone="020 7946 0000", Type="Customer", Industry="Manufacturing"
    )
    jane = org.add(
        "Contact", FirstName="Jane", LastName="Doe", Email="jane@acme.test", Title="Buyer",
        Phone="020 7946 0958", MobilePhone="07700 900999", AccountId=acme,
    )  # fmt: skip
    ann = org.add("Contact", FirstName="Ann", LastName="Quote", Phone="0161 496 0750")
    # Neighbours a widened search (a wildcard, a dropped digit, an OR) would also find.
    org.add("Contact", FirstName="Nick", LastName="Next", Phone="0161 496 0751")
    org.add("Contact", FirstName="Sam", LastName="Short", Phone="0161 496 075")
    org.add("Contact", FirstName="Or", LastName="Else", Phone="OR 0161")
    cases = [
        org.add(
            "Case", Subject=subject, Status=status, Origin="Phone", ContactId=jane,
            AccountId=acme, OwnerId=alice, CreatedDate=f"2026-11-{day}T09:00:00.000+0000",
        )
        for subject, status, day in (
            ("Broken widget", "New", 18),
            ("Invoice query", "Working", 19),
            ("Old thing", "Closed", 10),
        )
    ]  # fmt: skip
    org.add(
        "Task", Subject=f"Inbound call from {JANE} (answered)", TaskSubtype="Call",
        CallType="Inbound", Status="Completed", CallDurationInSeconds=95, WhoId=jane,
        CallObject="pbx0:1700000000.1", OwnerId=alice, CallDisposition="Resolved",
        Description="Earlier call about the widget", CreatedDate="2026-11-12T08:00:00.000+0000",
    )  # fmt: skip
    return Org(fake, alice, acme, jane, ann, (cases[0], cases[1]), cases[2])


def log_messages(daemon: DaemonProcess, level: str = "error") -> list[str]:
    """The messages the daemon logged at ``level`` (its log is JSON lines)."""
    entries = [
        json.loads(line) for line in daemon.log_tail(100_000).splitlines() if line[:1] == "{"
    ]
    return [str(e["message"]) for e in entries if e["level"] == level]


def toml_value(value: object) -> str:
    """One TOML value: strings (JSON escapes are TOML's), numbers, lists, inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"no TOML for {value!r}")


def write_toml(path: Path, tables: Mapping[str, Mapping[str, object]]) -> Path:
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def salesforce_daemon(
    lab: LabHandle,
    workdir: Path,
    org: Org,
    *,
    salesforce: Mapping[str, object] = {},
    outbox: Mapping[str, object] = {},
) -> DaemonProcess:
    """A daemon whose only CRM is the fake org: pops from it, call records to it."""
    workdir.mkdir(parents=True, exist_ok=True)
    section: dict[str, object] = {
        "auth": "password",
        "username": USERNAME,
        "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN",
        "domain": "login",
        "agent_users": {"alice": org.alice},
        "ca_bundle": org.fake.ca_file,
        "connect_to": org.fake.connect_to(),
        **salesforce,
    }
    tables: dict[str, Mapping[str, object]] = {
        "crm": {"connectors": ["salesforce"]},
        "crm.salesforce": section,
    }
    if outbox:
        tables["store.outbox"] = outbox
    config = write_toml(workdir / "cti.toml", tables)
    return DaemonProcess(lab, workdir, extra_env={"CTI_CONFIG": str(config), **SECRETS})
