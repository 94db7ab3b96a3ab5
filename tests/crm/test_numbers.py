"""to_e164 and dialable_forms: the forms people and PBXs write, and junk that must not parse."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.errors import ValidationFailed
from cti.numbers import E164_PATTERN, dialable_forms, is_known_region, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 20 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("02079460958", "gb", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("(020) 7946-0958", "GB", "+442079460958"),
        ("020.7946.0958", "GB", "+442079460958"),
        ("  +44 20 7946 0958\t", "GB", "+442079460958"),
        ("tel:+44-20-7946-0958", "GB", "+442079460958"),
        ("TEL:+44-20-7946-0958;ext=12", "GB", "+442079460958"),
        ("+44 20 7946 0958 ext. 12", "GB", "+442079460958"),  # the main number (issue 13)
        ("tel:020-7946-0958;phone-context=+44", "GB", "+442079460958"),
        ("+1 202-555-0123", "GB", "+12025550123"),
        ("(202) 555-0123", "US", "+12025550123"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("07700 900123", "GB", "+447700900123"),  # Ofcom drama mobile: possible, not assigned
    ],
)
def test_to_e164_reads_the_forms_people_write(raw: str, region: str, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "+",
        "0",
        "123",
        "<unknown>",
        "anonymous",
        "1-800-FLOWERS",  # vanity letters are refused, not translated
        "' OR 1=1 --",
        "+44 20 7946 0958'; DROP TABLE crm_contacts; --",
        "%",
        "_",
        "+4420794\x0060958",
        "\x00",
        "٠٢٠٧٩٤٦٠٩٥٨",  # Arabic-Indic digits: refused rather than guessed
        "+999 1234567",
        "9" * 10_000,
        "sip:+442079460958@pbx.example",
        "+0 20 7946 0958",
        "+43000000",  # formats as +4300000, which reads back as another number
    ],
)
def test_to_e164_refuses_junk(raw: str) -> None:
    assert to_e164(raw, "GB") is None


def test_to_e164_needs_a_known_region_for_national_numbers() -> None:
    assert to_e164("020 7946 0958", "ZZ") is None
    assert to_e164("+44 20 7946 0958", "ZZ") == "+442079460958"
    assert is_known_region("gb")
    assert is_known_region("US")
    assert not is_known_region("ZZ")
    assert not is_known_region("")


@given(st.text(), st.sampled_from(["GB", "US", "DE", "FR", "ZZ", ""]))
def test_to_e164_never_raises_and_returns_e164_or_none(raw: str, region: str) -> None:
    result = to_e164(raw, region)
    assert result is None or E164_PATTERN.fullmatch(result)


@given(
    st.from_regex(r"\A(tel:)?\+?[0-9 ()./-]{0,30}\Z"),
    st.sampled_from(["GB", "US", "IT", "AT", "IN"]),
)
def test_to_e164_output_is_a_fixed_point(raw: str, region: str) -> None:
    result = to_e164(raw, region)
    if result is not None:
        assert E164_PATTERN.fullmatch(result)
        assert to_e164(result, region) == result
        assert to_e164(result, "DE") == result  # an E.164 number reads the same anywhere


def test_dialable_forms_of_a_london_number() -> None:
    assert dialable_forms("+442079460958") == (
        "+442079460958",
        "020 7946 0958",
        "+44 20 7946 0958",
        "02079460958",
    )


def test_dialable_forms_of_a_us_number() -> None:
    assert dialable_forms("+12025550123") == (
        "+12025550123",
        "(202) 555-0123",
        "+1 202-555-0123",
        "2025550123",
    )


@pytest.mark.parametrize(
    "bad", ["", "020 7946 0958", "+44 20 7946 0958", "+442079460958\n", "+9991234567"]
)
def test_dialable_forms_refuses_what_is_not_e164(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        dialable_forms(bad)


@given(st.from_regex(r"\A\+?[0-9 ]{6,20}\Z"))
def test_dialable_forms_all_read_back_to_the_same_number(raw: str) -> None:
    e164 = to_e164(raw, "GB")
    if e164 is not None:
        forms = dialable_forms(e164)
        assert forms[0] == e164
        assert len(set(forms)) == len(forms)
        international = [form for form in forms if form.startswith("+")]
        assert all(to_e164(form, "GB") == e164 for form in international)  # reads anywhere
        number = phonenumbers.parse(e164)
        home = phonenumbers.region_code_for_number(number)
        if home is not None and phonenumbers.is_valid_number(number) and is_known_region(home):
            # National forms read back at home (for assigned ranges: "00100000" is India's
            # IDD prefix, not a national number, however possible +91 00100000 looks).
            assert all(to_e164(form, home) == e164 for form in forms)
