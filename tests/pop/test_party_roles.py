"""Pops name the call's parties by role (customer, agent) whatever the direction (issue 13,
item 5); the old ``caller_number`` / ``caller_name`` stay as aliases of the customer's."""

from __future__ import annotations

from typing import Any

from crm_connectors.builtin import BuiltinCrm
from cti.pop.context import CALL_ALIASES
from cti.pop.render import PopRenderer
from tests.pop.test_pop_service import Notifier, Records, crm, replay, service

__all__ = ["crm"]

OLD_TEMPLATE = "<p>{{ call.caller_name }} {{ call.caller_number }}</p>"


def pop_call(notifier: Notifier) -> dict[str, Any]:
    pops: list[dict[str, Any]] = [data for kind, _, _, data in notifier.sent if kind == "pop"]
    assert pops, notifier.sent
    card = pops[0].get("card", pops[0])  # the notifier adds "card"; the service sends the context
    call = card["call"]
    assert isinstance(call, dict)
    return call


async def test_an_outbound_pop_names_the_callee_customer_and_the_agent_agent(
    crm: BuiltinCrm,
) -> None:
    notifier = Notifier()
    await replay(service(crm, notifier, Records()), "click_to_dial")
    call = pop_call(notifier)
    assert call["direction"] == "outbound"
    customer, agent = call["customer"], call["agent"]
    assert customer["number"].startswith("+44") and customer["name"] == ""
    assert agent["endpoint"] == "PJSIP/1001"
    assert agent["number"] == "1001"
    # The aliases follow the customer: no longer the agent's own caller-id name.
    assert (call["caller_number"], call["caller_name"]) == (customer["number"], "")


async def test_an_inbound_pop_names_the_caller_customer(crm: BuiltinCrm) -> None:
    notifier = Notifier()
    await replay(service(crm, notifier, Records()), "direct_answered")
    call = pop_call(notifier)
    assert call["direction"] == "inbound"
    assert call["customer"]["number"] == call["caller_number"]
    assert call["customer"]["name"] == call["caller_name"]
    assert call["agent"] == {"endpoint": "", "number": "", "name": ""}  # ringing: nobody has it


def test_templates_written_with_the_old_names_still_render() -> None:
    assert CALL_ALIASES == {"caller_number": "customer.number", "caller_name": "customer.name"}
    context: dict[str, object] = {
        "call": {
            "customer": {"number": "+442079460001", "name": "Alice Archer"},
            "caller_number": "+442079460001",
            "caller_name": "Alice Archer",
        }
    }
    html = PopRenderer().render(OLD_TEMPLATE, context)
    assert html == "<p>Alice Archer +442079460001</p>"
