"""Rows for a large generated CRM (benchmarks): pure, deterministic, derived from the keys.

Contact ``k`` gets the number ``+44 20 3kkk kkkk`` (unique, and outside the demo's drama range),
every tenth contact a second one (``+44 20 8kkk kkkk``), every fifth a case (open or closed by
turns), and each contact ``calls_per_contact`` inbound calls matched to it. Contacts are grouped
``per_account`` to an account whose main number is ``+44 113 aaa aaaa``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table

from crm_connectors.builtin.models import (
    accounts,
    call_matches,
    calls,
    cases,
    contact_phones,
    contacts,
)

__all__ = ["MAX_CONTACTS", "BulkPlan", "main_number"]

MAX_CONTACTS = 10_000_000  # the numbering has seven digits for the contact key

Row = dict[str, object]


def main_number(key: int) -> str:
    """Return the main number generated for contact ``key``."""
    return f"+44203{key:07d}"


@dataclass(frozen=True, slots=True)
class BulkPlan:
    """Where the generated keys start, and how much each contact gets."""

    first_contact: int
    first_account: int
    first_call: int
    per_account: int
    calls_per_contact: int
    now: datetime

    def rows(self, keys: range) -> Iterator[tuple[Table, list[Row]]]:
        """Yield ``(table, rows)`` for the contacts ``keys``, parents before children."""
        yield accounts, self._accounts(keys)
        yield contacts, [self._contact(key) for key in keys]
        yield contact_phones, self._phones(keys)
        yield cases, [self._case(key) for key in keys if key % 5 == 0]
        call_rows = self._calls(keys)
        yield calls, [row for row, _ in call_rows]
        yield (
            call_matches,
            [
                {
                    "call_pk": row["id"],
                    "system": "builtin",
                    "object_type": "contact",
                    "record_id": str(key),
                }
                for row, key in call_rows
            ],
        )

    def _account_of(self, key: int) -> int:
        return self.first_account + (key - self.first_contact) // self.per_account

    def _accounts(self, keys: range) -> list[Row]:
        starts = [key for key in keys if (key - self.first_contact) % self.per_account == 0]
        return [
            {
                "id": self._account_of(key),
                "name": f"Bulk Account {self._account_of(key)}",
                "phone_e164": f"+44113{self._account_of(key):07d}",
                "account_type": "customer",
                "industry": "Generated",
                "created_at": self.now,
            }
            for key in starts
        ]

    def _contact(self, key: int) -> Row:
        return {
            "id": key,
            "account_id": self._account_of(key),
            "first_name": f"Given{key}",
            "last_name": f"Family{key % 9973}",
            "email": f"person{key}@bulk.example",
            "title": None,
            "created_at": self.now,
        }

    def _phones(self, keys: range) -> list[Row]:
        main = [
            {"contact_id": key, "e164": main_number(key), "label": "work", "position": 0}
            for key in keys
        ]
        second = [
            {"contact_id": key, "e164": f"+44208{key:07d}", "label": "mobile", "position": 1}
            for key in keys
            if key % 10 == 0
        ]
        return main + second

    def _case(self, key: int) -> Row:
        return {
            "number": f"BK-{key:07d}",
            "subject": f"Generated case {key}",
            "status": "Open" if key % 2 else "Closed",
            "contact_id": key,
            "account_id": self._account_of(key),
            "opened_at": self.now - timedelta(hours=key % 1000),
        }

    def _calls(self, keys: range) -> list[tuple[Row, int]]:
        """Return each call row with the key of the contact it is matched to."""
        return [
            (self._call(key, turn), key) for key in keys for turn in range(self.calls_per_contact)
        ]

    def _call(self, key: int, turn: int) -> Row:
        # Spread over the last year, differently for each contact and turn.
        started = self.now - timedelta(minutes=(key * 7919 + turn * 104729) % 525_600)
        number = main_number(key)
        answered = (key + turn) % 3 != 0
        return {
            "id": self.first_call + (key - self.first_contact) * self.calls_per_contact + turn,
            "call_id": f"bulk:{key}:{turn}",
            "server": "bulk",
            "direction": "inbound",
            "outcome": "answered" if answered else "missed",
            "started_at": started,
            "answered_at": started + timedelta(seconds=10) if answered else None,
            "ended_at": started + timedelta(seconds=70 if answered else 30),
            "caller_number": number,
            "caller_name": "",
            "called_number": "+442079460500",
            "external_e164": number,
            "talk_seconds": 60.0 if answered else 0.0,
            "hold_seconds": 0.0,
            "duration_seconds": 70.0 if answered else 30.0,
            "agents_rung": ["PJSIP/1001"],
            "answered_by": "PJSIP/1001" if answered else None,
            "notes": "",
            "flags": [],
            "logged_at": self.now,
        }
