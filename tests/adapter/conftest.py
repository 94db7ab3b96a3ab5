"""A fake AMI server per test, and a sink that records what a connection delivers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pbx_adapters.asterisk.connection import AmiSettings
from tests.fakes.ami_server import FakeAmiServer, RecordingSink

SettingsFactory = Callable[..., AmiSettings]


@pytest.fixture
async def ami_server() -> AsyncIterator[FakeAmiServer]:
    async with FakeAmiServer() as server:
        yield server


@pytest.fixture
def make_settings(ami_server: FakeAmiServer) -> SettingsFactory:
    """Return a factory of settings pointing at the fake server (overrides as keywords)."""

    def make(**overrides: Any) -> AmiSettings:
        return settings_for(ami_server, **overrides)

    return make


def settings_for(server: FakeAmiServer, **overrides: Any) -> AmiSettings:
    """Return settings pointing at ``server``, fast to fail and back off, Ping off by default."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "username": server.username,
        "secret": server.secret,
        "connect_timeout_s": 2.0,
        "action_timeout_s": 2.0,
        "ping_interval_s": 3600.0,
        "ping_timeout_s": 1.0,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
    }
    values.update(overrides)
    if "port" not in values:  # a stopped server has no port: ask only when needed
        values["port"] = server.port
    return AmiSettings(**values)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()
