"""Salesforce records (decoded REST JSON) to the CRM-neutral values of :mod:`crm_connectors.base`,
and a finished call to the Task that logs it.

Pure: no requests here. Record shapes are those of the REST API's query and search resources: a
dict per record with ``attributes``, the selected fields, and a nested dict (or null) per
relationship field such as ``Account.Name``. Phone numbers stored by people are read with the
connector's default region and dropped when they do not parse; every number leaving here is
E.164.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crm_connectors.base import (
    Account,
    CallHistoryEntry,
    Case,
    Contact,
    RecordRef,
    SearchHit,
    SearchKind,
)
from cti.core.records import CallRecord, Direction, Outcome
from cti.errors import CrmError
from cti.numbers import phone_with_extension, split_extension, to_e164

__all__ = [
    "Refs",
    "Row",
    "call_subject",
    "history_entry",
    "parse_datetime",
    "phones_of",
    "readable",
    "search_hits",
    "task_body",
    "task_description",
]

Row = Mapping[str, Any]

_CALL_TYPES = {
    Direction.INBOUND: "Inbound",
    Direction.OUTBOUND: "Outbound",
    Direction.INTERNAL: "Internal",
}
_DIRECTIONS = {value.lower(): key for key, value in _CALL_TYPES.items()}
_OUTCOME_SUFFIX = re.compile(r"\((" + "|".join(o.value for o in Outcome) + r")\)\s*$")
_FROM = re.compile(r"\bfrom (\S+)")
_TO = re.compile(r"\bto (\S+)")
# Field lengths of the Task object (Object Reference: Task).
_SUBJECT_MAX = 255
_DESCRIPTION_MAX = 32_000
_SHORT_MAX = 255


@contextmanager
def readable(operation: str) -> Iterator[None]:
    """Turn a record missing a field we asked for (or holding a surprise) into a CrmError."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CrmError(
            "Salesforce sent an answer the connector cannot read",
            details={"operation": operation, "problem": f"{type(exc).__name__}: {exc}"[:200]},
        ) from exc


def parse_datetime(value: str) -> datetime:
    """Return a REST API dateTime (``2026-11-20T12:00:00.000+0000``) as aware UTC."""
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except (TypeError, ValueError) as exc:
        raise CrmError(
            "Salesforce sent a date-time we cannot read", details={"value": value}
        ) from exc
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Refs:
    """Build references for one org: ``url`` opens the record in Lightning Experience."""

    system: str
    instance_url: str  # "https://acme.my.salesforce.com"
    region: str

    def ref(self, object_type: str, record_id: str) -> RecordRef:
        url = f"{self.instance_url}/lightning/r/{object_type}/{record_id}/view"
        return RecordRef(self.system, object_type, record_id, url)

    def e164(self, raw: object) -> str | None:
        return to_e164(raw, self.region) if isinstance(raw, str) and raw else None

    def account(self, row: Row) -> Account:
        """Return an Account record (fields of queries.ACCOUNT_FIELDS)."""
        return Account(
            ref=self.ref("Account", row["Id"]),
            name=row.get("Name") or "(no name)",
            phone=self.e164(row.get("Phone")),
            account_type=row.get("Type"),
            industry=row.get("Industry"),
        )

    def contact(self, row: Row, phone_fields: Sequence[str]) -> Contact:
        """Return a Contact record with its account (fields of queries.contact_fields)."""
        account = None
        related = row.get("Account")
        if row.get("AccountId") and isinstance(related, Mapping):
            account = self.account({"Id": row["AccountId"], **related})
        return self._person("Contact", row, phone_fields, account)

    def lead(self, row: Row, phone_fields: Sequence[str]) -> Contact:
        """Return a Lead as a contact; its company, if any, follows the name."""
        return self._person("Lead", row, phone_fields, None)

    def case(self, row: Row) -> Case:
        """Return a Case record (fields of queries.CASE_FIELDS)."""
        owner = row.get("Owner")
        return Case(
            ref=self.ref("Case", row["Id"]),
            number=row.get("CaseNumber") or "",
            subject=row.get("Subject") or "",
            status=row.get("Status") or "",
            opened_at=parse_datetime(row["CreatedDate"]),
            owner_name=owner.get("Name") if isinstance(owner, Mapping) else None,
            origin=row.get("Origin"),
        )

    def _person(
        self, object_type: str, row: Row, phone_fields: Sequence[str], account: Account | None
    ) -> Contact:
        phones = phones_of(row, phone_fields, self.region)
        name = row.get("Name") or row.get("Email") or (phones[0] if phones else "(no name)")
        if row.get("Company"):
            name = f"{name} ({row['Company']})"
        return Contact(
            ref=self.ref(object_type, row["Id"]),
            display_name=name,
            first_name=row.get("FirstName") or "",
            last_name=row.get("LastName") or "",
            email=row.get("Email"),
            title=row.get("Title"),
            phones=phones,
            account=account,
        )


