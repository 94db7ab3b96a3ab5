"""Files only the service can read (issue: security, item 4): the default store path is
absolute, the state directory is 0700, the store (with its WAL files) and secrets are 0600 from
the moment they exist, and the daemon refuses a store or secret that others can read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cti.config import Settings, StoreSettings
from cti.daemon import Daemon
from cti.errors import ConfigError
from cti.private_files import ensure_private_dir
from cti.secretbox import SecretBox
from cti.sqlengine import sqlite_path
from cti.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> object:
    """Run as a careless shell would: new files readable by everyone unless the code says so."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_default_store_is_an_absolute_path() -> None:
    path = sqlite_path(StoreSettings().url)
    assert path is not None and path.is_absolute(), path
    assert Settings().state_dir.is_absolute()


def test_a_new_store_and_its_wal_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "fresh" / "state"
    ensure_private_dir(state)  # as the daemon does first
    store = Store.from_settings(StoreSettings(url=f"sqlite:///{state}/cti.sqlite3"))
    store.upgrade()
    store.record_event("test.event", {"x": 1})  # a write: the -wal file exists now
    files = sorted(state.iterdir())
    assert {f.name for f in files} >= {"cti.sqlite3", "cti.sqlite3-wal"}
    for file in files:
        assert mode(file) == 0o600, (file, oct(mode(file)))
    assert mode(state) == 0o700
    store.close()


def test_secrets_are_created_private(tmp_path: Path) -> None:
    SecretBox.for_state_dir(tmp_path / "state")
    assert mode(tmp_path / "state" / "secrets.key") == 0o600
    assert mode(tmp_path / "state") == 0o700


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        store=StoreSettings(url=f"sqlite:///{tmp_path}/state/cti.sqlite3"),
    )


def test_the_daemon_refuses_a_store_others_can_read(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "cti.sqlite3").write_bytes(b"")  # made by hand, 0644 under this umask
    with pytest.raises(ConfigError) as caught:
        Daemon(settings_for(tmp_path))
    assert "chmod 600" in caught.value.message and "cti.sqlite3" in caught.value.message


def test_the_daemon_refuses_a_secret_others_can_read(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "session-secret").write_text("s" * 48)
    with pytest.raises(ConfigError) as caught:
        Daemon(settings_for(tmp_path))
    assert "chmod 600" in caught.value.message and "session-secret" in caught.value.message


async def test_the_daemon_makes_its_own_state_private(tmp_path: Path) -> None:
    daemon = Daemon(settings_for(tmp_path))
    try:
        daemon.build_app()  # makes the session secret
        assert mode(tmp_path / "state") == 0o700
        assert mode(tmp_path / "state" / "session-secret") == 0o600
        assert mode(tmp_path / "state" / "secrets.key") == 0o600
        assert mode(tmp_path / "state" / "cti.sqlite3") == 0o600
    finally:
        await daemon.close()
