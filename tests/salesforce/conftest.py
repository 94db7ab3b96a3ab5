"""A fake Salesforce per test, a seeded org, and connectors wired to the fake.

The org: Acme Ltd (switchboard 020 7946 0000) with Jane Doe (stored as the national form
"020 7946 0958") and John Roe (international "+44 7700 900123"); two contacts sharing
"+44 20 7946 0123" in different formats; a lead at Initech; a converted lead that must never
match; Jane's cases (two open, one closed) and call Tasks (three calls and an email task).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crm_connectors.salesforce import (
    Backoff,
    PasswordAuth,
    SalesforceCrm,
    SalesforceSettings,
    Secret,
)
from tests.salesforce.fake_salesforce import FakeSalesforce

USERNAME = "cti-integration@acme.test"
PASSWORD = "correct horse battery"
TOKEN = "TOKEN4xY9"
INSTANCE = "https://fake-org.my.salesforce.com"
FAST = Backoff(base_s=0.001, cap_s=0.005)


@dataclass(frozen=True)
class Seed:
    agent_user: str
    acme: str
    jane: str
    john: str
    twin_a: str
    twin_b: str
    lead: str
    converted_lead: str
    case_new: str
    case_working: str
    case_closed: str
    other_account: str


def settings(**overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth": PasswordAuth(USERNAME, Secret(PASSWORD), Secret(TOKEN)),
        "default_region": "GB",
    }
    values.update(overrides)
    return SalesforceSettings(**values)


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        server.add_user(USERNAME, PASSWORD, TOKEN)
        yield server


@pytest.fixture
def seed(fake: FakeSalesforce) -> Seed:
    org = fake.org
    agent = org.add("User", FirstName="Alice", LastName="Agent", Username="alice@acme.test")
    acme = org.add(
        "Account", Name="Acme Ltd", Phone="020 7946 0000", Type="Customer", Industry="Manufacturing"
    )
    other = org.add("Account", Name="Globex", Phone="+44 161 496 0000", Type="Prospect")
    jane = org.add(
        "Contact", FirstName="Jane", LastName="Doe", Email="jane@acme.test", Title="Buyer",
        Phone="020 7946 0958", MobilePhone="07700 900999", AccountId=acme,
    )  # fmt: skip
    john = org.add(
        "Contact", FirstName="John", LastName="Roe", MobilePhone="+44 7700 900123", AccountId=acme
    )
    twin_a = org.add(
        "Contact", FirstName="Ann", LastName="Twin", Phone="+44 20 7946 0123", AccountId=other
    )
    twin_b = org.add("Contact", FirstName="Bob", LastName="Twin", HomePhone="02079460123")
    lead = org.add(
        "Lead", FirstName="Lee", LastName="Lead", Company="Initech", Phone="07700 900456"
    )
    converted = org.add(
        "Lead",
        FirstName="Old",
        LastName="Lead",
        Company="Initech",
        Phone="07700 900456",
        IsConverted=True,
    )
    cases = [
        org.add(
            "Case", Subject=subject, Status=status, Origin=origin, ContactId=jane,
            AccountId=acme, OwnerId=agent, CreatedDate=f"2026-11-{created}.000+0000",
        )
        for subject, status, origin, created in (
            ("Broken widget", "New", "Phone", "18T09:00:00"),
            ("Invoice query", "Working", "Email", "19T09:00:00"),
            ("Old thing", "Closed", "Web", "19T10:00:00"),
        )
    ]  # fmt: skip
    for day, subject, call_type, seconds in (
        (10, "Inbound call from +442079460958 (answered)", "Inbound", 120),
        (12, "Outbound call to +442079460958 (busy)", "Outbound", 0),
        (14, "Inbound call from +442079460958 (missed)", "Inbound", 0),
    ):
        org.add(
            "Task", Subject=subject, TaskSubtype="Call", CallType=call_type, Status="Completed",
            CallDurationInSeconds=seconds, CallObject=f"pbx1:17000000{day}.1", WhoId=jane,
            OwnerId=agent, CallDisposition="Resolved" if seconds else None,
            Description=f"notes {day}", CreatedDate=f"2026-11-{day}T08:00:00.000+0000",
        )  # fmt: skip
    org.add(
        "Task",
        Subject="Sent brochure",
        TaskSubtype="Email",
        WhoId=jane,
        CreatedDate="2026-11-15T08:00:00.000+0000",
    )
    new, working, closed = cases
    return Seed(
        agent, acme, jane, john, twin_a, twin_b, lead, converted, new, working, closed, other
    )


@pytest.fixture
async def connect(fake: FakeSalesforce) -> AsyncIterator[Callable[..., SalesforceCrm]]:
    """Return a factory of connectors to the fake (closed after the test)."""
    made: list[SalesforceCrm] = []

    def build(*, backoff: Backoff = FAST, **overrides: Any) -> SalesforceCrm:
        connect_s = overrides.setdefault("connect_timeout_s", 2.0)
        read_s = overrides.setdefault("read_timeout_s", 5.0)
        crm = SalesforceCrm(
            settings(**overrides), session=fake.session((connect_s, read_s)), backoff=backoff
        )
        made.append(crm)
        return crm

    yield build
    for crm in made:
        await crm.close()


@pytest.fixture
async def crm(connect: Callable[..., SalesforceCrm]) -> SalesforceCrm:
    return connect()
