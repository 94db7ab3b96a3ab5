"""The port every CRM connector implements, and the CRM-neutral values that cross it.

The daemon asks a connector who is calling (:meth:`CrmConnector.lookup`), what an agent typed
(:meth:`~CrmConnector.search`), what happened before (:meth:`~CrmConnector.history`), and tells it
about each finished call (:meth:`~CrmConnector.log_call`). The built-in SQL CRM and a Salesforce
connector implement the same Protocol; nothing here names a table or an SObject.

Every value is a frozen dataclass that validates itself on construction; times are aware UTC;
phone numbers are E.164 strings (see :mod:`cti.numbers`); a contact's phones and a search
hit's may carry an extension in RFC 3966 form (``+442079460958;ext=12``,
:data:`cti.numbers.PHONE_PATTERN`): click-to-dial dials the main number and sends the extension
as DTMF, while lookups match the main number (a caller ID never has an extension).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from crm_connectors.fields import MAX_NAME, MAX_TITLE, check_email, check_text
from cti.core.records import CallRecord, CrmMatch, Direction, Outcome
from cti.errors import ValidationFailed
from cti.numbers import E164_PATTERN, PHONE_PATTERN

__all__ = [
    "DEFAULT_LOOKUP_OPTIONS",
    "Account",
    "CallHistoryEntry",
    "Case",
    "Contact",
    "CrmConnector",
    "LookupOptions",
    "LookupResult",
    "Match",
    "MatchCount",
    "MatchKind",
    "NewContact",
    "RecordRef",
    "SearchHit",
    "SearchKind",
]


class MatchKind(StrEnum):
    """What sort of CRM record a caller was matched to."""

    CONTACT = "contact"
    ACCOUNT = "account"  # matched on the account's main number (switchboard)
    LEAD = "lead"  # a person not yet qualified into a contact (Salesforce Lead)


class SearchKind(StrEnum):
    """What sort of record a search hit points at."""

    CONTACT = "contact"
    ACCOUNT = "account"
    CASE = "case"


class MatchCount(StrEnum):
    """How many records a lookup found; the pop shows a record, a picker or a create form."""

    NONE = "none"
    ONE = "one"
    SEVERAL = "several"


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where a record lives: ``(system, object type, id)``, plus a URL to open it if known."""

    system: str
    object_type: str
    record_id: str
    url: str | None = None

    def __post_init__(self) -> None:
        if not (self.system and self.object_type and self.record_id):
            raise ValidationFailed(
                "a record reference needs a system, an object type and an id",
                details={"system": self.system, "object_type": self.object_type},
            )

    def to_crm_match(self) -> CrmMatch:
        """Return the reference as the call record stores it (the URL is not kept)."""
        return CrmMatch(self.system, self.object_type, self.record_id)


@dataclass(frozen=True, slots=True)
class Account:
    """A company or household that contacts belong to."""

    ref: RecordRef
    name: str
    phone: str | None = None  # the main number (switchboard), E.164
    account_type: str | None = None  # e.g. customer, prospect, partner
    industry: str | None = None

    def __post_init__(self) -> None:
        _check_e164(() if self.phone is None else (self.phone,))


@dataclass(frozen=True, slots=True)
class Contact:
    """A person. ``phones`` are E.164, each maybe with ``;ext=``, the first the main number."""

    ref: RecordRef
    display_name: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    title: str | None = None
    phones: tuple[str, ...] = ()
    account: Account | None = None

    def __post_init__(self) -> None:
        _check_phones(self.phones)


@dataclass(frozen=True, slots=True)
class Case:
    """A support ticket. ``opened_at`` is aware UTC."""

    ref: RecordRef
    number: str
    subject: str
    status: str
    opened_at: datetime
    owner_name: str | None = None
    origin: str | None = None  # phone, email, web, ...

    def __post_init__(self) -> None:
        _check_utc("opened_at", self.opened_at)


@dataclass(frozen=True, slots=True)
class CallHistoryEntry:
    """One past call as the CRM remembers it, for the pop's history list."""

    call_id: str
    started_at: datetime
    direction: Direction
    outcome: Outcome
    caller_number: str
    called_number: str
    agent: str | None = None
    duration_seconds: float = 0.0
    disposition: str | None = None
    notes: str = ""
    recordings: tuple[str, ...] = ()  # links that play the call's recordings (cti.recording)

    def __post_init__(self) -> None:
        _check_utc("started_at", self.started_at)
        if self.duration_seconds < 0:
            raise ValidationFailed("a call cannot last less than nothing")

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.duration_seconds)


