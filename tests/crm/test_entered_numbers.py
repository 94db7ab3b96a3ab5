"""Numbers people type in: refused when valid in no region, extensions kept, flags.

With the default region GB, ``(415) 555-0134`` used to be stored as ``+444155550134`` (a
possible but unassigned UK number that no US caller ever matches).
"""

from __future__ import annotations

import pytest

from agent_ui.crm_api import _phones
from crm_connectors.base import NewContact
from crm_connectors.builtin import BuiltinCrm
from cti.config import DialSettings
from cti.dial_rules import DialRules
from cti.errors import ValidationFailed
from cti.numbers import (
    EnteredNumber,
    default_region_warning,
    parse_entered,
    split_extension,
    to_e164,
)
from cti.pop.render import dial


def test_a_us_number_typed_nationally_in_a_gb_site_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_entered("(415) 555-0134", "GB", "phone")
    assert refused.value.status == 422
    assert refused.value.details["field"] == "phone"
    assert refused.value.details["reason"] == "invalid_number"
    assert "country code" in refused.value.message


@pytest.mark.parametrize("raw", ["+444155550134", "+44 7700 900123", "x12", "", "Bob"])
def test_numbers_valid_in_no_region_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_entered(raw, "GB", "number")


@pytest.mark.parametrize(
    ("raw", "region", "entered"),
    [
        ("(415) 555-0134", "US", EnteredNumber("+14155550134")),
        ("+1 415 555 0134", "GB", EnteredNumber("+14155550134")),
        ("020 7946 0958", "GB", EnteredNumber("+442079460958")),
        ("+44 20 7946 0958;ext=12", "GB", EnteredNumber("+442079460958", "12")),
        ("020 7946 0958 x12", "GB", EnteredNumber("+442079460958", "12")),
        ("020 7946 0958 ext. 12", "GB", EnteredNumber("+442079460958", "12")),
        ("020 7946 0958 Ext 12", "GB", EnteredNumber("+442079460958", "12")),
        ("tel:+442079460958;ext=12", "GB", EnteredNumber("+442079460958", "12")),
    ],
)
def test_valid_numbers_and_extensions_are_accepted(
    raw: str, region: str, entered: EnteredNumber
) -> None:
    assert parse_entered(raw, region, "phone") == entered


def test_an_entered_number_prints_as_an_rfc3966_extension() -> None:
    assert str(EnteredNumber("+442079460958", "12")) == "+442079460958;ext=12"
    assert str(EnteredNumber("+442079460958")) == "+442079460958"


@pytest.mark.parametrize("raw", ["020 7946 0958 x12", "+442079460958;ext=12", "020 7946 0958"])
def test_lookups_match_the_main_number(raw: str) -> None:
    assert to_e164(raw, "GB") == "+442079460958"


def test_split_extension_leaves_numbers_without_one_alone() -> None:
    assert split_extension(" 020 7946 0958 ") == ("020 7946 0958", None)
    assert split_extension("x12") == ("x12", None)


def test_numbers_a_crm_holds_are_shown_as_they_are_and_flagged() -> None:
    shown = _phones(["+444155550134", "+442079460958", "+442079460958;ext=12"])
    assert [(p["number"], p["valid"]) for p in shown] == [
        ("+444155550134", False),
        ("+442079460958", True),
        ("+442079460958;ext=12", True),
    ]
    assert shown[2]["display"] == "+44 20 7946 0958 ext. 12"


def test_the_daemon_warns_when_the_site_never_chose_a_region() -> None:
    warning = default_region_warning("GB", set_by_site=False)
    assert warning is not None and "'GB'" in warning
    assert default_region_warning("GB", set_by_site=True) is None
    assert default_region_warning("US", set_by_site=True) is None


async def test_the_builtin_crm_refuses_to_store_an_invalid_number(crm: BuiltinCrm) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await crm.create_contact(NewContact("Ursula", "Upton", phones=("(415) 555-0134",)))
    assert refused.value.details["field"] == "phone"
    contact = await crm.create_contact(
        NewContact("Ursula", "Upton", phones=("+1 415 555 0134 x12",))
    )
    assert contact.phones == ("+14155550134;ext=12",)
    assert (await crm.lookup("+14155550134")).matches


async def test_the_builtin_crm_keeps_an_extension_and_matches_the_main_number(
    crm: BuiltinCrm,
) -> None:
    """A contact entered ``+44 20 7946 0958 ext. 12`` reads back with ``;ext=12`` everywhere
    (the contact, a lookup of the caller ID, search, the one-statement lookup), while a caller
    ID, which never has an extension, still finds it."""
    new = NewContact("Ext", "Ension", phones=("+44 20 7946 0958 ext. 12", "020 7946 0959"))
    contact = await crm.create_contact(new)
    assert contact.phones == ("+442079460958;ext=12", "+442079460959")
    found = await crm.lookup("+442079460958")
    assert found.e164 == "+442079460958"
    assert [m.contact.phones for m in found.matches if m.contact] == [contact.phones]
    national = await crm.lookup("020 7946 0958")  # parsed first, then the same statement
    assert [m.ref for m in national.matches] == [contact.ref]
    hits = await crm.search("Ext Ension")
    assert [(hit.ref, hit.phones) for hit in hits] == [(contact.ref, contact.phones)]
    by_number = await crm.search("+442079460958")
    assert [hit.ref for hit in by_number] == [contact.ref]
    assert by_number[0].phones == contact.phones
    await crm.link_number("+442079460958", contact.ref)  # the caller id: already there
    again = await crm.lookup("+442079460958")
    assert [m.contact.phones for m in again.matches if m.contact] == [contact.phones]


async def test_an_extension_is_kept_whichever_way_it_is_typed(crm: BuiltinCrm) -> None:
    typed = ("020 7946 0958;ext=7", "tel:+442079460960;ext=8", "+44 20 7946 0961 x 9")
    contact = await crm.create_contact(NewContact("Three", "Ways", phones=typed))
    assert contact.phones == (
        "+442079460958;ext=7",
        "+442079460960;ext=8",
        "+442079460961;ext=9",
    )


async def test_a_kept_extension_is_click_to_dial_of_the_main_number_then_dtmf(
    crm: BuiltinCrm,
) -> None:
    contact = await crm.create_contact(NewContact("Ext", "Dial", phones=("020 7946 0958 x12",)))
    [phone] = contact.phones
    button = str(dial(phone))  # as the pop card shows it
    assert 'data-number="+442079460958;ext=12"' in button
    target = DialRules(DialSettings(), "GB").check(phone)  # what the click sends back
    assert (target.number, target.extension) == ("+442079460958", "12")
