"""Agent groups: CRUD, and which group a call belongs to (DID, then queue, then agent)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cti.errors import Conflict, NotFound, ValidationFailed
from cti.store import GroupSpec, PopTrigger, Store
from tests.store.fakes import FakeClock


@pytest.fixture
def people(store: Store) -> Store:
    for username in ("alice", "bob", "carol", "sam"):
        store.create_agent(username)
    return store


def test_create_read_update_delete(people: Store) -> None:
    spec = GroupSpec(
        name="Support",
        trigger=PopTrigger.ANSWERED,
        dispositions=("Resolved", "Follow-up"),
        wrapup_seconds=30,
        template="<h1>{{ caller.name }}</h1>",
        members=("bob", "alice"),
        supervisors=("sam",),
        dids=("+442079460999",),
        queues=("support",),
    )

    created = people.create_group(spec)

    assert created.spec == replace(spec, members=("alice", "bob"))  # members come back sorted
    assert people.get_group("Support") == created
    assert people.groups() == [created]
    renamed = people.update_group(
        "Support", replace(spec, name="Care", template=None, members=("carol",), queues=())
    )
    assert renamed.id == created.id
    assert renamed.spec.template is None
    assert renamed.spec.members == ("carol",)
    assert renamed.spec.queues == ()
    assert people.get_group("Support") is None
    assert people.delete_group("Care") is True
    assert people.delete_group("Care") is False
    assert people.groups() == []
    assert people.get_agent("carol") is not None  # deleting a group keeps its agents


def test_the_trigger_may_be_given_as_text(people: Store) -> None:
    group = people.create_group(GroupSpec("Sales", trigger="answered"))  # type: ignore[arg-type]
    assert group.spec.trigger is PopTrigger.ANSWERED
    with pytest.raises(ValidationFailed):
        GroupSpec("Sales", trigger="hung-up")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"name": "x" * 65},
        {"wrapup_seconds": -1},
        {"dispositions": ("Resolved", "Resolved")},
        {"dispositions": ("",)},
        {"members": ("Not Valid",)},
        {"dids": ("1", "1")},
    ],
)
def test_bad_specs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        GroupSpec(**{"name": "Support", **bad})  # type: ignore[arg-type]


def test_names_dids_and_queues_belong_to_one_group(people: Store) -> None:
    people.create_group(GroupSpec("Support", dids=("100",), queues=("support",)))

    with pytest.raises(Conflict):
        people.create_group(GroupSpec("Support"))
    with pytest.raises(Conflict) as caught:
        people.create_group(GroupSpec("Sales", dids=("200", "100")))
    assert caught.value.details == {"did": "100", "group": "Support"}
    with pytest.raises(Conflict):
        people.create_group(GroupSpec("Sales", queues=("support",)))
    assert [g.name for g in people.groups()] == ["Support"]  # nothing half-created
    people.create_group(GroupSpec("Sales"))
    with pytest.raises(Conflict):
        people.update_group("Sales", GroupSpec("Support"))


def test_unknown_members_and_groups(people: Store) -> None:
    with pytest.raises(NotFound) as caught:
        people.create_group(GroupSpec("Support", members=("alice", "zed", "yan")))
    assert caught.value.details == {"usernames": ["yan", "zed"]}
    with pytest.raises(NotFound):
        people.update_group("Nope", GroupSpec("Nope"))


def test_group_for_prefers_did_then_queue_then_the_agents_first_group(
    people: Store, clock: FakeClock
) -> None:
    people.create_group(GroupSpec("ByDid", dids=("+442079460999",)))
    people.create_group(GroupSpec("ByQueue", queues=("support",)))
    people.create_group(GroupSpec("Second", members=("bob",)))
    clock.advance(-60)  # "First" is created later but bob joined it earlier
    people.create_group(GroupSpec("First", members=("alice", "bob")))

    def name(did: str | None = None, queue: str | None = None, agent: str | None = None) -> str:
        group = people.group_for(did=did, queue=queue, agent=agent)
        return group.name if group else "-"

    assert name("+442079460999", "support", "bob") == "ByDid"
    assert name("+440000000000", "support", "bob") == "ByQueue"
    assert name(None, "sales", "bob") == "First"
    assert name(agent="alice") == "First"
    assert name(agent="carol") == "-"
    assert name() == "-"
    assert people.agent_group_names() == {"alice": ("First",), "bob": ("First", "Second")}


def test_members_keep_their_join_time_across_updates(people: Store, clock: FakeClock) -> None:
    people.create_group(GroupSpec("A", members=("alice",)))
    clock.advance(60)
    people.create_group(GroupSpec("B", members=("alice",)))
    clock.advance(60)
    people.update_group("A", GroupSpec("A", members=("alice", "bob")))  # alice stays a member

    group = people.group_for(agent="alice")
    assert group is not None
    assert group.name == "A"


async def test_async_twins(people: Store) -> None:
    await people.aio.run(people.create_group, GroupSpec("Support", queues=("support",)))
    group = await people.aio.run(people.group_for, queue="support")
    assert group is not None
    assert group.name == "Support"
    assert [g.name for g in await people.aio.run(people.groups)] == ["Support"]
