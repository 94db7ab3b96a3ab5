"""The desktop's CRM API: search, call history, link a number to a record, create a contact.

Reads need a session whose role may search the CRM; changes also need the same-site and CSRF
checks (RouteAuth). Everything returned is JSON data, never markup: the page puts it in the
document as text. Record references travel as ``system:object_type:record_id``, the form the
pop cards carry in ``data-ref``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent_ui.json_body import optional_text, query_text, read_json, required_text
from agent_ui.responses import NO_STORE
from agent_ui.web import route_auth
from crm_connectors.base import CallHistoryEntry, Contact, CrmConnector, NewContact, RecordRef
from cti.dial_rules import display_number
from cti.errors import OwnerUnreachable, PermissionDenied, ValidationFailed
from cti.numbers import (
    RegionSource,
    is_valid_e164,
    parse_entered,
    region_source,
    split_extension,
    to_e164,
)
from cti.principal import Action, require

__all__ = ["CrmApi", "parse_ref"]

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 100
MAX_RESULTS = 25


def parse_ref(text: str, system: str) -> RecordRef:
    """Read ``system:object_type:record_id`` as a reference into the connector ``system``."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts) or parts[0] != system:
        raise ValidationFailed(
            f"ref must look like {system}:type:id", details={"field": "ref", "system": system}
        )
    return RecordRef(*parts)


def _ref_text(ref: RecordRef) -> str:
    return f"{ref.system}:{ref.object_type}:{ref.record_id}"


def _phones(numbers: tuple[str, ...] | list[str]) -> list[dict[str, object]]:
    """Phones as the CRM holds them, each flagged ``valid`` or not, never rewritten.

    A CRM may hold numbers entered before they were checked (``+444155550134``, or a
    national number of another country): the desktop shows them as they are, flagged.
    """
    return [_phone(n) for n in numbers]


def _phone(number: str) -> dict[str, object]:
    main, extension = split_extension(number)
    return {
        "number": number,
        "display": display_number(main) + (f" ext. {extension}" if extension else ""),
        "valid": is_valid_e164(main),
    }


def _history(entry: CallHistoryEntry) -> dict[str, object]:
    return {
        "call_id": entry.call_id,
        "started_at": entry.started_at.isoformat(),
        "direction": str(entry.direction),
        "outcome": str(entry.outcome),
        "caller_number": entry.caller_number,
        "caller_display": display_number(entry.caller_number),
        "called_number": entry.called_number,
        "called_display": display_number(entry.called_number),
        "agent": entry.agent or "",
        "duration_seconds": entry.duration_seconds,
        "disposition": entry.disposition or "",
        "notes": entry.notes,
        "recordings": list(entry.recordings),
    }


def _contact(contact: Contact) -> dict[str, object]:
    return {
        "ref": _ref_text(contact.ref),
        "name": contact.display_name,
        "email": contact.email or "",
        "phones": _phones(contact.phones),
    }