@dataclass(frozen=True, slots=True)
class Match:
    """One record a caller's number matched, with what an agent wants to see at once.

    A contact or lead match carries ``contact`` (and its account, if any, in ``account``); an
    account match (the caller rang from the switchboard number) carries only ``account``.
    """

    kind: MatchKind
    contact: Contact | None = None
    account: Account | None = None
    open_cases: tuple[Case, ...] = ()
    history: tuple[CallHistoryEntry, ...] = ()

    def __post_init__(self) -> None:
        if self.kind is MatchKind.ACCOUNT:
            if self.account is None or self.contact is not None:
                raise ValidationFailed("an account match carries an account and no contact")
        elif self.contact is None:
            raise ValidationFailed(f"a {self.kind} match carries a contact")

    @property
    def ref(self) -> RecordRef:
        """Return the reference of the matched record itself."""
        record = self.contact if self.contact is not None else self.account
        assert record is not None  # __post_init__ guarantees one of them
        return record.ref

    @property
    def display_name(self) -> str:
        if self.contact is not None:
            return self.contact.display_name
        assert self.account is not None
        return self.account.name

    def to_crm_match(self) -> CrmMatch:
        """Return the match as the call record stores it."""
        return self.ref.to_crm_match()


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What a lookup of one caller ID found. ``e164`` is None when the number did not parse."""

    number: str
    e164: str | None
    matches: tuple[Match, ...] = ()

    @property
    def match_count(self) -> MatchCount:
        if not self.matches:
            return MatchCount.NONE
        return MatchCount.ONE if len(self.matches) == 1 else MatchCount.SEVERAL

    @property
    def single(self) -> Match | None:
        """Return the match when there is exactly one, for a direct pop; else None."""
        return self.matches[0] if len(self.matches) == 1 else None

    def crm_matches(self) -> tuple[CrmMatch, ...]:
        """Return every match as the call record stores it."""
        return tuple(match.to_crm_match() for match in self.matches)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One line of an agent's search results; ``phones`` as in :class:`Contact`."""

    kind: SearchKind
    ref: RecordRef
    title: str
    subtitle: str = ""
    phones: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_phones(self.phones)


@dataclass(frozen=True, slots=True)
class LookupOptions:
    """How much a lookup fetches; the daemon passes one built from configuration.

    ``open_case_statuses`` are compared case-insensitively; a case in any other status counts as
    closed and is not shown.
    """

    max_matches: int = 10
    max_history: int = 5
    max_open_cases: int = 10
    open_case_statuses: tuple[str, ...] = ("new", "open", "working", "pending", "escalated")

    def __post_init__(self) -> None:
        if min(self.max_matches, self.max_history, self.max_open_cases) < 0:
            raise ValidationFailed("lookup limits cannot be negative")
        if self.max_matches == 0:
            raise ValidationFailed("a lookup must be allowed at least one match")


DEFAULT_LOOKUP_OPTIONS = LookupOptions()


@dataclass(frozen=True, slots=True)
class NewContact:
    """What an agent fills in to create a contact; ``phones`` are raw, the connector normalizes."""

    first_name: str
    last_name: str
    phones: tuple[str, ...] = ()
    email: str | None = None
    title: str | None = None
    account: RecordRef | None = None

    def __post_init__(self) -> None:
        """Check every field by its type (crm_connectors.fields): 422 naming the field."""
        first = check_text(self.first_name, "first_name", MAX_NAME)
        last = check_text(self.last_name, "last_name", MAX_NAME)
        if not (first or last):
            raise ValidationFailed(
                "a contact needs a first or a last name", details={"field": "last_name"}
            )
        object.__setattr__(self, "first_name", first)
        object.__setattr__(self, "last_name", last)
        if self.email is not None:
            object.__setattr__(self, "email", check_email(self.email, "email"))
        if self.title is not None:
            object.__setattr__(self, "title", check_text(self.title, "title", MAX_TITLE) or None)
        for phone in self.phones:
            check_text(phone, "phone", 64)  # the number itself: the connector reads it


class CrmConnector(Protocol):
    """The port to one CRM. Methods are coroutines; none blocks the event loop.

    Errors: CrmUnavailable (or CrmTimeout) when the CRM cannot be reached now, the caller may
    retry; NotFound for a reference to a record that does not exist; ValidationFailed for a value
    the CRM refuses; CrmError for anything else the CRM did wrong. No library exception escapes.
    """

    @property
    def name(self) -> str:
        """The system name in every :class:`RecordRef` this connector makes."""
        ...

    async def lookup(
        self, number: str, options: LookupOptions = DEFAULT_LOOKUP_OPTIONS
    ) -> LookupResult:
        """Find who is calling from ``number`` (raw caller ID); a junk number matches nobody."""
        ...

    async def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Find contacts, accounts and cases by name, number, email or case number."""
        ...

    async def history(self, target: str | RecordRef, limit: int = 20) -> list[CallHistoryEntry]:
        """Return past calls with a number or a record, newest first."""
        ...

    async def log_call(self, record: CallRecord) -> str:
        """Store a finished call and return the CRM's id for it.

        Idempotent on ``record.call_id``: logging the same call again returns the same id and
        writes nothing, so the daemon may retry after a timeout or a restart.
        """
        ...

    async def link_number(self, number: str, contact: RecordRef) -> None:
        """Add ``number`` to a contact's phones so the next call from it matches; idempotent."""
        ...

    async def create_contact(self, new: NewContact) -> Contact:
        """Create a contact (typically for an unknown caller) and return it as stored."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the connector is unusable afterwards."""
        ...


def _check_e164(numbers: tuple[str, ...]) -> None:
    for number in numbers:
        if not E164_PATTERN.fullmatch(number):
            raise ValidationFailed("phone numbers must be E.164", details={"number": number[:64]})


def _check_phones(numbers: tuple[str, ...]) -> None:
    for number in numbers:
        if not PHONE_PATTERN.fullmatch(number):
            raise ValidationFailed(
                "phone numbers must be E.164, with an extension as ;ext=digits",
                details={"number": number[:64]},
            )


def _check_utc(field_name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValidationFailed(f"{field_name} must be an aware UTC datetime")
