"""Checks of the fields people type into a CRM record: e-mail syntax, names, lengths.

Every connector gets the same :class:`~crm_connectors.base.NewContact`, which checks itself
with these when it is built, so the contacts API, the built-in CRM and Salesforce refuse the
same values with the same message: a ValidationFailed (422) naming the field. E-mail syntax is
``email-validator``'s (RFC 5322 / 6531 as mail servers accept it, internationalized domains
included); deliverability (a DNS look-up) is not checked here: a contact may be created while
the caller's domain is offline.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from cti.errors import ValidationFailed

__all__ = ["MAX_EMAIL", "MAX_NAME", "MAX_TITLE", "check_email", "check_text"]

MAX_NAME = 80  # first and last name
MAX_TITLE = 120
MAX_EMAIL = 254  # RFC 5321's path limit less the brackets


def check_text(value: object, field: str, limit: int) -> str:
    """``value`` stripped, if it is text of at most ``limit`` printable characters."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} is text", details={"field": field})
    text = value.strip()
    if len(text) > limit or not text.isprintable():
        raise ValidationFailed(
            f"{field} is at most {limit} printable characters",
            details={"field": field, "limit": limit},
        )
    return text


def check_email(value: object, field: str = "email") -> str:
    """``value`` as a normalized e-mail address (domain lower-cased); 422 naming ``field``."""
    text = check_text(value, field, MAX_EMAIL)
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"{field} is not an e-mail address: {exc}", details={"field": field}
        ) from exc
    return str(checked.normalized)
