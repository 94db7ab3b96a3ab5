"""Phone number normalization: raw caller IDs and typed-in numbers to E.164, and back.

Pure functions over the ``phonenumbers`` library; no I/O. Caller IDs are attacker-controlled
(anyone can send any ``From`` header to a SIP trunk), so :func:`to_e164` accepts only a small
alphabet before it hands anything to the parser and never raises on bad input.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from cti.errors import ValidationFailed

__all__ = ["E164_PATTERN", "dialable_forms", "is_known_region", "to_e164"]

#: Every E.164 string this module returns fullmatches this (ITU-T E.164: at most 15 digits).
E164_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}")

# Longer than any formatted number a person or a PBX writes; phonenumbers stops at 250 itself.
_MAX_INPUT = 64
# Digits and the separators people write between them (ASCII only, so no look-alike digits).
_ALLOWED = re.compile(r"\+?[0-9 ()./\-]+")
_DIGIT = re.compile(r"[0-9]")
# RFC 3966 tel URI: "tel:" then the number, then ";"-separated parameters (ext, phone-context).
_TEL_PREFIX = "tel:"


def to_e164(raw: str, default_region: str) -> str | None:
    """Return ``raw`` as an E.164 string, or None when it is not a plausible phone number.

    Accepts international (``+44 20 7946 0958``), national (``020 7946 0958``, read in
    ``default_region``), IDD-prefixed (``0044...`` where 00 is the region's international
    prefix) and RFC 3966 ``tel:`` forms. Anything holding letters or other symbols (vanity
    numbers, ``<unknown>``, SQL, markup) gives None, as do numbers of impossible length.
    """
    text = _strip_tel_uri(raw.strip())
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


def _strip_tel_uri(text: str) -> str:
    """Return the number part of an RFC 3966 ``tel:`` URI, or ``text`` unchanged."""
    if text[: len(_TEL_PREFIX)].lower() != _TEL_PREFIX:
        return text
    return text[len(_TEL_PREFIX) :].split(";", 1)[0]
