"""Fill the built-in CRM: a small demo company book, or a large generated one for benchmarks.

:func:`seed_demo` is idempotent (every row has a natural key and is inserted only if missing),
so the lab and the demo can run it on every start. Its data exercises the pop: a contact with
two numbers, two contacts on one shared line, a caller matched only by the switchboard number,
open and closed cases, and a contact whose name is markup (stored verbatim; the UI must escape
it). Numbers are in Ofcom's drama range (+44 20 7946 0xxx) and the US fictional 555-01xx.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import URL, Connection, Engine, Table, func, select

from crm_connectors.builtin import bulk_rows, seed_sql, writes
from crm_connectors.builtin.engine import create_crm_engine, translated_errors, writer
from crm_connectors.builtin.models import (
    accounts,
    call_matches,
    calls,
    cases,
    contact_phones,
    contacts,
)
from crm_connectors.builtin.seed_data import (
    ACCOUNTS,
    CALLS,
    CASES,
    CONTACTS,
    DemoAccount,
    DemoCase,
    DemoContact,
    demo_call_record,
)
from cti.errors import ValidationFailed
from cti.numbers import split_extension, to_e164

__all__ = ["seed_bulk", "seed_demo"]


def seed_demo(
    engine_or_url: Engine | str | URL,
    default_region: str,
    *,
    system: str = "builtin",
    now: datetime | None = None,
) -> None:
    """Insert the demo CRM where it is missing; run it as often as you like.

    ``system`` is the connector name the demo calls are matched under; ``now`` anchors the
    cases' and calls' dates (default: the current time), so "3 days ago" stays 3 days ago.
    """
    anchor = now or datetime.now(UTC)
    engine = _engine(engine_or_url)
    try:
        with translated_errors("seed_demo"), writer(engine).begin() as conn:
            account_ids = {
                account.key: _seed_account(conn, account, default_region, anchor)
                for account in ACCOUNTS
            }
            contact_ids = {
                contact.key: _seed_contact(conn, contact, account_ids, default_region, anchor)
                for contact in CONTACTS
            }
            for case in CASES:
                _seed_case(conn, case, contact_ids, account_ids, anchor)
            for call in CALLS:
                record = demo_call_record(call, contact_ids, system, default_region, anchor)
                writes.log_call(conn, record, default_region, anchor)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def seed_bulk(
    engine_or_url: Engine | str | URL,
    n: int,
    *,
    calls_per_contact: int = 0,
    batch: int = 250_000,
    per_account: int = 20,
) -> int:
    """Append ``n`` generated contacts, with accounts, cases and calls; return ``n``.

    For benchmarks (see :mod:`.bulk_rows` for what each contact gets). The database generates
    the rows itself, ``batch`` contacts per statement (:mod:`.seed_sql`); calls, which only
    tests ask for, are built in Python. It all runs in one transaction and ANALYZEs at the end
    so the planners know the new sizes. Not idempotent: it appends.
    """
    if not 0 <= n < bulk_rows.MAX_CONTACTS or calls_per_contact < 0 or batch < 1:
        raise ValidationFailed(f"seed_bulk makes 0 to {bulk_rows.MAX_CONTACTS - 1} contacts")
    engine = _engine(engine_or_url)
    try:
        with translated_errors("seed_bulk"), writer(engine).begin() as conn:
            plan = bulk_rows.BulkPlan(
                first_contact=_next_key(conn, contacts.c.id),
                first_account=_next_key(conn, accounts.c.id),
                first_call=_next_key(conn, calls.c.id),
                per_account=per_account,
                calls_per_contact=calls_per_contact,
                now=datetime.now(UTC),
            )
            if plan.first_contact + n > bulk_rows.MAX_CONTACTS:
                raise ValidationFailed("seed_bulk numbers run out past contact 9,999,999")
            for start in range(plan.first_contact, plan.first_contact + n, batch):
                keys = range(start, min(start + batch, plan.first_contact + n))
                seed_sql.insert_generated(
                    conn,
                    keys,
                    first_contact=plan.first_contact,
                    first_account=plan.first_account,
                    per_account=per_account,
                    now=plan.now,
                )
                if calls_per_contact:
                    _insert_calls(conn, plan, keys)
            seed_sql.advance_sequences(conn)
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit = 1000")  # sample, do not scan
            conn.exec_driver_sql("ANALYZE")
    finally:
        if engine is not engine_or_url:
            engine.dispose()
    return n


def _insert_calls(conn: Connection, plan: bulk_rows.BulkPlan, keys: range) -> None:
    for table, rows in plan.rows(keys):
        if rows and table in (calls, call_matches):
            conn.execute(table.insert(), rows)


def _seed_account(conn: Connection, account: DemoAccount, region: str, now: datetime) -> int:
    phone = to_e164(account.phone, region) if account.phone else None
    values = {
        "external_id": account.key,
        "name": account.name,
        "phone_e164": phone,
        "account_type": account.account_type,
        "industry": account.industry,
        "created_at": now,
    }
    return _insert_missing(conn, accounts, "external_id", values)


def _seed_contact(
    conn: Connection,
    contact: DemoContact,
    account_ids: dict[str, int],
    region: str,
    now: datetime,
) -> int:
    values = {
        "external_id": contact.key,
        "account_id": account_ids[contact.account] if contact.account else None,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "title": contact.title,
        "created_at": now,
    }
    key = _insert_missing(conn, contacts, "external_id", values)
    for position, (raw, label) in enumerate(contact.phones):
        main, extension = split_extension(raw)
        e164 = to_e164(main, region)
        if e164 is None:
            raise ValidationFailed("a demo number does not parse", details={"number": raw})
        phone = {
            "contact_id": key,
            "e164": e164,
            "extension": extension,
            "label": label,
            "position": position,
        }
        statement = writes.dialect_insert(conn.dialect.name)(contact_phones)
        conn.execute(statement.on_conflict_do_nothing(index_elements=["e164", "contact_id"]), phone)
    return key


def _seed_case(
    conn: Connection,
    case: DemoCase,
    contact_ids: dict[str, int],
    account_ids: dict[str, int],
    now: datetime,
) -> None:
    closed = case.closed_days_ago
    values = {
        "number": case.number,
        "subject": case.subject,
        "status": case.status,
        "owner_name": case.owner,
        "origin": case.origin,
        "contact_id": contact_ids[case.contact] if case.contact else None,
        "account_id": account_ids[case.account],
        "opened_at": now - timedelta(days=case.opened_days_ago),
        "closed_at": None if closed is None else now - timedelta(days=closed),
    }
    _insert_missing(conn, cases, "number", values)


def _insert_missing(conn: Connection, table: Table, key: str, values: dict[str, Any]) -> int:
    """Insert ``values`` unless a row with the same ``key`` exists; return the row's id."""
    statement = writes.dialect_insert(conn.dialect.name)(table)
    conn.execute(statement.on_conflict_do_nothing(index_elements=[key]), values)
    found = conn.execute(select(table.c.id).where(table.c[key] == values[key])).scalar_one()
    return int(found)


def _next_key(conn: Connection, column: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def _engine(engine_or_url: Engine | str | URL) -> Engine:
    if isinstance(engine_or_url, Engine):
        return engine_or_url
    return create_crm_engine(engine_or_url, pool_size=1)
