"""Contact fields are checked by type before any CRM stores them (issue 13, item 5): an
e-mail address must be one (email-validator), names and titles have lengths, each refusal a
422 naming the field. Before, any string was stored as an e-mail address."""

from __future__ import annotations

import pytest

from crm_connectors.base import NewContact
from crm_connectors.builtin import BuiltinCrm
from cti.errors import ValidationFailed


@pytest.mark.parametrize(
    "email",
    [
        "not an address",
        "ann@",
        "@example.com",
        "ann@@example.com",
        "ann@exa mple.com",
        "a" * 250 + "@x.io",
    ],
)
def test_what_is_not_an_email_address_is_refused_naming_the_field(email: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        NewContact("Ann", "Lee", email=email)
    assert refused.value.status == 422
    assert refused.value.details["field"] == "email"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"first_name": "A" * 81, "last_name": "Lee"}, "first_name"),
        ({"first_name": "Ann", "last_name": "Lee\x00"}, "last_name"),
        ({"first_name": " ", "last_name": ""}, "last_name"),
        ({"first_name": "Ann", "last_name": "Lee", "title": "T" * 121}, "title"),
        ({"first_name": "Ann", "last_name": "Lee", "email": 5}, "email"),
    ],
)
def test_names_and_titles_have_lengths(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        NewContact(**fields)  # type: ignore[arg-type]
    assert refused.value.details["field"] == field


def test_good_values_are_kept_normalized() -> None:
    new = NewContact(" Zoë ", "Łukasiewicz", email="Zoe.L@Example.COM", title=" CFO ")
    assert (new.first_name, new.last_name, new.title) == ("Zoë", "Łukasiewicz", "CFO")
    assert new.email == "Zoe.L@example.com"  # the domain is case-blind, the local part is not
    assert NewContact("山田", "太郎", email="yamada@例え.jp").email == "yamada@例え.jp"


async def test_the_builtin_crm_stores_nothing_for_a_bad_address(crm: BuiltinCrm) -> None:
    with pytest.raises(ValidationFailed):
        await crm.create_contact(
            NewContact("Ivy", "Invalid", phones=("+442079460777",), email="ivy at example")
        )
    assert not (await crm.lookup("+442079460777")).matches
    made = await crm.create_contact(
        NewContact("Ivy", "Valid", phones=("+442079460777",), email="ivy@example.com")
    )
    assert made.email == "ivy@example.com"
