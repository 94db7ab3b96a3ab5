"""Check a provisioning sheet against the agents that exist, before anything changes.

Pure: :func:`plan_import` takes the parsed sheet and a snapshot of the store
(:class:`Existing`) and returns an :class:`ImportPlan`: every problem as a :class:`CellError`
(row, column, reason; at most one per cell) and, per row, exactly what would be created, updated,
deleted or ignored. It looks nothing up row by row, so 10,000 rows take well under a second.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cti.admin.columns import COLUMNS, Action
from cti.admin.sheet import Sheet, SheetRow

__all__ = [
    "AgentValues",
    "CellError",
    "Change",
    "Existing",
    "ExistingAgent",
    "ImportPlan",
    "Rules",
    "plan_import",
]

_USERNAME = re.compile(r"[a-z0-9._-]{1,64}")
_EMAIL = re.compile(r"[^@\s\"<>;,]+@[^@\s\"<>;,]+\.[^@\s\"<>;,]+")
_EXTENSION = re.compile(r"[0-9]{2,10}")
_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\"<>;\\]")
_SECRET = re.compile(r"[\x21-\x7e]{16,128}")
_SALESFORCE_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")
_ROLES = ("agent", "supervisor", "admin")
_ACTIONS = {"create": Action.CREATE, "update": Action.UPDATE, "delete": Action.DELETE}
_ACTIONS |= {"keep": Action.KEEP, "ignore": Action.KEEP}
_TITLES = {c.key: c.title for c in COLUMNS}

Kind = Literal["create", "update", "delete", "ignore"]
KeyPlan = Literal["generate", "explicit", "keep"]


@dataclass(frozen=True, slots=True)
class Rules:
    extension_min: int = 1000
    extension_max: int = 9999
    actor: str | None = None  # the admin importing: may not delete themself


@dataclass(frozen=True, slots=True)
class ExistingAgent:
    username: str
    first_name: str
    last_name: str
    email: str
    role: str
    extension: str
    groups: tuple[str, ...]
    salesforce_user: str


@dataclass(frozen=True, slots=True)
class Existing:
    """What the store holds, read once before validating."""

    agents: Mapping[str, ExistingAgent]
    extension_owners: Mapping[str, str]  # extension -> username (profiles and PJSIP/<ext>)
    groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class CellError:
    row: int
    column: str  # a column key (COLUMNS, or the site sheet's)
    reason: str
    sheet: str = "agents"  # or a site sheet: "locations", "devices"

    def as_dict(self) -> dict[str, object]:
        title = _TITLES.get(self.column, self.column) if self.sheet == "agents" else self.column
        body: dict[str, object] = {"row": self.row, "column": self.column, "title": title}
        body["reason"] = self.reason
        body["sheet"] = self.sheet
        return body


@dataclass(frozen=True, slots=True)
class AgentValues:
    first_name: str
    last_name: str
    email: str
    extension: str
    role: str
    groups: tuple[str, ...]
    salesforce_user: str

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class Change:
    """What one row does; ``diff`` names each changed field with (before, after)."""

    row: int
    kind: Kind
    username: str
    values: AgentValues | None = None
    key_plan: KeyPlan = "keep"
    secret: str | None = field(default=None, repr=False)
    diff: dict[str, tuple[str, str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"row": self.row, "kind": self.kind, "username": self.username}
        if self.values is not None:
            body["extension"] = self.values.extension
            body["display_name"] = self.values.display_name
            body["groups"] = list(self.values.groups)
        body["diff"] = {k: list(v) for k, v in self.diff.items()}
        body["secret"] = self.key_plan
        return body


@dataclass(frozen=True, slots=True)
class ImportPlan:
    errors: tuple[CellError, ...]
    changes: tuple[Change, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        found = Counter(change.kind for change in self.changes)
        return {kind: found.get(kind, 0) for kind in ("create", "update", "delete", "ignore")}


@dataclass(slots=True)
class _Row:
    source: SheetRow
    action: Action | None
    username: str
    values: AgentValues | None = None
    key_plan: KeyPlan = "keep"
    secret: str | None = None
    bad: set[str] = field(default_factory=set)


class _Checker:
    def __init__(self, existing: Existing, rules: Rules) -> None:
        self.existing, self.rules = existing, rules
        self.errors: list[CellError] = []

    def fail(self, row: _Row, column: str, reason: str) -> None:
        if column not in row.bad:
            row.bad.add(column)
            self.errors.append(CellError(row.source.number, column, reason))

    # ------------------------------------------------------------------ one row alone
    def read(self, source: SheetRow) -> _Row:
        cells = source.cells
        row = _Row(source, None, cells.get("username", ""))
        for key in sorted(source.formulas):
            self.fail(row, key, "formulas are not accepted: type the value itself")
        for key, text in cells.items():
            if text.startswith("="):
                self.fail(row, key, "a value may not start with '='")
        row.action = self._action(row, cells.get("action", ""))
        self._username(row)
        if row.action in (Action.CREATE, Action.UPDATE):
            row.values = self._values(row, cells)
            self._secret(row, cells.get("endpoint_secret", ""))
        return row

    def _action(self, row: _Row, text: str) -> Action | None:
        if not text:
            self.fail(row, "action", "missing: create, update, delete or keep")
            return None
        action = _ACTIONS.get(text.strip().lower())
        if action is None:
            self.fail(row, "action", f"'{text[:40]}' is not create, update, delete or keep")
        return action

    def _username(self, row: _Row) -> None:
        name = row.username
        if not name:
            self.fail(row, "username", "missing")
        elif not _USERNAME.fullmatch(name):
            self.fail(row, "username", "use 1 to 64 of a-z 0-9 . _ - (lower case)")

    def _values(self, row: _Row, cells: Mapping[str, str]) -> AgentValues:
        for key in ("first_name", "last_name"):
            text = cells.get(key, "")
            if not text:
                self.fail(row, key, "missing")
            elif len(text) > 100:
                self.fail(row, key, "at most 100 characters")
            elif _NAME_FORBIDDEN.search(text):
                self.fail(row, key, 'may not contain " < > ; \\ or control characters')
        email = cells.get("email", "")
        if not email:
            self.fail(row, "email", "missing")
        elif len(email) > 254 or not _EMAIL.fullmatch(email):
            self.fail(row, "email", f"'{email[:60]}' is not an email address")
        role = cells.get("role", "").lower()
        if not role:
            self.fail(row, "role", "missing: agent, supervisor or admin")
        elif role not in _ROLES:
            self.fail(row, "role", f"'{role[:30]}' is not agent, supervisor or admin")
        return AgentValues(
            first_name=cells.get("first_name", ""),
            last_name=cells.get("last_name", ""),
            email=email,
            extension=self._extension(row, cells.get("extension", "")),
            role=role,
            groups=self._groups(row, cells.get("groups", "")),
            salesforce_user=self._salesforce(row, cells.get("salesforce_user", "")),
        )

    def _extension(self, row: _Row, text: str) -> str:
        low, high = self.rules.extension_min, self.rules.extension_max
        if not text:
            self.fail(row, "extension", "missing")
        elif not _EXTENSION.fullmatch(text):
            self.fail(row, "extension", f"'{text[:20]}' is not an extension (digits only)")
        elif not low <= int(text) <= high:
            self.fail(row, "extension", f"{text} is outside the range {low}-{high}")
        return text

    def _groups(self, row: _Row, text: str) -> tuple[str, ...]:
        names = list(dict.fromkeys(n.strip() for n in text.split(";") if n.strip()))
        unknown = [n for n in names if n not in self.existing.groups]
        if unknown:
            listed = ", ".join(f"'{n[:40]}'" for n in unknown[:5])
            self.fail(row, "groups", f"unknown group {listed}: create it first (DIDs page)")
        return tuple(names)

    def _salesforce(self, row: _Row, text: str) -> str:
        if text and not (_SALESFORCE_ID.fullmatch(text) or _EMAIL.fullmatch(text)):
            self.fail(row, "salesforce_user", "a Salesforce user id (005...) or username")
        return text

    def _secret(self, row: _Row, text: str) -> None:
        if text.lower() == "generate" or (not text and row.action is Action.CREATE):
            row.key_plan = "generate"
        elif not text:
            row.key_plan = "keep"
        elif not _SECRET.fullmatch(text):
            self.fail(
                row,
                "endpoint_secret",
                "too weak: 16 to 128 printable characters without spaces, or 'generate'",
            )
        else:
            row.key_plan, row.secret = "explicit", text

    # -------------------------------------------------------------- rows together
    def cross_check(self, rows: list[_Row]) -> None:
        self._duplicates(rows, "username", lambda r: r.username)
        self._duplicates(
            rows, "extension", lambda r: r.values.extension if r.values is not None else ""
        )
        agents = self.existing.agents
        for row in rows:
            if "username" in row.bad or row.action is None:
                continue
            known = row.username in agents
            if row.action is Action.CREATE and known:
                self.fail(row, "username", f"{row.username} exists already: use update")
            elif row.action is not Action.CREATE and not known:
                self.fail(row, "username", f"there is no agent {row.username}")
            elif row.action is Action.DELETE and row.username == self.rules.actor:
                self.fail(row, "username", "you cannot delete your own account")
        self._extension_clashes(rows)

    def _duplicates(self, rows: list[_Row], column: str, key: object) -> None:
        first: dict[str, int] = {}
        get = key if callable(key) else None
        assert get is not None
        for row in rows:
            value = get(row)
            if not value or column in row.bad:
                continue
            if value in first:
                self.fail(row, column, f"{value} is also on row {first[value]}")
            else:
                first[value] = row.source.number

    def _extension_clashes(self, rows: list[_Row]) -> None:
        owners = dict(self.existing.extension_owners)
        leaving = {
            r.username
            for r in rows
            if r.action is Action.DELETE or (r.action is Action.UPDATE and r.values is not None)
        }
        owners = {ext: user for ext, user in owners.items() if user not in leaving}
        for row in rows:
            if row.values is None or "extension" in row.bad or not row.values.extension:
                continue
            owner = owners.get(row.values.extension)
            if owner is not None and owner != row.username:
                self.fail(row, "extension", f"{row.values.extension} belongs to {owner} already")


def plan_import(sheet: Sheet, existing: Existing, rules: Rules | None = None) -> ImportPlan:
    """Validate every cell of ``sheet`` and say what applying it would do."""
    checker = _Checker(existing, rules or Rules())
    missing = sheet.missing_columns
    if "action" in missing or "username" in missing:
        errors = [CellError(1, key, f"missing column '{_TITLES[key]}'") for key in missing]
        return ImportPlan(tuple(errors), ())
    header_errors = [CellError(1, key, f"missing column '{_TITLES[key]}'") for key in missing]
    rows = [checker.read(source) for source in sheet.rows]
    checker.cross_check(rows)
    found = tuple(header_errors + sorted(checker.errors, key=lambda e: (e.row, _order(e))))
    if found:
        return ImportPlan(found, ())
    return ImportPlan((), tuple(_change(row, existing) for row in rows))


_COLUMN_ORDER = {c.key: i for i, c in enumerate(COLUMNS)}


def _order(error: CellError) -> int:
    return _COLUMN_ORDER.get(error.column, len(_COLUMN_ORDER))


def _change(row: _Row, existing: Existing) -> Change:
    number, username = row.source.number, row.username
    if row.action is Action.DELETE:
        return Change(number, "delete", username)
    if row.action is Action.KEEP or row.values is None:
        return Change(number, "ignore", username)
    if row.action is Action.CREATE:
        return Change(number, "create", username, row.values, row.key_plan, row.secret)
    diff = _diff(existing.agents[username], row.values)
    plan = row.key_plan
    if plan == "keep" and "extension" in diff:
        plan = "generate"  # the SIP digest covers the extension: a new one needs a new secret
    if plan != "keep":
        diff["endpoint_secret"] = ("", "new secret")
    kind: Kind = "update" if diff else "ignore"
    return Change(number, kind, username, row.values, plan, row.secret, diff)


def _diff(before: ExistingAgent, after: AgentValues) -> dict[str, tuple[str, str]]:
    pairs: Iterable[tuple[str, str, str]] = (
        ("first_name", before.first_name, after.first_name),
        ("last_name", before.last_name, after.last_name),
        ("email", before.email, after.email),
        ("extension", before.extension, after.extension),
        ("role", before.role, after.role),
        ("groups", "; ".join(sorted(before.groups)), "; ".join(sorted(after.groups))),
        ("salesforce_user", before.salesforce_user, after.salesforce_user),
    )
    return {key: (old, new) for key, old, new in pairs if old != new}
