"""Units of work that change the org: log a call as a Task once, link a number to a person.

Each function runs on a worker thread inside :meth:`SalesforceClient.call`, which may run it
again after a transient failure, so each is safe to repeat: it reads before it writes, or
writes with an upsert keyed on the call id.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from crm_connectors.salesforce.failures import error_code
from crm_connectors.salesforce.mapping import phones_of
from crm_connectors.salesforce.queries import record_query, task_by_call_object_query
from cti.errors import CrmError, NotFound, ValidationFailed

__all__ = ["insert_task_once", "link_number", "read_record", "sobject", "upsert_task"]


def sobject(api: Salesforce, name: str) -> SFType:
    """Return the REST resource of one SObject type (``/sobjects/{name}/``)."""
    return cast(SFType, getattr(api, name))


def upsert_task(api: Salesforce, field: str, call_id: str, body: Mapping[str, object]) -> str:
    """Create the call's Task through an upsert on the external id ``field``; return its Id.

    REST API Developer Guide, "Insert or Update (Upsert) a Record Using an External ID": PATCH
    ``/sobjects/Task/{field}/{value}`` creates the record (201) or updates it (200, or 204
    before API 46.0). TaskSubtype can be set on create only, so when the Task exists Salesforce
    refuses the update with INVALID_FIELD_FOR_INSERT_UPDATE: the call is already logged, and its
    Id is read by the external id. Either way nothing is logged twice.
    """
    tasks = sobject(api, "Task")
    key = quote(call_id, safe="")
    try:
        response = tasks.upsert(f"{field}/{key}", dict(body), raw_response=True)
    except SalesforceResourceNotFound as exc:
        raise CrmError(
            f"Task has no External ID field {field}: create it (docs/salesforce.md) or unset "
            "call_id_field",
            details={"field": field},
        ) from exc
    except SalesforceMalformedRequest as exc:
        if error_code(exc) != "INVALID_FIELD_FOR_INSERT_UPDATE":
            raise
        return _task_id_by(tasks, field, call_id)
    if response.status_code == 204:
        return _task_id_by(tasks, field, call_id)
    return _id_of(response.json(), "id")


def insert_task_once(
    api: Salesforce, call_id: str, body: Mapping[str, object], lock: threading.Lock
) -> str:
    """Return the Id of the Task whose CallObject is ``call_id``, creating it if there is none.

    Without an external id field there is no atomic create-if-absent: ``lock`` (one per call id
    stripe) keeps two threads of this process from both creating it.
    """
    with lock:
        found = api.query(task_by_call_object_query(call_id))
        records = found.get("records") if isinstance(found, Mapping) else None
        if records:
            return _id_of(records[0], "Id")
        return _id_of(sobject(api, "Task").create(dict(body)), "id")


def read_record(
    api: Salesforce, object_name: str, fields: Sequence[str], record_id: str
) -> Mapping[str, Any]:
    """Return one record by id; raise NotFound when the integration user cannot see it."""
    found = api.query(record_query(object_name, fields, record_id))
    records = found.get("records") if isinstance(found, Mapping) else None
    if not records:
        raise NotFound(f"no such {object_name}", details={"record_id": record_id})
    return cast(Mapping[str, Any], records[0])


def link_number(
    api: Salesforce,
    object_name: str,
    record_id: str,
    *,
    e164: str,
    phone_fields: Sequence[str],
    region: str,
) -> bool:
    """Write ``e164`` into the record's first empty phone field; return whether it wrote.

    A record already holding the number (in any format that reads as it) is left alone.
    """
    row = read_record(api, object_name, ("Id", *phone_fields), record_id)
    if e164 in phones_of(row, phone_fields, region):
        return False
    free = next((name for name in phone_fields if not row.get(name)), None)
    if free is None:
        raise ValidationFailed(
            f"every phone field of this {object_name} is taken",
            details={"record_id": record_id, "fields": list(phone_fields)},
        )
    sobject(api, object_name).update(record_id, {free: e164})
    return True


def _task_id_by(tasks: SFType, field: str, call_id: str) -> str:
    # get_by_custom_id percent-encodes the value itself (upsert does not).
    return _id_of(tasks.get_by_custom_id(field, call_id), "Id")


def _id_of(payload: object, key: str) -> str:
    value = payload.get(key) if isinstance(payload, Mapping) else None
    if not isinstance(value, str) or not value:
        raise CrmError("Salesforce answered without a record id", details={"key": key})
    return value
