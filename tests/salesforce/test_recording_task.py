"""A recorded call's Task carries its recording links (the fake org over real HTTPS): a
``Recording: <link>`` line per recording before the agent's notes, and the first link in the
URL field ``recording_field`` names; the links survive the outbox's JSON and older payloads
(written before the field existed) still read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from crm_connectors.salesforce import SalesforceCrm, settings_from_config
from cti.errors import ConfigError
from cti.store.codec import record_from_json, record_to_json
from tests.salesforce.conftest import Seed
from tests.salesforce.fake_salesforce import FakeSalesforce
from tests.salesforce.test_writes import _call

LINKS = (
    "https://cti.example.com/api/recordings/rec-4f1c",
    "https://cti.example.com/api/recordings/rec-77aa",  # a second leg, after a transfer
)
URL_FIELD = "CTI_Recording__c"


async def test_the_task_links_the_recordings_before_the_notes(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    fake.org.add_url_field("Task", URL_FIELD)
    crm = connect(recording_field=URL_FIELD)
    task_id = await crm.log_call(replace(_call(seed), recordings=LINKS))
    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Description"] == (
        f"Recording: {LINKS[0]}\nRecording: {LINKS[1]}\n\nWants a callback about the invoice."
    )
    assert task[URL_FIELD] == LINKS[0]


async def test_without_the_field_the_description_still_links_it(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    crm = connect()
    record = replace(_call(seed), notes="", recordings=LINKS[:1], interaction=(("id", "ix_9"),))
    task_id = await crm.log_call(record)
    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Description"] == f"Interaction ix_9 (access number)\nRecording: {LINKS[0]}"
    assert URL_FIELD not in task


async def test_a_call_not_recorded_leaves_the_field_out(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    fake.org.add_url_field("Task", URL_FIELD)
    crm = connect(recording_field=URL_FIELD)
    task_id = await crm.log_call(_call(seed))
    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Description"] == "Wants a callback about the invoice."
    assert URL_FIELD not in task


async def test_a_link_too_long_for_a_url_field_goes_in_the_description_only(
    connect: Callable[..., SalesforceCrm], seed: Seed, fake: FakeSalesforce
) -> None:
    fake.org.add_url_field("Task", URL_FIELD)
    crm = connect(recording_field=URL_FIELD)
    long_link = "https://cti.example.com/api/recordings/" + "a" * 240
    task_id = await crm.log_call(replace(_call(seed), recordings=(long_link,)))
    (task,) = [t for t in fake.org.tasks() if t["Id"] == task_id]
    assert task["Description"].startswith(f"Recording: {long_link}\n\n")
    assert URL_FIELD not in task


def test_the_field_name_is_checked_at_startup() -> None:
    table = {
        "auth": "session",
        "instance_url": "https://x.my.salesforce.com",
        "session_id_env": "SF",
    }
    good = settings_from_config({**table, "recording_field": URL_FIELD}, environ={"SF": "x"})
    assert good.recording_field == URL_FIELD
    with pytest.raises(ConfigError) as refused:
        settings_from_config({**table, "recording_field": "Bad name"}, environ={"SF": "x"})
    assert refused.value.details == {"field": "Bad name"}


def test_the_links_survive_the_outbox_and_older_payloads_read(seed: Seed) -> None:
    record = replace(_call(seed), recordings=LINKS)
    payload = record_to_json(record)
    assert payload["recordings"] == list(LINKS)
    assert record_from_json(payload) == record
    del payload["recordings"]  # written before the field existed
    assert record_from_json(payload).recordings == ()
