"""What ``cti outbox`` does: open the configured store, show or retry outbox rows.

The click commands in :mod:`cti.cli` only parse arguments and print; the work and the formatting
are here, where they can be tested without a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from cti.config import StoreSettings
from cti.errors import NotFound, StoreError
from cti.store.engine import sqlite_path
from cti.store.store import Store
from cti.store.values import OutboxEntry

__all__ = ["format_outbox", "list_outbox", "open_store", "retry_outbox"]

_ERROR_WIDTH = 60


@contextmanager
def open_store(settings: StoreSettings) -> Iterator[Store]:
    """Open the configured store for a command; refuse a missing file or an old schema."""
    path = sqlite_path(settings.url)
    if path is not None and not path.is_file():
        raise StoreError(
            f"there is no store at {path}; start the daemon once to create it",
            details={"path": str(path)},
        )
    store = Store(settings.url, pool_size=1, connect_timeout=settings.connect_timeout_s)
    try:
        store.check_schema()
        yield store
    finally:
        store.close()


def list_outbox(
    settings: StoreSettings,
    *,
    stuck: bool = False,
    include_delivered: bool = False,
    limit: int = 100,
    as_json: bool = False,
) -> str:
    """Return the undelivered rows (or only the stuck ones, or all) as a table or JSON."""
    with open_store(settings) as store:
        entries = store.outbox_entries(
            stuck_after=settings.outbox.stuck_after if stuck else None,
            include_delivered=include_delivered,
            limit=limit,
        )
        now = store.clock()
    if as_json:
        return json.dumps([entry.as_dict() for entry in entries], indent=2) + "\n"
    return format_outbox(entries, now, stuck_after=settings.outbox.stuck_after)


def retry_outbox(settings: StoreSettings, row_id: int | None) -> int:
    """Make one undelivered row (or, with None, all of them) due now; return how many."""
    with open_store(settings) as store:
        count = store.retry_outbox(None if row_id is None else [row_id])
        if count:
            store.record_event("outbox.retry", {"id": row_id, "rows": count, "via": "cli"})
    if row_id is not None and count == 0:
        raise NotFound(f"no undelivered outbox row {row_id}", details={"id": row_id})
    return count


def format_outbox(entries: Sequence[OutboxEntry], now: datetime, *, stuck_after: int) -> str:
    """Return ``entries`` as a table: one line per row, stuck rows marked with ``!``."""
    if not entries:
        return "outbox: nothing waiting\n"
    header = ("ID", "CALL ID", "CONNECTOR", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR")
    lines = [header]
    for entry in entries:
        attempts = f"{entry.attempts}{'!' if entry.attempts >= stuck_after else ''}"
        lines.append(
            (
                str(entry.id),
                entry.call_id,
                entry.connector,
                attempts,
                _next_attempt(entry, now),
                _short(entry.last_error or ""),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    ]
    return "\n".join(row.rstrip() for row in text) + "\n"


def _next_attempt(entry: OutboxEntry, now: datetime) -> str:
    if entry.delivered_at is not None:
        return f"delivered {entry.delivered_at:%Y-%m-%d %H:%M:%S}"
    when = f"{entry.next_attempt_at:%Y-%m-%d %H:%M:%S}"
    return f"{when} (due)" if entry.next_attempt_at <= now else when


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _ERROR_WIDTH else line[: _ERROR_WIDTH - 1] + "…"
