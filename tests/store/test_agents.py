"""Agents, their phones and their passwords (argon2, never stored in plain text)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from cti.errors import Conflict, NotFound, ValidationFailed
from cti.store import KEEP, AgentEndpoint, Role, Store
from cti.store.engine import create_store_engine
from cti.store.models import agents
from tests.store.conftest import FAST_HASHER
from tests.store.fakes import START


def stored_hash(store: Store, username: str) -> str | None:
    engine = create_store_engine(store.url)
    try:
        with engine.connect() as conn:
            value: str | None = conn.execute(
                select(agents.c.password_hash).where(agents.c.username == username)
            ).scalar_one()
            return value
    finally:
        engine.dispose()


def test_create_and_read_back(store: Store) -> None:
    created = store.create_agent(
        "alice",
        password="correct horse",
        display_name="Alice Archer",
        email="alice@example.com",
        role="supervisor",
        endpoints=["PJSIP/1001", AgentEndpoint("PJSIP/1101", server="lab")],
    )

    assert created == store.get_agent("alice")
    assert created.username == "alice"
    assert created.name == "Alice Archer"
    assert created.role is Role.SUPERVISOR
    assert created.active
    assert created.created_at == START
    assert created.endpoints == (AgentEndpoint("PJSIP/1001"), AgentEndpoint("PJSIP/1101", "lab"))
    assert store.get_agent("nobody") is None
    assert [a.username for a in store.agents()] == ["alice"]


def test_the_password_is_an_argon2_hash(store: Store) -> None:
    store.create_agent("alice", password="correct horse")

    hashed = stored_hash(store, "alice")

    assert hashed is not None
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed


def test_verify_password(store: Store) -> None:
    store.create_agent("alice", password="correct horse", display_name="Alice")
    store.create_agent("bob")  # no password yet: cannot log in

    ok = store.verify_password("alice", "correct horse")
    assert ok is not None
    assert ok.username == "alice"
    assert store.verify_password("alice", "wrong horse") is None
    assert store.verify_password("alice", "") is None
    assert store.verify_password("mallory", "correct horse") is None
    assert store.verify_password("bob", "") is None
    assert store.verify_password("Not A Username!", "x") is None


def test_an_inactive_agent_cannot_log_in(store: Store) -> None:
    store.create_agent("alice", password="correct horse")
    store.update_agent("alice", active=False)

    assert store.verify_password("alice", "correct horse") is None


def test_a_hash_with_old_parameters_is_replaced_on_login(store: Store) -> None:
    store.create_agent("alice", password="correct horse")
    old = stored_hash(store, "alice")
    stronger = PasswordHasher(time_cost=2, memory_cost=128, parallelism=1)
    upgraded = Store(store.url, password_hasher=stronger)
    try:
        assert upgraded.verify_password("alice", "correct horse") is not None
        new = stored_hash(store, "alice")
        assert new != old
        assert new is not None
        assert "m=128,t=2" in new
        assert not stronger.check_needs_rehash(new)
        assert upgraded.verify_password("alice", "correct horse") is not None
        assert stored_hash(store, "alice") == new  # current parameters: left alone
    finally:
        upgraded.close()


def test_set_and_remove_a_password(store: Store) -> None:
    store.create_agent("alice")
    store.set_password("alice", "s3cret")
    assert store.verify_password("alice", "s3cret") is not None
    store.set_password("alice", None)
    assert store.verify_password("alice", "s3cret") is None
    with pytest.raises(ValidationFailed):
        store.set_password("alice", "")
    with pytest.raises(NotFound):
        store.set_password("nobody", "x")


@pytest.mark.parametrize("username", ["", "Alice", "al ice", "a" * 65, "alice@example", "é"])
def test_bad_usernames_are_refused(store: Store, username: str) -> None:
    with pytest.raises(ValidationFailed):
        store.create_agent(username)


def test_good_usernames(store: Store) -> None:
    for username in ("a", "agent.007", "first_last-2", "x" * 64):
        store.create_agent(username)
    assert len(store.agents()) == 4


def test_bad_values_are_refused(store: Store) -> None:
    with pytest.raises(ValidationFailed):
        store.create_agent("alice", role="boss")
    with pytest.raises(ValidationFailed):
        store.create_agent("alice", email="not-an-address")
    with pytest.raises(ValidationFailed):
        store.create_agent("alice", endpoints=["1001"])
    assert store.agents() == []


def test_usernames_and_endpoints_are_unique(store: Store) -> None:
    store.create_agent("alice", endpoints=["PJSIP/1001"])

    with pytest.raises(Conflict):
        store.create_agent("alice")
    with pytest.raises(Conflict) as caught:
        store.create_agent("bob", endpoints=["PJSIP/1001"])
    assert caught.value.details == {"endpoint": "PJSIP/1001", "agent": "alice"}
    assert store.get_agent("bob") is None  # the whole create was rolled back


def test_update_changes_only_what_is_given(store: Store) -> None:
    store.create_agent("alice", display_name="Alice", email="a@example.com", endpoints=["PJSIP/1"])

    updated = store.update_agent("alice", role=Role.ADMIN, endpoints=["PJSIP/2", "PJSIP/3"])

    assert updated.display_name == "Alice"
    assert updated.email == "a@example.com"
    assert updated.role is Role.ADMIN
    assert [e.endpoint for e in updated.endpoints] == ["PJSIP/2", "PJSIP/3"]
    cleared = store.update_agent("alice", email=None, display_name=KEEP)
    assert cleared.email is None
    assert cleared.display_name == "Alice"
    with pytest.raises(NotFound):
        store.update_agent("nobody", active=False)


def test_endpoint_owners_for_pop_targeting(store: Store) -> None:
    store.create_agent("alice", endpoints=["PJSIP/1001", "PJSIP/1101"])
    store.create_agent("bob", endpoints=["PJSIP/1002"])
    store.create_agent("carol", endpoints=["PJSIP/1003"], active=False)
    store.create_agent("dave")

    assert store.endpoint_owners() == {
        "PJSIP/1001": "alice",
        "PJSIP/1101": "alice",
        "PJSIP/1002": "bob",
    }
    store.update_agent("bob", endpoints=[])
    store.update_agent("alice", endpoints=["PJSIP/1002"])  # a phone moves desks
    assert store.endpoint_owners() == {"PJSIP/1002": "alice"}


async def test_async_twins(store: Store) -> None:
    store.create_agent("alice", password="pw", endpoints=["PJSIP/1001"])

    assert (await store.aio.run(store.verify_password, "alice", "pw")) is not None
    assert await store.aio.run(store.endpoint_owners) == {"PJSIP/1001": "alice"}
    assert (await store.aio.run(store.get_agent, "alice")) == store.get_agent("alice")


def test_fast_hasher_is_what_the_fixture_uses() -> None:
    assert FAST_HASHER.time_cost == 1
