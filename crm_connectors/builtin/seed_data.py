"""The demo CRM's content, as data: four accounts, ten contacts, their cases and past calls.

Numbers are raw, as people write them; the seed normalizes them like any other input. Dates are
offsets from the moment the seed runs, so the demo always has recent activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cti.core.records import CallRecord, CrmMatch, Direction, Outcome
from cti.numbers import to_e164

__all__ = [
    "ACCOUNTS",
    "CALLS",
    "CASES",
    "CONTACTS",
    "DID",
    "DemoAccount",
    "DemoCall",
    "DemoCase",
    "DemoContact",
    "demo_call_record",
]

DID = "+44 20 7946 0500"  # the number the demo customers dial


@dataclass(frozen=True, slots=True)
class DemoAccount:
    key: str
    name: str
    phone: str | None
    account_type: str
    industry: str


@dataclass(frozen=True, slots=True)
class DemoContact:
    key: str
    account: str | None
    first_name: str
    last_name: str
    email: str | None
    title: str | None
    phones: tuple[tuple[str, str], ...]  # (raw number, label), main number first


@dataclass(frozen=True, slots=True)
class DemoCase:
    number: str
    contact: str | None
    account: str
    subject: str
    status: str
    owner: str
    origin: str
    opened_days_ago: float
    closed_days_ago: float | None = None


@dataclass(frozen=True, slots=True)
class DemoCall:
    call_id: str
    contact: str | None  # None: a caller the CRM does not know
    number: str
    direction: Direction
    outcome: Outcome
    days_ago: float
    talk_seconds: float = 0.0
    agent: str | None = None
    disposition: str | None = None
    notes: str = ""


# fmt: off
ACCOUNTS = (
    DemoAccount("demo-globex", "Globex Corporation", "+44 20 7946 0000", "customer", "Industry"),
    DemoAccount("demo-initech", "Initech Ltd", "+44 20 7946 0100", "customer", "Software"),
    DemoAccount("demo-umbrella", "Umbrella Health Inc.", "+1 202-555-0100", "prospect", "Health"),
    DemoAccount("demo-acme", "Acme & Sons", None, "partner", "Retail"),
)

CONTACTS = (
    DemoContact(
        "demo-alice", "demo-globex", "Alice", "Archer", "alice.archer@globex.example",
        "Head of Operations", (("+44 20 7946 0001", "mobile"), ("+44 20 7946 0002", "work")),
    ),
    DemoContact(
        "demo-bob", "demo-globex", "Bob", "Baker", "bob.baker@globex.example", "Facilities",
        (("+44 20 7946 0010", "work"),),
    ),
    DemoContact(  # shares Bob's line: a lookup of 0010 finds both
        "demo-carol", "demo-globex", "Carol", "Carter", "carol.carter@globex.example",
        "Reception", (("+44 20 7946 0010", "work"),),
    ),
    DemoContact(
        "demo-dan", "demo-initech", "Dan", "Dawson", "dan@initech.example", "CTO",
        (("+44 20 7946 0101", "mobile"),),
    ),
    DemoContact(
        "demo-erin", "demo-initech", "Erin", "Ellis", "erin_ellis@initech.example",
        "Accounts Payable", (("+44 20 7946 0102", "work"),),
    ),
    DemoContact(
        "demo-frank", "demo-umbrella", "Frank", "Foster", "frank.foster@umbrella.example",
        "Procurement", (("+1 202-555-0101", "work"),),
    ),
    DemoContact(
        "demo-grace", "demo-umbrella", "Grace", "Green", "grace@umbrella.example", None,
        (("+1 202-555-0102", "mobile"),),
    ),
    DemoContact(
        "demo-heidi", "demo-acme", "Heidi", "O'Hara", "heidi.ohara@acme.example", "Owner",
        (("+44 20 7946 0200", "mobile"),),
    ),
    DemoContact(  # markup in a name: stored verbatim, the pop must escape it
        "demo-mallory", "demo-acme", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
        "mallory@acme.example", "Pen tester", (("+44 20 7946 0666", "mobile"),),
    ),
    DemoContact(
        "demo-ivan", None, "Ivan", "Ivanov", None, None, (("+44 20 7946 0300", "mobile"),),
    ),
)

CASES = (
    DemoCase("CS-1001", "demo-alice", "demo-globex", "Conveyor stops every morning", "Open",
             "Priya Shah", "phone", 3),
    DemoCase("CS-1002", "demo-alice", "demo-globex", "Invoice 4471 charged twice", "Escalated",
             "Tom Reed", "email", 10),
    DemoCase("CS-1003", "demo-alice", "demo-globex", "Password reset", "Closed", "Priya Shah",
             "web", 40, 39),
    DemoCase("CS-1004", "demo-bob", "demo-globex", "Badge reader offline in the lobby", "New",
             "Tom Reed", "phone", 1),
    DemoCase("CS-1005", "demo-bob", "demo-globex", "Quote for annual maintenance", "Closed",
             "Tom Reed", "email", 60, 50),
    DemoCase("CS-1006", "demo-carol", "demo-globex", "Visitor Wi-Fi password", "Closed",
             "Priya Shah", "phone", 20, 20),
    DemoCase("CS-1007", "demo-dan", "demo-initech", "API rate limit increase", "Working",
             "Sam Patel", "web", 6),
    DemoCase("CS-1008", "demo-dan", "demo-initech", "SSO login loops", "Resolved", "Sam Patel",
             "phone", 30, 28),
    DemoCase("CS-1009", "demo-erin", "demo-initech", "100% discount applied by mistake", "Open",
             "Tom Reed", "email", 2),
    DemoCase("CS-1010", "demo-frank", "demo-umbrella", "Trial extension", "Pending",
             "Sam Patel", "phone", 4),
    DemoCase("CS-1011", "demo-grace", "demo-umbrella", "Data export", "Closed", "Sam Patel",
             "web", 15, 12),
    DemoCase("CS-1012", "demo-mallory", "demo-acme", "<b>Urgent</b> refund", "Open",
             "Priya Shah", "web", 1),
    DemoCase("CS-1013", "demo-heidi", "demo-acme", "Damaged delivery", "Open", "Tom Reed",
             "phone", 5),
    DemoCase("CS-1014", "demo-heidi", "demo-acme", "Return label", "Closed", "Tom Reed",
             "email", 25, 24),
    DemoCase("CS-1015", None, "demo-globex", "Contract renewal 2027", "Open", "Priya Shah",
             "email", 7),
)

_IN, _OUT = Direction.INBOUND, Direction.OUTBOUND
CALLS = (
    DemoCall("demo:1001", "demo-alice", "+44 20 7946 0001", _IN, Outcome.ANSWERED, 1, 245,
             "Sam Patel", "resolved", "Walked her through the conveyor reset."),
    DemoCall("demo:1002", "demo-alice", "+44 20 7946 0002", _IN, Outcome.MISSED, 2),
    DemoCall("demo:1003", "demo-alice", "+44 20 7946 0001", _OUT, Outcome.ANSWERED, 5, 120,
             "Tom Reed", "callback", "Called back about invoice 4471."),
    DemoCall("demo:1004", "demo-bob", "+44 20 7946 0010", _IN, Outcome.ANSWERED, 1.5, 60,
             "Priya Shah", "resolved"),
    DemoCall("demo:1005", "demo-dan", "+44 20 7946 0101", _IN, Outcome.ABANDONED, 3),
    DemoCall("demo:1006", "demo-dan", "+44 20 7946 0101", _OUT, Outcome.BUSY, 2.5),
    DemoCall("demo:1007", "demo-mallory", "+44 20 7946 0666", _IN, Outcome.ANSWERED, 0.5, 30,
             "Sam Patel", "<i>spam</i>", "<script>alert('notes')</script>"),
    DemoCall("demo:1008", None, "+44 20 7946 0999", _IN, Outcome.MISSED, 0.2),
    DemoCall("demo:1009", "demo-frank", "+1 202-555-0101", _IN, Outcome.ANSWERED, 4, 420,
             "Tom Reed", "sale", "Interested in the 12-month plan."),
)
# fmt: on


def demo_call_record(
    call: DemoCall,
    contact_ids: dict[str, int],
    system: str,
    default_region: str,
    now: datetime,
) -> CallRecord:
    """Return ``call`` as the CallRecord the daemon would have logged for it."""
    number = to_e164(call.number, default_region) or call.number
    did = to_e164(DID, default_region) or DID
    started = now - timedelta(days=call.days_ago)
    wait = 12.0
    answered = call.outcome is Outcome.ANSWERED
    inbound = call.direction is Direction.INBOUND
    matches: tuple[CrmMatch, ...] = ()
    if call.contact is not None:
        matches = (CrmMatch(system, "contact", str(contact_ids[call.contact])),)
    return CallRecord(
        call_id=call.call_id,
        server="demo-pbx",
        direction=call.direction,
        outcome=call.outcome,
        started_at=started,
        ended_at=started + timedelta(seconds=wait + call.talk_seconds),
        answered_at=started + timedelta(seconds=wait) if answered else None,
        caller_number=number if inbound else "1001",
        called_number=did if inbound else number,
        did=did if inbound else None,
        queue="support" if inbound else None,
        wait_seconds=wait if inbound else None,
        talk_seconds=call.talk_seconds,
        agents_rung=("Sam Patel", "Tom Reed") if inbound else (),
        answered_by=call.agent,
        notes=call.notes,
        disposition=call.disposition,
        matches=matches,
    )
