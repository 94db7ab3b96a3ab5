"""What a caller-ID lookup found, and what to ask next: the plan between SOSL and SOQL.

Pure. A lookup searches phone fields with SOSL; :class:`LookupPlan` keeps the people (Contacts,
then Leads) it found, or, when no person matched, the Accounts whose main number it is (the
switchboard, as the built-in CRM does), then names the two follow-up queries (open Cases, call
Tasks) and assembles the :class:`~crm_connectors.base.Match` values from their rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crm_connectors.base import (
    Account,
    CallHistoryEntry,
    Case,
    Contact,
    LookupOptions,
    Match,
    MatchKind,
)
from crm_connectors.salesforce import queries
from crm_connectors.salesforce.mapping import Refs, Row, history_entry
from crm_connectors.salesforce.settings import SalesforceSettings

__all__ = ["LookupPlan", "Row"]

_MAX_ROWS = 200  # one follow-up query never asks for more rows than this


@dataclass(frozen=True, slots=True)
class LookupPlan:
    """The records a phone search matched, at most ``options.max_matches`` of them."""

    refs: Refs
    options: LookupOptions
    persons: tuple[Contact, ...] = ()
    accounts: tuple[Account, ...] = ()

    @classmethod
    def of(
        cls,
        records: Sequence[Row],
        refs: Refs,
        settings: SalesforceSettings,
        options: LookupOptions,
    ) -> LookupPlan:
        """Return the plan for the records of a phone SOSL search, in the order found."""
        contacts: list[Contact] = []
        leads: list[Contact] = []
        accounts: list[Account] = []
        for row in records:
            kind = row.get("attributes", {}).get("type")
            if kind == "Contact":
                contacts.append(refs.contact(row, settings.contact_phone_fields))
            elif kind == "Lead":
                leads.append(refs.lead(row, settings.lead_phone_fields))
            elif kind == "Account":
                accounts.append(refs.account(row))
        limit = options.max_matches
        persons = (*contacts, *leads)
        if persons:
            return cls(refs, options, persons=persons[:limit])
        return cls(refs, options, accounts=tuple(accounts[:limit]))

    @property
    def _contact_ids(self) -> list[str]:
        return [p.ref.record_id for p in self.persons if p.ref.object_type == "Contact"]

    @property
    def _person_ids(self) -> list[str]:
        return [p.ref.record_id for p in self.persons]

    @property
    def _account_ids(self) -> list[str]:
        return [a.ref.record_id for a in self.accounts]

    def cases_query(self) -> str | None:
        """Return the SOQL for the matches' open cases, or None when there is nothing to ask
        (leads have no cases)."""
        contacts, accounts = self._contact_ids, self._account_ids
        owners = len(contacts) + len(accounts)
        if self.options.max_open_cases == 0 or owners == 0:
            return None
        limit = min(_MAX_ROWS, self.options.max_open_cases * owners)
        return queries.open_cases_query(contacts, accounts, limit)

    def tasks_query(self) -> str | None:
        """Return the SOQL for the matches' recent call Tasks, or None."""
        persons, accounts = self._person_ids, self._account_ids
        owners = len(persons) + len(accounts)
        if self.options.max_history == 0 or owners == 0:
            return None
        limit = min(_MAX_ROWS, self.options.max_history * owners)
        return queries.tasks_query(persons, accounts, limit)

    def matches(self, case_rows: Sequence[Row], task_rows: Sequence[Row]) -> tuple[Match, ...]:
        """Return one Match per matched record with its own cases and calls, newest first."""
        options = self.options
        cases_of = _grouped(case_rows, ("ContactId", "AccountId"), options.max_open_cases)
        tasks_of = _grouped(task_rows, ("WhoId", "AccountId"), options.max_history)
        found: list[Match] = []
        for person in self.persons:
            key = person.ref.record_id
            kind = MatchKind.CONTACT if person.ref.object_type == "Contact" else MatchKind.LEAD
            found.append(
                Match(
                    kind=kind,
                    contact=person,
                    account=person.account,
                    open_cases=self._cases(cases_of.get(("ContactId", key), [])),
                    history=_history(tasks_of.get(("WhoId", key), [])),
                )
            )
        for account in self.accounts:
            key = account.ref.record_id
            found.append(
                Match(
                    kind=MatchKind.ACCOUNT,
                    account=account,
                    open_cases=self._cases(cases_of.get(("AccountId", key), [])),
                    history=_history(tasks_of.get(("AccountId", key), [])),
                )
            )
        return tuple(found)

    def _cases(self, rows: Sequence[Row]) -> tuple[Case, ...]:
        return tuple(self.refs.case(row) for row in rows)


def _grouped(
    rows: Sequence[Row], keys: tuple[str, ...], per_owner: int
) -> dict[tuple[str, str], list[Row]]:
    """Group rows (already newest first) under each owner field value, ``per_owner`` each."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        for key in keys:
            value = row.get(key)
            if isinstance(value, str) and value:
                group = groups.setdefault((key, value), [])
                if len(group) < per_owner:
                    group.append(row)
    return groups


def _history(rows: Sequence[Row]) -> tuple[CallHistoryEntry, ...]:
    return tuple(history_entry(row) for row in rows)
