"""Phone number normalization: raw caller IDs and typed-in numbers to E.164, and back.

Pure functions over the ``phonenumbers`` library; no I/O. Caller IDs are attacker-controlled
(anyone can send any ``From`` header to a SIP trunk), so :func:`to_e164` accepts only a small
alphabet before it hands anything to the parser and never raises on bad input.

Numbers people type in (a new contact, a linked number) go through :func:`parse_entered`
instead, which also requires the number to be valid, not just of a possible length: read in
the default region GB, ``(415) 555-0134`` is a possible but unassigned +44 number, and storing
it as ``+444155550134`` would match no caller ever. Both accept an extension (``;ext=12``,
``x12``, ``ext. 12``): :func:`to_e164` drops it (lookups match the main number), and
:func:`parse_entered` keeps it apart for click-to-dial to send as DTMF once answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from cti.errors import ValidationFailed

__all__ = [
    "BUILT_IN_DEFAULT_REGION",
    "E164_PATTERN",
    "EXTENSION_PATTERN",
    "PHONE_PATTERN",
    "EnteredNumber",
    "FixedRegion",
    "RegionSource",
    "default_region_warning",
    "dialable_forms",
    "is_known_region",
    "is_valid_e164",
    "parse_entered",
    "phone_with_extension",
    "region_source",
    "split_extension",
    "to_e164",
]

#: The default region cti.config falls back to when a site sets none (DialSettings and CRM).
BUILT_IN_DEFAULT_REGION = "GB"

#: Every E.164 string this module returns fullmatches this (ITU-T E.164: at most 15 digits).
E164_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}")

# Longer than any formatted number a person or a PBX writes; phonenumbers stops at 250 itself.
_MAX_INPUT = 64
# Digits and the separators people write between them (ASCII only, so no look-alike digits).
_ALLOWED = re.compile(r"\+?[0-9 ()./\-]+")
_DIGIT = re.compile(r"[0-9]")
# RFC 3966 tel URI: "tel:" then the number, then ";"-separated parameters (ext, phone-context).
_TEL_PREFIX = "tel:"
#: An extension as this module writes it after an E.164 number (RFC 3966 ``;ext=``): DTMF digits.
EXTENSION_PATTERN = re.compile(r"[0-9]{1,10}")
#: A phone as a CRM hands it back: E.164, or E.164 and its extension (``+442079460958;ext=12``).
PHONE_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}(?:;ext=[0-9]{1,10})?")
# How people and CRMs write an extension after the number: ";ext=12" (RFC 3966), "x12",
# "x 12", "ext 12", "ext. 12", "extension 12", "#12"; case-insensitive.
_EXTENSION_SUFFIX = re.compile(
    r"\s*(?:;\s*ext\s*=|,|\bext(?:ension)?\.?|x|#)\s*(?P<ext>[0-9]{1,10})\s*$", re.IGNORECASE
)


class RegionSource(Protocol):
    """Where the site's default region is read each time a number is (an admin may change it).

    The daemon's one source is :class:`cti.site_settings.SiteSettings` (stored setting, else the
    configuration file's); tests and tools pass a :class:`FixedRegion`.
    """

    def default_region(self) -> str:
        """The ISO 3166 region numbers typed without a country code are read in (``GB``)."""
        ...


@dataclass(frozen=True, slots=True)
class FixedRegion:
    """A region that never changes: :class:`RegionSource` for tests, tools and one-off reads."""

    region: str

    def default_region(self) -> str:
        return self.region


def region_source(region: str | RegionSource) -> RegionSource:
    """Return ``region`` as a :class:`RegionSource` (a plain code becomes a FixedRegion)."""
    return FixedRegion(region.upper()) if isinstance(region, str) else region


@dataclass(frozen=True, slots=True)
class EnteredNumber:
    """A number a person typed in: its valid E.164 main number and an extension, if any."""

    e164: str
    extension: str | None = None

    def __post_init__(self) -> None:
        if not E164_PATTERN.fullmatch(self.e164):
            raise ValueError(f"not an E.164 number: {self.e164!r}")
        if self.extension is not None and not EXTENSION_PATTERN.fullmatch(self.extension):
            raise ValueError(f"not an extension: {self.extension!r}")

    def __str__(self) -> str:
        """``+442079460958`` or, with an extension, ``+442079460958;ext=12`` (RFC 3966)."""
        return phone_with_extension(self.e164, self.extension)


def phone_with_extension(e164: str, extension: str | None) -> str:
    """Return ``e164`` with ``;ext=<extension>`` after it (RFC 3966), or alone without one.

    The one written form of a number with an extension: CRMs hand phones back in it, pops and
    search results show it, and click-to-dial (:func:`split_extension`) reads it back.
    """
    return e164 if not extension else f"{e164};ext={extension}"


def split_extension(raw: str) -> tuple[str, str | None]:
    """Return ``raw`` without a trailing extension, and the extension's digits (or None)."""
    text = raw.strip()
    if text[: len(_TEL_PREFIX)].lower() == _TEL_PREFIX:
        number, _, params = text[len(_TEL_PREFIX) :].partition(";")
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "ext" and EXTENSION_PATTERN.fullmatch(value.strip()):
                return number, value.strip()
        return number, None
    match = _EXTENSION_SUFFIX.search(text)
    if match is None or not _DIGIT.search(text[: match.start()]):
        return text, None
    return text[: match.start()], match["ext"]


