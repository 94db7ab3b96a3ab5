"""What an admin enters for a site, checked: addresses, callback numbers, MACs, porting status
and letters of authorisation. Pure: each function returns the clean value or raises
:class:`~cti.errors.ValidationFailed` naming the field (``details['field']``), so the wizard can
highlight it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from cti.errors import PayloadTooLarge, ValidationFailed
from cti.numbers import parse_entered

__all__ = [
    "ADDRESS_FIELDS",
    "LOA_MAX_BYTES",
    "STEPS",
    "Letter",
    "LocationInput",
    "NumberInput",
    "check_letter",
    "check_location",
    "check_mac",
    "check_number",
    "check_step",
]

# (field, required, max length). Emergency services need street, city, postal code, country;
# "floor/room" is where in the building (NENA's "additional location information").
ADDRESS_FIELDS: tuple[tuple[str, bool, int], ...] = (
    ("street", True, 200),
    ("city", True, 100),
    ("region", False, 100),
    ("postal_code", True, 20),
    ("country", True, 2),
    ("floor_room", False, 100),
)
STEPS = ("locations", "numbers", "users", "devices", "completion")
LOA_MAX_BYTES = 5 * 1024 * 1024
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_MAC = re.compile(r"[0-9a-f]{12}")
_MAC_SEPARATORS = re.compile(r"[:\-. ]")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _fail(field: str, message: str, **extra: object) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details={"field": field, **extra})


def _text(body: dict[str, Any], key: str, field: str, limit: int, *, required: bool) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(field, "must be text")
    value = value.strip()
    if required and not value:
        raise _fail(field, "is required", reason="required")
    if len(value) > limit or _CONTROL.search(value):
        raise _fail(field, f"is at most {limit} characters, without control characters")
    return value


def _address(body: Any, prefix: str) -> dict[str, str]:
    if not isinstance(body, dict):
        raise _fail(prefix, "is an object of address fields")
    out = {}
    for key, required, limit in ADDRESS_FIELDS:
        out[key] = _text(body, key, f"{prefix}.{key}", limit, required=required)
    out["country"] = out["country"].upper()
    if not _COUNTRY.fullmatch(out["country"]):
        raise _fail(f"{prefix}.country", "is a two-letter ISO country code (US, GB, DE)")
    return out


@dataclass(frozen=True, slots=True)
class LocationInput:
    name: str
    address: dict[str, str]
    emergency: dict[str, str]
    callback: str  # E.164


def check_location(body: dict[str, Any], default_region: str) -> LocationInput:
    """A location: its name, address, emergency address (``same_as_address`` copies it) and
    the callback number emergency services see, valid by :func:`cti.numbers.parse_entered`."""
    name = _text(body, "name", "name", 64, required=True)
    if not _NAME.fullmatch(name):
        raise _fail("name", "is 1 to 64 characters")
    address = _address(body.get("address"), "address")
    same = body.get("same_as_address") is True
    emergency = address if same else _address(body.get("emergency"), "emergency")
    raw = _text(body, "callback", "callback", 40, required=True)
    region = emergency["country"] or default_region
    entered = parse_entered(raw, region, "callback")
    if entered.extension is not None:
        raise _fail("callback", "is a direct number emergency services can call (no extension)")
    return LocationInput(name, address, dict(emergency), entered.e164)


@dataclass(frozen=True, slots=True)
class Letter:
    name: str
    media_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class NumberInput:
    number: str  # E.164 digits without the plus
    status: str
    location: str | None
    due_date: str | None = None
    reason: str | None = None


def check_number(body: dict[str, Any], default_region: str) -> NumberInput:
    """A number of the site and its porting status: ``active``; ``porting`` with a due date
    (the letter of authorisation is uploaded separately); ``failed`` with a reason."""
    raw = _text(body, "number", "number", 40, required=True)
    entered = parse_entered(raw, default_region, "number")
    status = body.get("status", "active")
    if status not in ("active", "porting", "failed"):
        raise _fail("status", "is active, porting or failed")
    location = _text(body, "location", "location", 64, required=False) or None
    due = reason = None
    if status == "porting":
        text = _text(body, "due_date", "due_date", 10, required=True)
        try:
            due = date.fromisoformat(text).isoformat()
        except ValueError as exc:
            raise _fail("due_date", "is a date (YYYY-MM-DD)") from exc
    if status == "failed":
        reason = _text(body, "reason", "reason", 500, required=True)
    return NumberInput(entered.e164.removeprefix("+"), status, location, due, reason)


def check_mac(text: str, field: str = "mac") -> str:
    """Return a MAC as 12 lower-case hex digits; ``00:15:65:AB:CD:EF``, ``0015.65ab.cdef``,
    ``00-15-65-ab-cd-ef`` and ``001565ABCDEF`` are the same MAC. Multicast and all-zero MACs
    are no phone's."""
    mac = _MAC_SEPARATORS.sub("", text.strip()).lower()
    if not _MAC.fullmatch(mac):
        raise _fail(field, f"{text.strip()[:40]!r} is not a MAC address (12 hex digits)")
    if mac == "0" * 12 or int(mac[1], 16) & 1:
        raise _fail(field, f"{text.strip()[:40]!r} is not a device's MAC (multicast or zero)")
    return mac


# Letters of authorisation: PDF or an image, recognised by their first bytes (the name and the
# browser's content type are the uploader's claim, not the file's).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def check_letter(data: bytes, name: str) -> Letter:
    if len(data) > LOA_MAX_BYTES:
        raise PayloadTooLarge(
            f"letter: at most {LOA_MAX_BYTES // (1024 * 1024)} MiB",
            details={"field": "letter", "limit": LOA_MAX_BYTES},
        )
    if not data:
        raise _fail("letter", "the file is empty")
    for magic, media in _MAGIC:
        if data.startswith(magic):
            clean = re.sub(r"[^A-Za-z0-9._ -]", "_", name)[:200] or "letter"
            return Letter(clean, media, data)
    raise _fail("letter", "is a PDF, PNG or JPEG file (checked by its content)", reason="type")


def check_step(step: Any) -> str:
    if step not in STEPS:
        raise _fail("step", f"is one of {', '.join(STEPS)}")
    return str(step)
