"""Agent search on the demo CRM: names, emails, numbers, case numbers, and LIKE metacharacters."""

from __future__ import annotations

import pytest

from crm_connectors.base import NewContact, SearchHit, SearchKind
from crm_connectors.builtin import BuiltinCrm


def titles(hits: list[SearchHit]) -> list[str]:
    return [hit.title for hit in hits]


async def test_by_first_name_case_insensitively(crm: BuiltinCrm) -> None:
    hits = await crm.search("aLiCe")
    assert titles(hits) == ["Alice Archer"]
    hit = hits[0]
    assert hit.kind is SearchKind.CONTACT
    assert hit.phones == ("+442079460001", "+442079460002")
    assert hit.subtitle == "Globex Corporation · Head of Operations · alice.archer@globex.example"


async def test_by_full_name_and_by_apostrophe(crm: BuiltinCrm) -> None:
    assert titles(await crm.search("Alice Archer")) == ["Alice Archer"]
    assert titles(await crm.search("o'hara")) == ["Heidi O'Hara"]


async def test_by_email(crm: BuiltinCrm) -> None:
    assert titles(await crm.search("@umbrella.example")) == ["Frank Foster", "Grace Green"]


async def test_by_full_number_in_any_form(crm: BuiltinCrm) -> None:
    for query in ("020 7946 0010", "+442079460010", "tel:+44-20-7946-0010"):
        assert titles(await crm.search(query)) == ["Bob Baker", "Carol Carter"]


async def test_by_partial_number(crm: BuiltinCrm) -> None:
    assert titles(await crm.search("0102")) == ["Erin Ellis", "Grace Green"]  # +44.., +1..
    assert titles(await crm.search("555 0102")) == ["Grace Green"]
    # Too few digits to mean a number (only case numbers hold "01"):
    assert {hit.kind for hit in await crm.search("01")} == {SearchKind.CASE}


async def test_by_switchboard_number_finds_the_account(crm: BuiltinCrm) -> None:
    hits = await crm.search("020 7946 0000")
    assert [(hit.kind, hit.title) for hit in hits] == [(SearchKind.ACCOUNT, "Globex Corporation")]
    assert hits[0].phones == ("+442079460000",)
    assert hits[0].subtitle == "customer · Industry"


async def test_by_account_name(crm: BuiltinCrm) -> None:
    hits = await crm.search("& SONS")
    assert [(hit.kind, hit.title) for hit in hits] == [(SearchKind.ACCOUNT, "Acme & Sons")]
    assert hits[0].phones == ()
    # Contacts come before accounts: their emails are @acme.example.
    kinds = [(hit.kind, hit.title) for hit in await crm.search("acme")]
    assert kinds[-1] == (SearchKind.ACCOUNT, "Acme & Sons")
    assert [kind for kind, _ in kinds[:-1]] == [SearchKind.CONTACT, SearchKind.CONTACT]


async def test_by_case_number_and_subject(crm: BuiltinCrm) -> None:
    hits = await crm.search("cs-1009")
    assert [(hit.kind, hit.title) for hit in hits] == [
        (SearchKind.CASE, "CS-1009: 100% discount applied by mistake")
    ]
    assert hits[0].subtitle == "Open · Tom Reed"
    assert titles(await crm.search("conveyor")) == ["CS-1001: Conveyor stops every morning"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("%", ["CS-1009: 100% discount applied by mistake"]),
        ("100%", ["CS-1009: 100% discount applied by mistake"]),
        ("_", ["Erin Ellis"]),  # erin_ellis@, and nothing else has an underscore
        ("n_e", ["Erin Ellis"]),  # literal: would match "nae", "nne" ... as a pattern
        (
            "/",
            [
                "<script>alert(1)</script> <img src=x onerror=alert(1)>",
                "CS-1012: <b>Urgent</b> refund",
            ],
        ),  # the escape character itself
        ("\\", []),
        ("%%%", []),
        ("_%_", []),
    ],
)
async def test_like_metacharacters_are_literal(
    crm: BuiltinCrm, query: str, expected: list[str]
) -> None:
    assert titles(await crm.search(query)) == expected


async def test_metacharacters_in_stored_names_are_found_literally(crm: BuiltinCrm) -> None:
    await crm.create_contact(NewContact("Percy", "100%_Pure", email="p/q@example.com"))
    assert titles(await crm.search("0%_p")) == ["Percy 100%_Pure"]
    assert titles(await crm.search("p/q")) == ["Percy 100%_Pure"]


async def test_markup_is_searched_and_returned_verbatim(crm: BuiltinCrm) -> None:
    hits = await crm.search("<script>")
    assert titles(hits) == ["<script>alert(1)</script> <img src=x onerror=alert(1)>"]


async def test_nul_characters_are_dropped_from_queries(crm: BuiltinCrm) -> None:
    assert titles(await crm.search("ali\x00ce")) == ["Alice Archer"]


async def test_limit_and_empty_queries(crm: BuiltinCrm) -> None:
    assert len(await crm.search("e", limit=3)) == 3
    assert len(await crm.search("e", limit=100)) > 3
    assert await crm.search("") == []
    assert await crm.search("   \t") == []
    assert await crm.search("alice", limit=0) == []


@pytest.mark.parametrize(
    "query",
    [
        "' OR 1=1 --",
        "'; DROP TABLE crm_contacts; --",
        "\x00",
        "\ud800",
        "x" * 100_000,
        '" OR ""="',
        "%' OR '1'='1",
    ],
)
async def test_hostile_queries_find_nothing_and_break_nothing(crm: BuiltinCrm, query: str) -> None:
    assert await crm.search(query) == []
    assert titles(await crm.search("alice")) == ["Alice Archer"]