def phones_of(row: Row, fields: Sequence[str], region: str) -> tuple[str, ...]:
    """Return the record's phone fields that parse, as E.164, in field order, no repeats.

    An extension in the field (``x12``, ``ext. 12``) is kept as ``;ext=12``, as the built-in
    CRM hands it back; two fields holding one main number give it once.
    """
    kept: dict[str, str] = {}
    for field in fields:
        raw = row.get(field)
        if not isinstance(raw, str) or not raw:
            continue
        main, extension = split_extension(raw[:128])  # as to_e164 reads it
        e164 = to_e164(main, region)
        if e164 is not None:
            kept.setdefault(e164, phone_with_extension(e164, extension))
    return tuple(kept.values())


def search_hits(records: Sequence[Row], refs: Refs, limit: int) -> list[SearchHit]:
    """Return SOSL search records (Contacts, Accounts, Cases) as search hits, in their order."""
    hits: list[SearchHit] = []
    for row in records:
        kind = row.get("attributes", {}).get("type")
        account = row.get("Account")
        account_name = account.get("Name", "") if isinstance(account, Mapping) else ""
        if kind == "Contact":
            phones = phones_of(row, ("Phone", "MobilePhone"), refs.region)
            subtitle = " · ".join(s for s in (row.get("Title"), account_name) if s)
            title = row.get("Name") or row.get("Email") or "(no name)"
            hits.append(
                SearchHit(SearchKind.CONTACT, refs.ref(kind, row["Id"]), title, subtitle, phones)
            )
        elif kind == "Account":
            found = refs.account(row)
            subtitle = " · ".join(s for s in (found.account_type, found.industry) if s)
            phones = (found.phone,) if found.phone else ()
            hits.append(SearchHit(SearchKind.ACCOUNT, found.ref, found.name, subtitle, phones))
        elif kind == "Case":
            contact = row.get("Contact")
            who = contact.get("Name", "") if isinstance(contact, Mapping) else ""
            title = f"{row.get('CaseNumber', '')} {row.get('Subject') or ''}".strip()
            subtitle = " · ".join(s for s in (row.get("Status"), who or account_name) if s)
            hits.append(SearchHit(SearchKind.CASE, refs.ref(kind, row["Id"]), title, subtitle))
    return hits[:limit]


def history_entry(row: Row) -> CallHistoryEntry:
    """Return a call Task (fields of queries.TASK_FIELDS) as a history entry.

    Direction comes from CallType; the outcome and the numbers from the Subject this connector
    writes (:func:`call_subject`); a Task logged by someone else without them counts as an
    answered call when it lasted, else as missed.
    """
    subject = row.get("Subject") or ""
    duration = float(row.get("CallDurationInSeconds") or 0)
    direction = _DIRECTIONS.get((row.get("CallType") or "").lower(), Direction.INBOUND)
    suffix = _OUTCOME_SUFFIX.search(subject)
    if suffix is not None:
        outcome = Outcome(suffix.group(1))
    else:
        outcome = Outcome.ANSWERED if duration > 0 else Outcome.MISSED
    caller, called = _FROM.search(subject), _TO.search(subject)
    owner = row.get("Owner")
    return CallHistoryEntry(
        call_id=row.get("CallObject") or row["Id"],
        started_at=parse_datetime(row["CreatedDate"]),
        direction=direction,
        outcome=outcome,
        caller_number=caller.group(1) if caller else "",
        called_number=called.group(1) if called else "",
        agent=owner.get("Name") if isinstance(owner, Mapping) else None,
        duration_seconds=max(0.0, duration),
        disposition=row.get("CallDisposition"),
        notes=row.get("Description") or "",
    )


