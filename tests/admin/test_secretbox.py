"""Stored AMI secrets are sealed: the database never holds one in the clear."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from cti.admin.servers import ServerRegistry, ServerSpec
from cti.errors import ConfigError, StoreError
from cti.secretbox import SecretBox
from cti.store import Store
from cti.store.models import ami_servers

SECRET = "s3cr3t-ami-password with spaces"


class _Source:
    """Stands in for an AsteriskSource: the registry only starts, closes and names it."""

    def __init__(self, name: str, settings: Any) -> None:
        self.name, self.settings = name, settings

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def test_seal_and_open_round_trip_and_plain_values_pass() -> None:
    box = SecretBox(Fernet.generate_key())
    sealed = box.seal(SECRET)
    assert sealed.startswith("fernet:") and SECRET not in sealed
    assert box.open(sealed) == SECRET
    assert box.seal(SECRET) != sealed  # a fresh IV each time
    assert box.open("stored-before-sealing") == "stored-before-sealing"


def test_another_key_cannot_open_and_says_why() -> None:
    sealed = SecretBox(Fernet.generate_key()).seal(SECRET)
    with pytest.raises(StoreError, match=r"secrets\.key"):
        SecretBox(Fernet.generate_key()).open(sealed)
    with pytest.raises(ConfigError):
        SecretBox(b"not a key")


def test_the_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = SecretBox.for_state_dir(tmp_path / "state")
    key = tmp_path / "state" / "secrets.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = SecretBox.for_state_dir(tmp_path / "state")
    assert again.open(first.seal(SECRET)) == SECRET


async def test_admin_added_servers_are_stored_sealed_and_old_rows_get_sealed(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.upgrade()
    box = SecretBox.for_state_dir(tmp_path)
    sources: list[Any] = []
    registry = ServerRegistry(store, sources, _Source, secrets=box, config_hosts={})  # type: ignore[arg-type]
    try:
        await registry.add(ServerSpec("pbx2", "127.0.0.1", 5038, "cti", SECRET))
        with store.reading("test") as conn:
            [stored] = conn.execute(select(ami_servers.c.secret)).scalars()
        assert SECRET not in stored and box.open(stored) == SECRET
        assert sources[0].settings.secret == SECRET  # AMI logs in with the real one
        assert [s.secret for s in registry.stored()] == [SECRET]

        with store.writing("test") as conn:  # a row from before sealing existed
            conn.execute(update(ami_servers).values(secret=SECRET))
        assert registry.seal_stored() == 1
        assert registry.seal_stored() == 0
        with store.reading("test") as conn:
            [stored] = conn.execute(select(ami_servers.c.secret)).scalars()
        assert box.open(stored) == SECRET and SECRET not in stored
    finally:
        store.close()
