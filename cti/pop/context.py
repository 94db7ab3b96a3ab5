"""What a pop template sees: plain dicts built from the call and the CRM lookup.

The call's parties are named by role, whatever the direction: ``call.customer`` (``number``,
``name``) is the outside party, the caller of an inbound call or the callee of an outbound
one; ``call.agent`` (``endpoint``, ``number``, ``name``) is the agent's side (the top-level
``agent`` stays the username of the agent whose pop it is, so one card serves every agent
ringing).
``call.caller_number`` and ``call.caller_name`` are kept for templates written before, as
aliases of ``call.customer.number`` and ``call.customer.name`` (:data:`CALL_ALIASES`): on an
outbound call they used to hold the callee's number and the *agent's* caller-id name.
"""

from __future__ import annotations

from typing import Literal

from crm_connectors.base import CallHistoryEntry, Case, LookupResult, Match
from cti.core.records import Direction
from cti.core.updates import CallView
from cti.pop.interactions import ReservationMatch

__all__ = ["CALL_ALIASES", "LookupState", "pop_context"]

# Old names a template may still use -> the role-named field they stand for.
CALL_ALIASES = {"caller_number": "customer.number", "caller_name": "customer.name"}

LookupState = Literal["pending", "done", "failed"]


def _case(case: Case) -> dict[str, object]:
    return {
        "number": case.number,
        "subject": case.subject,
        "status": case.status,
        "owner": case.owner_name or "",
        "origin": case.origin or "",
        "opened_at": case.opened_at.isoformat(),
        "url": case.ref.url or "",
    }


def _history(entry: CallHistoryEntry) -> dict[str, object]:
    return {
        "call_id": entry.call_id,
        "started_at": entry.started_at.isoformat(),
        "direction": str(entry.direction),
        "outcome": str(entry.outcome),
        "caller_number": entry.caller_number,
        "called_number": entry.called_number,
        "agent": entry.agent or "",
        "duration": entry.duration_seconds,
        "disposition": entry.disposition or "",
        "notes": entry.notes,
        "recordings": list(entry.recordings),
    }


def _match(match: Match) -> dict[str, object]:
    contact = match.contact
    account = match.account or (contact.account if contact else None)
    return {
        "kind": str(match.kind),
        "ref": f"{match.ref.system}:{match.ref.object_type}:{match.ref.record_id}",
        "name": match.display_name,
        "url": match.ref.url or "",
        "contact": (
            {
                "name": contact.display_name,
                "email": contact.email or "",
                "title": contact.title or "",
                "phones": list(contact.phones),
            }
            if contact
            else None
        ),
        "account": (
            {"name": account.name, "phone": account.phone or "", "type": account.account_type or ""}
            if account
            else None
        ),
        "cases": [_case(c) for c in match.open_cases],
        "history": [_history(h) for h in match.history],
    }


def _parties(call: CallView, number: str) -> tuple[dict[str, str], dict[str, str]]:
    """(customer, agent) of ``call``; ``number`` is the customer's, as looked up (E.164).

    Inbound, the caller is the customer and the agent is known by the phone that has the call;
    outbound (click-to-dial), the caller is the agent's phone and the callee, whose name the
    PBX does not know, is the customer.
    """
    endpoint = call.agent or ""
    if call.direction is Direction.OUTBOUND:
        customer = {"number": number, "name": ""}
        own = {"number": call.caller.number, "name": call.caller.name}
    else:
        customer = {"number": number, "name": call.caller.name}
        own = {"number": endpoint.rpartition("/")[2], "name": ""}
    return customer, {"endpoint": endpoint, **own}


def pop_context(
    call: CallView,
    lookup: LookupResult | None,
    state: LookupState,
    *,
    agent: str,
    group: str,
    number: str,
    reservation: ReservationMatch | None = None,
) -> dict[str, object]:
    """Return the template context for ``agent``'s pop of ``call``.

    ``reservation`` is set for a call on an access-number DID: ``reservation`` is then
    ``matched`` (and ``interaction`` what the customer's app sent) or ``none``.
    """
    matches = [_match(m) for m in lookup.matches] if lookup else []
    count = "none" if not matches else "one" if len(matches) == 1 else "several"
    customer, agent_party = _parties(call, number)
    return {
        "call": {
            "id": call.call_id,
            "direction": str(call.direction),
            "state": str(call.state),
            "customer": customer,
            "agent": agent_party,
            "caller_number": customer["number"],  # alias (CALL_ALIASES)
            "caller_name": customer["name"],  # alias (CALL_ALIASES)
            "did": call.did or "",
            "queue": call.queue or "",
            "trunk": call.trunk or "",
            "transferred_from": call.transferred_from or "",
        },
        "matches": matches,
        "match_count": count,
        "lookup": state,
        "agent": agent,
        "group": group,
        "reservation": reservation.status if reservation else "",
        "interaction": reservation.interaction if reservation and reservation.interaction else None,
    }