def to_e164(raw: str, default_region: str) -> str | None:
    """Return ``raw`` as an E.164 string, or None when it is not a plausible phone number.

    Accepts international (``+44 20 7946 0958``), national (``020 7946 0958``, read in
    ``default_region``), IDD-prefixed (``0044...`` where 00 is the region's international
    prefix) and RFC 3966 ``tel:`` forms, each with an extension (dropped: the main number is
    what a CRM and a caller id hold). Anything holding letters or other symbols (vanity
    numbers, ``<unknown>``, SQL, markup) gives None, as do numbers of impossible length.
    """
    text, _ = split_extension(raw[: _MAX_INPUT * 2])
    if len(text) > _MAX_INPUT or not _ALLOWED.fullmatch(text) or not _DIGIT.search(text):
        return None
    return _parse_e164(text, default_region.upper())


# Parsing costs tens of microseconds and the same caller rings again and again: remember the
# last few thousand answers (keys are at most _MAX_INPUT characters, so this stays small).
@lru_cache(maxsize=16_384)
def _parse_e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    e164 = _format_e164(number)
    if not E164_PATTERN.fullmatch(e164):
        return None
    if number.italian_leading_zero and _format_e164(phonenumbers.parse(e164)) != e164:
        # Leading zeros of the national number are the one lossy part of E.164 formatting
        # (+43 000000 formats as +4300000, which reads back differently): a result must
        # read back as itself, or a number stored from it would never match again.
        return None
    return e164


def parse_entered(raw: str, default_region: str, field: str) -> EnteredNumber:
    """Return the number a person typed into ``field``; raise ValidationFailed naming it.

    Unlike :func:`to_e164` the number must be valid (assigned in its region's numbering plan,
    as far as phonenumbers knows), not just of a possible length, so a national number of
    another country typed without its country code is refused, never stored as a number of
    ``default_region`` that does not exist.
    """
    text, extension = split_extension(raw)
    e164 = to_e164(text, default_region)
    if e164 is None:
        raise ValidationFailed(
            f"{field}: {raw.strip()[:_MAX_INPUT]!r} is not a phone number",
            details={"field": field, "reason": "not_a_number"},
        )
    if not is_valid_e164(e164):
        region = default_region.upper()
        hint = "" if text.lstrip().startswith(("+", "00")) else (
            f" (read as a number of {region}); if it is another country's, start it with + and"
            " the country code"
        )  # fmt: skip
        raise ValidationFailed(
            f"{field}: {raw.strip()[:_MAX_INPUT]!r} is not a valid phone number in any"
            f" country{hint}",
            details={"field": field, "reason": "invalid_number", "read_as": e164},
        )
    return EnteredNumber(e164, extension)


def is_valid_e164(e164: str) -> bool:
    """Return whether ``e164`` is valid for some region (phonenumbers' is_valid_number).

    Use to flag numbers a CRM already holds: they are kept as they are, never rewritten.
    """
    if not E164_PATTERN.fullmatch(e164):
        return False
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(e164, None)))
    except NumberParseException:
        return False


def default_region_warning(region: str, set_by_site: bool) -> str | None:
    """Return the warning the daemon logs at start when the site never chose a default region.

    ``set_by_site`` is False when the region came from the built-in default rather than a
    file or the environment. Numbers typed without a country code are read in this region,
    so a US site on the built-in ``GB`` would refuse ``(415) 555-0134``: say so, once.
    """
    if set_by_site:
        return None
    return (
        f"the default region is the built-in {region.upper()!r}: numbers typed without"
        " a country code are read as numbers of that country and refused where they are not"
        " valid there; set the site's region (setup, or the admin console)"
    )


def dialable_forms(e164: str) -> tuple[str, ...]:
    """Return the forms a CRM may have stored ``e164`` in, most canonical first, no repeats.

    Use when searching a CRM whose data was typed in by people: E.164 (``+442079460958``),
    national (``020 7946 0958``), international (``+44 20 7946 0958``) and national digits only
    (``02079460958``). Raises ValidationFailed when ``e164`` is not an E.164 string.
    """
    if not E164_PATTERN.fullmatch(e164):
        raise ValidationFailed("not an E.164 number", details={"number": e164[:_MAX_INPUT]})
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        raise ValidationFailed("not an E.164 number", details={"number": e164}) from exc
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national_digits = "".join(_DIGIT.findall(national))
    forms = (e164, national, international, national_digits)
    return tuple(dict.fromkeys(form for form in forms if form))


def _format_e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_known_region(region: str) -> bool:
    """Return whether ``region`` is an ISO 3166 code phonenumbers can read national numbers in.

    Check a configured default region once, at startup: with an unknown one, :func:`to_e164`
    reads only numbers that start with ``+``.
    """
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
