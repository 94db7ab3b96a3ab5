"""An in-memory Salesforce org: Users, Accounts, Contacts, Leads, Cases and Tasks.

Evaluates the parsed SOQL and SOSL of :mod:`tests.salesforce.fake_queries` over its records and
validates writes the way the REST API does for the fields the connector uses (Object Reference
for Salesforce: Task, Contact; REST API Developer Guide: "Status Codes and Error Responses").
Ids are real-looking 18-character ids with each object's key prefix and the case-safe suffix.
Thread-safe: the fake server's handler threads share one org.
"""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.salesforce.fake_queries import WILDCARDS, Cond, Search, Select

PREFIXES = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Case": "500",
    "Task": "00T",
}
FIELDS = {
    "User": {"Name", "FirstName", "LastName", "Username", "IsActive"},
    "Account": {"Name", "Phone", "Fax", "Type", "Industry", "Website", "OwnerId"},
    "Contact": {
        "FirstName", "LastName", "Name", "Email", "Title", "Phone", "MobilePhone", "HomePhone",
        "OtherPhone", "AssistantPhone", "AccountId", "OwnerId", "Description",
    },
    "Lead": {
        "FirstName", "LastName", "Name", "Company", "Email", "Title", "Phone", "MobilePhone",
        "IsConverted", "Status", "OwnerId",
    },
    "Case": {
        "CaseNumber", "Subject", "Status", "Origin", "ContactId", "AccountId", "OwnerId",
        "Description", "IsClosed", "CreatedDate",
    },
    "Task": {
        "Subject", "Status", "Priority", "TaskSubtype", "Type", "CallType",
        "CallDurationInSeconds", "CallDisposition", "CallObject", "Description", "ActivityDate",
        "WhoId", "WhatId", "AccountId", "OwnerId", "CreatedDate",
    },
}  # fmt: skip
for _fields in FIELDS.values():
    _fields.add("Id")
PHONE_FIELDS = {
    "Contact": ("Phone", "MobilePhone", "HomePhone", "OtherPhone", "AssistantPhone"),
    "Lead": ("Phone", "MobilePhone"),
    "Account": ("Phone", "Fax"),
}
SEARCHABLE = {
    "Contact": ("Name", "Email", "Title", *PHONE_FIELDS["Contact"]),
    "Lead": ("Name", "Company", "Email", *PHONE_FIELDS["Lead"]),
    "Account": ("Name", "Website", *PHONE_FIELDS["Account"]),
    "Case": ("CaseNumber", "Subject", "Description"),
}
# relationship name -> (id field, object it points at; None: the id's prefix says)
RELATIONSHIPS = {
    "Account": ("AccountId", "Account"),
    "Owner": ("OwnerId", "User"),
    "Contact": ("ContactId", "Contact"),
    "Who": ("WhoId", None),
    "What": ("WhatId", None),
}
CLOSED_STATUSES = {"closed"}
CALL_TYPES = {"Inbound", "Outbound", "Internal"}
NOT_UPDATEABLE = {"Task": {"TaskSubtype"}}
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class OrgError(Exception):
    """A refused request: HTTP ``status`` with one REST error ``code``."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.fields = status, code, fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": str(self), "errorCode": self.code, "fields": self.fields}]


def sf_datetime(value: datetime) -> str:
    """Return a dateTime as the REST API writes it: ``2026-11-20T12:00:00.000+0000``."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{value.microsecond // 1000:03d}+0000"
    )


def _eighteen(fifteen: str) -> str:
    """Return the case-safe 18-character form of a 15-character id."""
    suffix = ""
    for chunk in range(3):
        part = fifteen[chunk * 5 : chunk * 5 + 5]
        bits = sum(1 << i for i, char in enumerate(part) if char.isupper())
        suffix += _SUFFIX[bits]
    return fifteen + suffix


