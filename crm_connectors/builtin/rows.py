"""Turn the built-in CRM's rows into the CRM-neutral values of :mod:`crm_connectors.base`.

Pure: no queries here, so the mapping is tested without a database. Ids are the tables' integer
keys, written as decimal strings in every :class:`RecordRef`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_connectors.base import Account, CallHistoryEntry, Case, Contact, RecordRef
from cti.core.records import Direction, Outcome
from cti.errors import CrmError, NotFound, ValidationFailed

__all__ = ["ACCOUNT", "CALL", "CASE", "CONTACT", "RefMaker", "display_name", "history_entry"]

# The object types of the built-in CRM, as they appear in RecordRef.object_type.
ACCOUNT = "account"
CALL = "call"
CASE = "case"
CONTACT = "contact"


@dataclass(frozen=True, slots=True)
class RefMaker:
    """Build and read references for one connector instance.

    ``url_template`` (``"https://crm.example/{object_type}/{record_id}"``) gives each reference
    a URL the agent's browser can open; None when the built-in CRM has no UI to open.
    """

    system: str
    url_template: str | None = None

    def ref(self, object_type: str, record_id: int) -> RecordRef:
        rid = str(record_id)
        url = None
        if self.url_template is not None:
            url = self.url_template.format(object_type=object_type, record_id=rid)
        return RecordRef(self.system, object_type, rid, url)

    def own_id(self, ref: RecordRef, object_type: str) -> int:
        """Return the table key a reference of ours points at.

        Raises ValidationFailed for another system's or another type's reference, and NotFound
        for an id that cannot be a key of ours.
        """
        if ref.system != self.system or ref.object_type != object_type:
            raise ValidationFailed(
                f"expected a {self.system} {object_type} reference",
                details={"system": ref.system, "object_type": ref.object_type},
            )
        rid = ref.record_id
        if not (rid.isascii() and rid.isdigit() and len(rid) < 19):
            raise NotFound(f"no such {object_type}", details={"record_id": rid[:64]})
        return int(rid)

    def account(self, values: Mapping[str, Any], prefix: str = "") -> Account | None:
        """Return the account in a row (columns ``{prefix}id``, ``{prefix}name``, ...)."""
        account_id = values[f"{prefix}id"]
        if account_id is None:
            return None
        return Account(
            ref=self.ref(ACCOUNT, account_id),
            name=values[f"{prefix}name"],
            phone=values[f"{prefix}phone_e164"],
            account_type=values[f"{prefix}account_type"],
            industry=values[f"{prefix}industry"],
        )

    def contact(
        self, row: Mapping[str, Any], phones: tuple[str, ...], account: Account | None
    ) -> Contact:
        """Return the contact in ``row`` (columns of crm_contacts) with its phones and account."""
        first, last = row["first_name"], row["last_name"]
        return Contact(
            ref=self.ref(CONTACT, row["id"]),
            display_name=display_name(first, last, row["email"], phones),
            first_name=first,
            last_name=last,
            email=row["email"],
            title=row["title"],
            phones=phones,
            account=account,
        )

    def case(self, row: Mapping[str, Any]) -> Case:
        """Return the case in ``row`` (columns of crm_cases)."""
        return Case(
            ref=self.ref(CASE, row["id"]),
            number=row["number"],
            subject=row["subject"],
            status=row["status"],
            opened_at=row["opened_at"],
            owner_name=row["owner_name"],
            origin=row["origin"],
        )


def history_entry(row: Mapping[str, Any]) -> CallHistoryEntry:
    """Return the call in ``row`` (columns of crm_calls) as a history entry."""
    try:
        direction, outcome = Direction(row["direction"]), Outcome(row["outcome"])
    except ValueError as exc:
        raise CrmError("a stored call has an unknown direction or outcome") from exc
    return CallHistoryEntry(
        call_id=row["call_id"],
        started_at=row["started_at"],
        direction=direction,
        outcome=outcome,
        caller_number=row["caller_number"],
        called_number=row["called_number"],
        agent=row["answered_by"],
        duration_seconds=max(0.0, row["duration_seconds"]),
        disposition=row["disposition"],
        notes=row["notes"],
        recordings=_links(row["recordings"]),
    )


def _links(value: object) -> tuple[str, ...]:
    """crm_calls.recordings: a list, or its JSON text inside the one-statement lookup's JSON
    (SQLite's json_array embeds a JSON column as a string)."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        return ()
    return tuple(str(link) for link in value)


def display_name(first: str, last: str, email: str | None, phones: tuple[str, ...]) -> str:
    """Return how a contact is shown: the full name, else the email, else the main number."""
    full = f"{first} {last}".strip()
    if full:
        return full
    if email:
        return email
    return phones[0] if phones else "(no name)"
