"""A call that answered an access-number interaction is logged as a Task whose description names
the interaction and what the customer's app sent, before the agent's notes (the fake org over
real HTTPS); the record carries it through the outbox's JSON, and older payloads still read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from crm_connectors.salesforce import SalesforceCrm
from cti.store.codec import record_from_json, record_to_json
from tests.salesforce.conftest import Seed
from tests.salesforce.fake_salesforce import FakeSalesforce
from tests.salesforce.test_writes import _call

INTERACTION = (
    ("id", "ix_5e1f0c"),
    ("who", "Ann Lee"),
    ("intent", "refund"),
    ("order", "A-1042"),
    ("page", "/orders/1042"),
)


async def test_the_task_description_names_the_interaction_then_the_notes(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect(agent_users={"alice": seed.agent_user})
    task_id = await crm.log_call(replace(_call(seed), interaction=INTERACTION))
    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Description"] == (
        "Interaction ix_5e1f0c (access number): who: Ann Lee; intent: refund; order: A-1042; "
        "page: /orders/1042\n\nWants a callback about the invoice."
    )


async def test_without_notes_or_context_the_interaction_id_is_still_there(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect()
    record = replace(_call(seed), notes="", interaction=(("id", "ix_77"),))
    task_id = await crm.log_call(record)
    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Description"] == "Interaction ix_77 (access number)"


def test_the_interaction_survives_the_outbox_and_older_payloads_read(seed: Seed) -> None:
    record = replace(_call(seed), interaction=INTERACTION)
    payload = record_to_json(record)
    assert record_from_json(payload) == record
    del payload["interaction"]  # written before the field existed
    assert record_from_json(payload).interaction == ()
