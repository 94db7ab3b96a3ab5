"""The CRM-neutral values: they refuse bad data on construction and convert to call records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm_connectors.base import (
    Account,
    CallHistoryEntry,
    Case,
    Contact,
    CrmConnector,
    LookupOptions,
    LookupResult,
    Match,
    MatchCount,
    MatchKind,
    NewContact,
    RecordRef,
)
from crm_connectors.builtin import BuiltinCrm, create_crm_engine
from cti.core.records import CrmMatch, Direction, Outcome
from cti.errors import ValidationFailed

REF = RecordRef("builtin", "contact", "7", "https://crm.example/contact/7")
ACCOUNT = Account(RecordRef("builtin", "account", "3"), "Globex", phone="+442079460000")
CONTACT = Contact(REF, "Alice Archer", "Alice", "Archer", phones=("+442079460001",))


def test_record_ref_needs_system_type_and_id() -> None:
    with pytest.raises(ValidationFailed):
        RecordRef("builtin", "contact", "")
    with pytest.raises(ValidationFailed):
        RecordRef("", "contact", "1")


def test_record_ref_converts_to_the_call_record_match() -> None:
    assert REF.to_crm_match() == CrmMatch("builtin", "contact", "7")


@pytest.mark.parametrize("phone", ["020 7946 0001", "+44 20 7946 0001", "", "+0123456789"])
def test_phones_must_be_e164(phone: str) -> None:
    with pytest.raises(ValidationFailed):
        Contact(REF, "x", phones=(phone,))
    with pytest.raises(ValidationFailed):
        Account(REF, "x", phone=phone)


@pytest.mark.parametrize(
    "opened", [datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))]
)
def test_case_times_must_be_aware_utc(opened: datetime) -> None:
    with pytest.raises(ValidationFailed):
        Case(REF, "CS-1", "subject", "Open", opened)


def test_history_entry_refuses_negative_durations_and_naive_times() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    entry = CallHistoryEntry("a", start, Direction.INBOUND, Outcome.ANSWERED, "1", "2", None, 90)
    assert entry.duration == timedelta(seconds=90)
    with pytest.raises(ValidationFailed):
        CallHistoryEntry("a", start, Direction.INBOUND, Outcome.ANSWERED, "1", "2", None, -1)
    with pytest.raises(ValidationFailed):
        CallHistoryEntry("a", start.replace(tzinfo=None), Direction.INBOUND, Outcome.MISSED, "", "")


def test_match_carries_what_its_kind_says() -> None:
    assert Match(MatchKind.CONTACT, contact=CONTACT).ref == REF
    assert Match(MatchKind.LEAD, contact=CONTACT).display_name == "Alice Archer"
    assert Match(MatchKind.ACCOUNT, account=ACCOUNT).display_name == "Globex"
    with pytest.raises(ValidationFailed):
        Match(MatchKind.CONTACT, account=ACCOUNT)
    with pytest.raises(ValidationFailed):
        Match(MatchKind.ACCOUNT, contact=CONTACT, account=ACCOUNT)
    with pytest.raises(ValidationFailed):
        Match(MatchKind.ACCOUNT)


def test_lookup_result_counts_its_matches() -> None:
    one = Match(MatchKind.CONTACT, contact=CONTACT, account=ACCOUNT)
    other = Match(MatchKind.ACCOUNT, account=ACCOUNT)
    none = LookupResult("junk", None)
    single = LookupResult("+442079460001", "+442079460001", (one,))
    several = LookupResult("+442079460001", "+442079460001", (one, other))
    assert (none.match_count, single.match_count, several.match_count) == (
        MatchCount.NONE,
        MatchCount.ONE,
        MatchCount.SEVERAL,
    )
    assert (none.single, single.single, several.single) == (None, one, None)
    assert several.crm_matches() == (
        CrmMatch("builtin", "contact", "7"),
        CrmMatch("builtin", "account", "3"),
    )


def test_lookup_options_refuse_negative_limits() -> None:
    with pytest.raises(ValidationFailed):
        LookupOptions(max_history=-1)
    with pytest.raises(ValidationFailed):
        LookupOptions(max_matches=0)
    assert LookupOptions(max_history=0, max_open_cases=0).max_history == 0


def test_new_contact_needs_a_name() -> None:
    with pytest.raises(ValidationFailed):
        NewContact(" ", "")
    assert NewContact("", "Archer").last_name == "Archer"


def test_the_builtin_connector_is_a_crm_connector() -> None:
    crm = BuiltinCrm(create_crm_engine("sqlite://"), default_region="GB", owns_engine=True)
    connector: CrmConnector = crm  # mypy checks the Protocol; this line fails if it drifts
    assert connector.name == "builtin"
    crm.close_sync()
