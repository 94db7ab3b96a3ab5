"""Single sign-ons in progress live in the store (issue 14): a sign-in started by one daemon
process is finished by another sharing the store, once only, and not after its time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cti.accounts.oidc_pending import Pending, PendingSignIns
from cti.errors import AuthenticationRequired
from cti.secretbox import SecretBox
from cti.store import Store
from cti.store.session_tables import oidc_pending


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two processes' stores on one database (as two `cti serve` behind a balancer)."""
    url = f"sqlite:///{tmp_path / 'cti.sqlite3'}"
    first = Store(url)
    first.upgrade()
    second = Store(url)
    yield first, second
    first.close()
    second.close()


async def test_one_process_starts_and_another_finishes_once(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    box = SecretBox.for_state_dir(tmp_path)  # the nodes share secrets.key
    a, b = PendingSignIns(stores[0], box), PendingSignIns(stores[1], box)
    started = Pending("state-1", "nonce-1", "verifier-1", "https://idp.example/auth")
    key = await a.keep(started)
    with stores[0].reading("test") as conn:
        row = conn.execute(select(oidc_pending)).one()
    assert row.id != key and "verifier-1" not in row.verifier  # hashed key, sealed verifier

    assert await b.take(key) == Pending("state-1", "nonce-1", "verifier-1")
    with pytest.raises(AuthenticationRequired, match="used already"):
        await a.take(key)  # once only, whichever process asks
    with pytest.raises(AuthenticationRequired):
        await b.take("")  # no cookie: nothing to finish


async def test_a_sign_in_older_than_its_time_is_refused_and_swept(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    now = [1_000_000.0]
    box = SecretBox.for_state_dir(tmp_path)
    pending = PendingSignIns(stores[0], box, ttl_s=600, clock=lambda: now[0])
    late = await pending.keep(Pending("s", "n", "v"))
    now[0] += 601
    with pytest.raises(AuthenticationRequired, match="took too long"):
        await pending.take(late)
    old = await pending.keep(Pending("s2", "n2", "v2"))
    now[0] += 601
    await pending.keep(Pending("s3", "n3", "v3"))  # each new sign-in sweeps expired ones
    with stores[0].reading("test") as conn:
        assert conn.execute(select(oidc_pending.c.state)).scalars().all() == ["s3"]
    with pytest.raises(AuthenticationRequired):
        await pending.take(old)
