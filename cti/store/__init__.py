"""The daemon's store (SQLite or PostgreSQL through SQLAlchemy) and the call-record outbox.

Typical wiring in the composition root::

    store = Store.from_settings(settings.store)
    store.upgrade()                                   # migrations, version in cti_alembic_version
    writer = OutboxWriter.from_settings(store.aio, {"builtin": crm}, settings.store.outbox)
    async with writer:
        ...  # on each CallEnded: await store.aio.run(store.end_call, record, ["builtin"])
        writer.poke()  # once per queued record
        await writer.flush(timeout=10)
    store.close()
"""

from __future__ import annotations

from cti.store import access_tables as _access_tables  # noqa: F401  (its tables on the metadata)
from cti.store import missed_call_tables as _missed_call_tables  # noqa: F401  (its table on the metadata)
from cti.store import recording_tables as _recording_tables  # noqa: F401  (its tables on the metadata)
from cti.store import report_tables as _report_tables  # noqa: F401  (its tables on the metadata)
from cti.store import session_tables as _session_tables  # noqa: F401  (its table on the metadata)
from cti.store import site_settings_tables as _site_settings_tables  # noqa: F401  (its table on the metadata)
from cti.store import site_tables as _site_tables  # noqa: F401  (its tables on the metadata)
from cti.store import wallboard_tables as _wallboard_tables  # noqa: F401  (its table on the metadata)
from cti.store.aio import AsyncStore
from cti.store.codec import record_from_json, record_to_json
from cti.store.outbox import OutboxStats, OutboxWriter, RetryPolicy
from cti.store.store import KEEP, Store
from cti.store.values import (
    AgentEndpoint,
    AgentInfo,
    CallNote,
    Delivery,
    EventEntry,
    GroupInfo,
    GroupSpec,
    OutboxCounts,
    OutboxEntry,
    PopTrigger,
    Role,
)

__all__ = [
    "KEEP",
    "AgentEndpoint",
    "AgentInfo",
    "AsyncStore",
    "CallNote",
    "Delivery",
    "EventEntry",
    "GroupInfo",
    "GroupSpec",
    "OutboxCounts",
    "OutboxEntry",
    "OutboxStats",
    "OutboxWriter",
    "PopTrigger",
    "RetryPolicy",
    "Role",
    "Store",
    "record_from_json",
    "record_to_json",
]