class FakeOrg:
    def __init__(self, api_version: str = "59.0") -> None:
        self.api_version = api_version
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}
        self.external_ids: dict[str, set[str]] = {"Task": set()}
        self.url_fields: dict[str, set[str]] = {"Task": set()}
        self._lock = threading.RLock()
        self._serial = itertools.count(1)
        self._cases = itertools.count(1001)
        self._clock = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    # ------------------------------------------------------------------ seeding and reading
    def add(self, object_name: str, **values: Any) -> str:
        """Store a record as an admin would (no validation); return its Id."""
        with self._lock:
            record_id = _eighteen(f"{PREFIXES[object_name]}{next(self._serial):012d}")
            record = {"Id": record_id, **values}
            if object_name == "Case":
                record.setdefault("CaseNumber", f"{next(self._cases):08d}")
            if object_name in ("Case", "Task"):
                record.setdefault("CreatedDate", self._tick())
            if object_name == "Lead":
                record.setdefault("IsConverted", False)
            self.records[object_name][record_id] = record
            return record_id

    def add_external_id(self, object_name: str, field_name: str) -> None:
        """Create a custom Text field marked External ID and Unique (the setup step)."""
        with self._lock:
            self.external_ids.setdefault(object_name, set()).add(field_name)

    def add_url_field(self, object_name: str, field_name: str) -> None:
        """Create a custom URL field (at most 255 characters), as an admin would."""
        with self._lock:
            self.url_fields.setdefault(object_name, set()).add(field_name)

    def tasks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(task) for task in self.records["Task"].values()]

    def object_of(self, record_id: str) -> str | None:
        for name, prefix in PREFIXES.items():
            if record_id.startswith(prefix) and record_id in self.records[name]:
                return name
        return None

    def _tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return sf_datetime(self._clock)

    # ------------------------------------------------------------------ queries
    def select(self, query: Select) -> list[dict[str, Any]]:
        with self._lock:
            rows = [r for r in self._table(query.object_name) if self._holds(query, r, query.where)]
            if query.order_by is not None:
                rows.sort(
                    key=lambda r: str(self._value(query.object_name, r, query.order_by or "")),
                    reverse=query.descending,
                )
            rows = rows[: query.limit] if query.limit is not None else rows
            return [self._row(query.object_name, r, query.fields) for r in rows]

    def search(self, search: Search) -> list[dict[str, Any]]:
        with self._lock:
            found: list[dict[str, Any]] = []
            for query in search.returning:
                name = query.object_name
                searched = (
                    PHONE_FIELDS.get(name, ()) if search.scope == "PHONE" else SEARCHABLE[name]
                )
                hits = [
                    r
                    for r in self._table(name)
                    if self._found(search, name, r, searched) and self._holds(query, r, query.where)
                ]
                hits = hits[: query.limit] if query.limit is not None else hits
                found.extend(self._row(name, r, query.fields) for r in hits)
            return found

    def _table(self, object_name: str) -> list[dict[str, Any]]:
        if object_name not in self.records:
            raise OrgError(400, "INVALID_TYPE", f"sObject type '{object_name}' is not supported.")
        return list(self.records[object_name].values())

    def _found(
        self, search: Search, name: str, record: dict[str, Any], fields: tuple[str, ...]
    ) -> bool:
        texts = [str(self._value(name, record, f)) for f in fields if self._value(name, record, f)]
        for group in search.expression:
            if all(
                negated != any(_pattern(term.text).search(t) for t in texts)
                for negated, term in group
            ):
                return True
        return False

    def _holds(self, query: Select, record: dict[str, Any], cond: Cond | None) -> bool:
        if cond is None:
            return True
        if cond.kind == "and":
            return all(self._holds(query, record, c) for c in cond.children)
        if cond.kind == "or":
            return any(self._holds(query, record, c) for c in cond.children)
        if cond.kind == "not":
            return not self._holds(query, record, cond.children[0])
        return _compare(
            self._value(query.object_name, record, cond.field_name), cond.op, cond.value
        )

    def _value(self, object_name: str, record: dict[str, Any], field_name: str) -> Any:
        if "." in field_name:
            relation, rest = field_name.split(".", 1)
            target = self._related(object_name, record, relation)
            return None if target is None else self._value(target[0], target[1], rest)
        if field_name not in FIELDS[object_name] | self.external_ids.get(object_name, set()):
            raise OrgError(
                400, "INVALID_FIELD", f"No such column '{field_name}' on entity '{object_name}'."
            )
        if (
            field_name == "Name"
            and object_name in ("Contact", "Lead", "User")
            and "Name" not in record
        ):
            return " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
        if field_name == "IsClosed" and object_name == "Case":
            return str(record.get("Status", "")).lower() in CLOSED_STATUSES
        if field_name == "AccountId" and object_name == "Task":
            return self._task_account(record)
        return record.get(field_name)

    def _related(
        self, object_name: str, record: dict[str, Any], relation: str
    ) -> tuple[str, dict[str, Any]] | None:
        if relation not in RELATIONSHIPS:
            raise OrgError(400, "INVALID_FIELD", f"Didn't understand relationship '{relation}'.")
        id_field, target = RELATIONSHIPS[relation]
        related_id = record.get(id_field)
        if not related_id:
            return None
        target = target or self.object_of(related_id)
        found = self.records.get(target or "", {}).get(related_id)
        return None if found is None or target is None else (target, found)

    def _task_account(self, task: dict[str, Any]) -> str | None:
        what, who = task.get("WhatId"), task.get("WhoId")
        if what and self.object_of(what) == "Account":
            return str(what)
        if who and self.object_of(who) == "Contact":
            return self.records["Contact"][who].get("AccountId")
        return None

    def _row(self, object_name: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self._attributes(object_name, record["Id"])}
        for name in fields:
            if "." not in name:
                out[name] = self._value(object_name, record, name)
                continue
            relation, rest = name.split(".", 1)
            target = self._related(object_name, record, relation)
            if target is None:
                out[relation] = None
                continue
            nested = out.get(relation) or {
                "attributes": self._attributes(target[0], target[1]["Id"])
            }
            nested[rest] = self._value(target[0], target[1], rest)
            out[relation] = nested
        return out

    def _attributes(self, object_name: str, record_id: str) -> dict[str, str]:
        url = f"/services/data/v{self.api_version}/sobjects/{object_name}/{record_id}"
        return {"type": object_name, "url": url}

    # ------------------------------------------------------------------ writes
    def create(self, object_name: str, body: dict[str, Any]) -> str:
        with self._lock:
            self._validate(object_name, body, creating=True)
            return self.add(object_name, **body)

    def update(self, object_name: str, record_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            record = self.records.get(object_name, {}).get(record_id)
            if record is None:
                raise OrgError(404, "NOT_FOUND", "The requested resource does not exist")
            self._validate(object_name, body, creating=False)
            record.update(body)

    def upsert(
        self, object_name: str, field_name: str, value: str, body: dict[str, Any]
    ) -> tuple[str, bool]:
        with self._lock:
            existing = self._by_external_id(object_name, field_name, value)
            if existing is not None:
                self.update(object_name, existing["Id"], body)
                return existing["Id"], False
            record_id = self.create(object_name, {**body, field_name: value})
            return record_id, True

    def by_external_id(self, object_name: str, field_name: str, value: str) -> dict[str, Any]:
        with self._lock:
            found = self._by_external_id(object_name, field_name, value)
            if found is None:
                raise OrgError(404, "NOT_FOUND", "The requested resource does not exist")
            fields = sorted(FIELDS[object_name] | self.external_ids.get(object_name, set()))
            return self._row(object_name, found, fields)

    def _by_external_id(
        self, object_name: str, field_name: str, value: str
    ) -> dict[str, Any] | None:
        if field_name not in self.external_ids.get(object_name, set()):
            raise OrgError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        matches = [r for r in self._table(object_name) if r.get(field_name) == value]
        return matches[0] if matches else None

    def _validate(self, object_name: str, body: dict[str, Any], *, creating: bool) -> None:
        urls = self.url_fields.get(object_name, set())
        allowed = FIELDS[object_name] | self.external_ids.get(object_name, set()) | urls
        for name, value in body.items():
            if name in urls and len(str(value or "")) > 255:
                raise OrgError(400, "STRING_TOO_LONG", f"{name}: data value too large", [name])
            if name not in allowed or name in ("Id", "CreatedDate", "IsClosed", "Name"):
                raise OrgError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {object_name}",
                    [name],
                )
            if not creating and name in NOT_UPDATEABLE.get(object_name, set()):
                raise OrgError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [name],
                )
        if object_name == "Contact" and creating and not body.get("LastName"):
            raise OrgError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LastName]",
                ["LastName"],
            )
        if object_name == "Task":
            self._validate_task(body)

    def _validate_task(self, body: dict[str, Any]) -> None:
        if "CallType" in body and body["CallType"] not in CALL_TYPES:
            raise OrgError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Call Type: bad value for restricted picklist field: {body['CallType']}",
                ["CallType"],
            )
        for name, kinds in (
            ("WhoId", {"Contact", "Lead"}),
            ("WhatId", {"Account", "Case"}),
            ("OwnerId", {"User"}),
        ):
            if body.get(name) and self.object_of(body[name]) not in kinds:
                raise OrgError(
                    400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name]
                )
        if body.get("WhoId") and self.object_of(body["WhoId"]) == "Lead" and body.get("WhatId"):
            raise OrgError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Related To ID: You can't associate a lead with a related record.",
                ["WhatId"],
            )
        if "CallDurationInSeconds" in body and not isinstance(body["CallDurationInSeconds"], int):
            raise OrgError(400, "JSON_PARSER_ERROR", "Cannot deserialize CallDurationInSeconds")


def _pattern(text: str) -> re.Pattern[str]:
    parts = []
    for char in text:
        if char == WILDCARDS["*"]:
            parts.append(r"\S*")
        elif char == WILDCARDS["?"]:
            parts.append(r"\S")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.I)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "IN":
        return any(_compare(actual, "=", value) for value in expected)
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()
    if op == "=":
        return bool(actual == expected)
    if op in ("!=", "<>"):
        return bool(actual != expected)
    if op == "LIKE":
        regex = re.escape(str(expected)).replace("%", ".*").replace("_", ".")
        return actual is not None and re.fullmatch(regex, str(actual), re.I) is not None
    if actual is None or expected is None:
        return False
    return bool(
        {
            "<": actual < expected,
            ">": actual > expected,
            "<=": actual <= expected,
            ">=": actual >= expected,
        }[op]
    )