def call_subject(record: CallRecord, region: str) -> str:
    """Return the Task subject for a call, e.g. ``Inbound call from +442079460958 (answered)``."""
    caller = _number(record.caller_number, region)
    called = _number(record.called_number, region)
    if record.direction is Direction.INBOUND:
        text = f"Inbound call from {caller}"
    elif record.direction is Direction.OUTBOUND:
        text = f"Outbound call to {called}"
    else:
        text = f"Internal call from {caller} to {called}"
    return f"{text} ({record.outcome.value})"[-_SUBJECT_MAX:]


def task_body(
    record: CallRecord,
    *,
    system: str,
    region: str,
    owner_id: str | None,
    zone: ZoneInfo,
    recording_field: str | None = None,
) -> dict[str, object]:
    """Return the fields of the Task that logs ``record`` (without any external id field).

    WhoId is the first Contact or Lead the call was matched to, WhatId the first Account;
    Salesforce refuses a WhatId next to a Lead, so a lead's Task has none. With
    ``recording_field`` (a URL field, at most 255 characters) the call's first recording link
    goes there too; every link is in the description either way.
    """
    who = _first_match(record, system, ("contact", "lead"))
    what = _first_match(record, system, ("account",))
    body: dict[str, object] = {
        "Subject": call_subject(record, region),
        "TaskSubtype": "Call",
        "Status": "Completed",
        "CallType": _CALL_TYPES[record.direction],
        "CallDurationInSeconds": round(record.talk_seconds),
        "CallObject": record.call_id[:_SHORT_MAX],
        "ActivityDate": record.started_at.astimezone(zone).date().isoformat(),
        "Description": task_description(record),
    }
    if record.disposition:
        body["CallDisposition"] = record.disposition[:_SHORT_MAX]
    if who is not None:
        body["WhoId"] = who[1]
    if what is not None and (who is None or who[0] != "lead"):
        body["WhatId"] = what[1]
    if owner_id is not None:
        body["OwnerId"] = owner_id
    if recording_field is not None and record.recordings and len(record.recordings[0]) <= 255:
        body[recording_field] = record.recordings[0]  # a longer link: the description only
    return body


def task_description(record: CallRecord) -> str:
    """The Task's description: the agent's notes, after the access-number interaction the call
    answered (what the customer's app sent: who, intent, order, page), when there was one, and
    a ``Recording: <link>`` line per recording of the call (the link plays it to a signed-in
    user allowed to hear the call).

    The interaction and the links go first, so a long note is what the field's limit cuts.
    """
    lines = [f"Recording: {link}" for link in record.recordings]
    said = dict(record.interaction)
    if "id" in said:
        details = "; ".join(f"{k}: {v}" for k, v in record.interaction if k != "id")
        line = f"Interaction {said['id']} (access number)"
        lines.insert(0, f"{line}: {details}" if details else line)
    head = "\n".join(lines)
    text = f"{head}\n\n{record.notes}" if head and record.notes else head or record.notes
    return text[:_DESCRIPTION_MAX]


def _first_match(
    record: CallRecord, system: str, object_types: tuple[str, ...]
) -> tuple[str, str] | None:
    for match in record.matches:
        kind = match.object_type.lower()
        if match.system == system and kind in object_types:
            return kind, match.record_id
    return None


def _number(raw: str, region: str) -> str:
    number = to_e164(raw, region) if raw else None
    return number or (raw.split(maxsplit=1)[0][:40] if raw.strip() else "unknown")