class CrmApi:
    """HTTP handlers over the primary CRM connector; ``refresh_pop`` re-runs a call's lookup,
    for a call ``was_shown(agent, call_id)`` says the agent had a pop of.

    Both are asked of the node tracking the call (``cti.cluster.pops``): in a cluster it may
    not be the one answering this request. They raise ``OwnerUnreachable`` (503) when that
    node cannot be asked.
    """

    def __init__(
        self,
        crm: CrmConnector,
        default_region: str | RegionSource,
        refresh_pop: Callable[[str], Awaitable[bool]],
        was_shown: Callable[[str, str], Awaitable[bool]],
    ) -> None:
        self._crm = crm
        self._regions = region_source(default_region)
        self._refresh_pop = refresh_pop
        self._was_shown = was_shown

    @property
    def _region(self) -> str:
        """The site's region now: an admin's change applies to the next request."""
        return self._regions.default_region()

    async def search(self, request: Request) -> Response:
        """``GET /api/crm/search?q=`` -> contacts, accounts and cases with click-to-dial phones."""
        require(route_auth(request).session(request).principal, Action.SEARCH_CRM)
        query = query_text(request, "q", MAX_QUERY_CHARS)
        if query is None:
            raise ValidationFailed("type a name, number, e-mail or case number", details={})
        hits = await self._crm.search(query, limit=MAX_RESULTS)
        body = [
            {
                "kind": str(hit.kind),
                "ref": _ref_text(hit.ref),
                "title": hit.title,
                "subtitle": hit.subtitle,
                "phones": _phones(hit.phones),
                "url": hit.ref.url or "",
            }
            for hit in hits
        ]
        return JSONResponse({"query": query, "hits": body}, headers=NO_STORE)

    async def history(self, request: Request) -> Response:
        """``GET /api/crm/history?number=`` or ``?ref=`` -> past calls, notes, dispositions."""
        require(route_auth(request).session(request).principal, Action.SEARCH_CRM)
        number = query_text(request, "number", 64)
        ref = query_text(request, "ref", 300)
        target: str | RecordRef
        if ref is not None:
            target = parse_ref(ref, self._crm.name)
        elif number is not None:
            e164 = to_e164(number, self._region)
            if e164 is None:
                raise ValidationFailed("not a phone number", details={"field": "number"})
            target = e164
        else:
            raise ValidationFailed("give a number or a ref", details={})
        entries = await self._crm.history(target, limit=MAX_RESULTS)
        return JSONResponse({"calls": [_history(e) for e in entries]}, headers=NO_STORE)

    async def link_number(self, request: Request) -> Response:
        """``POST /api/crm/link`` ``{"number", "ref", "call_id"?}``: this number is this record."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.EDIT_CRM)
        body = await read_json(request)
        call_id = await self._own_call(session.principal.username, body)
        # The number of a call (the pop's caller id), so possible is enough, as for lookups.
        number = to_e164(required_text(body, "number", 64), self._region) or ""
        if not number:
            raise ValidationFailed("not a phone number", details={"field": "number"})
        ref = parse_ref(required_text(body, "ref", 300), self._crm.name)
        await self._crm.link_number(number, ref)
        refreshed = await self._refresh(call_id)
        return JSONResponse(
            {"ok": True, "number": number, "ref": _ref_text(ref), "refreshed": refreshed},
            headers=NO_STORE,
        )

    async def create_contact(self, request: Request) -> Response:
        """``POST /api/crm/contacts`` ``{"first_name", "last_name", "phone", "email"?, ...}``."""
        session = route_auth(request).check_write(request)
        require(session.principal, Action.EDIT_CRM)
        body = await read_json(request)
        call_id = await self._own_call(session.principal.username, body)
        phone = optional_text(body, "phone", 64)
        new = NewContact(
            first_name=optional_text(body, "first_name", 80) or "",
            last_name=optional_text(body, "last_name", 80) or "",
            phones=(str(parse_entered(phone, self._region, "phone")),) if phone else (),
            email=optional_text(body, "email", 254),
            title=optional_text(body, "title", 120),
        )
        contact = await self._crm.create_contact(new)
        refreshed = await self._refresh(call_id)
        return JSONResponse(
            {"contact": _contact(contact), "refreshed": refreshed},
            status_code=201,
            headers=NO_STORE,
        )

    async def _own_call(self, agent: str, body: dict[str, Any]) -> str | None:
        """The body's ``call_id`` if ``agent`` had a pop of that call; 403 (or 503 when the
        node tracking the call cannot say) before any change."""
        call_id = optional_text(body, "call_id", 128)
        if call_id is not None and not await self._was_shown(agent, call_id):
            raise PermissionDenied(
                "that call was not shown to you", details={"call_id": call_id[:128]}
            )
        return call_id

    async def _refresh(self, call_id: str | None) -> bool:
        """Look the caller of ``call_id`` up again; False if it could not be.

        The CRM change is made by now: an owner lost since the check makes the pop stale, not
        the request failed (a retried request would create the contact twice).
        """
        if not call_id:
            return False
        try:
            return await self._refresh_pop(call_id)
        except OwnerUnreachable as exc:
            log.warning("pop of %s not refreshed after a CRM change: %s", call_id, exc.message)
            return False
