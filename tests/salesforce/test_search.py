"""An agent's search box: contacts, accounts and cases, with typed text escaped."""

from __future__ import annotations

import pytest

from crm_connectors.base import SearchKind
from crm_connectors.salesforce import SalesforceCrm
from crm_connectors.salesforce.mapping import phones_of
from tests.salesforce.conftest import INSTANCE, Seed
from tests.salesforce.fake_salesforce import FakeSalesforce


async def test_search_finds_contacts_accounts_and_cases(crm: SalesforceCrm, seed: Seed) -> None:
    hits = await crm.search("acme")

    kinds = {(h.kind, h.ref.record_id) for h in hits}
    assert (SearchKind.ACCOUNT, seed.acme) in kinds
    jane = next(h for h in await crm.search("jane doe") if h.kind is SearchKind.CONTACT)
    assert jane.title == "Jane Doe"
    assert jane.subtitle == "Buyer · Acme Ltd"
    assert jane.phones == ("+442079460958", "+447700900999")
    assert jane.ref.url == f"{INSTANCE}/lightning/r/Contact/{seed.jane}/view"


async def test_search_finds_a_case_by_number_and_by_subject(crm: SalesforceCrm, seed: Seed) -> None:
    by_number = await crm.search("00001002")
    by_subject = await crm.search("invoice")

    for hits in (by_number, by_subject):
        case = next(h for h in hits if h.kind is SearchKind.CASE)
        assert case.ref.record_id == seed.case_working
        assert case.title == "00001002 Invoice query"
        assert case.subtitle == "Working · Jane Doe"


async def test_a_typed_number_finds_every_stored_form(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce
) -> None:
    hits = await crm.search("+44 20 7946 0123")

    assert {h.ref.record_id for h in hits} == {seed.twin_a, seed.twin_b}
    assert fake.sosl[0].startswith('FIND {"\\+442079460123" OR "020 7946 0123"')


async def test_search_respects_the_limit(crm: SalesforceCrm, seed: Seed) -> None:
    assert len(await crm.search("twin", limit=1)) == 1
    assert await crm.search("twin", limit=0) == []


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("x} OR {y", 'FIND {"x\\}" AND "OR" AND "\\{y"}'),
        ('"*"', 'FIND {"\\"\\*\\""}'),
        ("\\\\", 'FIND {"\\\\\\\\"}'),
        ("Jane} IN ALL FIELDS RETURNING User(Username", 'FIND {"Jane\\}" AND "IN" AND "ALL"'),
        ("a* OR b?", 'FIND {"a\\*" AND "OR" AND "b\\?"}'),
    ],
)
async def test_search_text_is_escaped_and_never_widens(
    crm: SalesforceCrm, seed: Seed, fake: FakeSalesforce, query: str, sent: str
) -> None:
    hits = await crm.search(query)

    assert hits == []
    (sosl,) = fake.sosl
    assert sosl.startswith(sent)
    assert "RETURNING Contact(" in sosl
    assert "User(" not in sosl.split("RETURNING", 1)[1]


async def test_one_letter_words_are_not_searched(crm: SalesforceCrm, fake: FakeSalesforce) -> None:
    assert await crm.search("\\") == []
    assert await crm.search("a b") == []
    assert fake.rest_requests() == []


def test_a_phone_field_with_an_extension_keeps_it() -> None:
    row = {"Phone": "+44 20 7946 0958 ext. 12", "MobilePhone": "020 7946 0958", "Other": "x"}
    assert phones_of(row, ("Phone", "MobilePhone", "Other"), "GB") == ("+442079460958;ext=12",)
